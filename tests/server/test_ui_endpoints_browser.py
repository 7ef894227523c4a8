"""The endpoint pages in headless Chromium: the four traffic charts are drawn inside their
cards with one colour per variant, nothing is fetched from another host, no script fails,
and the pages (with a 200-character endpoint name, long variant names and unicode text)
fit windows 1400 and 800 pixels wide.

Set ``MLOOP_UI_SCREENSHOTS=/some/dir`` to keep a screenshot of each page visited.
"""

from __future__ import annotations

from typing import Any

import pytest
from tests.conftest import ServerHandle
from tests.server.conftest import LONG_ASSET_NAME, UNICODE_TEXT
from tests.server.test_ui_browser import console_errors, legend_labels, visit, wait
from tests.server.test_ui_endpoints import ENDPOINT, Served, create_as, deploy_as, serve_loop
from tests.server.test_ui_layout_browser import LAYOUT_PROBLEMS

from mloop.core.timeutil import now_ms
from mloop.server.ui.links import link_to
from mloop.serving.schemas import CreateEndpoint
from mloop.store.eventlog import InferenceLog, InferenceRecord

pytestmark = pytest.mark.browser

LONG_ENDPOINT = LONG_ASSET_NAME
LONG_STABLE = "stable_" + "baseline_model_with_calibrated_scores_" * 2
LONG_CANDIDATE = "candidate_" + "gradient_boosted_trees_challenger_" * 2


@pytest.fixture
def site(server: ServerHandle) -> tuple[ServerHandle, Served]:
    """The test server with :func:`serve_loop`'s endpoints, and one more whose name, variant
    names, description and reason are long or unicode."""
    served = serve_loop(server.runtime)
    runtime = server.runtime
    create_as(runtime, CreateEndpoint(name=LONG_ENDPOINT, description=UNICODE_TEXT))
    deploy_as(
        runtime,
        "ana",
        endpoint=LONG_ENDPOINT,
        strategy="canary",
        variants=[
            {"model": "churn", "version": 1, "name": LONG_STABLE},
            {"model": "churn", "version": 2, "name": LONG_CANDIDATE, "weight": 30},
        ],
        reason=UNICODE_TEXT,
    )
    now = now_ms()
    log = InferenceLog(runtime)
    for i in range(40):
        log.record(
            InferenceRecord(
                request_id=f"long{i:04d}",
                endpoint=LONG_ENDPOINT,
                variant=LONG_CANDIDATE if i % 3 == 0 else LONG_STABLE,
                model_name="churn",
                model_version=2 if i % 3 == 0 else 1,
                inputs={UNICODE_TEXT: i},
                outputs={"predictions": [1]},
                latency_ms=5.0 + i,
                status="error" if i % 7 == 0 else "ok",
                error=UNICODE_TEXT if i % 7 == 0 else None,
                time=now - 20_000 - i * 80_000,
            )
        )
    log.close()
    return server, served


CHARTS_IN_CARDS = """
var out = {};
document.querySelectorAll('.ep-chart[data-chart-id]').forEach(function (card) {
  var box = card.getBoundingClientRect();
  var inside = true;
  card.querySelectorAll('.uplot, canvas, .u-legend, h3').forEach(function (e) {
    var r = e.getBoundingClientRect();
    if (r.left < box.left - 1 || r.right > box.right + 1) { inside = false; }
  });
  var canvas = card.querySelector('canvas');
  out[card.getAttribute('data-chart-id')] = {
    inside: inside, drawn: card.getAttribute('data-drawn') === 'true',
    width: canvas ? canvas.getBoundingClientRect().width : 0
  };
});
return out;
"""

OTHER_HOSTS = """
return performance.getEntriesByType('resource').map(function (e) { return e.name; })
  .filter(function (url) { return url.indexOf(location.origin + '/') !== 0; });
"""

