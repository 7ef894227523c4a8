"""The UI's shape: page modules share helpers through shared modules only, the template
environment is complete before any router is built, and objects are linked in one place."""

from __future__ import annotations

import ast
import importlib
import pkgutil
import re
from pathlib import Path
from types import ModuleType, SimpleNamespace
from typing import Any, cast

import pytest
from fastapi import APIRouter

import mloop.server.ui as ui_package
from mloop.server.ui import links
from mloop.server.ui.core import TEMPLATES_DIR, UI, make_environment
from mloop.server.ui.formatting import FILTERS
from mloop.store.runtime import Runtime


def _ui_modules() -> dict[str, ModuleType]:
    names = [m.name for m in pkgutil.iter_modules(ui_package.__path__)]
    return {name: importlib.import_module(f"mloop.server.ui.{name}") for name in names}


def _page_modules() -> dict[str, ModuleType]:
    """The modules that build pages: those with ``router(ui)``."""
    return {n: m for n, m in _ui_modules().items() if callable(getattr(m, "router", None))}


def _imported_ui_modules(module: ModuleType) -> set[str]:
    """Names of the ``mloop.server.ui`` modules that ``module`` imports (anywhere in it)."""
    tree = ast.parse(Path(str(module.__file__)).read_text())
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module:
            if node.module == "mloop.server.ui":
                found |= {alias.name for alias in node.names}
            elif node.module.startswith("mloop.server.ui."):
                found.add(node.module.split(".")[3])
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith("mloop.server.ui."):
                    found.add(alias.name.split(".")[3])
    return found


def test_every_page_module_is_known() -> None:
    # The domain list names these by dotted path; a rename must be deliberate.
    assert set(_page_modules()) == {
        "alerts",
        "artifacts",
        "automation",
        "auth",
        "datasets",
        "endpoints",
        "evals",
        "experiments",
        "features",
        "gateway",
        "logged_models",
        "models",
        "monitors",
        "pipelines",
        "policies",
        "prompts",
        "review",
        "route_rollouts",
        "runs",
    }


@pytest.mark.parametrize("name", sorted(_page_modules()))
def test_page_modules_import_no_other_page_module(name: str) -> None:
    pages = set(_page_modules())
    imported = _imported_ui_modules(_page_modules()[name])
    assert not (imported & pages) - {name}, f"{name} imports page modules {imported & pages}"


def test_shared_modules_import_no_page_module() -> None:
    pages = set(_page_modules())
    for name, module in _ui_modules().items():
        if name not in pages:
            assert not _imported_ui_modules(module) & pages, name


def test_the_environment_has_every_filter_and_global_before_any_router(runtime: Runtime) -> None:
    ui = UI(runtime, cast(Any, SimpleNamespace(enabled=False)))
    assert set(FILTERS) <= set(ui.env.filters)
    for name in ("usd", "ms", "urlquote", "number"):
        assert name in ui.env.filters
    for name in ("link_to", "quote_key", "guardrail_badges", "version"):
        assert name in ui.env.globals
    filters, globals_ = dict(ui.env.filters), dict(ui.env.globals)
    for module in _page_modules().values():
        assert isinstance(module.router(ui), APIRouter)
    # Building routers registers nothing: the environment is the UI's, built once.
    assert dict(ui.env.filters) == filters
    assert dict(ui.env.globals) == globals_


def test_gateway_filters_render_without_the_gateway_router() -> None:
    env = make_environment()
    assert env.from_string("{{ 0.5|usd }} {{ 2310|ms }}").render() == "$0.5000 2.31 s"


# -- links -------------------------------------------------------------------------------------


