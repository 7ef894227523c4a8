"""The gateway pages in headless Chromium: the overview draws its charts and switches the
spend chart's grouping; the calls page's filters apply; a call opens from the list.

Set ``MLOOP_UI_SCREENSHOTS=/some/dir`` to keep a screenshot of each page visited.
"""

from __future__ import annotations

import re
import time
from typing import Any

import pytest
from tests.conftest import ServerHandle
from tests.server.conftest import (
    LONG_ASSET_NAME,
    LONG_RUN_NAME,
    UNICODE_RUN,
    UNICODE_TEXT,
    XSS_NAME,
)
from tests.server.test_ui_browser import console_errors, legend_labels, texts, visit, wait

from mloop.llm.calls.log import CallRecord, insert_calls

pytestmark = pytest.mark.browser

NOW = int(time.time() * 1000)
HOUR = 3_600_000


@pytest.fixture
def site(server: ServerHandle, monkeypatch: pytest.MonkeyPatch) -> ServerHandle:
    """The test server with a simulated-provider gateway and calls over the last days."""
    monkeypatch.delenv("MLOOP_GATEWAY_CONFIG", raising=False)
    home = server.runtime.settings.home
    (home / "gateway.yaml").write_text(
        "providers:\n  sim: {kind: simulated}\n"
        "routes:\n  support:\n    targets: [{provider: sim, model: fast}]\n"
    )
    records = []
    for i in range(40):
        records.append(
            CallRecord(
                id=f"call{i:04d}",
                time=NOW - i * 5 * HOUR,
                endpoint="chat",
                requested_model="support",
                route=["support", "summarize", XSS_NAME][i % 3],
                provider="sim",
                model="fast",
                token_name=["web", "batch"][i % 2],
                status="error" if i % 7 == 0 else "ok",
                http_status=502 if i % 7 == 0 else 200,
                latency_ms=100.0 + i * 10,
                cost_usd=0.01 * (i + 1),
                cache=["miss", "exact", "bypass"][i % 3],
                input_tokens=100,
                output_tokens=20,
                attempts=(
                    [
                        {
                            "provider": "sim",
                            "model": "slow",
                            "outcome": "timeout",
                            "latency_ms": 300.0,
                            "message": "no answer in 0.3 s",
                        },
                        {"provider": "sim", "model": "fast", "outcome": "ok", "latency_ms": 90.0},
                    ]
                    if i == 28
                    else []
                ),
                capture="redacted" if i == 28 else "none",
                request={"messages": [{"role": "user", "content": "hi [EMAIL]"}]}
                if i == 28
                else None,
                guardrails=(
                    [
                        {
                            "stage": "input",
                            "check": "pii",
                            "name": "pii",
                            "action": "redact",
                            "triggered": True,
                            "reason": "1 email",
                        }
                    ]
                    if i % 4 == 0
                    else []
                ),
            )
        )
    server.runtime.run(lambda ctx: insert_calls(ctx, records), write=True)
    return server


def spend_legend(browser: Any) -> list[str]:
    """The spend chart's series labels, read atomically: the chart is redrawn on regrouping."""
    labels = texts(browser, '.gw-chart[data-chart-id="spend"] .u-legend .u-series .u-label')
    return labels[1:]  # the first entry is the x axis


def chart(browser: Any, chart_id: str) -> Any:
    from selenium.webdriver.common.by import By

    return browser.find_element(By.CSS_SELECTOR, f'.gw-chart[data-chart-id="{chart_id}"]')


def test_overview_draws_its_charts_and_switches_spend_grouping(
    browser: Any, site: ServerHandle
) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    browser.get_log("browser")  # drop messages from earlier tests
    visit(browser, f"{site.url}/gateway?window=30d", "gateway")
    wait(browser).until(
        lambda b: len(b.find_elements(By.CSS_SELECTOR, ".gw-chart .uplot canvas")) >= 4
    )
    for canvas in browser.find_elements(By.CSS_SELECTOR, ".gw-chart .uplot canvas"):
        assert canvas.size["width"] > 100 and canvas.size["height"] > 100
    # Stacked series are drawn tallest first: the legend lists the keys in reverse.
    assert sorted(legend_labels(chart(browser, "spend"))) == sorted(
        ["support", "summarize", XSS_NAME]
    )  # a script-tag route name is a label, as text
    assert legend_labels(chart(browser, "requests")) == ["errors", "blocked", "ok"]
    assert legend_labels(chart(browser, "cache")) == ["hit rate"]

    Select(browser.find_element(By.ID, "spend-group")).select_by_value("token")
    wait(browser).until(lambda b: sorted(spend_legend(b)) == ["batch", "web"])
    assert len(browser.find_elements(By.CSS_SELECTOR, ".gw-chart .uplot")) == 4
    Select(browser.find_element(By.ID, "spend-group")).select_by_value("model")
    wait(browser).until(lambda b: spend_legend(b) == ["sim/fast"])

    routes = browser.find_element(By.ID, "routes-table")
    assert "support" in routes.text and "sim/fast" in routes.text
    assert console_errors(browser) == []


