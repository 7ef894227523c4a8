"""The monitor pages of gateway monitors and of monitors with a data contract, over HTTP, on
windows computed by the real operations: a route's calls (slower, failing and answered by
another model in the last hour) and a dataset whose last hour breaks its policy's contract.

A gateway monitor's page says what it watches (the route and prompt linked to their pages),
shows each window's call figures, charts them over time and has no performance or outputs
sections; a contract monitor's page lists each check with the share and count of rows that
broke it and a few of them, linked to the dataset whose policy it is; the list shows every
monitor's kind of target and keeps one kind with ``?target=``."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import numpy as np
import pandas as pd
import pytest
from fastapi.testclient import TestClient
from tests.server.conftest import XSS_NAME
from tests.server.test_ui import ESCAPED_XSS
from tests.server.test_ui_links import assert_links_answer
from tests.server.test_ui_monitors import block, page, row_of, section

import mloop
from mloop.llm.calls.log import CallRecord, insert_calls
from mloop.prompts.schemas import CreatePromptVersion
from mloop.prompts.versions import create_prompt_version
from mloop.server.app import create_app
from mloop.server.ui import links
from mloop.server.ui.formatting import ms, number, percent, usd
from mloop.store.runtime import Runtime

HOUR = 3_600_000
T0 = 1_780_000_000_000 // HOUR * HOUR
ROUTE = "support"
PROMPT = "support-answer"
GATEWAY = "support-calls"
ALL_CALLS = "all-calls"
CONTRACT_MONITOR = "payments-contract"
YAML_MONITOR = "payments-yaml"
DATASET = "payments"
CALLS = 200
ROWS = 400
CONTRACT = """
contract: payments
version: 3
columns:
  amount: {type: float64, min: 0, nullable: false}
  channel: {allowed: [web, store]}
  fee: {min: 0, severity: warn}
unique: [id]
rules:
  - name: fee_below_amount
    sql: fee <= amount
