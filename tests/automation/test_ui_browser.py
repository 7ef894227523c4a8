"""The automation and deployment policy pages in headless Chromium against a real server:
the jobs chart draws, the model timeline draws its alias bands and entry lanes, a policy
run shows its steps, every link on these pages leads to a page that exists, and Approve /
Reject work for a deployer (and are absent for a reader).

Set ``MLOOP_UI_SCREENSHOTS=/some/dir`` to keep a screenshot of each page visited.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from functools import partial
from typing import Any

import httpx
import pytest

from mloop.auth.tokens import create_token
from mloop.automation.worker import Worker
from mloop.core.timeutil import now_ms
from mloop.server.ui.links import link_to
from mloop.store.runtime import Runtime
from tests.automation.automation_testing import call
from tests.automation.policies_testing import (
    MODEL,
    POLICY,
    canary_traffic,
    policy_spec,
    prepare_store,
)
from tests.conftest import ServerHandle
from tests.server.conftest import browser  # noqa: F401  (the fixture)
from tests.server.test_ui_browser import console_errors, texts, visit, wait
from tests.server.test_ui_layout_browser import LAYOUT_PROBLEMS

pytestmark = pytest.mark.browser


class _Later:
    """A worker clock ahead of real time by what the test skipped: a job asking to come
    back after ``poll_seconds`` is due at once."""

    def __init__(self) -> None:
        self.skipped = 0

    def __call__(self) -> int:
        return now_ms() + self.skipped


@dataclass
class History:
    """Policy run ``promoted`` moved the champion v1 -> v2; ``stopped`` (v3) failed the gate."""

    promoted: int
    stopped: int
    jobs: list[int]


@pytest.fixture
def history(server: ServerHandle) -> History:
    runtime = server.runtime
    prepare_store(champion="poor")
    clock = _Later()
    worker = Worker(runtime, worker_id="w1", lease_s=300, triggers=False, clock=clock)
    call(runtime, "create_deployment_policy", actor="root", **policy_spec())
    good = call(runtime, "run_deployment_policy", actor="dee", name=POLICY)
    worker.run_once()
    canary_traffic(runtime, 2)
    clock.skipped += 5000
    worker.run_once()
    poor = call(
        runtime,
        "run_deployment_policy",
        actor="dee",
        name=POLICY,
        payload={"params": {"quality": "poor"}},
    )
    worker.run_once()
    assert call(runtime, "get_policy_run", id=good.id).run.state == "promoted"
    assert call(runtime, "get_policy_run", id=poor.id).run.state == "stopped_at_gate"
    jobs = [j.id for j in call(runtime, "list_jobs", max_results=50).jobs]
    return History(promoted=int(good.id), stopped=int(poor.id), jobs=jobs)


def _hrefs(driver: Any, selector: str) -> set[str]:
    """The resolved links of the elements matching ``selector`` (SVG links too)."""
    script = """return Array.from(document.querySelectorAll(arguments[0]),
      a => new URL(a.getAttribute('href'), location.href).href);"""
    return set(driver.execute_script(script, selector))


def _links_answer(driver: Any, origin: str, checked: set[str]) -> list[str]:
    """The page's links within ``origin`` that do not answer 200 (each URL fetched once)."""
    broken = []
    for url in _hrefs(driver, "a[href]"):
        url = url.split("#", 1)[0]
        if not url.startswith(origin + "/") or url in checked:
            continue
        checked.add(url)
        status = httpx.get(url, headers={"accept": "text/html"}).status_code
        if status != 200:
            broken.append(f"{url}: {status}")
    return broken


def _steps(driver: Any) -> dict[str, str]:
    script = """return Object.fromEntries(Array.from(document.querySelectorAll('#steps .step'),
      s => [s.dataset.step, s.dataset.status]));"""
    return dict(driver.execute_script(script))