SERIES_COLOURS = """
var u = window.mloopEndpointCharts[arguments[0]].plot;
return u.series.slice(1).map(function (s) { return [s.label, s.stroke()]; });
"""


def chart(browser: Any, chart_id: str) -> Any:
    from selenium.webdriver.common.by import By

    return browser.find_element(By.CSS_SELECTOR, f'.ep-chart[data-chart-id="{chart_id}"]')


def test_endpoint_page_draws_its_charts_inside_their_cards(
    browser: Any, site: tuple[ServerHandle, Served]
) -> None:
    from selenium.webdriver.common.by import By

    server, _ = site
    browser.get_log("browser")  # drop messages from earlier tests
    visit(browser, server.url + link_to("endpoint", name=ENDPOINT), "endpoint")
    wait(browser).until(
        lambda b: len(b.find_elements(By.CSS_SELECTOR, ".ep-chart .uplot canvas")) == 4
    )
    found = browser.execute_script(CHARTS_IN_CARDS)
    assert set(found) == {"share", "rate", "latency", "errors"}
    for chart_id, state in found.items():
        assert state["drawn"] and state["inside"] and state["width"] > 200, (chart_id, state)
    # Stacked shares are drawn last variant first: the legend lists them in reverse.
    assert legend_labels(chart(browser, "share")) == ["candidate", "stable"]
    assert legend_labels(chart(browser, "latency")) == [
        "stable p50",
        "stable p99",
        "candidate p50",
        "candidate p99",
    ]
    # A variant has one colour on every chart.
    colours = dict(browser.execute_script(SERIES_COLOURS, "rate"))
    latency = dict(browser.execute_script(SERIES_COLOURS, "latency"))
    assert latency["stable p99"] == colours["stable"] != colours["candidate"]
    assert browser.execute_script(OTHER_HOSTS) == []
    assert console_errors(browser) == []


def test_range_choice_reloads_the_charts(browser: Any, site: tuple[ServerHandle, Served]) -> None:
    from selenium.webdriver.common.by import By

    server, _ = site
    browser.get_log("browser")
    visit(browser, server.url + link_to("endpoint", name=ENDPOINT), "endpoint-1h")
    browser.find_element(By.CSS_SELECTOR, '#range-choice a[data-range="24h"]').click()
    wait(browser).until(lambda b: b.current_url.endswith("range=24h"))
    wait(browser).until(
        lambda b: len(b.find_elements(By.CSS_SELECTOR, ".ep-chart .uplot canvas")) == 4
    )
    assert "per 15 min" in browser.find_element(By.CSS_SELECTOR, "#traffic h2").text
    assert console_errors(browser) == []


@pytest.mark.parametrize("width", [1400, 800])
def test_endpoint_pages_fit_the_window(
    browser: Any, site: tuple[ServerHandle, Served], width: int
) -> None:
    from selenium.webdriver.common.by import By

    server, _ = site
    pages = {
        "endpoints": link_to("endpoints"),
        "endpoint-long": link_to("endpoint", name=LONG_ENDPOINT),
        "endpoint": link_to("endpoint", name=ENDPOINT),
        "request-long": link_to("inference_request", name=LONG_ENDPOINT, request_id="long0000"),
        "model-version": link_to("model_version", name="churn", version=2),
    }
    size = browser.get_window_size()
    browser.set_window_size(width, 1000)
    try:
        browser.get_log("browser")
        problems = {}
        for name, path in pages.items():
            visit(browser, server.url + path, f"{name}-{width}")
            if name.startswith("endpoint-") or name == "endpoint":
                wait(browser).until(
                    lambda b: len(b.find_elements(By.CSS_SELECTOR, ".ep-chart .uplot")) == 4
                )
            assert browser.execute_script("return document.title") != "Not found · mloop"
            if found := list(browser.execute_script(LAYOUT_PROBLEMS)):
                problems[name] = found
        assert not problems, problems
        assert console_errors(browser) == []
    finally:
        browser.set_window_size(size["width"], size["height"])
