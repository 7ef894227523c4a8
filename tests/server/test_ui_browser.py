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
    from selenium.common.exceptions import StaleElementReferenceException
    from selenium.webdriver.support.ui import WebDriverWait

    # A condition may read elements the page replaces meanwhile (a table re-rendering after
    # a filter): that reading is retried, not a failure. Conditions on re-rendered content
    # should read it with ``texts``, which cannot see a half-replaced page.
    return WebDriverWait(browser, WAIT_SECONDS, ignored_exceptions=[StaleElementReferenceException])


def texts(browser: Any, selector: str) -> list[str]:
    """The visible text of every element matching ``selector``, read in one script call.

    Reading element handles one by one races the page's re-rendering: Chromium may answer
    with a stale element or "node does not belong to the document". One script runs between
    two renderings, so it always sees a whole page.
    """
    script = "return Array.from(document.querySelectorAll(arguments[0]), e => e.innerText.trim());"
    return list(browser.execute_script(script, selector))


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
    return sorted(texts(browser, "#runs-table tbody td.name a"))


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


# -- datasets --------------------------------------------------------------------------------


def _drawn(browser: Any, selector: str) -> list[Any]:
    from selenium.webdriver.common.by import By

    return list(browser.find_elements(By.CSS_SELECTOR, selector))


def _card(browser: Any, column: str) -> Any:
    from selenium.webdriver.common.by import By

    for card in browser.find_elements(By.CSS_SELECTOR, "article.column-card"):
        if card.get_attribute("data-column") == column:
            return card
    raise AssertionError(f"no card for column {column!r}")


def test_dataset_pages_draw_histograms_bars_and_overlays(
    browser: Any, remote: ServerHandle
) -> None:
    from selenium.webdriver.common.by import By
    from tests.server.conftest import log_datasets

    log_datasets()  # through the remote SDK: MLOOP_TRACKING_URI points at the server
    browser.get_log("browser")  # drop messages from earlier tests

    # The dataset: a bar per version, and the compare form leads to the comparison.
    visit(browser, f"{remote.url}/datasets/transactions", "dataset")
    wait(browser).until(lambda b: _drawn(b, '.ds-chart[data-chart-id="rows"] .uplot canvas'))
    assert "required" not in browser.find_element(By.ID, "policy").text.split("\n")[0]
    assert len(browser.find_elements(By.CSS_SELECTOR, "#versions-table tbody tr")) == 2

    # One version: a histogram per numeric column, category bars, the failing examples.
    visit(browser, f"{remote.url}/datasets/transactions/2", "dataset-version")
    wait(browser).until(lambda b: len(_drawn(b, ".ds-chart[data-drawn]")) >= 6)
    amount = _card(browser, "amount")
    canvas = amount.find_element(By.CSS_SELECTOR, ".uplot canvas")
    assert canvas.size["width"] > 150 and canvas.size["height"] > 100
    country = _card(browser, "country")
    bars = country.find_elements(By.CSS_SELECTOR, "svg.bars-chart rect.bar")
    assert len(bars) == 3  # DE, FR, XX
    assert {e.text for e in country.find_elements(By.CSS_SELECTOR, "text.bar-label")} == {
        "DE",
        "FR",
        "XX",
    }
    assert _card(browser, XSS_NAME).find_elements(By.CSS_SELECTOR, ".uplot canvas")
    assert "No histogram for dates" in _card(browser, "when").text
    validation = browser.find_element(By.CSS_SELECTOR, "#validations article.validation")
    assert "fail" in validation.find_element(By.CSS_SELECTOR, ".badge").text
    examples = validation.find_elements(By.CSS_SELECTOR, ".examples-table tbody tr")
    assert examples, "failed checks show their example rows"
    assert "-1" in validation.text
    assert console_errors(browser) == []

    # Two versions: overlays on one axis, added and removed columns.
    visit(browser, f"{remote.url}/datasets/transactions/compare?a=1&b=2", "dataset-compare")
    wait(browser).until(lambda b: len(_drawn(b, ".ds-chart[data-drawn]")) >= 6)
    amount = _card(browser, "amount")
    assert legend_labels(amount) == ["v1", "v2"]
    assert amount.find_element(By.CSS_SELECTOR, ".uplot canvas").size["width"] > 150
    country = _card(browser, "country")
    assert country.find_elements(By.CSS_SELECTOR, "rect.bar-a")
    assert country.find_elements(By.CSS_SELECTOR, "rect.bar-b")
    assert "added" in _card(browser, "discount").text
    assert "removed" in _card(browser, "note").text
    assert _card(browser, "note").find_elements(By.CSS_SELECTOR, "svg.bars-chart")
    psi = browser.find_element(
        By.CSS_SELECTOR, '#column-summary-table tr[data-column="amount"] .psi'
    )
    assert "psi-large" in (psi.get_attribute("class") or "")
    # "Only rows that differ" hides unchanged statistics.
    same_rows = browser.find_elements(By.CSS_SELECTOR, "table.stat-compare tr.same")
    assert same_rows and same_rows[0].is_displayed()
    browser.find_element(By.ID, "only-diff").click()
    assert not same_rows[0].is_displayed()
    assert console_errors(browser) == []

    # The form on the dataset page opens the same comparison.
    visit(browser, f"{remote.url}/datasets/transactions", "dataset")
    browser.find_element(By.CSS_SELECTOR, "#compare-versions button").click()
    wait(browser).until(lambda b: "/datasets/transactions/compare?a=1&b=2" in b.current_url)
    wait(browser).until(lambda b: len(_drawn(b, ".ds-chart[data-drawn]")) >= 6)
    assert console_errors(browser) == []