def test_calls_filters_apply_and_a_call_opens(browser: Any, site: ServerHandle) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    browser.get_log("browser")
    visit(browser, f"{site.url}/gateway/calls", "gateway-calls")
    rows = browser.find_elements(By.CSS_SELECTOR, "#calls-table tbody tr")
    assert len(rows) == 40
    # Changing a filter reloads the list at once.
    Select(browser.find_element(By.ID, "f-status")).select_by_value("error")
    wait(browser).until(lambda b: "status=error" in b.current_url)
    wait(browser).until(lambda b: b.execute_script("return document.readyState") == "complete")
    statuses = [
        cell.text.split()[0]
        for cell in browser.find_elements(By.CSS_SELECTOR, "#calls-table tbody td.gw-status")
    ]
    assert statuses and set(statuses) == {"error"} and len(statuses) == len(range(0, 40, 7))
    Select(browser.find_element(By.ID, "f-token")).select_by_value("web")
    wait(browser).until(lambda b: "token=web" in b.current_url)
    wait(browser).until(lambda b: b.execute_script("return document.readyState") == "complete")
    ids = [
        row.get_attribute("data-call")
        for row in browser.find_elements(By.CSS_SELECTOR, "#calls-table tbody tr")
    ]
    assert ids == [f"call{i:04d}" for i in range(0, 40, 7) if i % 2 == 0]
    assert Select(browser.find_element(By.ID, "f-status")).first_selected_option.text == "error"

    browser.find_element(By.CSS_SELECTOR, '#calls-table tr[data-call="call0028"] td a').click()
    wait(browser).until(lambda b: b.current_url.endswith("/gateway/calls/call0028"))
    visit(browser, browser.current_url, "gateway-call")
    assert "call0028" in browser.find_element(By.TAG_NAME, "h1").text
    attempts = browser.find_elements(By.CSS_SELECTOR, "#attempts li.gw-attempt")
    assert [a.find_element(By.CSS_SELECTOR, ".badge").text for a in attempts] == ["timeout", "ok"]
    assert "hi [EMAIL]" in browser.find_element(By.ID, "request-json").text
    assert "pii: redact" in browser.find_element(By.ID, "summary").text
    assert console_errors(browser) == []


# -- issue 12: latency beside spend, axis labels that fit, a calls list that fits ------------


LONG_ROUTE = LONG_ASSET_NAME[:128]  # the longest route name a configuration takes


@pytest.fixture
def odd_site(server: ServerHandle, monkeypatch: pytest.MonkeyPatch) -> ServerHandle:
    """Calls with long and unicode names (route, model, token, prompt, error) and costs of
    a few millionths of a dollar, whose axis labels are long: "$0.00002"."""
    monkeypatch.delenv("MLOOP_GATEWAY_CONFIG", raising=False)
    (server.runtime.settings.home / "gateway.yaml").write_text(
        "providers:\n  sim: {kind: simulated}\n"
        f"routes:\n  {LONG_ROUTE}:\n    targets: [{{provider: sim, model: fast}}]\n"
    )
    records = [
        CallRecord(
            id=f"odd{i:04d}",
            time=NOW - i * 7 * HOUR,
            endpoint="chat",
            requested_model=LONG_ASSET_NAME,
            route=[LONG_ASSET_NAME, UNICODE_RUN, XSS_NAME, LONG_ROUTE][i % 4],
            provider="sim",
            model="fast" if i % 4 == 3 else LONG_RUN_NAME[:200],  # the configured target
            prompt_name=LONG_ASSET_NAME,
            prompt_version=i % 4 + 1,
            token_name=UNICODE_TEXT,
            status="error" if i % 5 == 0 else "ok",
            http_status=502 if i % 5 == 0 else 200,
            error_code=("PROVIDER_" + "X" * 55) if i % 5 == 0 else None,  # the column holds 64
            error_message=UNICODE_TEXT if i % 5 == 0 else None,
            latency_ms=1000.0 + 250 * i,
            ttft_ms=123.0,
            cost_usd=0.000001 * (i + 1),
            input_tokens=123_456,
            output_tokens=65_432,
            retries=i % 3,
            fallbacks=i % 2,
            stream=i % 2 == 0,
            guardrails=[
                {
                    "stage": "input",
                    "check": "pii",
                    "name": UNICODE_RUN,
                    "action": "redact",
                    "triggered": True,
                    "reason": UNICODE_TEXT,
                }
            ],
        )
        for i in range(60)
    ]
    server.runtime.run(lambda ctx: insert_calls(ctx, records), write=True)
    return server


