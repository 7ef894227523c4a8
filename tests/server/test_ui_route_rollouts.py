"""The route rollout pages over HTTP: a rollout's ramp and where it stands, its split, charts
and health rules checked against the call log, its history; the route page and the gateway
page listing rollouts, links both ways, escaping, unknown rollouts and routes, and the End
and Check now forms under each role with and without authentication."""

from __future__ import annotations

import itertools
import json
import math
import re
from collections.abc import Iterator
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from tests.server.conftest import XSS_NAME
from tests.server.test_ui import ESCAPED_XSS, parse
from tests.server.test_ui_links import Page, assert_links_answer, assert_named_only_in_links

from mloop.auth.tokens import create_token
from mloop.core.timeutil import now_ms
from mloop.llm.calls.log import CallRecord, insert_calls
from mloop.llm.calls.tables import llm_calls
from mloop.llm.rollouts import tables as route_tables
from mloop.llm.rollouts.checks import check_route
from mloop.llm.rollouts.policy import list_route_rollout_events, start_route_rollout
from mloop.llm.rollouts.reads import get_route_rollout
from mloop.llm.rollouts.schemas import ListRouteRollouts, RouteRollout, StartRouteRollout
from mloop.prompts.labels import set_prompt_label
from mloop.prompts.schemas import CreatePromptVersion, SetPromptLabel
from mloop.prompts.versions import create_prompt_version
from mloop.server.app import create_app
from mloop.server.ui import links
from mloop.server.ui.formatting import ms, number, percent
from mloop.serving.schemas import HealthRule, RampPlan
from mloop.store.runtime import Runtime

MINUTE = 60_000
ROUTE = "support-reply"
PROMPT = "support-reply"
TARGET_ROUTE = "summarize"
GATEWAY_YAML = """\
providers:
  sim: {kind: simulated}
  backup: {kind: simulated}
routes:
  support-reply:
    description: answers support tickets
    targets:
      - {provider: sim, model: fast}
  summarize:
    targets:
      - {provider: sim, model: fast}
"""


@dataclass
class Stored:
    """What :func:`store_rollouts` made."""

    earlier: RouteRollout  # on ROUTE, replaced (cancelled) by the prompt rollout
    prompt: RouteRollout  # running, advanced once to 50%
    target: RouteRollout  # on TARGET_ROUTE, rolled back
    start: int  # the prompt rollout's start
    advanced_at: int
    calls: list[CallRecord]  # the calls on ROUTE naming the prompt since the start


def _register_prompt(runtime: Runtime, name: str = PROMPT) -> None:
    def register(ctx: Any) -> None:
        for text in ("v1: answer politely", "v2: answer warmly"):
            create_prompt_version(
                ctx,
                CreatePromptVersion(
                    name=name,
                    messages=[
                        {"role": "system", "content": text},
                        {"role": "user", "content": "{{ question }}"},
                    ],
                    variables={"question": {"type": "string"}},
                ),
            )
        set_prompt_label(ctx, SetPromptLabel(name=name, label="production", version=1))

    runtime.run(register, write=True, actor="ana")


def start_as(runtime: Runtime, actor: str, **fields: Any) -> RouteRollout:
    return runtime.run(
        lambda ctx: start_route_rollout(ctx, StartRouteRollout(**fields)), write=True, actor=actor
    )


def backdate(runtime: Runtime, rollout_id: int, start: int) -> None:
    """Move a rollout's start (and its events so far) back to ``start``: the calls of the
    past it is judged on must come after it."""
    r, e = route_tables.route_rollouts, route_tables.route_rollout_events

    def move(ctx: Any) -> None:
        ctx.conn.execute(
            sa.update(r)
            .where(r.c.id == rollout_id)
            .values(started_at=start, step_started_at=start, updated_at=start)
        )
        ctx.conn.execute(sa.update(e).where(e.c.rollout_id == rollout_id).values(timestamp=start))

    runtime.run(move, write=True)


