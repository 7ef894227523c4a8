"""The gateway pages in headless Chromium: the overview draws its charts and switches the
spend chart's grouping; the calls page's filters apply; a call opens from the list.

Set ``MLOOP_UI_SCREENSHOTS=/some/dir`` to keep a screenshot of each page visited.
"""

from __future__ import annotations

import time
from typing import Any

import pytest
from tests.conftest import ServerHandle
from tests.server.conftest import XSS_NAME
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
        lambda b: len(b.find_elements(By.CSS_SELECTOR, ".gw-chart .uplot canvas")) >= 3
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
    assert len(browser.find_elements(By.CSS_SELECTOR, ".gw-chart .uplot")) == 3
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