AXES = """
var out = {};
Object.keys(window.mloopGatewayCharts || {}).forEach(function (id) {
  var u = window.mloopGatewayCharts[id].plot;
  var axis = u.axes[1];
  var ctx = document.createElement("canvas").getContext("2d");
  ctx.font = axis.font[0];
  var labels = (axis._values || []).map(String);
  var widest = 0;
  labels.forEach(function (t) {
    widest = Math.max(widest, ctx.measureText(t).width / devicePixelRatio);
  });
  out[id] = {labels: labels, size: axis._size, needed: widest + axis.ticks.size + axis.gap,
             top: u.root.closest(".gw-chart").getBoundingClientRect().top};
});
return out;
"""


def test_latency_beside_spend_and_axis_labels_fit(browser: Any, odd_site: ServerHandle) -> None:
    from selenium.webdriver.common.by import By

    browser.get_log("browser")
    visit(browser, f"{odd_site.url}/gateway?window=30d", "gateway-odd")
    wait(browser).until(
        lambda b: len(b.find_elements(By.CSS_SELECTOR, ".gw-chart .uplot canvas")) >= 4
    )
    assert legend_labels(chart(browser, "latency")) == ["p50", "p95"]
    axes = browser.execute_script(AXES)
    assert set(axes) == {"spend", "latency", "requests", "cache"}
    # Spend and latency share the first row of charts.
    assert axes["spend"]["top"] == axes["latency"]["top"]
    for chart_id, axis in axes.items():
        assert axis["labels"], chart_id
        assert axis["size"] >= axis["needed"], (chart_id, axis)  # nothing cut off
    spend = [label for label in axes["spend"]["labels"] if label]
    assert spend and all(re.fullmatch(r"\$\d+(\.\d+)?", label) for label in spend), spend
    assert any(label.startswith("$0.0000") for label in spend)  # full, not 2e-5
    latency = [label for label in axes["latency"]["labels"] if label]
    assert latency and all(re.fullmatch(r"\d+(\.\d+)? m?s", label) for label in latency)
    # Each target's health reads beside its count of calls.
    target = browser.find_element(By.CSS_SELECTOR, "#routes-table li[data-target]").text
    assert re.search(r"\b15 calls healthy$", target), target  # i = 3, 7, ..., 59
    assert console_errors(browser) == []


def test_calls_list_fits_1400_px_with_long_names(browser: Any, odd_site: ServerHandle) -> None:
    from selenium.webdriver.common.by import By

    browser.get_log("browser")
    size = browser.get_window_size()
    browser.set_window_size(1400, 1000)
    try:
        visit(browser, f"{odd_site.url}/gateway/calls", "gateway-calls-odd")
        fit = browser.execute_script(
            "var wrap = document.querySelector('#calls-table').closest('.table-wrap');"
            "return [wrap.scrollWidth, wrap.clientWidth,"
            " document.documentElement.scrollWidth, window.innerWidth];"
        )
        assert fit[0] <= fit[1] and fit[2] <= fit[3], fit
        # Cut names keep their whole text at hand; the prompt cell links to the version.
        route = browser.find_element(
            By.CSS_SELECTOR, '#calls-table tr[data-call="odd0000"] td.gw-route .cut'
        )
        assert route.get_attribute("title") == LONG_ASSET_NAME
        prompt = browser.find_element(
            By.CSS_SELECTOR, '#calls-table tr[data-call="odd0000"] td.gw-prompt a'
        )
        assert prompt.get_attribute("href").endswith(f"/prompts/{LONG_ASSET_NAME}/1")
        # Filters, server-side: text, then the time range from a quick link.
        box = browser.find_element(By.ID, "f-q")
        box.send_keys("PROVIDER_XXX")
        browser.find_element(By.CSS_SELECTOR, "#call-filters button[type=submit]").click()
        wait(browser).until(lambda b: "q=PROVIDER_XXX" in b.current_url)
        wait(browser).until(lambda b: b.execute_script("return document.readyState") == "complete")
        ids = [
            row.get_attribute("data-call")
            for row in browser.find_elements(By.CSS_SELECTOR, "#calls-table tbody tr")
        ]
        assert ids == [f"odd{i:04d}" for i in range(0, 60, 5)]
        browser.find_element(By.CSS_SELECTOR, '#quick-ranges a[data-range="24h"]').click()
        wait(browser).until(
            lambda b: "from=" in b.current_url and "q=PROVIDER_XXX" in b.current_url
        )
        wait(browser).until(lambda b: b.execute_script("return document.readyState") == "complete")
        within = texts(browser, "#calls-table tbody tr")
        assert len(within) == 1  # odd0000 only: odd0005 is 35 hours old
        assert browser.find_element(By.ID, "f-from").get_attribute("value")
    finally:
        browser.set_window_size(size["width"], size["height"])
    assert console_errors(browser) == []
