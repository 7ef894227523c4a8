"""The pipeline pages through a real server: the overview with counts, duration charts and
run links; one run's step graph, timing chart, step table with log tails, lineage links
and what started it (an automation trigger and job); 404s and 400s. In headless Chromium:
one SVG node per step, the charts drawn, no script error, nothing outside the window."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import httpx
import pandas as pd
import pytest

import mloop
from mloop.automation.worker import Worker
from mloop.pipelines import LocalExecutor, PipelineRun, run_pipeline
from mloop.server.ui.links import link_to
from mloop.store.runtime import Runtime
from tests.automation.automation_testing import call
from tests.conftest import ServerHandle
from tests.pipelines import flows
from tests.server.conftest import browser  # noqa: F401  (the fixture)
from tests.server.test_ui_browser import console_errors, visit, wait
from tests.server.test_ui_layout_browser import LAYOUT_PROBLEMS


@dataclass
class Runs:
    fan: PipelineRun
    failing: PipelineRun
    training: PipelineRun


def _nodes(html: str) -> list[str]:
    """The node ids the step graph draws, in order."""
    svg = html[html.index('id="step-graph"') : html.index("</svg>", html.index('id="step-graph"'))]
    return re.findall(r'class="pl-node status-\w+" href="#step-[^"]*" data-node="([^"]*)"', svg)


@pytest.fixture
def runs(server: ServerHandle, local: LocalExecutor) -> Runs:
    """Three pipelines run embedded against the store the server reads."""
    frame = pd.DataFrame({"x": [0.0, 1.0, 2.0, 3.0, 4.0, 5.0], "y": [0, 0, 0, 1, 1, 1]})
    mloop.register_dataset("loans", frame)
    fan = run_pipeline(flows.fan, {"x": 1, "n": 3}, executor=local, trigger="manual")
    failing = run_pipeline(flows.failing, {"x": 2}, executor=local)
    training = run_pipeline(flows.training, {"dataset": "loans/1"}, executor=local)
    assert fan.status == "succeeded" and training.status == "succeeded", fan.error
    assert failing.status == "failed"
    return Runs(fan=fan, failing=failing, training=training)


def test_the_overview_lists_pipelines_with_counts_charts_and_runs(
    server: ServerHandle, runs: Runs
) -> None:
    page = httpx.get(server.url + link_to("pipelines"))
    assert page.status_code == 200
    html = page.text
    for name, run in (("fan", runs.fan), ("failing", runs.failing), ("training", runs.training)):
        assert f'data-pipeline="{name}"' in html
        assert f'href="{link_to("pipeline_run", run_id=run.id)}"' in html
        assert f'href="{link_to("run", run_id=run.run_id)}"' in html
        assert f'href="{link_to("pipelines", pipeline=name)}"' in html
    assert 'href="/pipelines" class="active"' in html  # the navigation's section
    # one duration chart per pipeline, drawn by the shared chart code
    assert html.count('class="charts" data-source="durations-') == 3
    assert '"label":"failed"' in html and '"label":"succeeded"' in html
    assert f'<tr id="run-{runs.failing.id}" data-status="failed">' in html
    one = httpx.get(server.url + link_to("pipelines", pipeline="fan")).text
    assert 'data-pipeline="fan"' in one and 'data-pipeline="failing"' not in one
    assert httpx.get(server.url + link_to("pipelines", pipeline="absent")).status_code == 404
    assert httpx.get(server.url + "/pipelines?pipeline=a%20b").status_code == 400


def test_a_run_page_draws_the_graph_and_lists_the_steps(server: ServerHandle, runs: Runs) -> None:
    page = httpx.get(server.url + link_to("pipeline_run", run_id=runs.fan.id))
    assert page.status_code == 200
    html = page.text
    # fan(n=3): double, double_2, double_3, then add(double, double_2), add(add, double_3)
    nodes = _nodes(html)
    assert sorted(nodes) == sorted(runs.fan.steps)
    assert len(nodes) == 5
    assert html.count('class="pl-edge"') == 4
    for node in nodes:  # each node links to its row in the step table
        assert f'<tr id="step-{node}" class="pl-step"' in html
        assert f'href="#step-{node}"' in html
    assert 'id="timing-chart"' in html and html.count('class="pl-row"') == 5
    assert html.count('class="pl-bar status-succeeded"') == 5
    assert "doubling 1" in html  # a step's log tail
    assert f'id="tracking-run" class="mono" href="{link_to("run", run_id=runs.fan.run_id)}"' in html
    assert '"total":' in html  # the outputs as JSON
    assert re.search(r'id="origin">\s*manual', html)


def test_a_failed_run_shows_the_error_and_the_skipped_step(
    server: ServerHandle, runs: Runs
) -> None:
    html = httpx.get(server.url + link_to("pipeline_run", run_id=runs.failing.id)).text
    statuses = dict(
        re.findall(
            r'<tr id="step-[^"]*" class="pl-step" data-node="([^"]*)" data-status="(\w+)"', html
        )
    )
    # double(2) was computed by the fan run: a cache hit
    assert statuses == {"boom": "failed", "double": "cached", "add": "skipped"}
    assert '<span class="badge pass">hit</span>' in html
    assert "boom 2" in html and "about to fail" in html and 'id="run-error"' in html
    for status in ("skipped", "failed", "cached"):
        assert f'class="pl-node status-{status}"' in html
    assert 'class="pl-mark status-cached"' in html  # on the time axis, a cache hit is a tick


def test_lineage_links_and_the_tracking_run_page_links_back(
    server: ServerHandle, runs: Runs
) -> None:
    html = httpx.get(server.url + link_to("pipeline_run", run_id=runs.training.id)).text
    assert f'href="{link_to("dataset_version", name="loans", version=1)}"' in html
    assert f'href="{link_to("model_version", name="credit", version=1)}"' in html
    back = f'href="{link_to("pipeline_run", run_id=runs.training.id)}"'
    assert back in httpx.get(server.url + link_to("run", run_id=runs.training.run_id)).text
    version = httpx.get(server.url + link_to("model_version", name="credit", version=1)).text
    assert back in version


@pytest.mark.parametrize("bad", ["0", "abc", "99999", "-1", "12345678901", "1.5"])
def test_unknown_or_bad_run_ids_are_404(server: ServerHandle, bad: str) -> None:
    page = httpx.get(f"{server.url}/pipelines/runs/{bad}", headers={"accept": "text/html"})
    assert page.status_code == 404
    assert "Not found" in page.text


def test_an_empty_store_says_so(server: ServerHandle) -> None:
    page = httpx.get(server.url + link_to("pipelines"))
    assert page.status_code == 200 and 'id="pipelines-empty"' in page.text


def test_a_run_started_by_a_trigger_links_the_trigger_and_its_job(
    runtime: Runtime, server: ServerHandle
) -> None:
    target = {"pipeline": "tests.automation.flows:retrain", "params": {"model": "churn"}}
    call(runtime, "create_trigger", name="nightly", kind="api", target=target)
    fired = call(runtime, "fire_trigger", name="nightly", payload={})
    assert Worker(runtime, worker_id="w1").run_once() == 1
    job = call(runtime, "get_job", id=fired.job.id).job
    assert job.status == "succeeded", job.error
    html = httpx.get(server.url + link_to("pipeline_run", run_id=job.result["pipeline_run"])).text
    assert f'href="{link_to("automation_trigger", name="nightly")}"' in html
    assert f'href="{link_to("automation_job", job_id=job.id)}"' in html


@pytest.mark.browser
def test_the_pages_in_a_browser(
    browser: Any,  # noqa: F811
    server: ServerHandle,
    runs: Runs,
) -> None:
    from selenium.webdriver.common.by import By

    visit(browser, server.url + link_to("pipelines"), "pipelines")
    wait(browser).until(
        lambda b: len(b.find_elements(By.CSS_SELECTOR, ".charts .chart-canvas canvas")) >= 3
    )
    assert list(browser.execute_script(LAYOUT_PROBLEMS)) == []
    visit(browser, server.url + link_to("pipeline_run", run_id=runs.fan.id), "pipeline-run")
    drawn = browser.find_elements(By.CSS_SELECTOR, "svg#step-graph a.pl-node")
    assert len(drawn) == len(runs.fan.steps) == 5
    for node in drawn:  # every node is laid out, inside the drawing, apart from the others
        box = node.find_element(By.TAG_NAME, "rect").rect
        assert box["width"] > 100 and box["height"] > 20
    boxes = [n.find_element(By.TAG_NAME, "rect").rect for n in drawn]
    corners = {(round(b["x"]), round(b["y"])) for b in boxes}
    assert len(corners) == 5
    assert list(browser.execute_script(LAYOUT_PROBLEMS)) == []
    drawn[0].click()  # a node leads to its step's row
    assert browser.execute_script("return location.hash").startswith("#step-")
    target = browser.execute_script("return document.querySelector(':target').dataset.node")
    assert target == drawn[0].get_attribute("data-node")
    visit(browser, server.url + link_to("pipeline_run", run_id=runs.failing.id), "pipeline-fail")
    assert list(browser.execute_script(LAYOUT_PROBLEMS)) == []
    assert console_errors(browser) == []


def test_a_trigger_text_naming_no_policy_run_links_none(
    server: ServerHandle, local: LocalExecutor
) -> None:
    # what the policy runner writes, but no policy run 7 recorded this pipeline run
    trigger = "policy retrain run 7 (manual)"
    run = run_pipeline(flows.fan, {"x": 5, "n": 1}, executor=local, trigger=trigger)
    html = httpx.get(server.url + link_to("pipeline_run", run_id=run.id)).text
    assert trigger in html
    assert link_to("policy_run", run_id=7) not in html
    assert "/automation/jobs/" not in html


def test_every_link_on_the_pages_answers(server: ServerHandle, runs: Runs) -> None:
    pages = [link_to("pipelines"), link_to("pipelines", pipeline="training")]
    pages += [link_to("pipeline_run", run_id=r.id) for r in (runs.fan, runs.training)]
    for page in pages:
        html = httpx.get(server.url + page).text
        targets = {h.replace("&amp;", "&") for h in re.findall(r'href="(/[^"#]*)', html)}
        targets -= {"/"} | {t for t in targets if t.startswith("/static/")}
        assert targets, page
        for target in sorted(targets):
            assert httpx.get(server.url + target).status_code == 200, (page, target)
