"""The alert pages over HTTP: the timeline's counts per day and severity, the table linking
each alert to its subject's page and its window, filters, rules and channels (secrets
masked), failed deliveries, one alert's history and deliveries, escaping, bad parameters,
and Acknowledge/Resolve under each role with and without authentication."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from functools import partial
from typing import Any

import pytest
from fastapi.testclient import TestClient
from tests.alerts.alerts_testing import add_channel, add_rule
from tests.server.conftest import XSS_NAME
from tests.server.test_ui import ESCAPED_XSS, parse
from tests.server.test_ui_links import Page

from mloop.alerts.delivery import deliver_due
from mloop.alerts.evaluate import evaluate_rules
from mloop.alerts.history import get_alert
from mloop.alerts.schemas import AlertId
from mloop.auth.tokens import create_token
from mloop.core.timeutil import now_ms
from mloop.server.app import create_app
from mloop.server.ui import links
from mloop.server.ui.alerts import DAY, HOUR
from mloop.store.runtime import Runtime


def _raise(
    runtime: Runtime,
    metrics: dict[str, float | None],
    subject: dict[str, str],
    *,
    at: int,
    window_links: dict[str, str] | None = None,
) -> list[int]:
    found = runtime.run(
        lambda ctx: evaluate_rules(
            ctx,
            "monitor",
            metrics,
            window_start=at - HOUR,
            window_end=at,
            subject=subject,
            links=window_links,
            now=at,
        ),
        write=True,
        actor="monitor-bot",
    )
    return [a.id for a in found]


@pytest.fixture
def raised(runtime: Runtime) -> dict[str, int]:
    """Three alerts: a critical one today on endpoint churn (monitor churn-drift), a warning
    two days ago on endpoint fraud, and one whose subject and message are markup."""
    now = now_ms()
    add_channel(
        runtime,
        "hook",
        {"kind": "webhook", "url": "http://127.0.0.1:9/hooks/T/sekrit", "max_attempts": 1},
    )
    add_rule(runtime, name="drift", threshold=0.3, severity="critical", channels=["hook"])
    add_rule(runtime, name="volume", metric="quality.rows", operator="<", threshold=100)
    [churn] = _raise(
        runtime,
        {"drift.share": 0.42},
        {"endpoint": "churn", "monitor": "churn-drift"},
        at=now,
        window_links={"window": "/monitors/churn-drift?window=1"},
    )
    [fraud] = _raise(runtime, {"quality.rows": 12.0}, {"endpoint": "fraud"}, at=now - 2 * DAY)
    [odd] = _raise(runtime, {"drift.share": 0.9}, {"dataset": XSS_NAME}, at=now)
    deliver_due(runtime, now=now + 1)  # the hook at port 9 refuses: a failed delivery
    return {"churn": churn, "fraud": fraud, "odd": odd}


@pytest.fixture
def client(runtime: Runtime) -> Iterator[TestClient]:
    with TestClient(create_app(runtime)) as test_client:
        yield test_client


def page(client: TestClient, url: str) -> tuple[str, Page]:
    answer = client.get(url)
    assert answer.status_code == 200, (url, answer.text[:500])
    assert XSS_NAME not in answer.text
    found = Page()
    found.feed(answer.text)
    return answer.text, found


def _timeline(html: str) -> dict[str, Any]:
    block = html.split('<script type="application/json" id="alert-timeline">', 1)[1]
    data: dict[str, Any] = json.loads(block.split("</script>", 1)[0])
    return data


def _row(html: str, alert_id: int) -> str:
    return html.split(f'id="alert-{alert_id}"', 1)[1].split("</tr>", 1)[0]


def test_the_alerts_page(client: TestClient, raised: dict[str, int]) -> None:
    html, found = page(client, links.alerts())
    # The timeline: this week by day, today's two alerts critical, two days ago a warning.
    data = _timeline(html)
    assert len(data["labels"]) == 7
    by_label = {s["label"]: s["values"] for s in data["series"]}
    assert by_label["critical"][-1] == 2 and by_label["warning"][-3] == 1
    assert sum(map(sum, by_label.values())) == 3
    # Every alert is a row linking its page, its subject and its window.
    row = _row(html, raised["churn"])
    assert found.hrefs("alert", alert_id=raised["churn"])[0] == str(raised["churn"])
    assert found.hrefs("endpoint", name="churn") == ["churn"]
    assert found.hrefs("monitor", name="churn-drift") == ["churn-drift"]
    assert 'href="/monitors/churn-drift?window=1"' in row and ">window<" in row
    assert "drift.share = 0.42 breaches &gt; 0.3" in row
    assert found.hrefs("endpoint", name="fraud") == ["fraud"]
    assert found.hrefs("dataset", name=XSS_NAME) == [XSS_NAME]
    assert ESCAPED_XSS in _row(html, raised["odd"])
    # Counts of open alerts, rules, channels with the secret masked, failed deliveries.
    assert re.search(r'id="open-critical".*?>2<', html, re.S)
    assert 'id="rule-gateway-spend-spike"' in html and 'id="rule-volume"' in html
    channels = html.split('id="channel-table"', 1)[1].split("</table>", 1)[0]
    assert "http://127.0.0.1:9/***" in channels and "sekrit" not in html
    failed = html.split('id="failed-deliveries"', 1)[1]
    assert "ConnectError" in failed and found.hrefs("alert", alert_id=raised["churn"])


def test_filters_and_ranges(client: TestClient, raised: dict[str, int]) -> None:
    html, _ = page(client, links.alerts(severity="warning"))
    assert f'id="alert-{raised["fraud"]}"' in html and f'id="alert-{raised["churn"]}"' not in html
    html, _ = page(client, links.alerts(subject="endpoint=churn"))
    assert re.findall(r'id="alert-(\d+)"', html) == [str(raised["churn"])]
    html, _ = page(client, links.alerts(rule="volume", status="open"))
    assert re.findall(r'id="alert-(\d+)"', html) == [str(raised["fraud"])]
    html, _ = page(client, links.alerts(status="resolved"))
    assert 'id="no-alerts"' in html and "No alerts match" in html
    html, _ = page(client, links.alerts(range="24h"))
    data = _timeline(html)
    assert len(data["labels"]) == 24 and data["labels"][-1].endswith(":00")


def test_an_alert_page(client: TestClient, raised: dict[str, int]) -> None:
    html, found = page(client, links.alert(raised["churn"]))
    assert found.hrefs("endpoint", name="churn") == ["churn"]
    assert found.hrefs("monitor", name="churn-drift") == ["churn-drift"]
    assert "Alerts" in found.hrefs("alerts")
    history = html.split('id="history-table"', 1)[1].split("</table>", 1)[0]
    assert "monitor-bot" in history and 'data-kind="raised"' in history
    deliveries = html.split('id="delivery-table"', 1)[1].split("</table>", 1)[0]
    assert 'data-status="failed"' in deliveries and "hook" in deliveries
    assert "sekrit" not in html
    # Without authentication nobody can be told apart: the command is shown instead.
    assert f"mloop alerts ack {raised['churn']}" in html
    assert 'class="al-resolve"' not in html


@pytest.mark.parametrize(
    ("url", "status"),
    [
        ("/alerts/999", 404),
        ("/alerts/abc", 404),
        ("/alerts/0", 404),
        ("/alerts/99999999999", 404),
        ("/alerts?status=lost", 400),
        ("/alerts?severity=page", 400),
        ("/alerts?subject=nokey", 400),
        ("/alerts?range=1y", 400),
        ("/alerts?page_token=garbage", 400),
        ("/alerts?source=" + "s" * 200, 400),
    ],
)
def test_bad_ids_and_parameters_are_html_pages(
    client: TestClient, raised: dict[str, int], url: str, status: int
) -> None:
    answer = client.get(url, headers={"accept": "text/html"})
    assert answer.status_code == status, answer.text[:300]
    assert answer.headers["content-type"].startswith("text/html")
    assert links.alerts() in parse(answer.text).urls


def test_without_authentication_posts_are_refused(
    runtime: Runtime, client: TestClient, raised: dict[str, int]
) -> None:
    answer = client.post(links.alert_resolve(raised["churn"]), data={"note": "x"})
    assert answer.status_code == 403 and "cannot tell who you are" in answer.text
    assert _status(runtime, raised["churn"]) == "open"


def _status(runtime: Runtime, alert_id: int) -> str:
    return runtime.run(lambda ctx: get_alert(ctx, AlertId(id=alert_id)), write=False).alert.status


@pytest.fixture
def tokens(runtime: Runtime, raised: dict[str, int]) -> dict[str, str]:
    return {
        role: runtime.run(partial(create_token, name=f"dora-{role}", role=role), write=True)
        for role in ("reader", "writer", "deployer", "admin")
    }


def test_acknowledge_and_resolve_need_a_writer(
    runtime: Runtime, tokens: dict[str, str], raised: dict[str, int]
) -> None:
    alert_id = raised["churn"]
    with TestClient(create_app(runtime, auth_enabled=True)) as web:
        web.cookies.set("mloop_token", tokens["reader"])
        html, _ = page(web, links.alert(alert_id))
        assert 'class="al-resolve"' not in html and "need the writer role" in html
        answer = web.post(links.alert_acknowledge(alert_id), data={"note": "x"})
        assert answer.status_code == 403 and answer.headers["content-type"].startswith("text/html")
        assert _status(runtime, alert_id) == "open"

        web.cookies.set("mloop_token", tokens["writer"])
        html, _ = page(web, links.alerts())
        assert f'class="secondary al-ack" data-alert="{alert_id}"' in _row(html, alert_id)
        answer = web.post(
            links.alert_acknowledge(alert_id),
            data={"note": "cross"},
            headers={"origin": "https://elsewhere.example"},
        )
        assert answer.status_code == 403 and _status(runtime, alert_id) == "open"
        answer = web.post(
            links.alert_acknowledge(alert_id),
            data={"note": f"looking {XSS_NAME}"},
            follow_redirects=False,
        )
        assert answer.status_code == 303
        assert answer.headers["location"] == links.alert(alert_id) + "#history"
        assert _status(runtime, alert_id) == "acknowledged"
        html, _ = page(web, links.alert(alert_id))
        assert f"looking {ESCAPED_XSS}" in html and "dora-writer" in html
        answer = web.post(links.alert_resolve(alert_id), data={"note": "n" * 2001})
        assert answer.status_code == 400 and "note" in answer.text
        web.post(links.alert_resolve(alert_id), data={"note": "fixed"})
        assert _status(runtime, alert_id) == "resolved"
        # A second click on a stale page changes nothing twice.
        answer = web.post(links.alert_resolve(alert_id), data={"note": "again"})
        assert answer.status_code == 409 and "already resolved" in answer.text
        html, _ = page(web, links.alert(alert_id))
        assert 'class="al-resolve"' not in html
        assert [e["kind"] for e in _events(runtime, alert_id)] == [
            "raised",
            "acknowledged",
            "resolved",
        ]


def _events(runtime: Runtime, alert_id: int) -> list[dict[str, object]]:
    detail = runtime.run(lambda ctx: get_alert(ctx, AlertId(id=alert_id)), write=False)
    return [json.loads(e.model_dump_json()) for e in detail.events]


def test_pages_need_a_token_when_auth_is_on(
    runtime: Runtime, tokens: dict[str, str], raised: dict[str, int]
) -> None:
    with TestClient(create_app(runtime, auth_enabled=True)) as web:
        for url in (links.alerts(), links.alert(raised["churn"])):
            answer = web.get(url, follow_redirects=False)
            assert answer.status_code == 303 and "/login" in answer.headers["location"]
        answer = web.post(links.alert_resolve(raised["churn"]), follow_redirects=False)
        assert answer.status_code == 303 and "/login" in answer.headers["location"]
        assert _status(runtime, raised["churn"]) == "open"


def test_links_answer(client: TestClient, raised: dict[str, int]) -> None:
    """Every link of the pages answers, except those to monitor pages (not built yet) and
    to subjects that do not exist in this store."""
    for url in (links.alerts(), links.alert(raised["churn"])):
        _, found = page(client, url)
        for href in found.links:
            if not href.startswith("/") or href.startswith(
                ("/monitors/", "/endpoints/", "/datasets/")
            ):
                continue
            assert client.get(href.split("#", 1)[0]).status_code == 200, href


def test_the_navigation_has_an_alerts_section(client: TestClient) -> None:
    html, found = page(client, links.alerts())
    assert 'aria-current="page">Alerts<' in html
    assert found.hrefs("alerts") and 'id="timeline-empty"' in html
