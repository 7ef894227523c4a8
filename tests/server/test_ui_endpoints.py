"""The endpoint pages over HTTP: the list with last hour's figures, one endpoint's charts
(values checked against the inference log), variants, history, deployments and requests,
one request with its label, the model version's "Served by", links both ways, escaping,
bad names and ranges, and the Rollback form under each role with and without
authentication."""

from __future__ import annotations

import itertools
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from functools import partial
from typing import Any

import numpy as np
import pandas as pd
import pytest
from fastapi.testclient import TestClient
from sklearn.linear_model import LogisticRegression
from tests.server.conftest import XSS_NAME
from tests.server.test_ui import ESCAPED_XSS, parse
from tests.server.test_ui_links import Page, assert_links_answer, assert_named_only_in_links

import mloop
from mloop.auth.tokens import create_token
from mloop.core.timeutil import now_ms
from mloop.server.app import create_app
from mloop.server.ui import links
from mloop.server.ui.formatting import ms, number
from mloop.serving.deployments import deploy, endpoint_status
from mloop.serving.endpoints import create_endpoint
from mloop.serving.events import list_deployment_events
from mloop.serving.schemas import CreateEndpoint, Deploy, EndpointName, ListEvents
from mloop.store.eventlog import InferenceLog, InferenceRecord
from mloop.store.runtime import Runtime

MINUTE = 60_000
ENDPOINT = "churn-api"
SHADOWED = "churn-mirror"
FEATURES = ["a", "b", "c"]


@dataclass
class Served:
    """What :func:`serve_loop` stored."""

    runs: dict[int, tuple[str, str]]  # version -> (run id, run name)
    records: list[InferenceRecord]
    shadow_records: list[InferenceRecord]


def _register(runtime: Runtime) -> dict[int, tuple[str, str]]:
    rng = np.random.default_rng(3)
    frame = pd.DataFrame(rng.normal(size=(60, 3)), columns=FEATURES)
    labels = (frame["a"] > 0).astype(int)
    runs = {}
    for version, c in ((1, 0.1), (2, 1.0)):
        with mloop.start_run(run_name=f"train-C{c}") as run:
            info = mloop.sklearn.log_model(
                LogisticRegression(C=c).fit(frame, labels), "model", input_example=frame[:5]
            )
        assert mloop.register_model(info.model_uri, "churn").version == version
        runs[version] = (run.info.run_id, f"train-C{c}")
    return runs


def deploy_as(runtime: Runtime, actor: str, **fields: Any) -> None:
    runtime.run(lambda ctx: deploy(ctx, Deploy(**fields)), write=True, actor=actor)


def create_as(runtime: Runtime, request: CreateEndpoint) -> None:
    runtime.run(lambda ctx: create_endpoint(ctx, request), write=True, actor="ana")


def traffic(now: int) -> list[InferenceRecord]:
    """90 requests over the last 53 minutes: a quarter to the candidate (v2), some failed,
    some refused by the signature."""
    records = []
    for i in range(90):
        candidate = i % 4 == 0
        status = "error" if i % 9 == 0 else "invalid" if i % 13 == 0 else "ok"
        records.append(
            InferenceRecord(
                request_id=f"req{i:04d}",
                endpoint=ENDPOINT,
                variant="candidate" if candidate else "stable",
                model_name="churn",
                model_version=2 if candidate else 1,
                inputs={"a": i / 10, "b": -1.5, "c": XSS_NAME if i == 5 else 0.0},
                outputs={"predictions": [i % 2]} if status == "ok" else None,
                confidence=0.5 + i / 200 if status == "ok" else None,
                latency_ms=1.0 + (i * 37) % 50,
                status=status,
                error=f"ValueError: bad {XSS_NAME}" if status == "error" else None,
                time=now - 30_000 - i * 35_000,
            )
        )
    return records


