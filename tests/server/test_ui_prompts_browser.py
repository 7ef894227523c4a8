"""The prompt pages in headless Chromium against a real server: the diff is coloured by the
stylesheet (no inline styles under the CSP), and the Approve button records a review."""

from __future__ import annotations

from typing import Any

import pytest
from tests.conftest import ServerHandle
from tests.server.test_ui_browser import console_errors, visit, wait
from tests.server.test_ui_prompts import populate

pytestmark = pytest.mark.browser


def test_diff_colours_and_approve_button(browser: Any, server: ServerHandle) -> None:
    from selenium.webdriver.common.by import By

    populate(server.runtime)
    visit(browser, f"{server.url}/prompts/support/diff?a=1&b=2", "prompt-diff")
    added = browser.find_element(By.CSS_SELECTOR, "#diff .diff-add")
    removed = browser.find_element(By.CSS_SELECTOR, "#diff .diff-del")
    assert added.text == "+Q: {{ question }}" and removed.text == "-{{ question }}"
    assert added.value_of_css_property("background-color") == "rgba(218, 251, 225, 1)"
    assert removed.value_of_css_property("background-color") == "rgba(253, 236, 234, 1)"
    assert added.location["y"] != removed.location["y"]  # one line each

    visit(browser, f"{server.url}/prompts/support/1", "prompt-version")
    browser.find_element(By.ID, "comment").send_keys("reads well")
    browser.find_element(By.ID, "approve").click()
    wait(browser).until(lambda b: "#reviews" in b.current_url)
    table = browser.find_element(By.ID, "reviews-table")
    assert "reads well" in table.text and "approved" in table.text
    assert console_errors(browser) == []