def test_the_pages_draw_and_link_what_they_name(
    browser: Any,  # noqa: F811
    server: ServerHandle,
    history: History,
) -> None:
    from selenium.webdriver.common.by import By

    browser.get_log("browser")
    checked: set[str] = set()
    broken: dict[str, list[str]] = {}

    visit(browser, server.url + link_to("automation"), "automation")
    wait(browser).until(
        lambda b: b.find_elements(By.CSS_SELECTOR, '.au-chart[data-drawn="true"] canvas')
    )
    drawn = browser.execute_script(
        "return window.mloopAutomationJobs().plot.data.slice(1).map(s => Math.max(...s));"
    )
    assert max(drawn) == len(history.jobs)  # the stacked bars reach every job created
    assert list(browser.execute_script(LAYOUT_PROBLEMS)) == []
    broken["automation"] = _links_answer(browser, server.url, checked)

    job = history.jobs[0]
    visit(browser, server.url + link_to("automation_job", job_id=job), "automation-job")
    related = browser.find_elements(By.CSS_SELECTOR, "#job-facts tr.related a")
    assert related, "a policy job links its policy run"
    related[0].click()
    wait(browser).until(lambda b: "/automation/policy-runs/" in b.current_url)
    broken["job"] = _links_answer(browser, server.url, checked)

    visit(browser, server.url + link_to("policy_run", run_id=history.promoted), "policy-run")
    assert _steps(browser) == {
        "queued": "done",
        "training": "done",
        "gating": "done",
        "approval": "skipped",
        "canary": "done",
        "final": "promoted",
    }
    notes = texts(browser, '#steps .step[data-step="approval"] .step-note')
    assert notes == ["not required"]
    assert all(texts(browser, f'#steps .step[data-step="{s}"] .step-took') for s in ("training",))
    pipeline_link = browser.find_element(By.CSS_SELECTOR, 'a[href^="/pipelines/runs/"]')
    assert pipeline_link.text.startswith("pipeline run")
    assert list(browser.execute_script(LAYOUT_PROBLEMS)) == []
    broken["run"] = _links_answer(browser, server.url, checked)

    visit(browser, server.url + link_to("policy_run", run_id=history.stopped), "policy-stopped")
    steps = _steps(browser)
    assert steps["gating"] == "stopped" and steps["final"] == "stopped"
    assert steps["canary"] == "skipped"
    assert texts(browser, '#steps .step[data-step="final"] .step-name') == ["Stopped at gate"]
    current = browser.find_element(By.CSS_SELECTOR, '#steps [aria-current="step"]')
    assert current.get_attribute("data-step") == "gating"

    for name, url in (
        ("policies", link_to("policies")),
        ("policy", link_to("policy", name=POLICY)),
        ("approvals", link_to("approvals")),
    ):
        visit(browser, server.url + url, name)
        assert list(browser.execute_script(LAYOUT_PROBLEMS)) == [], name
        broken[name] = _links_answer(browser, server.url, checked)

    visit(browser, server.url + link_to("model_timeline", name=MODEL), "timeline")
    chart = browser.find_element(By.ID, "timeline-chart")
    assert chart.size["width"] > 500 and chart.size["height"] > 100
    bands = browser.find_elements(
        By.CSS_SELECTOR, '.tl-band-row[data-alias="champion"] a.tl-band-link'
    )
    assert [b.get_attribute("data-version") for b in bands] == ["1", "2"]
    still = browser.find_elements(By.CSS_SELECTOR, '.tl-band-row[data-alias="champion"] .tl-still')
    assert len(still) == 1  # v2 holds it to this day
    rows = len(browser.find_elements(By.CSS_SELECTOR, "#timeline-table tbody tr"))
    markers = browser.find_elements(By.CSS_SELECTOR, "#timeline-chart circle.tl-marker")
    assert len(markers) == rows > 0  # a dot per entry of the table
    lanes = [
        g.get_attribute("data-kind") for g in browser.find_elements(By.CSS_SELECTOR, "g.tl-lane")
    ]
    assert {"policy", "pipeline", "gate", "alias", "rollout"} <= set(lanes)
    for marker in markers:  # every dot is on the drawing, inside it
        box = marker.rect
        assert box["width"] > 0 and box["x"] >= chart.rect["x"] - 1
        assert box["x"] + box["width"] <= chart.rect["x"] + chart.rect["width"] + 1
    gate_urls = _hrefs(browser, 'g.tl-lane[data-kind="gate"] a')
    table_urls = _hrefs(browser, '#timeline-table tr[data-kind="gate"] a')
    assert gate_urls and gate_urls <= table_urls  # the dots link the objects the table names
    assert list(browser.execute_script(LAYOUT_PROBLEMS)) == []
    broken["timeline"] = _links_answer(browser, server.url, checked)
    bands[1].click()
    wait(browser).until(
        lambda b: b.current_url.endswith(link_to("model_version", name=MODEL, version=2))
    )

    visit(browser, server.url + link_to("model_timeline", name=MODEL, version=2), "timeline-v2")
    chain = browser.find_elements(By.CSS_SELECTOR, "#chain-list li")
    kinds = [li.get_attribute("data-kind") for li in chain]
    assert kinds[0] == "trigger" and kinds[-1] == "alias" and "gate" in kinds
    chosen = browser.find_elements(By.CSS_SELECTOR, "#timeline-chart .tl-band.tl-chosen")
    assert len(chosen) == 1  # v2's band on the champion row
    drawn = {
        g.get_attribute("data-kind") for g in browser.find_elements(By.CSS_SELECTOR, "g.tl-lane")
    }
    assert set(kinds) <= drawn  # the chain is drawn too
    assert _hrefs(browser, "#chain-list a") <= _hrefs(browser, "#timeline-chart a")
    broken["timeline-v2"] = _links_answer(browser, server.url, checked)

    assert {page: found for page, found in broken.items() if found} == {}
    assert len(checked) > 20

    size = browser.get_window_size()
    browser.set_window_size(800, 1000)
    try:  # narrow: the strip wraps, the drawing scrolls in its box, nothing spills
        problems = {}
        for name, url in (
            ("run-800", link_to("policy_run", run_id=history.promoted)),
            ("timeline-800", link_to("model_timeline", name=MODEL)),
            ("automation-800", link_to("automation")),
        ):
            visit(browser, server.url + url, name)
            if found := list(browser.execute_script(LAYOUT_PROBLEMS)):
                problems[name] = found
        assert problems == {}
    finally:
        browser.set_window_size(size["width"], size["height"])
    assert console_errors(browser) == []