def shadow_traffic(now: int) -> list[InferenceRecord]:
    """10 answers of the stable variant, 5 of them mirrored to the shadow (same ids)."""
    records = []
    for i in range(10):
        common: dict[str, Any] = {
            "request_id": f"mirror{i:02d}",
            "endpoint": SHADOWED,
            "model_name": "churn",
            "inputs": {"a": i},
            "outputs": {"predictions": [1]},
            "latency_ms": 2.0,
        }
        t = now - 60_000 - i * 60_000
        records.append(InferenceRecord(variant="stable", model_version=1, time=t, **common))
        if i % 2 == 0:
            records.append(InferenceRecord(variant="shadow", model_version=2, time=t, **common))
    return records


def serve_loop(runtime: Runtime) -> Served:
    """Model churn v1 and v2 (two runs); endpoint churn-api: single v1 by ana, then a
    canary of v2 at 25% by bob; churn-mirror: v1 with v2 in shadow; an endpoint with
    nothing deployed; traffic for both in the inference log."""
    runs = _register(runtime)
    for name, description in ((ENDPOINT, f"churn risk {XSS_NAME}"), (SHADOWED, ""), ("idle", "")):
        create_as(runtime, CreateEndpoint(name=name, description=description))
    v1 = {"model": "churn", "version": 1}
    v2 = {"model": "churn", "version": 2}
    deploy_as(runtime, "ana", endpoint=ENDPOINT, variants=[v1], reason="first release")
    deploy_as(
        runtime,
        "bob",
        endpoint=ENDPOINT,
        strategy="canary",
        variants=[v1, {**v2, "weight": 25}],
        reason=f"try v2 {XSS_NAME}",
    )
    deploy_as(
        runtime, "ana", endpoint=SHADOWED, strategy="shadow", variants=[v1, {**v2, "weight": 50}]
    )
    now = now_ms()
    records, shadows = traffic(now), shadow_traffic(now)
    log = InferenceLog(runtime)
    for record in [*records, *shadows]:
        assert log.record(record)
    log.close()
    return Served(runs=runs, records=records, shadow_records=shadows)


@pytest.fixture
def served(runtime: Runtime) -> Served:
    return serve_loop(runtime)


@pytest.fixture
def client(runtime: Runtime) -> Iterator[TestClient]:
    with TestClient(create_app(runtime)) as test_client:
        yield test_client


def page(client: TestClient, url: str) -> tuple[str, Page]:
    answer = client.get(url)
    assert answer.status_code == 200, (url, answer.text[:500])
    assert XSS_NAME not in answer.text  # escaped everywhere
    found = Page()
    found.feed(answer.text)
    return answer.text, found


