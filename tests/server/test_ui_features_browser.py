"""The feature store pages in headless Chromium: the lineage graph is drawn (inline SVG, a
visible box per node, every node a link that leads to its page), a view's statistics draw a
histogram per numeric feature and the top values of a string one inside their cards,
nothing is fetched from another host, no script fails, and the pages (with 200-character
names) fit windows 1400 and 800 pixels wide.

Set ``MLOOP_UI_SCREENSHOTS=/some/dir`` to keep a screenshot of each page visited.
"""

from __future__ import annotations

from typing import Any

import pytest
from tests.conftest import ServerHandle
from tests.server.conftest import LONG_ASSET_NAME
from tests.server.test_ui_browser import console_errors, visit, wait
from tests.server.test_ui_endpoints_browser import OTHER_HOSTS
from tests.server.test_ui_features import ENDPOINT, MODEL, build_store, clicks, customer
from tests.server.test_ui_layout_browser import LAYOUT_PROBLEMS

from mloop.features import FeatureService, FeatureView, apply
from mloop.server.ui.links import link_to

pytestmark = pytest.mark.browser

LONG_VIEW = LONG_ASSET_NAME
LONG_SERVICE = LONG_ASSET_NAME[:150]
LONG_FEATURE = "customer_lifetime_value_in_euros_after_discounts_and_refunds_" * 3


@pytest.fixture
def site(server: ServerHandle) -> ServerHandle:
    """The test server holding :func:`build_store`'s definitions, and a view and a service
    with long names reading a long-named feature."""
    build_store(server.runtime)
    long_view = FeatureView(
        LONG_VIEW, entities=[customer], source=clicks, features={LONG_FEATURE: "float64"}
    )
    apply([customer, clicks, long_view, FeatureService(LONG_SERVICE, features=[long_view])])
    return server


NODES = """
return Array.from(document.querySelectorAll('#lineage-graph a.fs-node')).map(function (a) {
  var r = a.querySelector('rect').getBoundingClientRect();
  var label = a.querySelector('.fs-node-label').getBoundingClientRect();
  return [a.getAttribute('data-node'), a.getAttribute('href'), Math.round(r.width),
          Math.round(r.height), label.right <= r.right + 1 && label.left >= r.left - 1];
});
"""

CHARTS = """
return Array.from(document.querySelectorAll('.ds-chart[data-chart-id]')).map(function (c) {
  var card = c.closest('.column-card').getBoundingClientRect();
  var box = c.getBoundingClientRect();
  return [c.closest('.column-card').getAttribute('data-column'),
          c.getAttribute('data-drawn') === 'true',
          c.querySelectorAll('.uplot canvas').length, c.querySelectorAll('rect.bar').length,
          Math.round(box.width), box.right <= card.right + 1];
});
"""


def test_view_page_draws_its_lineage_graph_and_histograms(browser: Any, site: ServerHandle) -> None:
    from selenium.webdriver.common.by import By

    browser.get_log("browser")  # drop messages from earlier tests
    visit(browser, site.url + link_to("feature_view", name="spend"), "feature-view")
    graph = browser.find_element(By.ID, "lineage-graph")
    assert graph.is_displayed() and graph.size["width"] > 600 and graph.size["height"] > 40
    nodes = browser.execute_script(NODES)
    assert [n[0] for n in nodes] == [
        "source:orders",
        "view:spend",
        "service:churn",
        f"model:{MODEL}:2",
        f"endpoint:{ENDPOINT}",
    ]
    assert all(width > 150 and height > 30 and inside for _, _, width, height, inside in nodes)
    assert len(browser.find_elements(By.CSS_SELECTOR, "#lineage-graph path.fs-edge")) == 4
    # A histogram (uPlot) per numeric feature, the top values of the string one as bars.
    wait(browser).until(
        lambda b: (
            all(drawn for _, drawn, *_ in b.execute_script(CHARTS))
            and len(b.execute_script(CHARTS)) == 3
        )
    )
    charts = {c[0]: c[1:] for c in browser.execute_script(CHARTS)}
    for feature in ("total", "n"):
        _, canvases, _, width, inside = charts[feature]
        assert canvases >= 1 and width > 200 and inside, (feature, charts[feature])
    _, _, bars, width, inside = charts["segment"]
    assert bars == 3 and width > 200 and inside
    assert browser.execute_script(OTHER_HOSTS) == []
    assert console_errors(browser) == []


def test_a_click_on_a_graph_node_opens_its_page(browser: Any, site: ServerHandle) -> None:
    from selenium.webdriver.common.by import By

    browser.get_log("browser")
    visit(browser, site.url + link_to("feature_view", name="spend"), "feature-view-click")
    browser.find_element(By.CSS_SELECTOR, '#lineage-graph a[data-node="service:churn"]').click()
    wait(browser).until(lambda b: "/features/services/churn" in b.current_url)
    assert browser.find_element(By.TAG_NAME, "h1").text.startswith("churn v2")
    nodes = [n[0] for n in browser.execute_script(NODES)]
    assert "on_demand:amount_share" in nodes and "service:churn" in nodes
    browser.find_element(By.CSS_SELECTOR, f'#lineage-graph a[data-node="model:{MODEL}:2"]').click()
    wait(browser).until(lambda b: f"/models/{MODEL}/versions/2" in b.current_url)
    assert console_errors(browser) == []


@pytest.mark.parametrize("width", [1400, 800])
def test_feature_pages_fit_the_window(browser: Any, site: ServerHandle, width: int) -> None:
    from selenium.webdriver.common.by import By

    pages = {
        "features": link_to("features"),
        "feature-view": link_to("feature_view", name="spend"),
        "feature-view-old": link_to("feature_view", name="spend", version=1),
        "feature-view-python": link_to("feature_view", name="click_rate"),
        "feature-view-long": link_to("feature_view", name=LONG_VIEW),
        "feature-service": link_to("feature_service", name="churn"),
        "feature-service-long": link_to("feature_service", name=LONG_SERVICE),
    }
    size = browser.get_window_size()
    browser.set_window_size(width, 1000)
    try:
        browser.get_log("browser")
        problems = {}
        for name, path in pages.items():
            visit(browser, site.url + path, f"{name}-{width}")
            assert browser.execute_script("return document.title") != "Not found · mloop"
            if name == "feature-view":
                wait(browser).until(
                    lambda b: len(b.find_elements(By.CSS_SELECTOR, ".ds-chart[data-drawn]")) == 3
                )
            if name != "features":
                assert browser.find_element(By.ID, "lineage-graph").is_displayed()
            if found := list(browser.execute_script(LAYOUT_PROBLEMS)):
                problems[name] = found
            assert browser.execute_script(OTHER_HOSTS) == []
        assert not problems, problems
        assert console_errors(browser) == []
    finally:
        browser.set_window_size(size["width"], size["height"])
