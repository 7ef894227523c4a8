"""The web UI in headless Chromium against a real server: charts, filter, columns, models.

Set ``MLOOP_UI_SCREENSHOTS=/some/dir`` to keep a screenshot of each page visited.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from tests.conftest import ServerHandle
from tests.server.conftest import XSS_NAME, Demo

import mloop

pytestmark = pytest.mark.browser

WAIT_SECONDS = 15


@pytest.fixture
def site(server: ServerHandle, populate: Callable[[Any], Demo]) -> tuple[ServerHandle, Demo]:
    """The test server, with the sample experiment logged through the remote SDK."""
    return server, populate(mloop.Client(server.url))


def wait(browser: Any) -> Any:
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(browser, WAIT_SECONDS)


def visit(browser: Any, url: str, shot: str) -> None:
    browser.get(url)
    wait(browser).until(lambda b: b.execute_script("return document.readyState") == "complete")
    folder = os.environ.get("MLOOP_UI_SCREENSHOTS")
    if folder:
        browser.save_screenshot(str(Path(folder) / f"ui-{shot}.png"))


def console_errors(browser: Any) -> list[str]:
    """Severe console messages (script errors, CSP violations, failed loads)."""
    return [e["message"] for e in browser.get_log("browser") if e["level"] == "SEVERE"]


def legend_labels(chart: Any) -> list[str]:
    from selenium.webdriver.common.by import By

    labels = chart.find_elements(By.CSS_SELECTOR, ".u-legend .u-series .u-label")
    return [label.text for label in labels][1:]  # the first entry is the x axis


def chart_named(browser: Any, key: str) -> Any:
    from selenium.webdriver.common.by import By

    for chart in browser.find_elements(By.CSS_SELECTOR, ".chart[data-chart]"):
        if chart.find_element(By.TAG_NAME, "h3").text == key:
            return chart
    raise AssertionError(f"no chart for {key}")


def wait_for_canvases(browser: Any, count: int) -> list[Any]:
    from selenium.webdriver.common.by import By

    wait(browser).until(
        lambda b: len(b.find_elements(By.CSS_SELECTOR, ".chart .uplot canvas")) >= count
    )
    return list(browser.find_elements(By.CSS_SELECTOR, ".chart .uplot canvas"))


def test_run_page_renders_metric_charts(browser: Any, site: tuple[ServerHandle, Demo]) -> None:
    from selenium.webdriver.common.by import By

    server, demo = site
    browser.get_log("browser")  # drop messages from earlier tests
    visit(browser, f"{server.url}/runs/{demo.runs['baseline']}", "run")
    canvases = wait_for_canvases(browser, 3)  # acc, loss, weird
    for canvas in canvases:
        assert canvas.size["width"] > 100 and canvas.size["height"] > 100
    loss = chart_named(browser, "loss")
    assert legend_labels(loss) == ["baseline"]
    # The log-scale toggle redraws every chart without errors.
    browser.find_element(By.CSS_SELECTOR, ".chart-log").click()
    wait_for_canvases(browser, 3)
    assert legend_labels(chart_named(browser, "loss")) == ["baseline"]
    assert "no finite values" in chart_named(browser, "weird").text  # only a NaN logged
    # Wall time on the x axis works too.
    from selenium.webdriver.support.ui import Select

    Select(browser.find_element(By.CSS_SELECTOR, ".chart-x")).select_by_value("time")
    wait_for_canvases(browser, 3)
    assert legend_labels(chart_named(browser, "loss")) == ["baseline"]
    assert console_errors(browser) == []


def test_compare_overlays_two_runs(browser: Any, site: tuple[ServerHandle, Demo]) -> None:
    from selenium.webdriver.common.by import By

    server, demo = site
    runs = f"{demo.runs['baseline']},{demo.runs['bigger']}"
    visit(browser, f"{server.url}/compare?runs={runs}", "compare")
    wait_for_canvases(browser, 3)
    loss = chart_named(browser, "loss")
    assert legend_labels(loss) == ["baseline", "bigger"]
    canvas = loss.find_element(By.CSS_SELECTOR, ".uplot canvas")
    assert canvas.size["width"] > 100
    # "Only rows that differ" hides the params both runs share.
    model_row = browser.find_element(By.XPATH, "//table[@id='params-diff']//th[text()='model']")
    assert model_row.is_displayed()
    browser.find_element(By.ID, "only-diff").click()
    assert not model_row.is_displayed()
    assert browser.find_element(
        By.XPATH, "//table[@id='params-diff']//th[text()='lr']"
    ).is_displayed()
    assert console_errors(browser) == []


def _row_names(browser: Any) -> list[str]:
    from selenium.webdriver.common.by import By

    cells = browser.find_elements(By.CSS_SELECTOR, "#runs-table tbody td.name a")
    return sorted(cell.text for cell in cells)


def test_filter_columns_and_selection(browser: Any, site: tuple[ServerHandle, Demo]) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    server, demo = site
    visit(browser, f"{server.url}/experiments/{demo.experiment_id}", "runs")
    assert _row_names(browser) == sorted(["baseline", "bigger", XSS_NAME, "fold-1"])

    # The filter box takes the search language.
    box = browser.find_element(By.ID, "filter")
    box.send_keys("metrics.acc >= 0.7", Keys.ENTER)
    wait(browser).until(lambda b: _row_names(b) == ["baseline", "bigger"])

    # A column hidden in the chooser stays hidden after a reload (localStorage).
    header = browser.find_element(By.CSS_SELECTOR, '#runs-table th[data-col="param:lr"]')
    assert header.is_displayed()
    browser.find_element(By.CSS_SELECTOR, "#column-chooser summary").click()
    browser.find_element(By.CSS_SELECTOR, '#column-chooser input[data-col="param:lr"]').click()
    assert not header.is_displayed()
    tag_box = browser.find_element(By.CSS_SELECTOR, '#column-chooser input[data-col="tag:owner"]')
    tag_box.click()  # tags start hidden; show one
    assert browser.find_element(
        By.CSS_SELECTOR, '#runs-table th[data-col="tag:owner"]'
    ).is_displayed()
    browser.refresh()
    wait(browser).until(lambda b: b.execute_script("return document.readyState") == "complete")
    assert not browser.find_element(
        By.CSS_SELECTOR, '#runs-table th[data-col="param:lr"]'
    ).is_displayed()
    assert browser.find_element(
        By.CSS_SELECTOR, '#runs-table th[data-col="tag:owner"]'
    ).is_displayed()

    # Selecting two runs and pressing Compare opens the comparison.
    button = browser.find_element(By.ID, "compare-button")
    assert not button.is_enabled()
    for box in browser.find_elements(By.CSS_SELECTOR, '#runs-table input[name="runs"]'):
        box.click()
    assert button.is_enabled()
    button.click()
    wait(browser).until(lambda b: "/compare?runs=" in b.current_url)
    wait_for_canvases(browser, 1)
    assert sorted(legend_labels(chart_named(browser, "loss"))) == ["baseline", "bigger"]
    assert console_errors(browser) == []


def test_models_pages_show_aliases(browser: Any, site: tuple[ServerHandle, Demo]) -> None:
    from selenium.webdriver.common.by import By

    server, _demo = site
    visit(browser, f"{server.url}/models", "models")
    row = browser.find_element(By.CSS_SELECTOR, 'tr[data-model="churn"]')
    badges = [b.text for b in row.find_elements(By.CSS_SELECTOR, ".badge.alias")]
    assert badges == ["@challenger → v1", "@champion → v2"]
    row.find_element(By.LINK_TEXT, "churn").click()
    wait(browser).until(lambda b: b.current_url.endswith("/models/churn"))
    visit(browser, browser.current_url, "model")
    history = browser.find_elements(By.CSS_SELECTOR, "#alias-history-table tbody tr")
    assert len(history) == 3
    assert "v1 → v2" in history[0].text and "@champion" in history[0].text
    assert console_errors(browser) == []