def charts_of(html: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(parse(html).json_blocks["endpoint-charts"])
    return data


def row_of(html: str, table: str, attr: str, value: str) -> str:
    body = html.split(f'id="{table}"', 1)[1].split("</table>", 1)[0]
    match = re.search(rf'<tr[^>]*{attr}="{re.escape(value)}"[^>]*>(.*?)</tr>', body, re.S)
    assert match, (table, value)
    return match.group(1)


def percentile(values: list[float], p: float) -> float:
    return float(np.percentile(values, p))  # linear interpolation, as DuckDB's quantile_cont


# -- the list -------------------------------------------------------------------------------


def test_list_shows_live_deployments_and_last_hours_figures(
    client: TestClient, served: Served
) -> None:
    html, found = page(client, links.endpoints())
    assert 'class="active" aria-current="page">Endpoints<' in html  # the navigation's section
    row = row_of(html, "endpoints", "data-endpoint", ENDPOINT)
    assert "canary" in row
    assert "churn v1" in row and "75%" in row and "churn v2" in row and "25%" in row
    latencies = [r.latency_ms for r in served.records]
    errors = sum(r.status == "error" for r in served.records)
    invalid = sum(r.status == "invalid" for r in served.records)
    cells = re.findall(r'<td class="num">(.*?)</td>', row, re.S)
    assert cells[0] == "90"
    assert cells[1].startswith(str(errors)) and f"+{invalid} invalid" in cells[1]
    assert cells[3] == ms(percentile(latencies, 99))
    mirror = row_of(html, "endpoints", "data-endpoint", SHADOWED)
    assert "mirrors 50%" in mirror and "15" in re.findall(r'<td class="num">(.*?)</td>', mirror)
    assert "nothing deployed" in row_of(html, "endpoints", "data-endpoint", "idle")
    assert found.hrefs("endpoint", name=ENDPOINT) == [ENDPOINT]
    assert found.hrefs("model_version", name="churn", version=2) == ["churn v2", "churn v2"]
    assert_named_only_in_links(found, [ENDPOINT, SHADOWED, "churn v1", "churn v2"])
    assert ESCAPED_XSS in html  # the description


def test_list_filters_by_name(client: TestClient, served: Served) -> None:
    html, _ = page(client, links.endpoints() + "?q=MIRROR")
    assert f'data-endpoint="{SHADOWED}"' in html and f'data-endpoint="{ENDPOINT}"' not in html
    html, _ = page(client, links.endpoints() + "?q=nothing-like-it")
    assert "No endpoints match" in html


def test_empty_list_says_how_to_deploy(client: TestClient) -> None:
    html, _ = page(client, links.endpoints())
    assert "No endpoints yet" in html and "mloop endpoints create" in html


# -- one endpoint ---------------------------------------------------------------------------


def _expected_buckets(records: list[InferenceRecord], bucket: int) -> dict[tuple[int, str], Any]:
    groups: dict[tuple[int, str], list[InferenceRecord]] = {}
    for r in records:
        groups.setdefault((r.time - r.time % bucket, r.variant), []).append(r)
    return groups


def test_charts_match_the_inference_log(client: TestClient, served: Served) -> None:
    html, _ = page(client, links.endpoint(ENDPOINT))
    data = charts_of(html)
    assert data["bucket_s"] == 60 and data["variants"] == ["stable", "candidate"]
    times = [t * 1000 for t in data["times"]]
    assert 60 <= len(times) <= 61 and all(b - a == MINUTE for a, b in itertools.pairwise(times))
    charts = data["charts"]
    series = {c: {s["label"]: s["values"] for s in charts[c]["series"]} for c in charts}
    groups = _expected_buckets(served.records, MINUTE)
    for i, start in enumerate(times):
        stable = groups.get((start, "stable"), [])
        candidate = groups.get((start, "candidate"), [])
        total = len(stable) + len(candidate)
        for name, found in (("stable", stable), ("candidate", candidate)):
            assert series["rate"][name][i] == len(found)
            share = series["share"][name][i]
            assert share == (pytest.approx(len(found) / total) if total else None)
            if not found:
                assert series["latency"][f"{name} p99"][i] is None
                assert series["errors"][name][i] is None
                continue
            latencies = [r.latency_ms for r in found]
            assert series["latency"][f"{name} p50"][i] == pytest.approx(percentile(latencies, 50))
            assert series["latency"][f"{name} p99"][i] == pytest.approx(percentile(latencies, 99))
            errors = sum(r.status == "error" for r in found)
            assert series["errors"][name][i] == pytest.approx(errors / len(found))
    assert sum(v for v in series["rate"]["candidate"]) == 23  # i = 0, 4, ..., 88


def test_longer_ranges_use_longer_buckets(client: TestClient, served: Served) -> None:
    html, found = page(client, links.endpoint(ENDPOINT, range="24h"))
    data = charts_of(html)
    assert data["bucket_s"] == 15 * 60 and 96 <= len(data["times"]) <= 97
    assert sum(data["charts"]["rate"]["series"][0]["values"]) * 15 + sum(
        data["charts"]["rate"]["series"][1]["values"]
    ) * 15 == pytest.approx(90)
    assert found.hrefs("endpoint", name=ENDPOINT, range="7d") == ["7d"]
    assert '<span class="button" aria-current="true">24h</span>' in html


def test_variants_table_links_versions_and_runs(client: TestClient, served: Served) -> None:
    html, found = page(client, links.endpoint(ENDPOINT))
    for version, variant in ((1, "stable"), (2, "candidate")):
        run_id, run_name = served.runs[version]
        row = row_of(html, "variants-table", "data-variant", variant)
        records = [r for r in served.records if r.variant == variant]
        nums = re.findall(r'<td class="num">(.*?)</td>', row, re.S)
        assert nums[0] == str(len(records))
        assert nums[1] == str(sum(r.status == "error" for r in records))
        assert nums[2] == str(sum(r.status == "invalid" for r in records))
        assert nums[4] == ms(percentile([r.latency_ms for r in records], 99))
        assert found.hrefs("run", run_id=run_id) == [run_name]
        assert f"churn v{version}" in found.hrefs("model_version", name="churn", version=version)
    assert "75%" in row_of(html, "variants-table", "data-variant", "stable")
    names = ["churn v1", "churn v2", *(name for _, name in served.runs.values())]
    assert_named_only_in_links(found, names)


def test_history_says_who_when_from_to_and_why(
    runtime: Runtime, client: TestClient, served: Served
) -> None:
    html, found = page(client, links.endpoint(ENDPOINT))
    events = runtime.run(
        lambda ctx: list_deployment_events(ctx, ListEvents(endpoint=ENDPOINT)), write=False
    ).events
    assert [e.kind for e in events] == ["deploy", "deploy"]
    canary, first = events
    row = row_of(html, "history-table", "id", f"event-{canary.id}")
    assert "bob" in row and f"try v2 {ESCAPED_XSS}" in row
    assert found.hrefs("endpoint_deployment", name=ENDPOINT, deployment_id=1)  # from #1
    assert found.hrefs("endpoint_event", name=ENDPOINT, event_id=canary.id)
    assert "ana" in row_of(html, "history-table", "id", f"event-{first.id}")
    assert 'id="deployment-1" data-state="superseded"' in html
    assert 'id="deployment-2" data-state="active"' in html
    # The detail names the deployed versions as links.
    assert re.search(
        r"candidate:</span> <a href=\"/models/churn/versions/2\">churn v2</a> 25%", row
    )


def test_recent_requests_link_to_the_request(client: TestClient, served: Served) -> None:
    html, found = page(client, links.endpoint(ENDPOINT))
    ids = re.findall(r'<tr data-request="(\w+)"', html)
    newest = sorted(served.records, key=lambda r: -r.time)
    assert ids == [r.request_id for r in newest[:50]]
    first = newest[0]
    assert found.hrefs(
        "inference_request", name=ENDPOINT, request_id=first.request_id, time=first.time
    )
    assert_links_answer(client, found)


def test_request_page_shows_inputs_outputs_and_label(
    runtime: Runtime, client: TestClient, served: Served
) -> None:
    InferenceLog(runtime).attach_labels([("req0004", 1)], origin="test")
    record = next(r for r in served.records if r.request_id == "req0004")
    html, found = page(client, links.inference_request(ENDPOINT, "req0004", record.time))
    assert "candidate" in html and found.hrefs("model_version", name="churn", version=2)
    assert "&#34;predictions&#34;: [" in html
    assert '<code class="ep-label">1</code>' in html
    html, _ = page(client, links.inference_request(ENDPOINT, "req0005"))  # no time: all searched
    assert ESCAPED_XSS in html  # an input value
    html, _ = page(client, links.inference_request(ENDPOINT, "req0009"))
    assert "ValueError: bad " + ESCAPED_XSS in html and "None: the request failed" in html


def test_shadow_copies_are_not_in_the_split(client: TestClient, served: Served) -> None:
    html, _ = page(client, links.endpoint(SHADOWED))
    data = charts_of(html)
    share = {s["label"]: s["values"] for s in data["charts"]["share"]["series"]}
    rate = {s["label"]: s["values"] for s in data["charts"]["rate"]["series"]}
    assert list(share) == ["stable"] and {v for v in share["stable"] if v is not None} == {1.0}
    assert sum(rate["stable"]) == 10 and sum(rate["shadow"]) == 5
    html, _ = page(client, links.inference_request(SHADOWED, "mirror00"))
    assert html.count('class="card ep-record"') == 2 and "shadow copies" in html


def test_requests_sent_to_the_endpoint_show_up(
    runtime: Runtime, client: TestClient, served: Served
) -> None:
    rows = [{"a": 0.3, "b": -0.1, "c": 1.0}]
    answer = client.post(f"/endpoints/{ENDPOINT}/invocations", json={"inputs": rows})
    assert answer.status_code == 200, answer.text
    request_id = answer.headers["x-mloop-request-id"]
    client.app.state.serving.get().inference_log.flush()  # type: ignore[attr-defined]
    html, _ = page(client, links.endpoint(ENDPOINT))
    assert re.findall(r'<tr data-request="(\w+)"', html)[0] == request_id
    html, _ = page(client, links.inference_request(ENDPOINT, request_id))
    assert "&#34;a&#34;: 0.3" in html and "&#34;predictions&#34;" in html


def test_endpoint_without_traffic_or_deployment(client: TestClient, served: Served) -> None:
    html, _ = page(client, links.endpoint("idle"))
    assert 'id="no-traffic"' in html and "Nothing is deployed" in html
    assert 'id="rollback"' not in html


# -- the model version links back ----------------------------------------------------------


def test_model_version_page_lists_the_endpoints_serving_it(
    client: TestClient, served: Served
) -> None:
    html, found = page(client, links.model_version("churn", 2))
    served_by = html.split('id="served-by"', 1)[1].split("</section>", 1)[0]
    assert f'data-endpoint="{ENDPOINT}"' in served_by and f'data-endpoint="{SHADOWED}"' in served_by
    assert "candidate, 25% of traffic" in served_by and "shadow, mirrors 50%" in served_by
    assert found.hrefs("endpoint", name=ENDPOINT) == [ENDPOINT]
    assert found.hrefs("endpoint_deployment", name=ENDPOINT, deployment_id=2)
    html, _ = page(client, links.model_version("churn", 1))
    assert "stable, 75% of traffic" in html


# -- bad input ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "status"),
    [
        ("/endpoints/no-such-endpoint", 404),
        ("/endpoints/bad%20name!", 404),
        (f"/endpoints/{ENDPOINT}?range=2h", 400),
        (f"/endpoints/{ENDPOINT}/requests/no-such-request", 404),
        (f"/endpoints/{ENDPOINT}/requests/{'x' * 200}", 404),
        (f"/endpoints/{ENDPOINT}/requests/req0001?t=yesterday", 400),
        ("/endpoints/no-such-endpoint/requests/req0001", 404),
        ("/endpoints?page_token=garbage", 400),
    ],
)
def test_bad_names_and_parameters_are_html_pages(
    client: TestClient, served: Served, url: str, status: int
) -> None:
    answer = client.get(url, headers={"accept": "text/html"})
    assert answer.status_code == status, answer.text[:300]
    assert answer.headers["content-type"].startswith("text/html")
    assert links.endpoints() in parse(answer.text).urls  # back to the section