def prompt_call(i: int, t: int, **fields: Any) -> CallRecord:
    """A call of ROUTE: v2 (the candidate) every 4th, a provider error (502) when i % 7 is 3,
    a rate-limited call (429, the caller's: invalid) when i % 11 is 5."""
    status, http = "ok", 200
    if i % 7 == 3:
        status, http = "error", 502
    elif i % 11 == 5:
        status, http = "error", 429
    values: dict[str, Any] = {
        "id": f"p{i:04d}",
        "time": t,
        "endpoint": "chat",
        "requested_model": ROUTE,
        "route": ROUTE,
        "provider": "sim",
        "model": "fast",
        "prompt_name": PROMPT,
        "prompt_version": 2 if i % 4 == 0 else 1,
        "status": status,
        "http_status": http,
        "latency_ms": 100.0 + (i * 37) % 300,
    }
    values.update(fields)
    return CallRecord(**values)


def store_rollouts(runtime: Runtime, route: str = ROUTE, prompt: str = PROMPT) -> Stored:
    """On ``route``: a target rollout (replaced), then a canary of ``prompt`` v2 against
    v1 (production) started 40 minutes ago by alice, 60 calls since (some failed on the
    provider's side, some rate-limited), advanced by a check 20 minutes in. On TARGET_ROUTE: a
    canary of backup/big whose calls failed, rolled back by a check."""
    _register_prompt(runtime, prompt)
    now = now_ms()
    earlier = start_as(
        runtime,
        "bob",
        route=route,
        target="backup/other",
        rules=[HealthRule(kind="error_rate", threshold=0.1)],
    )
    start = now - 40 * MINUTE
    rollout = start_as(
        runtime,
        "alice",
        route=route,
        prompt=f"{prompt}@production",
        prompt_version=2,
        ramp=RampPlan(steps=[10, 50, 100], min_seconds=600, min_requests=5),
        rules=[
            HealthRule(kind="error_rate", threshold=0.5, window_seconds=3600, min_samples=3),
            HealthRule(
                kind="latency", threshold=1000, quantile=0.95, window_seconds=3600, min_samples=3
            ),
        ],
        reason=f"warmer tone {XSS_NAME}",
    )
    backdate(runtime, rollout.id, start)
    on_route = {"route": route, "requested_model": route, "prompt_name": prompt}
    calls = [prompt_call(i, start + 30_000 + i * 40_000, **on_route) for i in range(60)]
    noise = [
        prompt_call(100, now - MINUTE, **{**on_route, "prompt_name": None, "prompt_version": None}),
        prompt_call(104, start - MINUTE, **on_route),  # v2 before the start
        prompt_call(108, now - MINUTE, **{**on_route, "route": "other"}),  # another route
    ]
    runtime.run(lambda ctx: insert_calls(ctx, calls + noise), write=True)
    advanced_at = start + 20 * MINUTE
    result = check_route(runtime, route, now=advanced_at)
    assert result.action == "advance", result.reason

    target_start = now - 10 * MINUTE
    target = start_as(
        runtime,
        "carol",
        route=TARGET_ROUTE,
        target="backup/big",
        ramp=RampPlan(steps=[50, 100], min_seconds=0, min_requests=1000),
        rules=[HealthRule(kind="error_rate", threshold=0.1, window_seconds=3600, min_samples=3)],
    )
    backdate(runtime, target.id, target_start)
    target_calls = [
        CallRecord(
            id=f"t{i:04d}",
            time=target_start + MINUTE + i * 10_000,
            endpoint="chat",
            requested_model=TARGET_ROUTE,
            route=TARGET_ROUTE,
            provider="backup" if i % 2 else "sim",
            model="big" if i % 2 else "fast",
            status="error" if i % 2 and i != 1 else "ok",
            http_status=503 if i % 2 and i != 1 else 200,
            latency_ms=50.0 + i,
        )
        for i in range(12)
    ]
    runtime.run(lambda ctx: insert_calls(ctx, target_calls), write=True)
    assert check_route(runtime, TARGET_ROUTE, now=target_start + 8 * MINUTE).action == "rollback"

    def reread(r: RouteRollout) -> RouteRollout:
        return runtime.run(lambda ctx: get_route_rollout(ctx, r.id), write=False)

    return Stored(
        earlier=reread(earlier),
        prompt=reread(rollout),
        target=reread(target),
        start=start,
        advanced_at=advanced_at,
        calls=calls,
    )


