"""The gateway pages over HTTP: KPIs and charts that match the call log, the routes table
with target health, the calls list with filters and paging, one call in full; broken and
missing configurations, bad parameters, escaping of hostile values, sign-in."""

from __future__ import annotations

import json
import math
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from tests.server.conftest import XSS_NAME
from tests.server.test_ui import ESCAPED_XSS, parse

from mloop.alerts.spend import check_spend
from mloop.auth.tokens import create_token
from mloop.llm.calls import queries
from mloop.llm.calls.log import CallRecord, insert_calls
from mloop.llm.config import TargetConfig
from mloop.llm.errors import ProviderError
from mloop.server.app import create_app
from mloop.server.ui import links
from mloop.store.runtime import Runtime

NOW = int(time.time() * 1000)
MINUTE = 60_000
DAY = 86_400_000

GATEWAY_YAML = """\
providers:
  sim: {kind: simulated}
  backup:
    kind: openai_compatible
    base_url: "http://user:hunter2@127.0.0.1:9/v1?key=abc"
    api_key_env: BACKUP_KEY
routes:
  support:
    description: answers support tickets
    targets:
      - {provider: sim, model: fast, weight: 3}
      - {provider: backup, model: slow, weight: 0}
  summarize:
    targets:
      - {provider: sim, model: fast}
"""


def call(n: int, minutes_ago: float, **fields: Any) -> CallRecord:
    """A call record ``minutes_ago`` before the test started (chat, ok, 100 ms by default)."""
    values: dict[str, Any] = {
        "id": f"call{n:04d}",
        "time": NOW - int(minutes_ago * MINUTE),
        "endpoint": "chat",
        "requested_model": fields.get("route") or "sim/fast",
        "status": "ok",
        "http_status": 200,
        "latency_ms": 100.0,
        "provider": "sim",
        "model": "fast",
    }
    values.update(fields)
    return CallRecord(**values)


def store(runtime: Runtime, records: list[CallRecord]) -> None:
    runtime.run(lambda ctx: insert_calls(ctx, records), write=True)