"""


def call(operation: str, /, **fields: Any) -> Any:
    return mloop.Client().call(operation, **fields)


def _calls(hour: int, count: int, *, route: str = ROUTE, slow: bool = False) -> list[CallRecord]:
    """``count`` calls of ``route`` in the ``hour``-th hour; ``slow`` ones take twice as
    long, a fifth fail, a tenth are blocked and another model answers after a fallback."""
    rng = np.random.default_rng(hour)
    records = []
    for i in range(count):
        failed = slow and i % 5 == 0
        blocked = slow and i % 10 == 1
        records.append(
            CallRecord(
                id=f"{route}-{hour}-{i:05d}",
                time=T0 + hour * HOUR + i * 1000,
                endpoint="chat",
                requested_model=route,
                route=route,
                prompt_name=PROMPT if route == ROUTE else None,
                prompt_version=1 if route == ROUTE else None,
                model="small-b" if slow else "small-a",
                provider="fake",
                status="error" if failed else "blocked" if blocked else "ok",
                http_status=502 if failed else 200,
                latency_ms=float(rng.normal(800 if slow else 400, 40)),
                input_tokens=int(rng.integers(100, 200)),
                output_tokens=int(rng.integers(20, 60)),
                cost_usd=0.002 if slow else 0.001,
                cache="exact" if i % 10 == 0 else "miss",
                fallbacks=1 if slow and i % 4 == 3 else 0,
                metadata={"segment": "trial" if i % 2 else "paid"},
            )
        )
    return records


def log_gateway(runtime: Runtime) -> None:
    """Four hours of the route's calls (hour 3 slow), an hour of another route's; prompt
    ``support-answer`` v1; monitor ``support-calls`` of the route and prompt against hour
    0, and ``all-calls`` of every call against the window before; hours 1 to 3 computed."""
    records = [r for hour in range(4) for r in _calls(hour, CALLS, slow=hour == 3)]
    records += _calls(0, 50, route="other")
    runtime.run(lambda ctx: insert_calls(ctx, records), write=True)
    prompt = CreatePromptVersion(
        name=PROMPT, messages=[{"role": "user", "content": "Answer the customer."}]
    )
    runtime.run(lambda ctx: create_prompt_version(ctx, prompt), write=True)
    call(
        "create_monitor",
        name=GATEWAY,
        gateway={"route": ROUTE, "prompt": PROMPT},
        reference={"kind": "window", "since": T0, "until": T0 + HOUR},
        schedule=False,
    )
    call(
        "create_monitor",
        name=ALL_CALLS,
        gateway={},
        reference={"kind": "rolling", "windows": 1},
        schedule=False,
    )
    for name in (GATEWAY, ALL_CALLS):
        call("run_monitor", name=name, since=T0 + HOUR, until=T0 + 4 * HOUR)


def _payments() -> pd.DataFrame:
    """``ROWS`` payments an hour for three hours; in hour 2 a tenth have a negative amount
    and a twentieth come from a channel named like markup, which the contract forbids."""
    rng = np.random.default_rng(5)
    parts = []
    for hour in range(3):
        amount = rng.normal(100, 10, ROWS)
        channel = rng.choice(["web", "store"], ROWS).astype(object)
        if hour == 2:
            amount[: ROWS // 10] = -1.0
            channel[ROWS // 10 : ROWS // 10 + ROWS // 20] = XSS_NAME
        parts.append(
            pd.DataFrame(
                {
                    "id": np.arange(ROWS),
                    "at": T0 + hour * HOUR + np.arange(ROWS) * 1000,
                    "amount": amount,
                    "fee": np.full(ROWS, 2.0),
                    "channel": channel,
                }
            )
        )
    return pd.concat(parts, ignore_index=True)


def log_payments() -> None:
    """Dataset ``payments`` with its policy's contract; monitor ``payments-contract``
    checks that policy, ``payments-yaml`` the same contract given as text (and watches
    only the amount); hours 1 and 2 computed."""
    mloop.register_dataset(DATASET, _payments())
    call("set_dataset_policy", name=DATASET, contract_yaml=CONTRACT)
    spec: dict[str, Any] = {
        "dataset": {"name": DATASET, "time_column": "at"},
        "reference": {"kind": "window", "since": T0, "until": T0 + HOUR},
        "schedule": False,
    }
    call(
        "create_monitor",
        name=CONTRACT_MONITOR,
        columns={"amount": "number", "fee": "number", "channel": "category"},
        contract={"dataset": DATASET},
        **spec,
    )
    call(
        "create_monitor",
        name=YAML_MONITOR,
        columns={"amount": "number"},
        contract={"yaml": CONTRACT},
        **spec,
    )
    for name in (CONTRACT_MONITOR, YAML_MONITOR):
        call("run_monitor", name=name, since=T0 + HOUR, until=T0 + 3 * HOUR)


@pytest.fixture
def gateway(runtime: Runtime) -> None:
    log_gateway(runtime)


@pytest.fixture
def payments(runtime: Runtime) -> None:
    log_payments()


@pytest.fixture
def client(runtime: Runtime) -> Iterator[TestClient]:
    with TestClient(create_app(runtime)) as test_client:
        yield test_client


def _window(name: str, start: int) -> Any:
    return call("get_monitor_window", name=name, start=start)


def _figure(html: str, name: str) -> str:
    """The text of one figure of the Calls section."""
    match = re.search(
        rf'data-figure="{name}">.*?class="gw-kpi-value[^"]*">(.*?)</span>(.*?)</div>', html, re.S
    )
    assert match, name
    return match.group(1) + match.group(2)


def _check_row(contract: str, name: str) -> str:
    """A check's row in the contract section (its table holds example tables, so the
    search runs over the whole section)."""
    match = re.search(
        rf'<tr class="check [^"]*" data-check="{re.escape(name)}">(.*?)</tr>', contract, re.S
    )
    assert match, name
    return match.group(1)


def _header(html: str) -> str:
    return html.split('id="monitor-header"', 1)[1].split("</table>", 1)[0]


# -- a gateway monitor -------------------------------------------------------------------------


def test_gateway_monitor_says_what_it_watches_and_links_the_route_and_prompt(
    client: TestClient, gateway: None
) -> None:
    html, found = page(client, links.monitor(GATEWAY))
    header = _header(html)
    assert '<th scope="row">Gateway</th>' in header and "Endpoint</th>" not in header
    assert found.hrefs("gateway") == ["Gateway", "LLM gateway"]  # the navigation's, and ours
    assert found.hrefs("gateway_route", name=ROUTE) == [ROUTE]
    assert found.hrefs("prompt", name=PROMPT) == [PROMPT]
    assert found.hrefs("gateway_calls", route=ROUTE, prompt=PROMPT) == ["its calls", "the call log"]
    # The reference is a stretch of the route's own calls, not an endpoint's log.
    assert "the gateway&#39;s calls over a fixed window" in header
    assert "endpoint" not in header.lower()
    monitor = call("get_monitor", name=GATEWAY)
    assert f"{len(monitor.columns)} columns watched" in header
    assert_links_answer(client, found)


def test_gateway_window_shows_its_call_figures_and_statuses(
    client: TestClient, gateway: None
) -> None:
    start = T0 + 3 * HOUR
    html, _ = page(client, links.monitor(GATEWAY, window=start))
    assert '<a href="#gateway">Calls</a>' in html
    calls = section(html, "gateway")
    window = _window(GATEWAY, start)
    m, report = window.metrics, window.report["gateway"]
    assert m["gateway.error_rate"] == pytest.approx(0.2) and m["gateway.blocked_rate"] > 0
    assert _figure(calls, "calls").startswith(str(CALLS))
    assert _figure(calls, "error_rate").startswith(percent(m["gateway.error_rate"]))
    assert _figure(calls, "blocked_rate").startswith(percent(m["gateway.blocked_rate"]))
    for q in ("p50", "p95", "p99"):
        assert _figure(calls, q).startswith(ms(m[f"gateway.latency.{q}"])), q
    assert m["gateway.latency.p50"] < m["gateway.latency.p95"] < m["gateway.latency.p99"]
    cost = _figure(calls, "cost")
    assert cost.startswith(usd(m["gateway.cost_usd"]))
    assert f"{usd(m['gateway.cost_per_call'])} per call" in cost
    assert _figure(calls, "input_tokens").startswith(number(m["gateway.tokens.input"]))
    assert _figure(calls, "output_tokens").startswith(number(m["gateway.tokens.output"]))
    assert _figure(calls, "cache_hit_rate").startswith(percent(m["gateway.cache_hit_rate"]))
    assert m["gateway.fallback_rate"] == pytest.approx(0.25)
    assert _figure(calls, "fallback_rate").startswith(percent(0.25))
    # Statuses, the most common first, with their shares of the window's calls.
    assert report["statuses"] == {"blocked": 20, "error": 40, "ok": 140}
    statuses = re.findall(r'<tr data-status="([^"]+)">', calls)
    assert statuses == ["ok", "error", "blocked"]
    error = row_of(calls, "call-statuses", "data-status", "error")
    assert ">40<" in error and percent(0.2) in error
    # A gateway monitor has no predictions: no output rows in the heat map, histograms or
    # drift table, and no performance or outputs sections.
    monitor = call("get_monitor", name=GATEWAY)
    heat = html.split('id="heat-map"', 1)[1].split("</table>", 1)[0]
    assert re.findall(r'<tr data-column="([^"]*)">', heat) == list(monitor.columns)
    assert [h["column"] for h in block(html, "monitor-histograms")] == list(monitor.columns)
    drift = section(html, "drift")
    assert 'data-column="prediction"' not in drift and 'data-column="latency_ms"' in drift
    assert '<section id="performance">' not in html and '<section id="outputs">' not in html
    assert 'href="#performance"' not in html and "gateway.error_rate" in section(html, "alerts")


def test_gateway_figures_are_charted_over_time(client: TestClient, gateway: None) -> None:
    html, _ = page(client, links.monitor(GATEWAY))
    charts = {c["id"]: c for c in block(html, "monitor-charts")["charts"]}
    starts = [T0 + h * HOUR for h in (1, 2, 3)]
    windows = [_window(GATEWAY, s) for s in starts]
    formats = {
        "gateway.error_rate": "pct",
        "gateway.latency.p95": "ms",
        "gateway.cost_usd": "usd",
        "gateway.cache_hit_rate": "pct",
    }
    for metric, fmt in formats.items():
        chart = charts[metric]
        assert chart["format"] == fmt, metric
        (line,) = chart["series"]
        assert line["values"] == pytest.approx([w.metrics[metric] for w in windows]), metric
    assert charts["gateway.error_rate"]["series"][0]["values"][:2] == [0.0, 0.0]
    assert charts["volume.rows"]["title"] == "Calls per window"
    assert "quality.contract.max_share" not in charts  # no contract
    assert not any(c.startswith("performance.") for c in charts)
    assert "Performance is measured" not in html


def test_a_monitor_of_every_call_links_the_gateway(client: TestClient, gateway: None) -> None:
    html, found = page(client, links.monitor(ALL_CALLS))
    header = _header(html)
    assert 'id="gateway-scope">all calls<' in header
    assert found.hrefs("gateway") == ["Gateway", "LLM gateway"]
    assert not [h for h in found.links if h.startswith("/gateway/routes/")]
    assert 'id="gateway-calls-link"' not in header  # the log cannot filter to every call
    assert "the 1 window before each window" in header
    first = _window(ALL_CALLS, T0 + HOUR)
    assert _figure(section(html, "gateway"), "calls").startswith(str(CALLS))
    assert first.metrics["gateway.calls"] == CALLS  # hour 1: the one route's calls
    assert_links_answer(client, found)


# -- a contract -----------------------------------------------------------------------------


def test_contract_checks_show_their_failing_shares_and_rows(
    client: TestClient, payments: None
) -> None:
    start = T0 + 2 * HOUR
    html, found = page(client, links.monitor(CONTRACT_MONITOR, window=start))
    assert '<a href="#contract">Contract</a>' in html
    contract = section(html, "contract")
    window = _window(CONTRACT_MONITOR, start)
    checks = {c["name"]: c for c in window.report["contract"]["checks"]}
    assert "<code>payments</code> version 3" in contract and f"{ROWS} rows checked" in contract
    assert "3 checks failed" in contract
    # The contract is the dataset's registration policy: linked, here and in the header.
    assert found.hrefs("dataset", name=DATASET) == [DATASET, DATASET, DATASET]
    assert 'id="contract-dataset"' in contract
    assert "the registration policy of dataset" in _header(html)
    # Failed checks first, the largest share of rows first; passes after them.
    order = re.findall(r'<tr class="check check-[a-z]+" data-check="([^"]+)">', contract)
    assert order[:3] == ["amount.min", "fee_below_amount", "channel.allowed"]
    assert set(order) == set(checks)
    assert order.index("fee.min") > 2
    for name in ("amount.min", "channel.allowed", "fee_below_amount"):
        check = checks[name]
        row = _check_row(contract, name)
        cells = re.findall(r"<td[^>]*>(.*?)</td>", row, re.S)
        assert "failed" in cells[0] and name in cells[1], name
        assert cells[3] == check["severity"] == "error"
        assert percent(check["failing_share"], 2) in cells[4], name
        assert f'value="{check["failing_share"]}"' in cells[4]  # the meter
        assert cells[5] == str(check["failing_count"]), name
    assert checks["amount.min"]["failing_count"] == ROWS // 10
    assert "<code>amount</code>" in _check_row(contract, "amount.min")
    assert "passed" in _check_row(contract, "fee.min")
    # Up to three failing rows under each failed check, the values it read marked.
    examples = contract.split('data-examples="channel.allowed"', 1)[1].split("</table>", 1)[0]
    assert examples.count("<tr>") == 1 + 3  # the head and three rows
    assert examples.count(ESCAPED_XSS) == 3
    assert '<th class="mono failing-col">channel</th>' in examples
    assert 'data-examples="fee.min"' not in contract  # passed: nothing to show
    # Over time: the largest share of any check per window.
    charts = {c["id"]: c for c in block(html, "monitor-charts")["charts"]}
    (line,) = charts["quality.contract.max_share"]["series"]
    assert line["values"] == [0.0, pytest.approx(0.1)]
    assert charts["quality.contract.max_share"]["format"] == "pct"
    # The dataset has no prediction column: no output rows in the heat map.
    heat = html.split('id="heat-map"', 1)[1].split("</table>", 1)[0]
    assert re.findall(r'<tr data-column="([^"]*)">', heat) == ["amount", "fee", "channel"]
    # A dataset monitor keeps its performance section; the reference is the dataset's rows.
    assert '<section id="performance">' in html
    assert "the dataset&#39;s rows over a fixed window" in _header(html)
    assert "quality.contract.max_share" in section(html, "alerts")
    assert_links_answer(client, found)


def test_a_contract_given_as_text_and_checks_of_unwatched_columns(
    client: TestClient, payments: None
) -> None:
    html, found = page(client, links.monitor(YAML_MONITOR, window=T0 + 2 * HOUR))
    assert "given with the monitor" in _header(html)
    contract = section(html, "contract")
    assert 'id="contract-dataset"' not in contract
    assert found.hrefs("dataset", name=DATASET) == [DATASET]  # the watched dataset only
    for name in ("channel.allowed", "fee_below_amount"):
        row = _check_row(contract, name)
        cells = re.findall(r"<td[^>]*>(.*?)</td>", row, re.S)
        assert "skipped" in cells[0] and "\N{EN DASH}" in cells[4] and "\N{EN DASH}" in cells[5]
    assert "1 check failed" in contract
    # A clean window: no check failed, and its shares are zero.
    html, _ = page(client, links.monitor(YAML_MONITOR, window=T0 + HOUR))
    contract = section(html, "contract")
    assert "no check failed" in contract and "0.00%" in contract
    assert "data-examples=" not in contract


# -- the list --------------------------------------------------------------------------------


def test_list_shows_each_monitors_target_and_filters_by_kind(
    client: TestClient, gateway: None, payments: None
) -> None:
    html, found = page(client, links.monitors())
    watched = {
        name: row_of(html, "monitors", "data-monitor", name)
        for name in (GATEWAY, ALL_CALLS, CONTRACT_MONITOR, YAML_MONITOR)
    }
    assert 'data-target="gateway"' in watched[GATEWAY] and "LLM gateway" in watched[GATEWAY]
    assert "route" in watched[GATEWAY] and "prompt" in watched[GATEWAY]
    assert found.hrefs("gateway_route", name=ROUTE) == [ROUTE]
    assert found.hrefs("prompt", name=PROMPT) == [PROMPT]
    assert found.hrefs("gateway") == ["Gateway", "LLM gateway", "LLM gateway"]
    assert "all calls" in watched[ALL_CALLS]
    assert 'data-target="dataset"' in watched[CONTRACT_MONITOR]
    assert ">contract<" in watched[CONTRACT_MONITOR] and ">contract<" not in watched[GATEWAY]
    assert "the gateway&#39;s calls over a fixed window" in watched[GATEWAY]
    assert "the dataset&#39;s rows over a fixed window" in watched[CONTRACT_MONITOR]
    assert_links_answer(client, found)

    html, found = page(client, links.monitors() + "?target=gateway")
    assert re.findall(r'<tr data-monitor="([^"]+)"', html) == [ALL_CALLS, GATEWAY]
    assert 'aria-current="true">LLM gateway<' in html
    assert "all" in found.links[links.monitors()]  # the filter undone
    assert found.links[links.monitors() + "?target=dataset"] == ["Datasets"]
    html, _ = page(client, links.monitors() + "?target=dataset")
    assert re.findall(r'<tr data-monitor="([^"]+)"', html) == [CONTRACT_MONITOR, YAML_MONITOR]
    html, _ = page(client, links.monitors() + "?target=endpoint")
    assert "No monitors watch this kind of target (Endpoints)" in html


def test_a_bad_target_filter_is_a_400_page_naming_it(client: TestClient, runtime: Runtime) -> None:
    answer = client.get(links.monitors() + "?target=routes", headers={"accept": "text/html"})
    assert answer.status_code == 400
    assert answer.headers["content-type"].startswith("text/html")
    assert "target must be one of endpoint, dataset, gateway" in answer.text


# -- the views, on reports that are not what they should be ---------------------------------------


def test_calls_and_contract_views_read_reports_defensively() -> None:
    from mloop.server.ui.monitor_views import calls_view, contract_view

    assert calls_view({}) is None and contract_view({"contract": None}) is None
    odd = calls_view({"gateway": {"calls": "many", "statuses": ["ok"], "latency_ms": 3}})
    assert odd is not None and odd.calls == 0 and odd.statuses == [] and odd.p95 is None
    shares = calls_view({"gateway": {"calls": 4, "statuses": {"ok": 3, "error": 1}}})
    assert shares is not None
    assert [(s.status, s.count, s.share) for s in shares.statuses] == [
        ("ok", 3, 0.75),
        ("error", 1, 0.25),
    ]
    view = contract_view(
        {
            "contract": {
                "contract": "c",
                "checks": [
                    {"name": "a", "status": "passed", "failing_share": 0.0},
                    {"name": "b", "status": "failed", "severity": "warn", "failing_share": 0.3},
                    {"name": "c", "status": "failed", "failing_share": 0.1, "failing_count": True},
                    {"name": "d", "status": "bogus", "examples": "no"},
                    "not a check",
                ],
            }
        }
    )
    assert view is not None and view.total == 4 and view.failed_checks == 1
    assert [(c.name, c.shown_status) for c in view.checks] == [
        ("c", "failed"),
        ("b", "warn"),
        ("a", "passed"),
        ("d", "unknown"),
    ]
    assert view.checks[0].failing_count is None and view.checks[3].examples == []