# -- deciding ---------------------------------------------------------------------------------


@pytest.fixture
def secured(runtime: Runtime) -> Iterator[ServerHandle]:
    handle = ServerHandle(runtime, auth_enabled=True).start()
    yield handle
    handle.stop()


@pytest.fixture
def waiting(secured: ServerHandle) -> int:
    """A run of a policy requiring approval whose candidate v2 passed the gate."""
    runtime = secured.runtime
    prepare_store(champion="poor")
    call(runtime, "create_deployment_policy", **policy_spec(require_approval=True))
    run = call(runtime, "run_deployment_policy", actor="dee", name=POLICY)
    Worker(runtime, worker_id="w1", lease_s=300, triggers=False).run_once()
    assert _state(runtime, run.id) == "awaiting_approval"
    return int(run.id)


def _state(runtime: Runtime, run_id: int) -> str:
    return str(call(runtime, "get_policy_run", id=run_id).run.state)


def _sign_in(driver: Any, server: ServerHandle, role: str) -> None:
    token = server.runtime.run(partial(create_token, name=f"dora-{role}", role=role), write=True)
    driver.delete_all_cookies()
    visit(driver, f"{server.url}/login", "login")
    driver.add_cookie({"name": "mloop_token", "value": token, "path": "/"})


def test_a_reader_sees_no_buttons_and_a_deployer_approves(
    browser: Any,  # noqa: F811
    secured: ServerHandle,
    waiting: int,
) -> None:
    from selenium.webdriver.common.by import By

    browser.get_log("browser")
    try:
        _sign_in(browser, secured, "reader")
        for url in (link_to("approvals"), link_to("policy_run", run_id=waiting)):
            visit(browser, secured.url + url, "decide-reader")
            assert browser.find_elements(By.CSS_SELECTOR, "button.approve, button.reject") == []
            assert "need the deployer role" in browser.find_element(By.ID, "decide-refused").text
        assert _steps(browser)["approval"] == "current"

        _sign_in(browser, secured, "deployer")
        visit(browser, secured.url + link_to("approvals"), "approvals-deployer")
        browser.find_element(By.ID, f"approve-comment-{waiting}").send_keys("ship it")
        browser.find_element(By.CSS_SELECTOR, f'button.approve[data-run="{waiting}"]').click()
        wait(browser).until(
            lambda b: b.current_url.endswith(link_to("policy_run", run_id=waiting) + "#trail")
        )
        assert _state(secured.runtime, waiting) == "rolling_out"
        trail = browser.find_element(By.ID, "trail-table").text
        assert "dora-deployer" in trail and "ship it" in trail
        steps = _steps(browser)
        assert steps["approval"] == "done" and steps["canary"] == "current"
        notes = texts(browser, '#steps .step[data-step="approval"] .step-note')
        assert notes == ["approved by dora-deployer"]
        assert browser.find_elements(By.CSS_SELECTOR, "button.approve") == []  # decided
        assert console_errors(browser) == []
    finally:
        browser.delete_all_cookies()


def test_a_deployer_rejects_from_the_run_page(
    browser: Any,  # noqa: F811
    secured: ServerHandle,
    waiting: int,
) -> None:
    from selenium.webdriver.common.by import By

    browser.get_log("browser")
    try:
        _sign_in(browser, secured, "deployer")
        visit(browser, secured.url + link_to("policy_run", run_id=waiting), "run-deployer")
        browser.find_element(By.ID, f"reject-comment-{waiting}").send_keys("not this week")
        browser.find_element(By.CSS_SELECTOR, f'button.reject[data-run="{waiting}"]').click()
        wait(browser).until(lambda b: b.current_url.endswith("#trail"))
        assert _state(secured.runtime, waiting) == "rejected"
        steps = _steps(browser)
        assert steps["approval"] == "stopped" and steps["canary"] == "skipped"
        assert texts(browser, '#steps .step[data-step="final"] .step-name') == ["Rejected"]
        assert "not this week" in browser.find_element(By.ID, "trail-table").text
        visit(browser, secured.url + link_to("approvals"), "approvals-empty")
        assert browser.find_elements(By.ID, "no-approvals")
        assert console_errors(browser) == []
    finally:
        browser.delete_all_cookies()