@pytest.fixture(autouse=True)
def _no_provider_keys(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("OPENAI_API_KEY", "OPENAI_BASE_URL", "ANTHROPIC_API_KEY", "MLOOP_GATEWAY_CONFIG"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def stored(runtime: Runtime) -> Stored:
    Path(runtime.settings.home / "gateway.yaml").write_text(GATEWAY_YAML)
    return store_rollouts(runtime)


def quiet(client: TestClient) -> TestClient:
    """The client, its gateway built and its background rollout checks stopped: the tests
    decide when a rollout is checked."""
    client.app.state.gateway.get().rollout_checks.close()  # type: ignore[attr-defined]
    return client


@pytest.fixture
def client(runtime: Runtime, stored: Stored) -> Iterator[TestClient]:
    with TestClient(create_app(runtime)) as test_client:
        yield quiet(test_client)


def page(client: TestClient, url: str) -> tuple[str, Page]:
    answer = client.get(url)
    assert answer.status_code == 200, (url, answer.text[:500])
    assert XSS_NAME not in answer.text  # escaped everywhere
    found = Page()
    found.feed(answer.text)
    return answer.text, found


def section(html: str, section_id: str) -> str:
    return html.split(f'<section id="{section_id}"', 1)[1].split("</section>", 1)[0]


def row_of(html: str, table: str, attr: str, value: str) -> str:
    body = html.split(f'id="{table}"', 1)[1].split("</table>", 1)[0]
    match = re.search(rf'<tr[^>]*{attr}="{re.escape(value)}"[^>]*>(.*?)</tr>', body, re.S)
    assert match, (table, value)
    return match.group(1)


def nums(row: str) -> list[str]:
    return re.findall(r'<td class="num">(.*?)</td>', row, re.S)


def text_of(html: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html)).strip()


# -- what the rules read, computed here from the records --------------------------------------


def side_of(call: CallRecord) -> str:
    return "candidate" if call.prompt_version == 2 else "stable"


def kind_of(call: CallRecord) -> str:
    if call.status == "ok":
        return "ok"
    return "error" if call.http_status >= 500 else "invalid"


def nearest_rank(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[max(math.ceil(p * len(ordered)), 1) - 1]


@dataclass
class Figures:
    requests: int
    errors: int
    invalid: int
    error_rate: float | None
    p50: float | None
    p99: float | None


def figures(calls: list[CallRecord]) -> Figures:
    served = [c for c in calls if kind_of(c) != "invalid"]
    errors = sum(kind_of(c) == "error" for c in calls)
    latency = [c.latency_ms for c in served]
    return Figures(
        requests=len(calls),
        errors=errors,
        invalid=len(calls) - len(served),
        error_rate=errors / len(served) if served else None,
        p50=nearest_rank(latency, 0.5) if latency else None,
        p99=nearest_rank(latency, 0.99) if latency else None,
    )


# -- the rollout page -------------------------------------------------------------------------


def test_header_names_and_links_every_object(client: TestClient, stored: Stored) -> None:
    html, found = page(client, links.route_rollout(stored.prompt.id))
    assert 'class="active" aria-current="page">Gateway<' in html  # the navigation's section
    assert set(found.hrefs("gateway_route", name=ROUTE)) == {ROUTE}  # crumbs, header, others
    assert found.hrefs("prompt_version", name=PROMPT, version=2)[0] == f"{PROMPT} v2"
    assert found.hrefs("prompt_version", name=PROMPT, version=1)[0] == f"{PROMPT} v1"
    assert found.hrefs("prompt", name=PROMPT) == [f"{PROMPT}@production"]
    assert 'class="badge ep-rollout-running">running<' in html
    assert "started" in (what := html.split('id="what"', 1)[1].split("</p>", 1)[0])
    assert "alice" in what
    names = [ROUTE, f"{PROMPT} v1", f"{PROMPT} v2", f"{PROMPT}@production", "backup/other"]
    assert_named_only_in_links(found, names)
    assert_links_answer(client, found)


def test_ramp_and_step_show_where_it_stands(client: TestClient, stored: Stored) -> None:
    html, _ = page(client, links.route_rollout(stored.prompt.id))
    standing = section(html, "standing")
    steps = re.findall(r'<li class="ep-step( \w+)?"[^>]*>(\d+)%</li>', standing)
    assert steps == [(" done", "10"), (" current", "50"), ("", "100")]
    assert "at least 600 s and 5 requests" in standing
    assert "2 of 3, the candidate at 50%" in text_of(standing)
    in_step = [
        c
        for c in stored.calls
        if c.time >= stored.advanced_at and side_of(c) == "candidate" and kind_of(c) != "invalid"
    ]
    requests = text_of(standing.split('id="step-requests"', 1)[1].split("</tr>", 1)[0])
    assert f"Candidate requests in the step {len(in_step)} of at least 5 done" in requests
    seconds = text_of(standing.split('id="step-time"', 1)[1].split("</tr>", 1)[0])
    assert "of at least 600 s done" in seconds
    # The step has lasted and served enough, every rule healthy: a check now would take the
    # last step (to 100%), completing the rollout.
    assert "A check now would promote" in text_of(standing)
    assert "Last checked" in standing and ": advance (" in standing


def test_split_table_matches_the_call_log(client: TestClient, stored: Stored) -> None:
    html, found = page(client, links.route_rollout(stored.prompt.id))
    in_step = [c for c in stored.calls if c.time >= stored.advanced_at]
    for side, planned in (("stable", "50%"), ("candidate", "50%")):
        row = row_of(html, "sides-table", "data-side", side)
        mine = [c for c in stored.calls if side_of(c) == side]
        expected = figures(mine)
        step_mine = [c for c in in_step if side_of(c) == side]
        assert nums(row) == [
            planned,
            f"{len(step_mine)} "
            f'<span class="muted small">({percent(len(step_mine) / len(in_step))})</span>',
            str(expected.requests),
            f'{expected.errors} <span class="muted small">+{expected.invalid} invalid</span>',
            percent(expected.error_rate),
            ms(expected.p50),
            ms(expected.p99),
        ], side
    # The noise is left out: a call without the prompt, one before the start, another route.
    assert (
        sum(
            int(nums(row_of(html, "sides-table", "data-side", s))[2])
            for s in ("stable", "candidate")
        )
        == 60
    )
    assert found.hrefs("gateway_calls", route=ROUTE, prompt=PROMPT, version=2) == ["calls »"]
    assert found.hrefs("gateway_calls", route=ROUTE, prompt=PROMPT, version=1) == ["calls »"]


def test_charts_match_the_call_log(client: TestClient, stored: Stored) -> None:
    html, _ = page(client, links.route_rollout(stored.prompt.id))
    data = json.loads(parse(html).json_blocks["endpoint-charts"])
    assert data["bucket_s"] == 60 and data["variants"] == ["stable", "candidate"]
    times = [t * 1000 for t in data["times"]]
    assert times[0] == stored.start - stored.start % MINUTE
    assert all(b - a == MINUTE for a, b in itertools.pairwise(times))
    charts = data["charts"]
    assert set(charts) == {"split", "rate", "latency", "errors"}
    series = {c: {s["label"]: s["values"] for s in charts[c]["series"]} for c in charts}
    for i, start in enumerate(times):
        bucket = [c for c in stored.calls if start <= c.time < start + MINUTE]
        middle = start + MINUTE // 2
        planned = None if middle < stored.start else 0.1 if middle < stored.advanced_at else 0.5
        assert series["split"]["candidate planned"][i] == planned
        for side in ("stable", "candidate"):
            mine = [c for c in bucket if side_of(c) == side]
            expected = figures(mine)
            assert series["rate"][side][i] == len(mine)
            assert series["split"][side][i] == (
                pytest.approx(len(mine) / len(bucket)) if bucket else None
            )
            assert series["errors"][side][i] == expected.error_rate
            assert series["latency"][f"{side} p50"][i] == expected.p50
            assert series["latency"][f"{side} p99"][i] == expected.p99
    assert sum(series["rate"]["candidate"]) == 15  # i = 0, 4, ..., 56


def test_rules_show_the_last_check_and_what_they_read_now(
    client: TestClient, stored: Stored
) -> None:
    html, _ = page(client, links.route_rollout(stored.prompt.id))
    rules = section(html, "rules")
    error_rule = row_of(rules, "rules-table", "data-rule", "0")
    latency_rule = row_of(rules, "rules-table", "data-rule", "1")
    assert "error rate" in error_rule and "above 0.5" in error_rule
    assert "latency p95" in latency_rule and "above 1000 ms" in latency_rule
    candidate = [c for c in stored.calls if side_of(c) == "candidate"]
    served = [c for c in candidate if kind_of(c) != "invalid"]
    errors = sum(kind_of(c) == "error" for c in served)
    # Last check: the advance, on the calls up to it; now: every call since the start.
    before = [c for c in served if c.time <= stored.advanced_at]
    before_errors = sum(kind_of(c) == "error" for c in before)
    assert nums(error_rule)[:4] == [
        number(before_errors / len(before)),
        str(len(before)),
        number(errors / len(served)),
        str(len(served)),
    ]
    assert error_rule.count('class="status ep-rule-ok">ok<') == 2
    assert f"{errors} of {len(served)} requests failed" in error_rule


def test_history_says_who_when_and_what_changed(
    runtime: Runtime, client: TestClient, stored: Stored
) -> None:
    html, found = page(client, links.route_rollout(stored.prompt.id))
    events = runtime.run(
        lambda ctx: list_route_rollout_events(ctx, ListRouteRollouts(route=ROUTE)), write=False
    ).events
    mine = [e for e in events if e.rollout_id == stored.prompt.id]
    assert [e.kind for e in mine] == ["advance", "start"]
    advance, start = mine
    ids = re.findall(r'<tr id="event-(\d+)"', section(html, "history"))
    assert ids == [str(advance.id), str(start.id)]  # newest first, this rollout's only
    row = row_of(html, "history-table", "id", f"event-{start.id}")
    assert "alice" in row and f"warmer tone {ESCAPED_XSS}" in row
    assert "10% → 50% → 100%, each step ≥ 600 s and 5 requests" in row
    assert "latency p95 above 1000 over 3600 s" in row
    row = row_of(html, "history-table", "id", f"event-{advance.id}")
    first_step = [c for c in stored.calls if side_of(c) == "candidate" and kind_of(c) != "invalid"]
    requests = sum(c.time <= stored.advanced_at for c in first_step)
    assert "mloop" in row and f"10% → 50% after 1200 s and {requests} requests" in row
    assert found.hrefs("route_rollout_event", rollout_id=stored.prompt.id, event_id=advance.id)


def test_a_rolled_back_target_rollout_says_why(client: TestClient, stored: Stored) -> None:
    html, found = page(client, links.route_rollout(stored.target.id))
    assert 'class="badge ep-rollout-rolled_back">rolled back<' in html
    outcome = html.split('id="outcome"', 1)[1].split("</p>", 1)[0]
    assert "(error_rate) breached" in outcome and "5 of 6 requests failed" in outcome
    assert found.hrefs("gateway_calls", route=TARGET_ROUTE, q="big")[0] == "backup/big"
    assert found.hrefs("gateway_route", name=TARGET_ROUTE)  # the stable side: its targets
    assert "the route serves as its configuration" in html
    assert 'id="manage"' not in html and 'id="step-table"' not in html
    row = row_of(html, "history-table", "data-kind", "rollback")
    assert f"breached: error rate: {5 / 6:g} above 0.1 over 3600 s (6 samples)" in text_of(row)
    # The charts end with the rollback.
    data = json.loads(parse(html).json_blocks["endpoint-charts"])
    assert data["times"][-1] * 1000 <= stored.target.updated_at
    rate = {s["label"]: sum(s["values"]) for s in data["charts"]["rate"]["series"]}
    assert rate == {"stable": 6, "candidate": 6}
    assert_named_only_in_links(found, ["backup/big", TARGET_ROUTE])


def test_a_one_step_ramp_shows_without_a_decision(
    runtime: Runtime, client: TestClient, stored: Stored
) -> None:
    # A ramp of [100] puts the candidate at 100% at once: there is no next step to decide on.
    rollout = start_as(
        runtime, "alice", route=TARGET_ROUTE, target="backup/big", ramp=RampPlan(steps=[100])
    )
    html, _ = page(client, links.route_rollout(rollout.id))
    standing = section(html, "standing")
    assert "the candidate at 100%" in standing and 'id="next-check"' not in standing


# -- the route page and the gateway page -------------------------------------------------------


def test_route_page_lists_its_rollouts(client: TestClient, stored: Stored) -> None:
    html, found = page(client, links.gateway_route(ROUTE))
    assert "answers support tickets" in html
    ids = re.findall(r'<tr data-rollout="(\d+)"', section(html, "rollouts"))
    assert ids == [str(stored.prompt.id), str(stored.earlier.id)]  # newest first
    assert found.hrefs("route_rollout", rollout_id=stored.prompt.id) == [f"#{stored.prompt.id}"]
    earlier = row_of(html, "rollouts-table", "data-rollout", str(stored.earlier.id))
    assert "cancelled" in earlier and "replaced by a new rollout by alice" in earlier
    current = row_of(html, "rollouts-table", "data-rollout", str(stored.prompt.id))
    assert "50%" in current and "step 2 of 3" in current
    assert 'data-target="sim/fast"' in html and found.hrefs("gateway_calls", route=ROUTE)
    assert_links_answer(client, found)
    html, _ = page(client, links.gateway_route("other"))  # only in the call log
    assert "Not in the gateway configuration" in html and 'id="no-rollouts"' in html


def test_gateway_page_lists_the_live_rollouts(client: TestClient, stored: Stored) -> None:
    html, found = page(client, links.gateway())
    live = section(html, "rollouts")
    assert re.findall(r'<tr data-rollout="(\d+)"', live) == [str(stored.prompt.id)]
    assert found.hrefs("gateway_route", name=ROUTE)[0] == ROUTE
    route_row = html.split(f'<tr data-route="{ROUTE}">', 1)[1].split("</tr>", 1)[0]
    assert f"rollout #{stored.prompt.id} running · 50%" in text_of(route_row)
    assert found.hrefs("route_rollout", rollout_id=stored.prompt.id)


def test_a_route_only_in_the_call_log_has_a_page(
    runtime: Runtime, client: TestClient, stored: Stored
) -> None:
    # The configuration allows no "/" or markup in a route's name; an older call log may.
    odd = f"team/{XSS_NAME}"
    runtime.run(lambda ctx: insert_calls(ctx, [prompt_call(200, now_ms(), route=odd)]), write=True)
    html, found = page(client, links.gateway())
    assert found.hrefs("gateway_route", name=odd) == [odd]
    html, _ = page(client, links.gateway_route(odd))
    assert f"team/{ESCAPED_XSS}" in html and "Not in the gateway configuration" in html


# -- through the gateway ----------------------------------------------------------------------


def test_calls_through_the_gateway_are_counted_on_the_side_they_took(
    runtime: Runtime, stored: Stored
) -> None:
    """The gateway splits requests naming the label; the page counts each call on the side
    the call log's metadata says it took."""
    route = "summarize"  # its rollout was rolled back: start a prompt rollout there
    with TestClient(create_app(runtime)) as web:
        gateway = quiet(web).app.state.gateway.get()  # type: ignore[attr-defined]
        rollout = start_as(
            runtime,
            "alice",
            route=route,
            prompt=f"{PROMPT}@production",
            prompt_version=2,
            ramp=RampPlan(steps=[40, 100], min_seconds=3600, min_requests=1000),
        )
        gateway.rollouts.invalidate()
        for i in range(30):
            answer = web.post(
                "/v1/chat/completions",
                json={
                    "model": route,
                    "prompt": f"{PROMPT}@production",
                    "variables": {"question": "?"},
                },
                headers={"x-mloop-sticky": f"user-{i}"},
            )
            assert answer.status_code == 200, answer.text
        gateway.log.flush()
        sides = runtime.run(
            lambda ctx: [
                json.loads(m)["rollout"]["side"]
                for m in ctx.conn.execute(
                    sa.select(llm_calls.c.metadata_json).where(llm_calls.c.route == route)
                ).scalars()
                if "rollout" in json.loads(m)
            ],
            write=False,
        )
        assert len(sides) == 30 and 0 < sides.count("candidate") < 30
        html, _ = page(web, links.route_rollout(rollout.id))
        for side in ("stable", "candidate"):
            assert nums(row_of(html, "sides-table", "data-side", side))[2] == str(sides.count(side))


# -- bad input --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "status"),
    [
        ("/gateway/rollouts/999999", 404),
        ("/gateway/rollouts/abc", 404),
        ("/gateway/rollouts/0", 404),
        (f"/gateway/rollouts/{'9' * 40}", 404),
        ("/gateway/routes/no-such-route", 404),
        ("/gateway/routes/(direct)", 404),
        (f"/gateway/routes/{ROUTE}?window=2h", 400),
    ],
)
def test_unknown_rollouts_and_routes_are_html_pages(
    client: TestClient, url: str, status: int
) -> None:
    answer = client.get(url, headers={"accept": "text/html"})
    assert answer.status_code == status, answer.text[:300]
    assert answer.headers["content-type"].startswith("text/html")
    assert links.gateway() in parse(answer.text).urls  # back to the section


# -- ending and checking ----------------------------------------------------------------------


def _state(runtime: Runtime, rollout_id: int) -> str:
    return runtime.run(lambda ctx: get_route_rollout(ctx, rollout_id), write=False).state


def test_without_authentication_ending_shows_the_command_and_is_refused(
    runtime: Runtime, client: TestClient, stored: Stored
) -> None:
    html, _ = page(client, links.route_rollout(stored.prompt.id))
    assert 'id="end-button"' not in html
    assert f"mloop gateway rollout end {ROUTE}" in html
    answer = client.post(links.route_rollout_end(stored.prompt.id), data={"state": "running"})
    assert answer.status_code == 403 and "cannot tell who you are" in answer.text
    assert _state(runtime, stored.prompt.id) == "running"
    # Checking records mloop as the actor, so it is offered.
    assert 'id="check-button"' in html


@pytest.fixture
def tokens(runtime: Runtime, stored: Stored) -> dict[str, str]:
    return {
        role: runtime.run(partial(create_token, name=f"dora-{role}", role=role), write=True)
        for role in ("reader", "writer", "deployer", "admin")
    }


@pytest.fixture
def web(runtime: Runtime, tokens: dict[str, str]) -> Iterator[TestClient]:
    with TestClient(create_app(runtime, auth_enabled=True)) as test_client:
        yield quiet(test_client)


def test_ending_needs_the_deployer_role(
    runtime: Runtime, web: TestClient, tokens: dict[str, str], stored: Stored
) -> None:
    rollout = stored.prompt.id
    for role in ("reader", "writer"):
        web.cookies.set("mloop_token", tokens[role])
        html, _ = page(web, links.route_rollout(rollout))
        assert 'id="end-button"' not in html and 'id="check-button"' not in html
        assert "needs the deployer role" in section(html, "standing")
        for url in (links.route_rollout_end(rollout), links.route_rollout_check(rollout)):
            answer = web.post(url, data={"state": "running"})
            assert answer.status_code == 403, (role, url)
            assert answer.headers["content-type"].startswith("text/html")
    assert _state(runtime, rollout) == "running"

    web.cookies.set("mloop_token", tokens["deployer"])
    html, _ = page(web, links.route_rollout(rollout))
    assert "Roll back: end the rollout" in html and 'name="state" value="running"' in html
    # A post from another site is refused.
    answer = web.post(
        links.route_rollout_end(rollout),
        data={"state": "running"},
        headers={"origin": "https://elsewhere.example"},
    )
    assert answer.status_code == 403 and _state(runtime, rollout) == "running"
    # A bad form names the field.
    answer = web.post(links.route_rollout_end(rollout), data={"state": "paused"})
    assert answer.status_code == 400 and "state must be" in answer.text
    answer = web.post(
        links.route_rollout_end(rollout), data={"state": "running", "reason": "x" * 2001}
    )
    assert answer.status_code == 400 and "reason" in answer.text
    answer = web.post(
        links.route_rollout_end(rollout),
        data={"state": "running", "reason": f"tone too warm {XSS_NAME}"},
        follow_redirects=False,
    )
    assert answer.status_code == 303
    assert answer.headers["location"] == links.route_rollout(rollout) + "#history"
    assert _state(runtime, rollout) == "cancelled"
    event = runtime.run(
        lambda ctx: list_route_rollout_events(ctx, ListRouteRollouts(route=ROUTE)), write=False
    ).events[0]
    assert (event.kind, event.actor, event.rollout_id) == ("retire", "dora-deployer", rollout)
    assert event.reason == f"tone too warm {XSS_NAME}"
    # The same form again (a double click, a stale page) ends nothing more.
    answer = web.post(links.route_rollout_end(rollout), data={"state": "running"})
    assert answer.status_code == 409 and "changed since the page was loaded" in answer.text
    html, _ = page(web, links.route_rollout(rollout))
    assert f"tone too warm {ESCAPED_XSS}" in row_of(html, "history-table", "data-kind", "retire")
    assert 'id="manage"' not in html
    # An ended rollout cannot be checked either.
    answer = web.post(links.route_rollout_check(rollout))
    assert answer.status_code == 409 and "cancelled now, not running" in answer.text


def test_check_now_runs_the_check(
    runtime: Runtime, web: TestClient, tokens: dict[str, str], stored: Stored
) -> None:
    rollout = stored.prompt.id
    web.cookies.set("mloop_token", tokens["deployer"])
    before = runtime.run(lambda ctx: get_route_rollout(ctx, rollout), write=False)
    answer = web.post(links.route_rollout_check(rollout), follow_redirects=False)
    assert answer.status_code == 303
    assert answer.headers["location"] == links.route_rollout(rollout) + "#standing"
    after = runtime.run(lambda ctx: get_route_rollout(ctx, rollout), write=False)
    # The step lasted and served enough, healthy: the check advanced it to 100 (completed).
    assert (after.state, after.weight, after.step) == ("completed", 100, before.step + 1)
    assert after.last_check is not None and after.last_check.action == "promote"
    html, _ = page(web, links.route_rollout(rollout))
    assert 'class="badge ep-rollout-completed">completed<' in html
    assert "Retire the rollout" in html and 'name="state" value="completed"' in html
    assert 'id="check-button"' not in html and 'id="completed-note"' in html
    # A page showing it running is stale now: its End post is refused.
    answer = web.post(links.route_rollout_end(rollout), data={"state": "running"})
    assert answer.status_code == 409 and _state(runtime, rollout) == "completed"


def test_pages_need_a_token_when_auth_is_on(
    runtime: Runtime, web: TestClient, stored: Stored
) -> None:
    for url in (links.route_rollout(stored.prompt.id), links.gateway_route(ROUTE)):
        answer = web.get(url, follow_redirects=False)
        assert answer.status_code == 303 and "/login" in answer.headers["location"]
    answer = web.post(
        links.route_rollout_end(stored.prompt.id),
        data={"state": "running"},
        follow_redirects=False,
    )
    assert answer.status_code == 303 and "/login" in answer.headers["location"]
    assert _state(runtime, stored.prompt.id) == "running"