# -- rolling back ---------------------------------------------------------------------------


def _live(runtime: Runtime, name: str = ENDPOINT) -> int | None:
    status = runtime.run(lambda ctx: endpoint_status(ctx, EndpointName(name=name)), write=False)
    return status.endpoint.current_deployment


def test_without_authentication_the_page_shows_the_command_and_refuses_posts(
    runtime: Runtime, client: TestClient, served: Served
) -> None:
    html, _ = page(client, links.endpoint(ENDPOINT))
    assert 'id="rollback-button"' not in html
    assert f"mloop endpoints rollback {ENDPOINT}" in html
    answer = client.post(links.endpoint_rollback(ENDPOINT), data={"from": "2", "reason": "x"})
    assert answer.status_code == 403 and "cannot tell who you are" in answer.text
    assert _live(runtime) == 2


@pytest.fixture
def tokens(runtime: Runtime, served: Served) -> dict[str, str]:
    return {
        role: runtime.run(partial(create_token, name=f"dora-{role}", role=role), write=True)
        for role in ("reader", "writer", "deployer", "admin")
    }


def test_rollback_needs_the_deployer_role(runtime: Runtime, tokens: dict[str, str]) -> None:
    with TestClient(create_app(runtime, auth_enabled=True)) as web:
        for role in ("reader", "writer"):
            web.cookies.set("mloop_token", tokens[role])
            html, _ = page(web, links.endpoint(ENDPOINT))
            assert 'id="rollback-button"' not in html and "needs the deployer role" in html
            answer = web.post(links.endpoint_rollback(ENDPOINT), data={"from": "2"})
            assert answer.status_code == 403, role
            assert answer.headers["content-type"].startswith("text/html")
        assert _live(runtime) == 2

        web.cookies.set("mloop_token", tokens["deployer"])
        html, _ = page(web, links.endpoint(ENDPOINT))
        assert 'id="rollback-button"' in html and "Roll back to deployment #1" in html
        assert 'name="from" value="2"' in html
        # A post from another site is refused.
        answer = web.post(
            links.endpoint_rollback(ENDPOINT),
            data={"from": "2"},
            headers={"origin": "https://elsewhere.example"},
        )
        assert answer.status_code == 403 and _live(runtime) == 2
        answer = web.post(
            links.endpoint_rollback(ENDPOINT),
            data={"from": "2", "reason": f"errors up {XSS_NAME}"},
            follow_redirects=False,
        )
        assert answer.status_code == 303
        assert answer.headers["location"] == links.endpoint(ENDPOINT) + "#history"
        assert _live(runtime) == 1
        event = runtime.run(
            lambda ctx: list_deployment_events(ctx, ListEvents(endpoint=ENDPOINT)), write=False
        ).events[0]
        assert (event.kind, event.actor, event.from_deployment, event.to_deployment) == (
            "rollback",
            "dora-deployer",
            2,
            1,
        )
        assert event.reason == f"errors up {XSS_NAME}"
        # The same form again (a double click, a stale page) does not roll back further.
        answer = web.post(links.endpoint_rollback(ENDPOINT), data={"from": "2"})
        assert answer.status_code == 409 and "changed since the page was loaded" in answer.text
        assert _live(runtime) == 1
        html, _ = page(web, links.endpoint(ENDPOINT))
        assert f"errors up {ESCAPED_XSS}" in row_of(html, "history-table", "data-kind", "rollback")
        # A bad form names the field.
        answer = web.post(links.endpoint_rollback(ENDPOINT), data={"from": "two"})
        assert answer.status_code == 400 and "from must be" in answer.text
        answer = web.post(
            links.endpoint_rollback(ENDPOINT), data={"from": "1", "reason": "x" * 2001}
        )
        assert answer.status_code == 400 and "reason" in answer.text
        # Nothing to roll back to.
        web.cookies.set("mloop_token", tokens["admin"])
        answer = web.post(links.endpoint_rollback(SHADOWED), data={"from": "3"})
        assert answer.status_code == 400 and "no earlier deployment" in answer.text


