"""The monitor pages in headless Chromium: the heat map is drawn with a cell per column and
window and a click selects that window; every column's histogram is drawn inside its card
with bars for both sides; the fairness, outputs and over-time charts are drawn; a gateway
monitor's call figures and charts and a contract monitor's checks are drawn; nothing is
fetched from another host; no script fails; and the pages (with a column named like markup
and 200-character names) fit windows 1400 and 800 pixels wide.

Set ``MLOOP_UI_SCREENSHOTS=/some/dir`` to keep a screenshot of each page visited.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from tests.conftest import ServerHandle
from tests.server.conftest import LONG_ASSET_NAME, UNICODE_TEXT
from tests.server.test_ui_browser import console_errors, visit, wait
from tests.server.test_ui_endpoints_browser import OTHER_HOSTS
from tests.server.test_ui_layout_browser import LAYOUT_PROBLEMS
from tests.server.test_ui_monitors import (
    ENDPOINT,
    HOUR,
    MONITOR,
    ROLLING,
    T0,
    Logged,
    call,
    log_monitors,
)
from tests.server.test_ui_monitors_gateway import (
    CONTRACT_MONITOR,
    GATEWAY,
    log_gateway,
    log_payments,
)

from mloop.server.ui.links import link_to
from mloop.store.eventlog.inference import InferenceLog, InferenceRecord

pytestmark = pytest.mark.browser

LONG_MONITOR = LONG_ASSET_NAME[:120]
LONG_COLUMN = "customer_lifetime_value_in_euros_after_discounts_and_refunds_" * 3
LONG_CATEGORY = ("segment_" + UNICODE_TEXT + "_") * 4


def _log_long(server: ServerHandle) -> None:
    """Three hours of traffic on an endpoint with a 200-character name, whose inputs are a
    long-named number and a unicode-named category with long unicode values."""
    rng = np.random.default_rng(5)
    call("create_endpoint", name=LONG_ASSET_NAME, description=UNICODE_TEXT)
    log = InferenceLog(server.runtime, flush_seconds=3600)
    for hour in range(3):
        for i in range(60):
            log.record(
                InferenceRecord(
                    request_id=f"long-{hour}-{i}",
                    endpoint=LONG_ASSET_NAME,
                    variant="stable",
                    model_name="credit",
                    model_version=1,
                    inputs=[
                        {
                            LONG_COLUMN: float(rng.normal(hour * 3, 1)),
                            UNICODE_TEXT: [UNICODE_TEXT, LONG_CATEGORY, "ok"][i % 3],
                        }
                    ],
                    outputs={"predictions": [i % 2]},
                    confidence=0.5 + (i % 50) / 100,
                    latency_ms=1.0,
                    time=T0 + hour * HOUR + i * 1000,
                )
            )
    log.close()


@pytest.fixture
def site(server: ServerHandle) -> tuple[ServerHandle, Logged]:
    """The test server with :func:`log_monitors`' monitors, and one more with a long name
    and a unicode description watching a long-named and a unicode-named column."""
    logged = log_monitors(server.runtime)
    _log_long(server)
    call(
        "create_monitor",
        name=LONG_MONITOR,
        endpoint=LONG_ASSET_NAME,
        reference={"kind": "rolling", "windows": 1},
        columns={LONG_COLUMN: "number", UNICODE_TEXT: "category"},
        description=UNICODE_TEXT,
        schedule=False,
    )
    call("run_monitor", name=LONG_MONITOR, since=T0, until=T0 + 3 * HOUR)
    return server, logged


HISTOGRAMS_IN_CARDS = """
var out = {};
document.querySelectorAll('.mo-hist[data-hist]').forEach(function (card) {
  var box = card.getBoundingClientRect();
  var svg = card.querySelector('svg');
  var inside = true;
  card.querySelectorAll('svg, h3, p').forEach(function (e) {
    var r = e.getBoundingClientRect();
    if (r.left < box.left - 1 || r.right > box.right + 1) { inside = false; }
  });
  out[card.id] = {
    drawn: card.getAttribute('data-drawn') === 'true', inside: inside,
    width: svg ? svg.getBoundingClientRect().width : 0,
    reference: card.querySelectorAll('rect.mo-bar-reference').length,
    current: card.querySelectorAll('rect.mo-bar-current').length
  };
});
return out;
"""

HEAT_CELLS = """
return Array.from(document.querySelectorAll('#heat-map tr[data-column]')).map(function (row) {
  return Array.from(row.querySelectorAll('td.mo-cell')).map(function (cell) {
    var r = cell.getBoundingClientRect();
    return [cell.className, Math.round(r.width), Math.round(r.height),
            getComputedStyle(cell).backgroundColor];
  });
});
"""


def test_monitor_page_draws_its_heat_map_histograms_and_charts(
    browser: Any, site: tuple[ServerHandle, Logged]
) -> None:
    from selenium.webdriver.common.by import By

    server, _ = site
    browser.get_log("browser")  # drop messages from earlier tests
    visit(browser, server.url + link_to("monitor", name=MONITOR), "monitor")
    wait(browser).until(
        lambda b: len(b.find_elements(By.CSS_SELECTOR, ".mo-hist[data-drawn='true']")) == 4
    )
    # The heat map: 4 columns by 4 windows, every cell a visible box; drifted cells stand out.
    rows = browser.execute_script(HEAT_CELLS)
    assert [len(r) for r in rows] == [4, 4, 4, 4]
    assert all(width >= 20 and height >= 16 for row in rows for _, width, height, _ in row)
    income = rows[0]
    assert "drifted" in income[3][0] and "drifted" not in income[0][0]
    assert income[3][3] != income[0][3]  # another colour
    # Each histogram in its card, with a bar per bin and side.
    cards = browser.execute_script(HISTOGRAMS_IN_CARDS)
    assert set(cards) == {"column-0", "column-1", "column-2", "column-3"}
    for anchor, card in cards.items():
        assert card["drawn"] and card["inside"] and card["width"] > 250, (anchor, card)
        assert card["reference"] == card["current"] > 1, (anchor, card)
    # Fairness bars and outputs drawn; the over-time charts by uPlot.
    wait(browser).until(
        lambda b: b.execute_script("return window.mloopMonitorCharts.fairness") == 1
    )
    assert browser.execute_script("return window.mloopMonitorCharts.outputs") == 2
    wait(browser).until(
        lambda b: len(b.find_elements(By.CSS_SELECTOR, ".mo-chart .uplot canvas")) >= 3
    )
    assert browser.find_elements(By.CSS_SELECTOR, ".mo-fair-chart line.mo-rule")  # four fifths
    assert browser.execute_script(OTHER_HOSTS) == []
    assert console_errors(browser) == []


def test_a_click_on_a_cell_selects_its_window(
    browser: Any, site: tuple[ServerHandle, Logged]
) -> None:
    from selenium.webdriver.common.by import By

    server, _ = site
    browser.get_log("browser")
    visit(browser, server.url + link_to("monitor", name=MONITOR), "monitor-click")
    cell = browser.find_element(
        By.CSS_SELECTOR, f'#heat-map tr[data-column="region"] td[data-window="{T0 + HOUR}"] a'
    )
    cell.click()
    wait(browser).until(lambda b: f"window={T0 + HOUR}" in b.current_url)
    assert browser.current_url.endswith("#column-2")
    selected = browser.find_element(By.CSS_SELECTOR, "#heat-map th.mo-heat-window.selected")
    assert selected.get_attribute("data-window") == str(T0 + HOUR)
    wait(browser).until(
        lambda b: len(b.find_elements(By.CSS_SELECTOR, ".mo-hist[data-drawn='true']")) == 4
    )
    assert console_errors(browser) == []


@pytest.mark.parametrize("width", [1400, 800])
def test_monitor_pages_fit_the_window(
    browser: Any, site: tuple[ServerHandle, Logged], width: int
) -> None:
    from selenium.webdriver.common.by import By

    server, _ = site
    pages = {
        "monitors": link_to("monitors"),
        "monitor": link_to("monitor", name=MONITOR, window=T0 + 3 * HOUR),
        "monitor-labelled": link_to("monitor", name=MONITOR, window=T0 + 2 * HOUR),
        "monitor-rolling": link_to("monitor", name=ROLLING),
        "monitor-long": link_to("monitor", name=LONG_MONITOR),
        "endpoint": link_to("endpoint", name=ENDPOINT),
    }
    size = browser.get_window_size()
    browser.set_window_size(width, 1000)
    try:
        browser.get_log("browser")
        problems = {}
        for name, path in pages.items():
            visit(browser, server.url + path, f"{name}-{width}")
            if name.startswith("monitor-") or name == "monitor":
                wait(browser).until(
                    lambda b: (
                        b.find_elements(By.CSS_SELECTOR, ".mo-hist[data-drawn='true']")
                        or b.find_elements(By.ID, "no-histograms")
                    )
                )
            assert browser.execute_script("return document.title") != "Not found · mloop"
            if found := list(browser.execute_script(LAYOUT_PROBLEMS)):
                problems[name] = found
        assert not problems, problems
        assert console_errors(browser) == []
    finally:
        browser.set_window_size(size["width"], size["height"])


GATEWAY_CHARTS = """
return Array.from(document.querySelectorAll('.mo-chart[data-chart]')).map(function (c) {
  var spec = JSON.parse(document.getElementById('monitor-charts').textContent);
  return [spec.charts[Number(c.getAttribute('data-chart'))].id,
          c.getAttribute('data-drawn') === 'true', c.querySelectorAll('.uplot canvas').length,
          Math.round(c.getBoundingClientRect().width)];
});
"""


@pytest.mark.parametrize("width", [1400, 800])
def test_gateway_and_contract_monitors_draw_their_charts(
    browser: Any, server: ServerHandle, width: int
) -> None:
    from selenium.webdriver.common.by import By

    log_gateway(server.runtime)
    log_payments()
    size = browser.get_window_size()
    browser.set_window_size(width, 1000)
    try:
        browser.get_log("browser")
        visit(browser, server.url + link_to("monitor", name=GATEWAY), f"monitor-gateway-{width}")
        wait(browser).until(
            lambda b: len(b.find_elements(By.CSS_SELECTOR, ".mo-hist[data-drawn='true']")) >= 5
        )
        wait(browser).until(
            lambda b: all(drawn for _, drawn, _, _ in b.execute_script(GATEWAY_CHARTS))
        )
        charts = {
            name: (canvases, w) for name, _, canvases, w in browser.execute_script(GATEWAY_CHARTS)
        }
        for metric in (
            "gateway.error_rate",
            "gateway.latency.p95",
            "gateway.cost_usd",
            "gateway.cache_hit_rate",
        ):
            canvases, chart_width = charts[metric]
            assert canvases >= 1 and chart_width > 200, (metric, charts[metric])
        figures = browser.find_elements(By.CSS_SELECTOR, "#call-figures .gw-kpi")
        assert len(figures) == 11 and all(f.is_displayed() for f in figures)
        assert (
            browser.find_element(By.ID, "gateway-scope").text
            == "route support, prompt support-answer"
        )
        assert browser.execute_script(LAYOUT_PROBLEMS) == []
        visit(
            browser,
            server.url + link_to("monitor", name=CONTRACT_MONITOR),
            f"monitor-contract-{width}",
        )
        wait(browser).until(
            lambda b: (
                "quality.contract.max_share"
                in [name for name, drawn, _, _ in b.execute_script(GATEWAY_CHARTS) if drawn]
            )
        )
        meters = browser.find_elements(By.CSS_SELECTOR, "#contract-checks meter.mo-share")
        assert meters and all(m.size["width"] > 20 for m in meters)
        assert browser.execute_script(LAYOUT_PROBLEMS) == []
        assert browser.execute_script(OTHER_HOSTS) == []
        assert console_errors(browser) == []
    finally:
        browser.set_window_size(size["width"], size["height"])
