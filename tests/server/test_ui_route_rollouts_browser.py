"""The route rollout pages in headless Chromium: the four charts (split with the planned share,
request rate, latency, error rate) are drawn inside their cards with one colour per side,
nothing is fetched from another host, no script fails, and the rollout, route and gateway
pages (a 200-character route and prompt name) fit windows 1400 and 800 pixels wide.

Set ``MLOOP_UI_SCREENSHOTS=/some/dir`` to keep a screenshot of each page visited.
"""

from __future__ import annotations

from typing import Any

import pytest
from tests.conftest import ServerHandle
from tests.server.conftest import LONG_ASSET_NAME
from tests.server.test_ui_browser import console_errors, legend_labels, visit, wait
from tests.server.test_ui_endpoints_browser import CHARTS_IN_CARDS, OTHER_HOSTS, SERIES_COLOURS
from tests.server.test_ui_layout_browser import LAYOUT_PROBLEMS
from tests.server.test_ui_route_rollouts import GATEWAY_YAML, Stored, store_rollouts

from mloop.server.ui.links import link_to

pytestmark = pytest.mark.browser

LONG_ROUTE = LONG_ASSET_NAME[:128]  # the longest a route name may be


@pytest.fixture
def site(server: ServerHandle) -> tuple[ServerHandle, Stored]:
    """The test server with :func:`store_rollouts`' rollouts on a route whose name (and
    prompt's name) is 200 characters long; the tests decide when rollouts are checked."""
    config = GATEWAY_YAML.replace("support-reply:", f"{LONG_ROUTE}:")
    (server.runtime.settings.home / "gateway.yaml").write_text(config)
    stored = store_rollouts(server.runtime, route=LONG_ROUTE, prompt=LONG_ASSET_NAME)
    server.app.state.gateway.get().rollout_checks.close()
    return server, stored


def chart(browser: Any, chart_id: str) -> Any:
    from selenium.webdriver.common.by import By

    return browser.find_element(By.CSS_SELECTOR, f'.ep-chart[data-chart-id="{chart_id}"]')


def test_rollout_page_draws_its_charts_inside_their_cards(
    browser: Any, site: tuple[ServerHandle, Stored]
) -> None:
    from selenium.webdriver.common.by import By

    server, stored = site
    browser.get_log("browser")  # drop messages from earlier tests
    visit(
        browser, server.url + link_to("route_rollout", rollout_id=stored.prompt.id), "route-rollout"
    )
    wait(browser).until(
        lambda b: len(b.find_elements(By.CSS_SELECTOR, ".ep-chart .uplot canvas")) == 4
    )
    found = browser.execute_script(CHARTS_IN_CARDS)
    assert set(found) == {"split", "rate", "latency", "errors"}
    for chart_id, state in found.items():
        assert state["drawn"] and state["inside"] and state["width"] > 200, (chart_id, state)
    assert legend_labels(chart(browser, "split")) == ["stable", "candidate", "candidate planned"]
    assert legend_labels(chart(browser, "latency")) == [
        "stable p50",
        "stable p99",
        "candidate p50",
        "candidate p99",
    ]
    # A side has one colour on every chart; the planned share is drawn in the candidate's.
    split = dict(browser.execute_script(SERIES_COLOURS, "split"))
    rate = dict(browser.execute_script(SERIES_COLOURS, "rate"))
    assert split["candidate planned"] == split["candidate"] == rate["candidate"]
    assert rate["stable"] != rate["candidate"]
    assert browser.execute_script(OTHER_HOSTS) == []
    assert console_errors(browser) == []


@pytest.mark.parametrize("width", [1400, 800])
def test_rollout_pages_fit_the_window(
    browser: Any, site: tuple[ServerHandle, Stored], width: int
) -> None:
    from selenium.webdriver.common.by import By

    server, stored = site
    pages = {
        "route-rollout": link_to("route_rollout", rollout_id=stored.prompt.id),
        "route-rollout-rolled-back": link_to("route_rollout", rollout_id=stored.target.id),
        "gateway-route": link_to("gateway_route", name=LONG_ROUTE),
        "gateway": link_to("gateway"),
    }
    size = browser.get_window_size()
    browser.set_window_size(width, 1000)
    try:
        browser.get_log("browser")
        problems = {}
        for name, path in pages.items():
            visit(browser, server.url + path, f"{name}-{width}")
            if name.startswith("route-rollout"):
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
