"""Run pages: one run (info, params, metrics, tags, inputs, charts, the MLflow logged models
it logged, read or produced, the model versions registered from it) and the comparison."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse

from mloop.core.errors import NotFoundError, ValidationError
from mloop.datasets.lineage import registered_versions
from mloop.registry.lineage import versions_from_run
from mloop.server.ui import links
from mloop.server.ui.charts import metric_charts, run_labels
from mloop.server.ui.core import UI
from mloop.server.ui.formatting import number
from mloop.server.ui.logged_model_views import run_logged_models
from mloop.server.ui.params import checked_run_id
from mloop.store.context import Context
from mloop.tracking.artifacts import list_artifacts
from mloop.tracking.experiments import get_experiment
from mloop.tracking.runs import get_run, load_runs, search_runs
from mloop.tracking.schemas import ExperimentId, ListArtifacts, Run, RunId, SearchRuns

MAX_COMPARE = 25
MAX_CHILDREN = 200
MAX_MODEL_VERSIONS = 200
# Tags written by mloop itself, or by MLflow clients logging through the compatible API.
SYSTEM_TAG_PREFIXES = ("mloop.", "mlflow.")


def _source_rows(tags: dict[str, str]) -> list[tuple[str, str]]:
    rows = []
    for label, ours, theirs in SOURCE_TAGS:
        value = tags.get(ours) or (tags.get(theirs) if theirs else None)
        if value is not None:
            rows.append((label, value))
    return rows


# (label, the tag mloop's SDK writes, the tag MLflow's client writes)
SOURCE_TAGS = (
    ("Git commit", "mloop.source.git.commit", "mlflow.source.git.commit"),
    ("Uncommitted changes", "mloop.source.git.dirty", None),
    ("Branch", "mloop.source.git.branch", "mlflow.source.git.branch"),
    ("Entry point", "mloop.source.entry_point", "mlflow.source.name"),
    ("Source type", "mloop.source.type", "mlflow.source.type"),
)


@dataclass(frozen=True)
class CompareLink:
    """A link to the comparison page with this run and some related ones."""

    label: str
    dom_id: str
    url: str


@dataclass(frozen=True)
class DiffRow:
    key: str
    values: list[str]
    differs: bool


def compare_ids(raw: list[str]) -> list[str]:
    """Run ids from ``?runs=a,b`` or ``?runs=a&runs=b``, in order, without repeats."""
    ids: list[str] = []
    for chunk in raw:
        for part in chunk.split(","):
            part = part.strip()
            if part and part not in ids:
                ids.append(part)
    if not ids:
        raise ValidationError("choose at least one run to compare (?runs=id1,id2)", field="runs")
    if len(ids) > MAX_COMPARE:
        raise ValidationError(
            f"at most {MAX_COMPARE} runs can be compared at once, got {len(ids)}", field="runs"
        )
    return [checked_run_id(i) for i in ids]


def diff_rows(keys: list[str], runs: list[Run], pick: Any) -> list[DiffRow]:
    rows = []
    for key in keys:
        values = [pick(run, key) for run in runs]
        rows.append(DiffRow(key=key, values=values, differs=len(set(values)) > 1))
    return rows


def _param(run: Run, key: str) -> str:
    return run.data.params.get(key, "")


def _metric(run: Run, key: str) -> str:
    return number(run.data.metrics.get(key))


def _run_page(ctx: Context, run_id: str) -> dict[str, Any]:
    run = get_run(ctx, RunId(run_id=run_id))
    experiment = get_experiment(ctx, ExperimentId(experiment_id=run.info.experiment_id))
    parent = None
    if run.info.parent_run_id:
        found = load_runs(ctx, [run.info.parent_run_id])
        parent = found[0] if found else None
    children = search_runs(
        ctx,
        SearchRuns(
            filter=f"attributes.parent_run_id = '{run_id}'",
            max_results=MAX_CHILDREN,
            view="all",
        ),
    ).runs
    siblings = _siblings(ctx, run.info.parent_run_id) if run.info.parent_run_id else []
    tags = run.data.tags
    return {
        "run": run,
        "model_versions": versions_from_run(ctx, run_id, max_results=MAX_MODEL_VERSIONS),
        "logged_models": run_logged_models(ctx, run_id),
        "input_versions": registered_versions(ctx, [(i.name, i.digest) for i in run.inputs]),
        "compare": _compare_links(run_id, children, siblings),
        "experiment": experiment,
        "parent": parent,
        "children": children,
        "source": _source_rows(tags),
        "user_tags": sorted(
            (k, v) for k, v in tags.items() if not k.startswith(SYSTEM_TAG_PREFIXES)
        ),
        "system_tags": sorted((k, v) for k, v in tags.items() if k.startswith(SYSTEM_TAG_PREFIXES)),
        "charts": metric_charts(ctx, [run]),
        "artifacts": list_artifacts(ctx, ListArtifacts(run_id=run_id)).files,
    }


def _siblings(ctx: Context, parent_run_id: str) -> list[Run]:
    """The runs that share this run's parent (itself included), up to :data:`MAX_COMPARE`."""
    return search_runs(
        ctx,
        SearchRuns(
            filter=f"attributes.parent_run_id = '{parent_run_id}'",
            max_results=MAX_COMPARE,
            view="all",
        ),
    ).runs


