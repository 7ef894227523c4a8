"""The alert pages in headless Chromium against a real server: the timeline is drawn inside
its card with one colour per severity, nothing is fetched from another host, no script
fails, the pages (with long and unicode subjects) fit windows 1400 and 800 pixels wide, and
a writer acknowledges and resolves an alert with the buttons.

Set ``MLOOP_UI_SCREENSHOTS=/some/dir`` to keep a screenshot of each page visited.
"""

from __future__ import annotations

from collections.abc import Iterator
from functools import partial
from typing import Any

import pytest
from tests.alerts.alerts_testing import add_rule
from tests.conftest import ServerHandle
from tests.server.conftest import LONG_ASSET_NAME, UNICODE_TEXT
from tests.server.test_ui_browser import console_errors, legend_labels, visit, wait
from tests.server.test_ui_layout_browser import LAYOUT_PROBLEMS

from mloop.alerts.evaluate import evaluate_rules
from mloop.auth.tokens import create_token
from mloop.core.timeutil import now_ms
from mloop.server.ui.links import link_to
from mloop.store.runtime import Runtime

pytestmark = pytest.mark.browser

HOUR = 3_600_000

OTHER_HOSTS = """
return performance.getEntriesByType('resource').map(function (e) { return e.name; })
  .filter(function (url) { return url.indexOf(location.origin + '/') !== 0; });
"""

TIMELINE = """
var card = document.querySelector('.al-chart[data-chart-id="timeline"]');
var box = card.getBoundingClientRect();
var inside = true;
card.querySelectorAll('.uplot, canvas, .u-legend').forEach(function (e) {
  var r = e.getBoundingClientRect();
  if (r.left < box.left - 1 || r.right > box.right + 1) { inside = false; }
});
var u = window.mloopAlertTimeline().plot;
return {
  drawn: card.getAttribute('data-drawn') === 'true', inside: inside,
  colours: u.series.slice(1).map(function (s) { return [s.label, s.stroke()]; })
};
"""


def _evaluate(ctx: Any, *, metrics: Any, subject: dict[str, str], at: int) -> list[Any]:
    return evaluate_rules(
        ctx,
        "monitor",
        metrics,
        window_start=at - HOUR,
        window_end=at,
        subject=subject,
        links={"window": "/monitors/churn-drift?window=" + str(at)},
        now=at,
    )


def _populate(runtime: Runtime) -> list[int]:
    """Alerts of three severities over the last days; one with a long, unicode subject."""
    now = now_ms()
    add_rule(runtime, name="drift", threshold=0.3, severity="critical")
    add_rule(runtime, name="volume", metric="quality.rows", operator="<", threshold=100)
    add_rule(runtime, name="info-only", metric="drift.share", threshold=0.1, severity="info")
    ids: list[int] = []
    cases = [
        ({"drift.share": 0.5}, {"endpoint": "churn", "monitor": "churn-drift"}, now),
        ({"quality.rows": 3.0}, {"endpoint": LONG_ASSET_NAME}, now - 30 * HOUR),
        ({"drift.share": 0.2}, {"endpoint": "fraud", "segment": UNICODE_TEXT * 3}, now - 80 * HOUR),
    ]
    for metrics, subject, at in cases:
        found = runtime.run(partial(_evaluate, metrics=metrics, subject=subject, at=at), write=True)
        ids.extend(a.id for a in found)
    return ids


def test_the_timeline_is_drawn_in_its_card(browser: Any, server: ServerHandle) -> None:
    from selenium.webdriver.common.by import By

    _populate(server.runtime)
    browser.get_log("browser")  # drop messages from earlier tests
    visit(browser, server.url + link_to("alerts"), "alerts")
    wait(browser).until(
        lambda b: b.find_elements(By.CSS_SELECTOR, '.al-chart[data-drawn="true"] .uplot canvas')
    )
    found = browser.execute_script(TIMELINE)
    assert found["drawn"] and found["inside"], found
    colours = dict(found["colours"])
    assert len(set(colours.values())) == 3
    chart = browser.find_element(By.CSS_SELECTOR, ".al-chart")
    # Stacked bars are drawn last series first: the legend lists info, warning, critical.
    assert legend_labels(chart) == ["info", "warning", "critical"]
    assert browser.execute_script(OTHER_HOSTS) == []
    # The subject links lead to the endpoint's page.
    link = browser.find_element(By.CSS_SELECTOR, '#alert-table a[href="/endpoints/churn"]')
    assert link.text == "churn"
    assert console_errors(browser) == []


@pytest.mark.parametrize("width", [1400, 800])
def test_alert_pages_fit_the_window(browser: Any, server: ServerHandle, width: int) -> None:
    from selenium.webdriver.common.by import By

    ids = _populate(server.runtime)
    pages = {
        "alerts": link_to("alerts"),
        "alerts-24h": link_to("alerts", range="24h"),
        **{f"alert-{i}": link_to("alert", alert_id=i) for i in ids},
    }
    size = browser.get_window_size()
    browser.set_window_size(width, 1000)
    try:
        browser.get_log("browser")
        problems = {}
        for name, path in pages.items():
            visit(browser, server.url + path, f"{name}-{width}")
            if name.startswith("alerts"):
                wait(browser).until(lambda b: b.find_elements(By.CSS_SELECTOR, ".al-chart .uplot"))
            assert browser.execute_script("return document.title") != "Not found · mloop"
            if found := list(browser.execute_script(LAYOUT_PROBLEMS)):
                problems[name] = found
        assert not problems, problems
        assert console_errors(browser) == []
    finally:
        browser.set_window_size(size["width"], size["height"])


@pytest.fixture
def secured(runtime: Runtime) -> Iterator[ServerHandle]:
    handle = ServerHandle(runtime, auth_enabled=True).start()
    yield handle
    handle.stop()


def test_a_writer_acknowledges_and_resolves(browser: Any, secured: ServerHandle) -> None:
    from selenium.webdriver.common.by import By

    alert_id = _populate(secured.runtime)[0]
    token = secured.runtime.run(lambda ctx: create_token(ctx, "bob", "writer"), write=True)
    browser.get_log("browser")
    visit(browser, f"{secured.url}/login", "login")
    browser.add_cookie({"name": "mloop_token", "value": token, "path": "/"})
    try:
        visit(browser, secured.url + link_to("alert", alert_id=alert_id), "alert-writer")
        browser.find_element(By.ID, f"ack-note-{alert_id}").send_keys("on it")
        browser.find_element(By.CSS_SELECTOR, "button.al-ack").click()
        wait(browser).until(lambda b: "#history" in b.current_url)
        wait(browser).until(
            lambda b: b.find_elements(By.CSS_SELECTOR, 'tr[data-kind="acknowledged"]')
        )
        browser.find_element(By.ID, f"resolve-note-{alert_id}").send_keys("fixed the feed")
        browser.find_element(By.CSS_SELECTOR, "button.al-resolve").click()
        wait(browser).until(lambda b: b.find_elements(By.CSS_SELECTOR, 'tr[data-kind="resolved"]'))
        history = browser.find_element(By.ID, "history-table").text
        assert "on it" in history and "fixed the feed" in history and "bob" in history
        assert browser.find_elements(By.CSS_SELECTOR, "button.al-resolve") == []
        assert console_errors(browser) == []
    finally:
        browser.delete_all_cookies()