@pytest.fixture(autouse=True)
def _no_provider_keys(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("OPENAI_API_KEY", "OPENAI_BASE_URL", "ANTHROPIC_API_KEY", "MLOOP_GATEWAY_CONFIG"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def configured(runtime: Runtime) -> Path:
    path = runtime.settings.home / "gateway.yaml"
    path.write_text(GATEWAY_YAML)
    return path


@pytest.fixture
def client(runtime: Runtime) -> Iterator[TestClient]:
    with TestClient(create_app(runtime)) as test_client:
        yield test_client


def charts_of(html: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(parse(html).json_blocks["gateway-charts"])
    return data


def kpi(html: str, name: str) -> str:
    block = html.split(f'id="kpi-{name}"', 1)[1].split("</div>", 1)[0]
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", block.split(">", 1)[1])).strip()


def row_of(html: str, marker: str) -> str:
    return html.split(marker, 1)[1].split("</tr>", 1)[0]


def nearest_rank(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[max(math.ceil(p * len(ordered)), 1) - 1]


def series_totals(chart: dict[str, Any]) -> dict[str, float]:
    return {s["label"]: round(sum(s["values"]), 9) for s in chart["series"]}


# -- sample data ------------------------------------------------------------------------------


def sample(runtime: Runtime) -> list[CallRecord]:
    """Calls over the last 40 days on routes support and summarize, a direct call and a
    call 10 days old that only the 30-day window sees."""
    records = [
        call(
            1,
            5,
            route="support",
            cost_usd=0.010,
            input_tokens=100,
            output_tokens=20,
            latency_ms=120.0,
            token_name="web",
            cache="miss",
        ),
        call(
            2,
            30,
            route="support",
            cost_usd=0.020,
            input_tokens=200,
            output_tokens=40,
            latency_ms=300.0,
            token_name="web",
            cache="exact",
            saved_usd=0.015,
        ),
        call(
            3,
            60,
            route="support",
            status="error",
            http_status=502,
            error_code="PROVIDER_ERROR",
            error_message="upstream failed",
            latency_ms=900.0,
            token_name="batch",
            cache="miss",
            retries=2,
            fallbacks=1,
            provider=None,
            model=None,
        ),
        call(
            4,
            2 * 24 * 60,
            route="summarize",
            cost_usd=0.5,
            input_tokens=1000,
            output_tokens=300,
            latency_ms=2500.0,
            token_name="batch",
            cache="semantic",
            saved_usd=0.25,
        ),
        call(
            5,
            3 * 24 * 60,
            route="summarize",
            status="blocked",
            http_status=400,
            error_code="GUARDRAIL_BLOCKED",
            latency_ms=5.0,
            cache="bypass",
            provider=None,
            model=None,
            guardrails=[
                {
                    "stage": "input",
                    "check": "injection",
                    "name": "no-injection",
                    "action": "block",
                    "triggered": True,
                    "reason": "ignore previous",
                }
            ],
        ),
        call(
            6,
            90,
            route=None,
            requested_model="sim/fast",
            cost_usd=0.001,
            latency_ms=50.0,
            cache="off",
        ),
        call(7, 10 * 24 * 60, route="support", cost_usd=7.0, latency_ms=400.0, token_name="web"),
    ]
    store(runtime, records)
    return records


# -- /gateway -------------------------------------------------------------------------------------


def test_overview_figures_match_the_call_log(
    runtime: Runtime, client: TestClient, configured: Path
) -> None:
    records = sample(runtime)
    week = [r for r in records if r.time >= NOW - 7 * DAY]
    page = client.get("/gateway")  # 7 days by default
    assert page.status_code == 200
    html = page.text
    assert 'class="active" aria-current="page">Gateway</a>' in html
    assert kpi(html, "requests").startswith(f"Requests {len(week)} ")
    tokens_in = sum(r.input_tokens for r in week)
    tokens_out = sum(r.output_tokens for r in week)
    assert (tokens_in, tokens_out) == (1300, 360)
    assert f"{tokens_in} in / {tokens_out} out tokens" in kpi(html, "requests")
    errors = sum(r.status == "error" for r in week)
    assert kpi(html, "errors").startswith(f"Error rate {errors / len(week) * 100:.1f}%")
    assert "1 errors, 1 blocked" in kpi(html, "errors")
    assert kpi(html, "spend") == "Spend $0.5310"
    # Hits: exact + semantic; lookups: those and the misses (bypass and off are not lookups).
    assert kpi(html, "cache") == "Cache hit rate 50.0% 2 of 4 lookups"
    assert kpi(html, "saved") == "Saved by the cache $0.2650"
    latencies = [r.latency_ms for r in week]
    p50, p95 = nearest_rank(latencies, 0.5), nearest_rank(latencies, 0.95)
    assert (p50, p95) == (120.0, 2500.0)
    assert kpi(html, "latency") == "Latency p50 / p95 120 ms / 2.50 s"

    charts = charts_of(html)
    assert series_totals(charts["spend"]["route"]) == {
        "support": 0.03,
        "summarize": 0.5,
        "(direct)": 0.001,
    }
    assert series_totals(charts["spend"]["model"]) == {"sim/fast": 0.531, "(no model)": 0.0}
    assert series_totals(charts["spend"]["token"]) == {
        "web": 0.03,
        "batch": 0.5,
        "(no token)": 0.001,
    }
    days = charts["requests"]["days"]
    assert len(days) in (7, 8) and days == sorted(days)
    assert series_totals(charts["requests"]) == {"ok": 4.0, "blocked": 1.0, "errors": 1.0}
    rates = [v for v in charts["cache"]["series"][0]["values"] if v is not None]
    assert rates and all(0 <= v <= 1 for v in rates)

    # The 30-day window takes in the old call; 24 hours only today's.
    month = client.get("/gateway", params={"window": "30d"}).text
    assert kpi(month, "requests").startswith(f"Requests {len(records)} ")
    assert kpi(month, "spend") == "Spend $7.53"
    day = client.get("/gateway", params={"window": "24h"}).text
    assert kpi(day, "requests").startswith("Requests 4 ")
    assert 'aria-current="true">24h<' in day


def test_daily_rows_put_calls_on_their_utc_day(runtime: Runtime) -> None:
    midnight = (NOW // DAY) * DAY
    store(
        runtime,
        [
            call(1, 0, time=midnight - 1, route="a", cost_usd=1.0),
            call(2, 0, time=midnight, route="a", cost_usd=2.0),
            call(3, 0, time=midnight + 1, route="b", cost_usd=4.0, cache="exact"),
        ],
    )
    rows = runtime.run(
        lambda ctx: queries.daily(ctx, midnight - DAY, midnight + DAY, "route"), write=False
    )
    found = {(r.day, r.key): (r.requests, r.cost_usd, r.cache_hits) for r in rows}
    today = midnight // DAY
    assert found == {
        (today - 1, "a"): (1, 1.0, 0),
        (today, "a"): (1, 2.0, 0),
        (today, "b"): (1, 4.0, 1),
    }
    everything = runtime.run(
        lambda ctx: queries.daily(ctx, midnight - DAY, midnight + DAY), write=False
    )
    assert [(r.day, r.requests, r.hit_rate) for r in everything] == [
        (today - 1, 1, 0.0),
        (today, 2, 0.5),
    ]
    with pytest.raises(ValueError, match="by must be one of"):
        runtime.run(lambda ctx: queries.daily(ctx, 0, 1, "project"), write=False)


def test_spend_chart_keeps_the_biggest_keys_and_sums_the_rest(
    runtime: Runtime, client: TestClient
) -> None:
    store(
        runtime,
        [call(i, 1, route=f"r{i:02d}", cost_usd=float(i)) for i in range(1, 13)],
    )
    chart = charts_of(client.get("/gateway").text)["spend"]["route"]
    totals = series_totals(chart)
    assert list(totals) == ["r12", "r11", "r10", "r09", "r08", "r07", "r06", "(other)"]
    assert totals["(other)"] == sum(range(1, 6))
    assert sum(totals.values()) == sum(range(1, 13))


def test_routes_table_shows_targets_health_and_window_figures(
    runtime: Runtime, client: TestClient, configured: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BACKUP_KEY", "sk-very-secret-value")
    sample(runtime)
    gateway = client.app.state.gateway.get()  # type: ignore[attr-defined]
    support_plan = gateway.router.plan("support")
    for _ in range(3):  # three failures in a row: the target cools down
        gateway.router.record_stream_failure(
            support_plan,
            TargetConfig(provider="backup", model="slow"),
            ProviderError("server", "boom"),
        )
    gateway.router.record_stream_failure(
        support_plan, TargetConfig(provider="sim", model="fast"), ProviderError("timeout", "slow")
    )
    html = client.get("/gateway").text
    support = row_of(html, '<tr data-route="support">')
    assert "answers support tickets" in support
    assert "gw-health-failing" in support and "failing (1 in a row)" in support
    assert "sim/fast" in support and "weight 3" in support
    assert "backup/slow" in support and "fallback only" in support
    assert "gw-health-cooling" in support
    # The label counts down from 30 s; a slow machine may render it a few seconds later.
    left = re.search(r"cooling down (\d+)s", support)
    assert left is not None and 20 <= int(left.group(1)) <= 30
    assert "0 succeeded, 3 failed since the server started; last error: server" in support
    cells = re.findall(r'<td class="num">([^<]*)</td>', support)
    assert cells == ["3", "300 ms", "900 ms", "33.3%", "$0.0300"]
    summarize = row_of(html, '<tr data-route="summarize">')
    assert re.findall(r'<td class="num">([^<]*)</td>', summarize) == [
        "2",
        "5 ms",
        "2.50 s",
        "0.0%",
        "$0.5000",
    ]
    direct = row_of(html, '<tr data-route="(direct)">')
    assert "provider models named directly" in direct
    assert 'href="/gateway/calls?route=%28direct%29"' in direct
    only_direct = client.get("/gateway/calls", params={"route": "(direct)"}).text
    assert listed_ids(only_direct) == ["call0006"]
    # Providers: where keys come from, never the keys; no credentials from URLs either.
    providers = html.split('id="providers-table"', 1)[1].split("</table>", 1)[0]
    assert "environment variable BACKUP_KEY" in providers
    assert "http://127.0.0.1:9/v1" in providers
    for secret in ("sk-very-secret-value", "hunter2", "key=abc"):
        assert secret not in html


def test_a_broken_configuration_is_shown_not_raised(runtime: Runtime, client: TestClient) -> None:
    path = runtime.settings.home / "gateway.yaml"
    path.write_text("routes:\n  r:\n    targets: [{provider: nope, model: m}]\n")
    sample(runtime)
    page = client.get("/gateway")
    assert page.status_code == 200
    error = page.text.split('id="gateway-error"', 1)[1].split("</section>", 1)[0]
    assert "unknown provider &#39;nope&#39;" in error
    assert str(path) in error and "docs/gateway.md" in error
    # The call log is still read.
    assert kpi(page.text, "requests").startswith("Requests 6 ")
    assert client.get("/gateway/calls").status_code == 200
    # Once the file is fixed, the next page view builds the gateway from it.
    path.write_text(
        "providers: {sim: {kind: simulated}}\n"
        "routes:\n  r: {targets: [{provider: sim, model: m}]}\n"
    )
    fixed = client.get("/gateway").text
    assert 'id="gateway-error"' not in fixed
    assert "sim/m" in row_of(fixed, '<tr data-route="r">')


def test_without_a_configuration_file_the_page_says_how_to_write_one(
    client: TestClient,
) -> None:
    html = client.get("/gateway").text
    assert 'id="gateway-setup"' in html
    assert "MLOOP_GATEWAY_CONFIG" in html and "docs/gateway.md" in html
    assert "No calls in the last 7d" in html
    assert kpi(html, "requests").startswith("Requests 0 ")
    assert kpi(html, "errors").startswith("Error rate \N{EN DASH}")
    assert kpi(html, "latency") == "Latency p50 / p95 \N{EN DASH}"
    assert "gateway-charts" not in html  # no empty charts
    assert "No calls yet." in html


def test_calls_made_through_the_gateway_show_up(
    runtime: Runtime, client: TestClient, configured: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BACKUP_KEY", "sk-test")
    answer = client.post(
        "/v1/chat/completions",
        json={"model": "support", "messages": [{"role": "user", "content": "hello there"}]},
    )
    assert answer.status_code == 200, answer.text
    call_id = answer.headers["x-mloop-call-id"]
    client.app.state.gateway.get().log.flush()  # type: ignore[attr-defined]
    html = client.get("/gateway").text
    assert f'href="/gateway/calls/{call_id}"' in html
    support = row_of(html, '<tr data-route="support">')
    assert "gw-health-healthy" in support and ">healthy<" in support
    detail = client.get(f"/gateway/calls/{call_id}")
    assert detail.status_code == 200
    assert "sim/fast" in detail.text and "hello there" in detail.text  # redacted capture
    assert 'id="request-json"' in detail.text


def test_overview_rejects_an_unknown_window(client: TestClient) -> None:
    page = client.get("/gateway", params={"window": "abc"})
    assert page.status_code == 400
    assert "window must be one of 24h, 7d, 30d, got &#39;abc&#39;" in page.text


# -- /gateway/calls -------------------------------------------------------------------------------


def listed_ids(html: str) -> list[str]:
    return re.findall(r'<tr data-call="([^"]+)"', html)


def test_calls_list_shows_each_call(runtime: Runtime, client: TestClient) -> None:
    store(
        runtime,
        [
            call(
                1,
                1,
                route="support",
                prompt_name="support-reply",
                prompt_version=3,
                input_tokens=120,
                output_tokens=45,
                cost_usd=0.0042,
                latency_ms=842.0,
                ttft_ms=180.0,
                cache="exact",
                retries=1,
                fallbacks=1,
                stream=True,
                token_name="web",
                guardrails=[
                    {
                        "stage": "input",
                        "check": "pii",
                        "name": "pii",
                        "action": "redact",
                        "triggered": True,
                        "reason": "1 email",
                    },
                    {
                        "stage": "output",
                        "check": "length",
                        "name": "len",
                        "action": "block",
                        "triggered": False,
                        "reason": "",
                    },
                ],
            ),
        ],
    )
    html = client.get("/gateway/calls").text
    row = row_of(html, '<tr data-call="call0001"')
    assert 'href="/gateway/calls/call0001"' in row
    assert '<a href="/prompts/support-reply/3"' in row and ">support-reply:3</a>" in row
    assert "sim/fast" in row
    assert "120 / 45" in row and "$0.0042" in row and "842 ms" in row and "TTFT 180 ms" in row
    assert "gw-cache-exact" in row and "1 / 1" in row and ">stream<" in row
    assert ">pii: redact<" in row
    assert "length: block" not in row  # it did not fire


def test_calls_filters_and_paging(runtime: Runtime, client: TestClient) -> None:
    records = [
        call(
            i,
            i,
            route="a" if i % 2 else "b",
            status="error" if i % 5 == 0 else "ok",
            cache="exact" if i % 3 == 0 else "miss",
            token_name="t1" if i < 60 else "",
        )
        for i in range(1, 121)
    ]
    store(runtime, records)
    first = client.get("/gateway/calls").text
    ids = listed_ids(first)
    assert ids == [f"call{i:04d}" for i in range(1, 51)]  # newest first
    assert 'id="next-page"' in first and 'id="prev-page"' not in first
    third = client.get("/gateway/calls", params={"page": "3"}).text
    assert listed_ids(third) == [f"call{i:04d}" for i in range(101, 121)]
    assert 'id="next-page"' not in third and 'id="prev-page"' in third
    missing = client.get("/gateway/calls", params={"page": "4"})
    assert missing.status_code == 404 and "there is no page 4" in missing.text

    def filtered(**params: str) -> list[str]:
        page = client.get("/gateway/calls", params={**params, "page": "1"})
        assert page.status_code == 200
        found = listed_ids(page.text)
        if 'id="next-page"' in page.text:
            found += listed_ids(client.get("/gateway/calls", params={**params, "page": "2"}).text)
        return found

    def expected(keep: Any) -> list[str]:
        return [r.id for r in records if keep(r)]

    assert filtered(route="b") == expected(lambda r: r.route == "b")
    assert filtered(status="error") == expected(lambda r: r.status == "error")
    assert filtered(cache="exact", route="a") == expected(
        lambda r: r.cache == "exact" and r.route == "a"
    )
    assert filtered(token="t1") == expected(lambda r: r.token_name == "t1")
    assert filtered(token="(no token)") == expected(lambda r: r.token_name == "")
    assert (
        "No calls match these filters."
        in client.get("/gateway/calls", params={"route": "zzz"}).text
    )
    # The filter menus offer what the log holds; the current choice stays selected.
    page = client.get("/gateway/calls", params={"route": "b", "token": "t1"}).text
    assert '<option value="b" selected>b</option>' in page
    assert '<option value="t1" selected>t1</option>' in page
    assert '<option value="(no token)">(no token)</option>' in page
    assert '<option value="error">error</option>' in page


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"page": "-1"}, "page must be a whole number from 1 to 100000, got &#39;-1&#39;"),
        ({"page": "abc"}, "page must be a whole number"),
        ({"page": "0"}, "page must be a whole number"),
        ({"status": "fine"}, "status must be one of ok, error, blocked"),
        ({"cache": "hot"}, "cache must be one of miss, exact, semantic, bypass, off"),
        ({"route": "r" * 300}, "route is longer than 256 characters"),
        ({"q": "x" * 257}, "q is longer than 256 characters"),
        ({"from": "yesterday"}, "from must be a UTC date or date and time such as 2025-01-31"),
        ({"to": "2025-13-01"}, "to must be a UTC date or date and time"),
        ({"from": "2025-02-01", "to": "2025-01-31"}, "from must be before to"),
        ({"prompt": "bad name!"}, "prompt must be a prompt name or NAME:VERSION"),
        ({"prompt": "p:0"}, "the version in prompt must be a whole number from 1"),
        ({"prompt": "p:x"}, "the version in prompt must be a whole number from 1"),
        ({"prompt": "p@production"}, "prompt must be a prompt name or NAME:VERSION"),
    ],
)
def test_calls_page_rejects_bad_parameters(
    client: TestClient, params: dict[str, str], message: str
) -> None:
    page = client.get("/gateway/calls", params=params)
    assert page.status_code == 400
    assert message in page.text


def test_empty_calls_page(client: TestClient) -> None:
    html = client.get("/gateway/calls").text
    assert "No calls yet." in html and 'id="next-page"' not in html


# -- /gateway/calls/{id} ------------------------------------------------------------------------


def test_call_page_shows_attempts_guardrails_content_and_cost(
    runtime: Runtime, client: TestClient
) -> None:
    store(
        runtime,
        [
            call(
                1,
                1,
                route="support",
                retries=1,
                fallbacks=1,
                latency_ms=1500.0,
                input_tokens=1000,
                cached_input_tokens=400,
                output_tokens=50,
                cost_usd=0.00123,
                cost_exact="0.00123",
                capture="redacted",
                attempts=[
                    {
                        "provider": "openai",
                        "model": "gpt-4o-mini",
                        "outcome": "rate_limit",
                        "latency_ms": 200.0,
                        "status": 429,
                        "retry_after": 2.0,
                        "message": "slow down",
                    },
                    {"provider": "sim", "model": "fast", "outcome": "ok", "latency_ms": 800.0},
                ],
                guardrails=[
                    {
                        "stage": "input",
                        "check": "pii",
                        "name": "pii-in",
                        "action": "redact",
                        "triggered": True,
                        "reason": "1 email",
                        "details": {"email": 1},
                        "duration_ms": 0.25,
                    },
                ],
                request={
                    "model": "support",
                    "messages": [{"role": "user", "content": "[EMAIL] hi"}],
                },
                response={"choices": [{"message": {"content": "hello"}}]},
                metadata={"ticket": 42},
            ),
        ],
    )
    page = client.get("/gateway/calls/call0001")
    assert page.status_code == 200
    html = page.text
    attempts = html.split('id="attempts"', 1)[1].split("</section>", 1)[0]
    assert attempts.index("openai/gpt-4o-mini") < attempts.index("sim/fast")
    assert "rate_limit" in attempts and "HTTP 429" in attempts and "Retry-After 2.0 s" in attempts
    assert "slow down" in attempts and "200 ms" in attempts and "800 ms" in attempts
    assert '<rect x="0" y="0" width="25.0"' in attempts  # 200 of the slowest 800
    assert '<rect x="0" y="0" width="100.0"' in attempts
    decisions = html.split('id="decisions-table"', 1)[1].split("</table>", 1)[0]
    assert "pii-in" in decisions and "redact" in decisions and "1 email" in decisions
    assert "0.25 ms" in decisions and "{&#34;email&#34;: 1}" in decisions
    request = html.split('id="request-json"', 1)[1].split("</pre>", 1)[0]
    assert "\n  &#34;model&#34;: &#34;support&#34;," in request  # indented JSON
    assert "Personal data" in html  # redacted capture is said so
    cost = html.split('id="cost"', 1)[1].split("</section>", 1)[0]
    assert "1000" in cost and "400" in cost and "$0.001230" in cost and "0.00123" in cost
    assert "ticket" in cost and "42" in cost


def test_call_page_without_capture_says_so(runtime: Runtime, client: TestClient) -> None:
    store(runtime, [call(1, 1, route="support", capture="none", cache="exact")])
    html = client.get("/gateway/calls/call0001").text
    assert 'id="capture-off"' in html and "Content capture was off" in html
    assert "the answer came from the cache" in html
    assert "No guardrail ran on this call." in html


def test_unknown_calls_are_404(client: TestClient) -> None:
    for call_id in ("nope", "x" * 200, "%3Cscript%3E"):
        page = client.get(f"/gateway/calls/{call_id}")
        assert page.status_code == 404, call_id
        assert "does not exist" in page.text
        assert "<script>" not in page.text.split("</header>", 1)[1].split("<script src=", 1)[0]


# -- escaping -------------------------------------------------------------------------------------


def test_hostile_values_are_escaped_everywhere(runtime: Runtime, client: TestClient) -> None:
    store(
        runtime,
        [
            call(
                1,
                1,
                route=XSS_NAME,
                provider=XSS_NAME,
                model=XSS_NAME,
                prompt_name=XSS_NAME,
                token_name=XSS_NAME,
                status="error",
                error_code=XSS_NAME,
                error_message=XSS_NAME,
                capture="full",
                attempts=[
                    {
                        "provider": XSS_NAME,
                        "model": XSS_NAME,
                        "outcome": XSS_NAME,
                        "latency_ms": "not a number",
                        "message": XSS_NAME,
                    }
                ],
                guardrails=[
                    {
                        "stage": XSS_NAME,
                        "check": XSS_NAME,
                        "name": XSS_NAME,
                        "action": XSS_NAME,
                        "triggered": True,
                        "reason": XSS_NAME,
                        "details": {XSS_NAME: XSS_NAME},
                    }
                ],
                request={"messages": [{"role": "user", "content": XSS_NAME}]},
                response=XSS_NAME,
                metadata={XSS_NAME: XSS_NAME},
            ),
            # Junk where lists are expected must not break the pages either.
            call(2, 2, route="ok"),
        ],
    )
    runtime.run(
        lambda ctx: ctx.conn.exec_driver_sql(
            "UPDATE llm_calls SET attempts_json = 'not json', guardrails_json = '{\"a\": 1}' "
            "WHERE id = 'call0002'"
        ),
        write=True,
    )
    for url in (
        "/gateway?window=30d",
        "/gateway/calls",
        "/gateway/calls?route=" + XSS_NAME,
        "/gateway/calls/call0001",
        "/gateway/calls/call0002",
    ):
        page = client.get(url)
        assert page.status_code == 200, url
        assert XSS_NAME not in page.text, url
        assert "alert(1)</script>" not in page.text, url
    assert ESCAPED_XSS in client.get("/gateway/calls/call0001").text
    charts = charts_of(client.get("/gateway").text)
    assert XSS_NAME in series_totals(charts["spend"]["route"])  # data, safely in JSON


def test_gateway_pages_need_a_token_when_auth_is_on(runtime: Runtime) -> None:
    store(runtime, [call(1, 1, route="support")])
    token = runtime.run(lambda ctx: create_token(ctx, "ui-reader", "reader"), write=True)
    with TestClient(create_app(runtime, auth_enabled=True)) as auth_client:
        urls = ["/gateway", "/gateway/calls", "/gateway/calls/call0001"]
        for url in urls:
            response = auth_client.get(url, follow_redirects=False)
            assert response.status_code == 303 and "/login" in response.headers["location"]
        auth_client.post("/login", data={"token": token, "next": "/gateway"})
        for url in urls:
            assert auth_client.get(url).status_code == 200, url


def test_oversized_values_are_cut(runtime: Runtime, client: TestClient) -> None:
    huge = "x" * 300_000
    store(
        runtime,
        [
            call(1, 1, status="error", error_message=huge, capture="full",
                 response={"text": huge}, request={"text": "short"},
                 attempts=[{"provider": "p", "model": "m", "outcome": "server",
                            "latency_ms": 1.0, "message": huge}]),
        ],
    )  # fmt: skip
    listing = client.get("/gateway/calls").text
    assert len(listing) < 20_000
    page = client.get("/gateway/calls/call0001").text
    assert len(page) < 250_000
    assert page.count("Cut: only the start is shown.") == 1  # the response, not the request
    response = page.split('id="response-json"', 1)[1].split("</pre>", 1)[0]
    assert response.startswith(">{\n  &#34;text&#34;: &#34;xxx")


def _minutes_to_noon(days_ago: int) -> float:
    """Minutes from NOW back to noon UTC ``days_ago`` days before NOW's day."""
    noon = NOW - NOW % DAY - days_ago * DAY + DAY // 2
    return (NOW - noon) / MINUTE


def test_a_spend_jump_is_shown_on_the_overview(runtime: Runtime, client: TestClient) -> None:
    # Seven days at $1 a day (each at noon UTC), then $9 today: 9x the trailing average.
    records = [call(i, _minutes_to_noon(i + 1), cost_usd=1.0) for i in range(7)]
    records.append(call(99, 0.01, cost_usd=9.0))
    store(runtime, records)
    # The spike is an alert rule the server checks every few minutes; check now.
    [alert] = check_spend(runtime, now=NOW)
    page = client.get("/gateway").text
    assert 'id="spend-spike"' in page and "9.0x the trailing 7-day daily average" in page
    assert f'href="{links.alert(alert.id)}"' in page


def test_no_spend_jump_no_banner(runtime: Runtime, client: TestClient) -> None:
    records = [call(i, _minutes_to_noon(i + 1), cost_usd=1.0) for i in range(7)]
    store(runtime, [*records, call(99, 0.01, cost_usd=1.0)])
    assert check_spend(runtime, now=NOW) == []
    assert 'id="spend-spike"' not in client.get("/gateway").text


# -- issue 12: time range, prompt and text filters; latency per day; target health -----------


def test_calls_filter_by_time_range_prompt_and_text(runtime: Runtime, client: TestClient) -> None:
    midnight = NOW - NOW % DAY
    records = [
        call(1, 0, time=midnight - 2 * DAY + 1000, route="a", prompt_name="p", prompt_version=1),
        call(2, 0, time=midnight - DAY + 1000, route="a", prompt_name="p", prompt_version=2),
        call(3, 0, time=midnight - DAY + 7_200_000, route="b", prompt_name="q", prompt_version=1),
        call(
            4,
            0,
            time=midnight + 1000,
            route="b",
            status="error",
            error_code="PROVIDER_ERROR",
            error_message="Upstream said 100% NO_WAY",
        ),
        call(5, 0, time=midnight + 2000, route="a", capture="full", request={"q": "Café olé"}),
    ]
    store(runtime, records)

    def ids(**params: str) -> list[str]:
        page = client.get("/gateway/calls", params=params)
        assert page.status_code == 200, page.text
        return sorted(listed_ids(page.text))

    yesterday = time.strftime("%Y-%m-%d", time.gmtime((midnight - DAY) / 1000))
    assert ids(**{"from": yesterday, "to": yesterday}) == ["call0002", "call0003"]
    assert ids(**{"from": f"{yesterday}T01:00"}) == ["call0003", "call0004", "call0005"]
    assert ids(**{"to": f"{yesterday}T01:00"}) == ["call0001", "call0002"]
    assert ids(prompt="p") == ["call0001", "call0002"]
    assert ids(prompt="p:2") == ["call0002"]
    assert ids(prompt="p:2", route="b") == []
    assert ids(prompt="q:1", status="ok") == ["call0003"]
    # Text: any case, in the error or the captured content; % and _ are plain characters.
    assert ids(q="upstream") == ["call0004"]
    assert ids(q="100%") == ["call0004"] and ids(q="no_way") == ["call0004"]
    assert ids(q="%") == ["call0004"] and ids(q="_") == ["call0004"]
    assert ids(q="café") == ["call0005"]
    assert ids(q="call0003") == ["call0003"]
    # The form keeps what was asked; quick ranges and the datalist of prompt versions.
    page = client.get(
        "/gateway/calls", params={"q": "upstream", "prompt": "p:2", "from": yesterday}
    ).text
    assert 'name="q" id="f-q" value="upstream"' in page
    assert 'id="f-prompt" list="prompt-options" value="p:2"' in page
    assert f'id="f-from" value="{yesterday}T00:00"' in page
    assert '<option value="p:1">' in page and '<option value="q">' in page
    assert 'data-range="24h"' in page and 'id="any-time"' in page
    assert "No calls match these filters." in page


def test_latency_per_day_is_charted_beside_spend(runtime: Runtime, client: TestClient) -> None:
    # Today as the page will see it: NOW, taken at import, may be before a midnight since.
    current = int(time.time() * 1000)
    midnight = current - current % DAY
    yesterday = [10.0, 20.0, 30.0, 40.0, 1000.0]
    today = [float(v) for v in range(1, 41)]
    records = [
        call(i, 0, time=midnight - DAY + i * 1000, latency_ms=v) for i, v in enumerate(yesterday)
    ]
    records += [call(100 + i, 0, time=midnight + i, latency_ms=v) for i, v in enumerate(today)]
    store(runtime, records)
    html = client.get("/gateway").text
    charts = charts_of(html)
    latency = charts["latency"]
    assert latency["format"] == "ms" and latency["days"] == charts["requests"]["days"]
    p50, p95 = (s["values"] for s in latency["series"])
    assert [s["label"] for s in latency["series"]] == ["p50", "p95"]
    expected = {
        -2: (nearest_rank(yesterday, 0.5), nearest_rank(yesterday, 0.95)),
        -1: (nearest_rank(today, 0.5), nearest_rank(today, 0.95)),
    }
    assert expected == {-2: (30.0, 1000.0), -1: (20.0, 38.0)}
    for index, (want50, want95) in expected.items():
        assert (p50[index], p95[index]) == (want50, want95)
    assert all(v is None for v in p50[:-2])  # days without calls are gaps, not zeros
    order = re.findall(r'data-chart-id="(\w+)"', html)
    assert order[:2] == ["spend", "latency"]


def test_target_health_reads_the_call_log_beside_its_count(
    runtime: Runtime, client: TestClient, configured: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BACKUP_KEY", "sk-test")
    # Calls served by another process (a replica, `mloop demo`, a restarted server): this
    # server's router has seen nothing, the call log has them all.
    failed = {"provider": "backup", "model": "slow", "outcome": "timeout", "message": "slow"}
    answered = {"provider": "sim", "model": "fast", "outcome": "ok"}
    records = [call(i, 10 + i, route="support") for i in range(9)]
    records.append(
        call(20, 1, route="support", fallbacks=1, attempts=[failed, answered])  # newest
    )
    records.append(
        call(
            21,
            0.5,
            route="summarize",
            status="error",
            http_status=502,
            provider=None,
            model=None,
            attempts=[{**failed, "provider": "sim", "model": "fast", "message": "down"}],
        )
    )
    store(runtime, records)
    html = client.get("/gateway").text
    support = row_of(html, '<tr data-route="support">')
    fast = support.split('data-target="sim/fast"', 1)[1].split("</li>", 1)[0]
    assert "10 calls" in fast and "gw-health-healthy" in fast and ">healthy<" in fast
    assert "last 7d in the call log: 10 calls answered, 0 failed attempts" in fast
    slow = support.split('data-target="backup/slow"', 1)[1].split("</li>", 1)[0]
    assert "0 calls, 1 failed" in slow and "last attempt failed" in slow
    assert "(latest: slow)" in slow
    summarize = row_of(html, '<tr data-route="summarize">')
    assert "0 calls, 1 failed" in summarize and "gw-health-failing" in summarize
    assert "no traffic" not in support + summarize
    # The router's own record is newer: once it has seen the target, it decides.
    gateway = client.app.state.gateway.get()  # type: ignore[attr-defined]
    plan = gateway.router.plan("summarize")
    gateway.router.record_stream_failure(
        plan, TargetConfig(provider="sim", model="fast"), ProviderError("timeout", "slow")
    )
    summarize = row_of(client.get("/gateway").text, '<tr data-route="summarize">')
    assert "failing (1 in a row)" in summarize
    # Nothing in the log and nothing seen since the server started: no traffic, beside 0
    # calls. (The router's record is per target, whichever route used it.)
    runtime.run(lambda ctx: ctx.conn.exec_driver_sql("DELETE FROM llm_calls"), write=True)
    empty = row_of(client.get("/gateway").text, '<tr data-route="support">')
    assert empty.count("0 calls") == 2 and empty.count("no traffic") == 1
    slow = empty.split('data-target="backup/slow"', 1)[1].split("</li>", 1)[0]
    assert "no traffic" in slow
    assert "failing (1 in a row)" in empty.split('data-target="sim/fast"', 1)[1]


def test_target_stats_and_daily_latency_queries(runtime: Runtime) -> None:
    store(
        runtime,
        [
            call(1, 5, route=None, provider="p", model="m", latency_ms=5.0),
            call(2, 4, route="r", provider="p", model="m", latency_ms=7.0),
            call(
                3,
                3,
                route="r",
                provider="p",
                model="m",
                retries=1,
                attempts=[
                    {"provider": "p", "model": "m", "outcome": "rate_limit", "message": "429"},
                    {"provider": "p", "model": "m", "outcome": "ok"},
                ],
            ),
            call(4, 2, route="r", status="error", provider=None, model=None, attempts="junk"),
        ],
    )
    stats = runtime.run(lambda ctx: queries.target_stats(ctx, NOW - DAY, NOW + 1), write=False)
    assert stats[("(direct)", "p", "m")].answered == 1
    rm = stats[("r", "p", "m")]
    assert (rm.answered, rm.failed, rm.last_error) == (2, 1, "429")
    assert rm.last_failed is False  # the retry on the same target answered, in that call
    assert set(stats) == {("(direct)", "p", "m"), ("r", "p", "m")}  # junk attempts: none
    rows = runtime.run(lambda ctx: queries.daily_latency(ctx, NOW - DAY, NOW + 1), write=False)
    # The calls may straddle UTC midnight (the test started just after it): per day.
    by_day: dict[int, list[float]] = {}
    for minutes, latency in ((5, 5.0), (4, 7.0), (3, 100.0), (2, 100.0)):
        by_day.setdefault((NOW - minutes * MINUTE) // DAY, []).append(latency)
    assert rows == [
        (day, nearest_rank(values, 0.5), nearest_rank(values, 0.95))
        for day, values in sorted(by_day.items())
    ]