def _compare_links(run_id: str, children: list[Run], siblings: list[Run]) -> list[CompareLink]:
    """Ways to open this run on the comparison page: alone (to add others there), with its
    child runs, with the other children of its parent."""
    found = [CompareLink("Compare", "compare-run", links.compare_runs([run_id]))]
    if children:
        ids = [run_id, *(c.info.run_id for c in children)][:MAX_COMPARE]
        found.append(
            CompareLink(
                f"Compare with its child runs ({len(ids) - 1})",
                "compare-children",
                links.compare_runs(ids),
            )
        )
    others = [s.info.run_id for s in siblings if s.info.run_id != run_id]
    if others:
        ids = [run_id, *others][:MAX_COMPARE]
        found.append(
            CompareLink(
                f"Compare with its sibling runs ({len(ids) - 1})",
                "compare-siblings",
                links.compare_runs(ids),
            )
        )
    return found


def _compare_page(ctx: Context, ids: list[str]) -> dict[str, Any]:
    runs = load_runs(ctx, ids)
    missing = [i for i in ids if i not in {r.info.run_id for r in runs}]
    if missing:
        raise NotFoundError(f"run {missing[0]} does not exist", field="runs")
    experiments = {
        eid: get_experiment(ctx, ExperimentId(experiment_id=eid))
        for eid in {r.info.experiment_id for r in runs}
    }
    params = sorted({k for r in runs for k in r.data.params})
    metrics = sorted({k for r in runs for k in r.data.metrics})
    return {
        "runs": runs,
        "labels": run_labels(runs),
        "experiments": experiments,
        "param_rows": diff_rows(params, runs, _param),
        "metric_rows": diff_rows(metrics, runs, _metric),
        "charts": metric_charts(ctx, runs, metrics),
    }


def router(ui: UI) -> APIRouter:
    r = APIRouter(route_class=ui.route_class, include_in_schema=False)

    @r.get("/runs/{run_id}", response_class=HTMLResponse, name="ui_run")
    def run_page(request: Request, run_id: str) -> HTMLResponse:
        viewer = ui.viewer(request)
        run_id = checked_run_id(run_id)
        data = ui.read(lambda ctx: _run_page(ctx, run_id), viewer)
        return ui.render(request, "run.html", viewer, **data)

    @r.get("/compare", response_class=HTMLResponse, name="ui_compare")
    def compare_page(request: Request, runs: list[str] = Query(default=[])) -> HTMLResponse:
        viewer = ui.viewer(request)
        ids = compare_ids(runs)
        data = ui.read(lambda ctx: _compare_page(ctx, ids), viewer)
        return ui.render(request, "compare.html", viewer, **data)

    return r
