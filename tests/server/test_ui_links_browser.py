"""Following the loop in headless Chromium: run → model version → dataset version → the model
versions trained on it, and versions of one model compared from the model page's boxes.

Set ``MLOOP_UI_SCREENSHOTS=/some/dir`` to keep a screenshot of each page visited.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from tests.conftest import ServerHandle
from tests.server.test_ui_browser import console_errors, texts, visit, wait
from tests.server.test_ui_links import DATASET, MODEL, TRAIN_2, XSS_NAME, Loop, log_loop

from mloop.server.ui.links import link_to

pytestmark = pytest.mark.browser


@pytest.fixture
def site(remote: ServerHandle, tmp_path: Path) -> tuple[ServerHandle, Loop]:
    """The test server, with the linked loop logged through the remote SDK."""
    return remote, log_loop(tmp_path)


def fits(browser: Any) -> bool:
    """Whether the page is no wider than the window (nothing pushes it sideways)."""
    return bool(
        browser.execute_script("return document.documentElement.scrollWidth <= window.innerWidth")
    )


def click(browser: Any, selector: str) -> None:
    from selenium.webdriver.common.by import By

    before = browser.current_url
    browser.find_element(By.CSS_SELECTOR, selector).click()
    wait(browser).until(lambda b: b.current_url != before)
    wait(browser).until(lambda b: b.execute_script("return document.readyState") == "complete")


def test_follow_the_loop_from_a_run(browser: Any, site: tuple[ServerHandle, Loop]) -> None:
    server, loop = site
    browser.set_window_size(1400, 1000)
    browser.get_log("browser")  # drop messages from earlier tests
    visit(browser, server.url + link_to("run", run_id=loop.runs[TRAIN_2]), "links-run")
    assert texts(browser, "#run-model-versions td:first-child") == [f"{MODEL} v2"]
    assert texts(browser, "a.dataset-input") == [f"{DATASET} v1", f"{DATASET} v2"]
    assert fits(browser)

    click(browser, "#run-model-versions a")
    assert browser.current_url == server.url + link_to("model_version", name=MODEL, version=2)
    visit(browser, browser.current_url, "links-model-version")
    assert texts(browser, "#signature-inputs .signature-table td:first-child") == [
        "amount",
        "<b>fee</b> & tax",
        "country",
    ]
    assert texts(browser, "#signature-outputs .signature-table td:last-child") == ["int64 (any)"]
    assert not browser.execute_script("return document.querySelector('details.raw-signature').open")
    assert texts(browser, "#source-run") == [TRAIN_2]
    assert fits(browser)

    click(
        browser,
        f'#training-data-table a[href="{link_to("dataset_version", name=DATASET, version=1)}"]',
    )
    visit(browser, browser.current_url, "links-dataset-version")
    assert texts(browser, "#trained-models td:first-child") == [
        f"{MODEL} v2",
        f"{MODEL} v1 @champion",
    ]
    assert XSS_NAME in texts(browser, "#readers td:first-child")  # shown as text, escaped
    # A passing validation's checks are folded away.
    assert browser.execute_script(
        "return Array.from(document.querySelectorAll('details.passed-checks'), d => d.open)"
    ) == [False]
    assert fits(browser)
    assert console_errors(browser) == []


def test_compare_versions_from_the_model_page(
    browser: Any, site: tuple[ServerHandle, Loop]
) -> None:
    from selenium.webdriver.common.by import By

    server, _ = site
    browser.set_window_size(1400, 1000)
    browser.get_log("browser")
    visit(browser, server.url + link_to("model", name=MODEL), "links-model")
    for box in browser.find_elements(By.CSS_SELECTOR, 'input[name="versions"]'):
        box.click()
    click(browser, "#compare-versions button[type=submit]")
    assert "/compare?versions=2&versions=1" in browser.current_url
    visit(browser, browser.current_url, "links-model-compare")
    headers = texts(browser, "#metrics-diff thead th")
    assert headers == ["Metric", "v2", "v1"]
    assert texts(browser, "#params-diff tbody th") == ["depth", "lr"]
    # "Only rows that differ" hides equal rows (depth) and keeps the others (lr).
    browser.find_element(By.ID, "only-diff").click()
    wait(browser).until(lambda b: texts(b, "#params-diff tbody tr:not([hidden]) th") == ["lr"])
    assert fits(browser)
    browser.set_window_size(800, 1000)
    assert fits(browser)
    assert console_errors(browser) == []