def test_pages_need_a_token_when_auth_is_on(runtime: Runtime, tokens: dict[str, str]) -> None:
    with TestClient(create_app(runtime, auth_enabled=True)) as web:
        for url in (links.endpoints(), links.endpoint(ENDPOINT)):
            answer = web.get(url, follow_redirects=False)
            assert answer.status_code == 303 and "/login" in answer.headers["location"]
        answer = web.post(
            links.endpoint_rollback(ENDPOINT), data={"from": "2"}, follow_redirects=False
        )
        assert answer.status_code == 303 and "/login" in answer.headers["location"]
        assert _live(runtime) == 2


def test_links_of_every_kind_resolve(client: TestClient, served: Served) -> None:
    for url in (links.endpoints(), links.endpoint(SHADOWED), links.model_version("churn", 1)):
        _, found = page(client, url)
        assert_links_answer(client, found)


# -- rollouts and A/B analysis ----------------------------------------------------------------


def test_a_rollout_shows_its_ramp_rules_and_last_check(
    runtime: Runtime, client: TestClient, served: Served
) -> None:
    from mloop.serving.evaluator import check_rollout

    html, _ = page(client, links.endpoint(ENDPOINT))
    assert 'id="rollout"' not in html  # no rollout, no section
    deploy_as(
        runtime,
        "bob",
        endpoint=ENDPOINT,
        strategy="canary",
        variants=[{"model": "churn", "version": 1}, {"model": "churn", "version": 2, "weight": 5}],
        reason="ramp v2",
        rollout={
            "ramp": {"steps": [5, 25, 50, 100], "min_seconds": 60, "min_requests": 40},
            "rules": [
                {"kind": "error_rate", "threshold": 0.05, "min_samples": 20},
                {"kind": "latency", "threshold": 250, "quantile": 0.95},
            ],
        },
    )
    html, _ = page(client, links.endpoint(ENDPOINT))
    section = html.split('id="rollout"', 1)[1].split("</section>", 1)[0]
    steps = re.findall(r'<li class="ep-step( \w+)?"[^>]*>(\d+)%</li>', section)
    assert steps == [(" current", "5"), ("", "25"), ("", "50"), ("", "100")]
    assert "at least 60 s and 40 requests" in section and "Step 1 of 4 (5%)" in section
    rules = re.findall(r'<tr data-rule="(\d)">(.*?)</tr>', section, re.S)
    assert [i for i, _ in rules] == ["0", "1"]
    assert "error rate" in rules[0][1] and "above 0.05" in rules[0][1]
    assert "latency p95" in rules[1][1] and "above 250 ms" in rules[1][1]
    assert "not checked yet" in rules[0][1]
    # A check with no candidate traffic in the rule's window waits, and the page says so.
    result = check_rollout(runtime, ENDPOINT)
    html, _ = page(client, links.endpoint(ENDPOINT))
    section = html.split('id="rollout"', 1)[1].split("</section>", 1)[0]
    assert "Last checked" in section and result.action in section
    assert 'class="status ep-rule-waiting">waiting' in section