LINKS: list[tuple[str, dict[str, Any], str]] = [
    ("experiments", {}, "/"),
    ("features", {}, "/features"),
    ("features", {"anchor": "source-orders"}, "/features#source-orders"),
    ("feature_view", {"name": "spend"}, "/features/views/spend"),
    ("feature_view", {"name": "spend", "version": 2}, "/features/views/spend?version=2"),
    ("feature_service", {"name": "churn", "version": 3}, "/features/services/churn?version=3"),
    ("experiment", {"experiment_id": "7"}, "/experiments/7"),
    (
        "experiment",
        {"experiment_id": "7", "filter": "params.a = 'b&c'", "order_by": ""},
        "/experiments/7?filter=params.a%20%3D%20%27b%26c%27",
    ),
    ("experiment_charts", {"experiment_id": "7"}, "/experiments/7/charts"),
    (
        "experiment_charts",
        {"experiment_id": "7", "order_by": "metrics.auc DESC", "metric": "a/b", "param": "lr"},
        "/experiments/7/charts?order_by=metrics.auc%20DESC&metric=a%2Fb&param=lr",
    ),
    (
        "experiment_chart_data",
        {"experiment_id": "7", "filter": "metrics.x > 1"},
        "/experiments/7/charts/data?filter=metrics.x%20%3E%201",
    ),
    ("run", {"run_id": "abc123"}, "/runs/abc123"),
    ("compare_runs", {}, "/compare"),
    ("compare_runs", {"runs": ["a1", "b2"]}, "/compare?runs=a1,b2"),
    (
        "model_version_file",
        {"name": "churn", "version": 3, "path": "a/b c"},
        "/models/churn/versions/3/files?path=a%2Fb%20c",
    ),
    ("model_compare", {"name": "churn"}, "/models/churn/compare"),
    ("model_compare", {"name": "churn", "versions": [1, 3]}, "/models/churn/compare?versions=1,3"),
    (
        "dataset_validation",
        {"name": "tx", "version": 2, "validation_id": 5},
        "/datasets/tx/2#validation-5",
    ),
    ("artifacts", {"run_id": "r1"}, "/runs/r1/artifacts"),
    ("artifacts", {"run_id": "r1", "path": "a b/c.txt"}, "/runs/r1/artifacts?path=a%20b%2Fc.txt"),
    (
        "artifact_download",
        {"run_id": "r1", "path": "x/y"},
        "/runs/r1/artifacts/download?path=x%2Fy",
    ),
    (
        "artifact_download",
        {"run_id": "r1", "path": "p.png", "inline": True},
        "/runs/r1/artifacts/download?path=p.png&inline=true",
    ),
    (
        "logged_models",
        {"experiment_id": "7"},
        "/experiments/7/logged-models",
    ),
    (
        "logged_models",
        {"experiment_id": "7", "name": "a&b", "status": "ready", "metric": "val/auc", "sort": "-x"},
        "/experiments/7/logged-models?name=a%26b&status=ready&metric=val%2Fauc&sort=-x",
    ),
    ("logged_model", {"model_id": "m-0123"}, "/logged-models/m-0123"),
    (
        "logged_model_file",
        {"model_id": "m-0123", "path": "a/b c"},
        "/logged-models/m-0123/files?path=a%2Fb%20c",
    ),
    ("models", {}, "/models"),
    ("model", {"name": "churn"}, "/models/churn"),
    ("model_version", {"name": "churn", "version": 3}, "/models/churn/versions/3"),
    ("datasets", {}, "/datasets"),
    ("dataset", {"name": "tx"}, "/datasets/tx"),
    ("dataset_version", {"name": "tx", "version": 2}, "/datasets/tx/2"),
    ("dataset_compare", {"name": "tx"}, "/datasets/tx/compare"),
    ("dataset_compare", {"name": "tx", "a": 1, "b": 2}, "/datasets/tx/compare?a=1&b=2"),
    ("prompts", {}, "/prompts"),
    ("prompt", {"name": "qa"}, "/prompts/qa"),
    ("prompt_version", {"name": "qa", "version": 4}, "/prompts/qa/4"),
    ("prompt_diff", {"name": "qa", "a": 3, "b": 4}, "/prompts/qa/diff?a=3&b=4"),
    ("prompt_review", {"name": "qa", "version": 4}, "/prompts/qa/4/review"),
    ("gateway", {}, "/gateway"),
    ("endpoints", {}, "/endpoints"),
    ("endpoint", {"name": "churn-api"}, "/endpoints/churn-api"),
    ("endpoint", {"name": "churn-api", "range": "24h"}, "/endpoints/churn-api?range=24h"),
    ("endpoint_event", {"name": "churn-api", "event_id": 7}, "/endpoints/churn-api#event-7"),
    (
        "endpoint_deployment",
        {"name": "churn-api", "deployment_id": 3},
        "/endpoints/churn-api#deployment-3",
    ),
    ("endpoint_rollback", {"name": "churn-api"}, "/endpoints/churn-api/rollback"),
    (
        "inference_request",
        {"name": "churn-api", "request_id": "9f1c"},
        "/endpoints/churn-api/requests/9f1c",
    ),
    (
        "inference_request",
        {"name": "churn-api", "request_id": "9f1c", "time": 1700000000000},
        "/endpoints/churn-api/requests/9f1c?t=1700000000000",
    ),
    ("gateway_calls", {}, "/gateway/calls"),
    ("gateway_calls", {"route": "(direct)"}, "/gateway/calls?route=%28direct%29"),
    ("gateway_call", {"call_id": "c1"}, "/gateway/calls/c1"),
    ("gateway_calls", {"route": "r", "q": "gpt-4.1"}, "/gateway/calls?route=r&q=gpt-4.1"),
    ("gateway_route", {"name": "support"}, "/gateway/routes/support"),
    ("gateway_route", {"name": "a/b", "window": "24h"}, "/gateway/routes/a%2Fb?window=24h"),
    ("route_rollout", {"rollout_id": 3}, "/gateway/rollouts/3"),
    ("route_rollout_event", {"rollout_id": 3, "event_id": 9}, "/gateway/rollouts/3#event-9"),
    ("route_rollout_end", {"rollout_id": 3}, "/gateway/rollouts/3/end"),
    ("route_rollout_check", {"rollout_id": 3}, "/gateway/rollouts/3/check"),
    ("alerts", {}, "/alerts"),
    (
        "alerts",
        {"status": "open", "subject": "endpoint=a&b", "range": "24h"},
        "/alerts?status=open&subject=endpoint%3Da%26b&range=24h",
    ),
    ("alert", {"alert_id": 12}, "/alerts/12"),
    ("alert_acknowledge", {"alert_id": 12}, "/alerts/12/acknowledge"),
    ("alert_resolve", {"alert_id": 12}, "/alerts/12/resolve"),
    ("monitors", {}, "/monitors"),
    ("monitors", {"endpoint": "churn api"}, "/monitors?endpoint=churn%20api"),
    ("monitor", {"name": "churn-drift"}, "/monitors/churn-drift"),
    (
        "monitor",
        {"name": "churn-drift", "window": 1765000000000},
        "/monitors/churn-drift?window=1765000000000",
    ),
    ("monitor_run", {"name": "churn-drift"}, "/monitors/churn-drift/run"),
    ("monitor_delete", {"name": "churn-drift"}, "/monitors/churn-drift/delete"),
    ("review_queues", {}, "/review"),
    ("review_queue", {"name": "loans"}, "/review/loans"),
    (
        "review_queue",
        {"name": "a/b", "status": "done", "low_agreement": True, "changed": False},
        "/review/a%2Fb?status=done&low_agreement=true&changed=false",
    ),
    ("review_work", {"name": "loans"}, "/review/loans/work"),
    (
        "review_work",
        {"name": "loans", "item": 7, "last": 6, "did": "answered"},
        "/review/loans/work?item=7&last=6&did=answered",
    ),
    ("review_work", {"name": "loans", "empty": True}, "/review/loans/work?empty=true"),
    ("review_claim", {"name": "loans"}, "/review/loans/claim"),
    ("review_item", {"item_id": 7}, "/review/items/7"),
    ("review_item_action", {"item_id": 7, "action": "answer"}, "/review/items/7/answer"),
    ("automation", {}, "/automation"),
    ("automation_job", {"job_id": 7}, "/automation/jobs/7"),
    ("automation_trigger", {"name": "a/b"}, "/automation?trigger=a%2Fb#triggers"),
    ("gates", {}, "/gates"),
    ("gates", {"model": "a/b"}, "/gates?model=a%2Fb"),
    ("gate", {"decision_id": 7}, "/gates/7"),
    ("eval_suite", {"name": "credit"}, "/evals/suites/credit"),
    ("pipelines", {}, "/pipelines"),
    ("pipelines", {"pipeline": "a/b"}, "/pipelines?pipeline=a%2Fb"),
    ("pipeline_run", {"run_id": 7}, "/pipelines/runs/7"),
    ("pipeline_step", {"run_id": 7, "node": "fit 2#x"}, "/pipelines/runs/7#step-fit%202%23x"),
    ("policies", {}, "/automation/policies"),
    ("policy", {"name": "a/b"}, "/automation/policies/a%2Fb"),
    ("policy_run", {"run_id": 7}, "/automation/policy-runs/7"),
    ("policy_run_approve", {"run_id": 7}, "/automation/policy-runs/7/approve"),
    ("policy_run_reject", {"run_id": 7}, "/automation/policy-runs/7/reject"),
    ("approvals", {}, "/automation/approvals"),
    ("model_timeline", {"name": "a/b"}, "/models/a%2Fb/timeline"),
    ("model_timeline", {"name": "churn", "version": 7}, "/models/churn/timeline?version=7"),
]


