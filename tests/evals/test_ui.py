"""The gate pages through a real server: the list, one decision side by side with its
interval chart and links, the suite page; and in headless Chromium: nothing fetched from
another host, no script error, no layout problem."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

import mloop
import mloop.evals as evals
from mloop.evals.schemas import GateDecision
from mloop.server.ui.links import link_to
from tests.conftest import ServerHandle
from tests.evals.evals_testing import register_classifier, register_data
from tests.server.conftest import browser  # noqa: F401  (the fixture)
from tests.server.test_ui_browser import console_errors, visit
from tests.server.test_ui_layout_browser import LAYOUT_PROBLEMS

OTHER_HOSTS = """
return performance.getEntriesByType('resource').map(function (e) { return e.name; })
  .filter(function (url) { return url.indexOf(location.origin + '/') !== 0; });
"""


@pytest.fixture
def decided(remote: ServerHandle) -> tuple[ServerHandle, GateDecision]:
    register_data()
    good = register_classifier("credit", ["income", "debt"])
    poor = register_classifier("credit", ["noise"])
    mloop.set_alias("credit", "champion", poor)
    evals.register_suite(
        "credit-v2",
        dataset="credit-test@golden",
        target="default",
        task="classification",
        primary="roc_auc",
        metrics=["accuracy"],
        guards={"accuracy": 0.05},
        slices=[{"column": "region", "values": ["north"]}, {"column": "region", "value": "east"}],
        resamples=200,
    )
    decision = evals.gate(f"models:/credit/{good}", "models:/credit@champion", "credit-v2")
    return remote, decision


def test_gate_pages_show_the_decision_and_link_what_it_names(
    decided: tuple[ServerHandle, GateDecision],
) -> None:
    server, d = decided
    assert d.champion is not None and d.candidate_run_id and d.champion_run_id
    listing = httpx.get(server.url + link_to("gates", model="credit")).text
    assert link_to("gate", decision_id=d.id) in listing and "passed" in listing
    page = httpx.get(server.url + link_to("gate", decision_id=d.id))
    assert page.status_code == 200
    html = page.text
    for url in (
        link_to("model_version", name="credit", version=d.candidate.version),
        link_to("model_version", name="credit", version=d.champion.version),
        link_to("eval_suite", name="credit-v2"),
        link_to("dataset_version", name=d.dataset_name, version=d.dataset_version),
        link_to("run", run_id=d.candidate_run_id),
        link_to("run", run_id=d.champion_run_id),
    ):
        assert f'href="{url}"' in html, url
    assert 'id="ci-chart"' in html and html.count('class="bar"') >= 2
    assert "mark-margin" in html and "mark-ci-low" in html
    assert 'data-rows="0"' in html and "empty: no rows" in html
    suite = httpx.get(server.url + link_to("eval_suite", name="credit-v2")).text
    assert "Version 1" in suite and link_to("gate", decision_id=d.id) in suite
    assert httpx.get(server.url + "/gates/0").status_code == 404
    assert httpx.get(server.url + "/gates/abc").status_code == 404
    assert httpx.get(server.url + link_to("eval_suite", name="nope")).status_code == 404


@pytest.mark.browser
def test_gate_page_in_a_browser(
    browser: Any,  # noqa: F811
    decided: tuple[ServerHandle, GateDecision],
) -> None:
    server, d = decided
    for name, url in {
        "gates": link_to("gates"),
        "gate": link_to("gate", decision_id=d.id),
        "suite": link_to("eval_suite", name="credit-v2"),
    }.items():
        visit(browser, server.url + url, f"evals-{name}")
        assert browser.execute_script(OTHER_HOSTS) == []
        assert list(browser.execute_script(LAYOUT_PROBLEMS)) == [], name
    assert console_errors(browser) == []
