"""The prompt pages in headless Chromium against a real server: the diff marks changed lines
and words by the stylesheet (no inline styles under the CSP); without authentication the
version page shows how to review instead of buttons; with it, a reviewer's Approve button
records a review; a version's calls open from its page and lead back to it."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
from tests.conftest import ServerHandle
from tests.server.test_ui_browser import console_errors, texts, visit, wait
from tests.server.test_ui_prompts import populate

from mloop.auth.tokens import create_token
from mloop.llm.calls.log import CallRecord, insert_calls
from mloop.store.runtime import Runtime

pytestmark = pytest.mark.browser


@pytest.fixture
def secured(runtime: Runtime) -> Iterator[ServerHandle]:
    """A real server with authentication over the test store."""
    handle = ServerHandle(runtime, auth_enabled=True).start()
    yield handle
    handle.stop()


def test_diff_marks_lines_and_words(browser: Any, server: ServerHandle) -> None:
    from selenium.webdriver.common.by import By

    populate(server.runtime)
    browser.get_log("browser")
    visit(browser, f"{server.url}/prompts/support/diff?a=1&b=2", "prompt-diff")
    added = browser.find_element(By.CSS_SELECTOR, "#diff .diff-add")
    removed = browser.find_element(By.CSS_SELECTOR, "#diff .diff-del")
    assert added.text.endswith("+Q: {{ question }}") and removed.text.endswith("-{{ question }}")
    assert added.value_of_css_property("background-color") == "rgba(218, 251, 225, 1)"
    assert removed.value_of_css_property("background-color") == "rgba(253, 236, 234, 1)"
    assert added.location["y"] != removed.location["y"]  # one line each
    word = added.find_element(By.CSS_SELECTOR, "ins.diff-word")
    assert word.text == "Q: "  # in a <pre>, white space counts
    assert word.value_of_css_property("background-color") == "rgba(172, 238, 187, 1)"
    assert console_errors(browser) == []


def test_without_authentication_the_page_says_how_to_review(
    browser: Any, server: ServerHandle
) -> None:
    from selenium.webdriver.common.by import By

    populate(server.runtime)
    visit(browser, f"{server.url}/prompts/support/1", "prompt-version-no-auth")
    assert browser.find_elements(By.ID, "approve") == []
    notice = browser.find_element(By.ID, "how-to-review").text
    assert "mloop prompts approve support 1 --as YOUR-NAME" in notice


def test_a_reviewer_approves_with_the_button(browser: Any, secured: ServerHandle) -> None:
    from selenium.webdriver.common.by import By

    populate(secured.runtime)
    token = secured.runtime.run(lambda ctx: create_token(ctx, "bob", "writer"), write=True)
    browser.get_log("browser")
    visit(browser, f"{secured.url}/login", "login")
    browser.add_cookie({"name": "mloop_token", "value": token, "path": "/"})
    visit(browser, f"{secured.url}/prompts/support/1", "prompt-version")
    browser.find_element(By.ID, "comment").send_keys("reads well")
    assert browser.find_element(By.ID, "approve").text == "Approve as bob"
    browser.find_element(By.ID, "approve").click()
    wait(browser).until(lambda b: "#reviews" in b.current_url)
    table = browser.find_element(By.ID, "reviews-table")
    assert "reads well" in table.text and "approved" in table.text and "bob" in table.text
    browser.delete_all_cookies()
    assert console_errors(browser) == []


def test_a_versions_calls_open_from_its_page_and_lead_back(
    browser: Any, server: ServerHandle
) -> None:
    from selenium.webdriver.common.by import By

    populate(server.runtime)
    now = int(time.time() * 1000)
    records = [
        CallRecord(
            id=f"pv{i:03d}",
            time=now - i * 60_000,
            endpoint="chat",
            requested_model="support-route",
            route="support-route",
            provider="sim",
            model="fast",
            prompt_name="support",
            prompt_version=2,
            status="ok",
            http_status=200,
            latency_ms=200.0,
            cost_usd=0.25,
        )
        for i in range(3)
    ]
    server.runtime.run(lambda ctx: insert_calls(ctx, records), write=True)
    browser.get_log("browser")
    visit(browser, f"{server.url}/prompts/support/2", "prompt-version-usage")
    assert "$0.7500" in browser.find_element(By.ID, "usage-spend").text
    assert "200 ms / 200 ms" in browser.find_element(By.ID, "usage-latency").text
    browser.find_element(By.ID, "all-version-calls").click()
    wait(browser).until(lambda b: "/gateway/calls?prompt=support" in b.current_url)
    visit(browser, browser.current_url, "gateway-calls-of-version")
    assert browser.find_element(By.ID, "f-prompt").get_attribute("value") == "support:2"
    assert len(texts(browser, "#calls-table tbody tr")) == 3
    browser.find_element(By.CSS_SELECTOR, '#calls-table tr[data-call="pv000"] .gw-prompt a').click()
    wait(browser).until(lambda b: b.current_url.endswith("/prompts/support/2"))
    assert console_errors(browser) == []