@pytest.mark.parametrize(("kind", "ids", "url"), LINKS)
def test_link_to_each_kind(kind: str, ids: dict[str, Any], url: str) -> None:
    assert links.link_to(kind, **ids) == url


def test_every_registered_kind_is_tested() -> None:
    assert {kind for kind, _, _ in LINKS} == set(links.kinds())


def test_links_quote_every_part() -> None:
    # A name can neither reach another page nor add a query parameter.
    assert links.model("a/../b?x=1&y") == "/models/a%2F..%2Fb%3Fx%3D1%26y"
    assert links.artifacts("r1", "a&inline=true") == "/runs/r1/artifacts?path=a%26inline%3Dtrue"


def test_unknown_kinds_and_second_registrations_are_refused() -> None:
    with pytest.raises(KeyError, match="trace"):
        links.link_to("trace", trace_id="t1")
    with pytest.raises(ValueError, match="already registered"):
        links.link("run")(lambda run_id: f"/elsewhere/{run_id}")
    assert links.link_to("run", run_id="r1") == "/runs/r1"


def test_templates_escape_links_as_text() -> None:
    html = make_environment().from_string(
        '<a href="{{ link_to("dataset_compare", name="tx", a=1, b=2) }}">'
    )
    assert html.render() == '<a href="/datasets/tx/compare?a=1&amp;b=2">'


def test_templates_spell_no_object_urls() -> None:
    # Every link to an object goes through link_to; only the sign-in forms post to fixed paths.
    allowed = {'action="/login"', 'action="/logout"'}
    for template in TEMPLATES_DIR.glob("*.html"):
        text = template.read_text()
        found = set(re.findall(r'(?:href|action|src)="/(?!static/)[^"]*"', text)) - allowed
        assert not found, f"{template.name}: {sorted(found)}"