def test_ab_comparison_compares_the_versions_with_traffic(
    runtime: Runtime, client: TestClient, served: Served
) -> None:
    # Ground truth for every answered request: the label is 1, predictions alternate.
    answered = [r for r in served.records if r.status == "ok"]
    InferenceLog(runtime).attach_labels([(r.request_id, 1) for r in answered], origin="test")
    html, found = page(client, links.endpoint(ENDPOINT))
    table = html.split('id="ab-table"', 1)[1].split("</table>", 1)[0]
    rows = dict(re.findall(r'<tr data-version="(\d)">(.*?)</tr>', table, re.S))
    assert list(rows) == ["1", "2"] and "baseline" in rows["1"]
    for version, row in rows.items():
        # Requests the signature refused are the caller's, not the version's: left out.
        records = [
            r for r in served.records if r.model_version == int(version) and r.status != "invalid"
        ]
        nums = re.findall(r'<td class="num">(.*?)</td>', row, re.S)
        assert nums[0] == str(len(records))
        labelled = [r for r in records if r.status == "ok"]
        assert nums[5] == str(len(labelled))
        accuracy = sum(r.outputs["predictions"][0] == 1 for r in labelled) / len(labelled)
        assert nums[6].startswith(number(accuracy) + " <span")  # then its interval
    differences = html.split('id="ab-differences"', 1)[1].split("</table>", 1)[0]
    measures = re.findall(r'data-measure="(\w+)"', differences)
    assert measures == ["error_rate", "latency_mean_ms", "accuracy"]
    assert found.hrefs("model_version", name="churn", version=2)
    html, _ = page(client, links.endpoint(SHADOWED))
    assert 'id="ab"' in html  # the shadow's version had traffic too
    html, _ = page(client, links.endpoint("idle"))
    assert 'id="ab"' not in html
