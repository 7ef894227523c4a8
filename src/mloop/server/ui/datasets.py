"""Dataset pages: the datasets, one dataset's versions, one version's profile and contract
validations, and two versions compared column by column.

Pages call the datasets domain's handlers (``list_datasets``, ``get_dataset_version``,
``get_dataset_lineage``, ``list_dataset_validations``...) in one read transaction, as the
model pages call the registry's. Charts are drawn in the browser (``static/datasets.js``)
from JSON embedded in the page; see :mod:`mloop.server.ui.profiles` for what it holds.
"""

from __future__ import annotations

import math
from typing import Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from mloop.core.errors import NotFoundError, ValidationError
from mloop.datasets.aliases import get_dataset_alias_history, resolve_alias
from mloop.datasets.catalog import get_dataset, list_datasets
from mloop.datasets.checks import check_alias, check_dataset_name
from mloop.datasets.lineage import get_dataset_lineage
from mloop.datasets.schemas import (
    DatasetList,
    DatasetName,
    DatasetValidation,
    DatasetVersion,
    GetDatasetAliasHistory,
    GetDatasetLineage,
    GetDatasetVersion,
    ListDatasets,
    ListDatasetValidations,
    ListDatasetVersions,
)
from mloop.datasets.validations import list_dataset_validations
from mloop.datasets.versions import get_dataset_version, list_dataset_versions
from mloop.registry.lineage import versions_trained_on
from mloop.registry.schemas import ModelVersion
from mloop.server.ui import links
from mloop.server.ui.core import UI
from mloop.server.ui.formatting import cut, filesize, json_safe, label, ms_time, number, percent
from mloop.server.ui.params import checked_name, checked_version, query_version
from mloop.server.ui.profiles import column_chart, compare_columns, profile_columns
from mloop.store.context import Context
from mloop.tracking.runs import load_runs

DATASETS_PER_PAGE = 100
VERSIONS_PER_PAGE = 200
COLUMNS_PER_PAGE = 100
MAX_HISTORY = 1000
MAX_READERS = 200
MAX_TRAINED = 200
MAX_VALIDATIONS = 10
MAX_CHECKS = 2000
MAX_EXAMPLES = 20
MAX_EXAMPLE_COLUMNS = 30


def checked_dataset_name(raw: str) -> str:
    """A name a dataset could have; anything else names no dataset (404, not 400)."""
    return checked_name(raw, check_dataset_name, "dataset")


def _run_names(ctx: Context, run_ids: list[str | None]) -> dict[str, str]:
    ids = sorted({r for r in run_ids if r})
    return {run.info.run_id: run.info.run_name for run in load_runs(ctx, ids)}


def _page_of(items: list[Any], page: int) -> tuple[list[Any], int]:
    """The items of a 1-based page of :data:`COLUMNS_PER_PAGE`, and the number of pages."""
    pages = max(math.ceil(len(items) / COLUMNS_PER_PAGE), 1)
    if page > pages:
        raise NotFoundError(f"there is no page {page}: the last is {pages}", field="page")
    start = (page - 1) * COLUMNS_PER_PAGE
    return items[start : start + COLUMNS_PER_PAGE], pages


# -- /datasets -------------------------------------------------------------------------------


def _list_page(ctx: Context, query: str, page_token: str) -> tuple[DatasetList, str | None]:
    request = ListDatasets(
        name_contains=query or None, max_results=DATASETS_PER_PAGE, page_token=page_token or None
    )
    try:
        return list_datasets(ctx, request), None
    except ValidationError as exc:
        if exc.field != "page_token":
            raise
        return DatasetList(datasets=[]), exc.message


# -- /datasets/{name} --------------------------------------------------------------------------


def _dataset_page(ctx: Context, name: str, page_token: str) -> dict[str, Any]:
    dataset = get_dataset(ctx, DatasetName(name=name))
    request = ListDatasetVersions(
        name=name, max_results=VERSIONS_PER_PAGE, page_token=page_token or None
    )
    listing = list_dataset_versions(ctx, request)
    versions = listing.dataset_versions
    newest = versions  # newest first: the compare form's choices
    if page_token:
        newest = list_dataset_versions(
            ctx, ListDatasetVersions(name=name, max_results=VERSIONS_PER_PAGE)
        ).dataset_versions
    history = get_dataset_alias_history(
        ctx, GetDatasetAliasHistory(name=name, max_results=MAX_HISTORY)
    )
    oldest_first = list(reversed(versions))
    return {
        "dataset": dataset,
        "versions": versions,
        "next_page_token": listing.next_page_token,
        "page_token": page_token,
        "history": list(reversed(history.entries)),  # newest first
        "version_kind": "dataset_version",  # where alias history links go
        "run_names": _run_names(ctx, [v.run_id for v in versions]),
        "choices": [v.version for v in newest],
        "default_a": newest[1].version if len(newest) > 1 else None,
        "default_b": newest[0].version if newest else None,
        "charts": {
            "rows": {
                "type": "rows",
                "versions": [v.version for v in oldest_first],
                "rows": [v.row_count for v in oldest_first],
            }
        },
    }


# -- /datasets/{name}/{version} ------------------------------------------------------------------


def _examples(raw: Any) -> tuple[list[str], list[list[str]]]:
    """Failing example rows as a table: column names and the rows' values, bounded."""
    if not isinstance(raw, list):
        return [], []
    rows = [r for r in raw[:MAX_EXAMPLES] if isinstance(r, dict)]
    columns: list[str] = []
    for r in rows:
        for key in r:
            if str(key) not in columns and len(columns) < MAX_EXAMPLE_COLUMNS:
                columns.append(str(key))
    table = [[label(r[c]) if c in r else "" for c in columns] for r in rows]
    return [cut(c, 80) for c in columns], table


def _check_view(raw: Any) -> dict[str, Any] | None:
    if not isinstance(raw, dict):
        return None
    status = raw.get("status")
    status = status if status in ("passed", "failed", "error", "skipped") else "unknown"
    severity = raw.get("severity") if raw.get("severity") in ("error", "warn") else "error"
    failing = raw.get("failing_count")
    share = raw.get("failing_share")
    columns, examples = _examples(raw.get("examples"))
    observed = raw.get("observed")
    checked = raw.get("columns")
    checked = {cut(str(c), 80) for c in checked} if isinstance(checked, list) else set()
    return {
        "name": cut(str(raw.get("name", "")), 300),
        "kind": cut(str(raw.get("kind", "")), 80),
        "severity": severity,
        "status": status,
        "shown_status": "warn" if status == "failed" and severity == "warn" else status,
        "failing_count": failing
        if isinstance(failing, int) and not isinstance(failing, bool)
        else None,
        "failing_share": percent(share, 2) if isinstance(share, int | float) else "",
        "message": cut(str(raw.get("message", "")), 2000),
        "observed": (
            [(cut(str(k), 80), label(v)) for k, v in list(observed.items())[:20]]
            if isinstance(observed, dict)
            else []
        ),
        "example_columns": [(c, c in checked) for c in columns],
        "examples": examples,
    }


def _validation_view(v: DatasetValidation) -> dict[str, Any]:
    report = v.report if isinstance(v.report, dict) else {}
    raw_checks = report.get("checks")
    raw_checks = raw_checks if isinstance(raw_checks, list) else []
    checks = [c for c in (_check_view(r) for r in raw_checks[:MAX_CHECKS]) if c is not None]
    order = {"failed": 0, "error": 1, "warn": 2}
    ordered = sorted(checks, key=lambda c: order.get(c["shown_status"], 3))
    return {
        "v": v,
        "checks": ordered,
        # Passed checks are folded away on the page; the others stay open.
        "open_checks": [c for c in ordered if c["status"] != "passed"],
        "passed_checks": [c for c in ordered if c["status"] == "passed"],
        "checks_total": len(raw_checks),
        "failed": sum(1 for c in checks if c["status"] in ("failed", "error")),
        "reference": cut(str(report.get("reference") or ""), 300),
    }


def _version_page(ctx: Context, name: str, version: int, page: int) -> dict[str, Any]:
    dataset = get_dataset(ctx, DatasetName(name=name))
    dv = get_dataset_version(ctx, GetDatasetVersion(name=name, version=version))
    lineage = get_dataset_lineage(
        ctx, GetDatasetLineage(name=name, version=version, max_results=MAX_READERS)
    )
    found = list_dataset_validations(
        ctx,
        ListDatasetValidations(
            name=name, version=version, include_reports=True, max_results=MAX_VALIDATIONS
        ),
    )
    columns = profile_columns(dv.profile)
    shown, pages = _page_of(columns, page)
    charts = {f"col-{c.index}": column_chart(c) for c in shown}
    trained = versions_trained_on(ctx, dataset.name, dv.version, max_results=MAX_TRAINED)
    return {
        "dataset": dataset,
        "dv": dv,
        "lineage": lineage,
        "trained": [(mv, _contract_of(mv, dataset.name, dv.version)) for mv in trained],
        "run_names": _run_names(ctx, [dv.run_id, *(mv.run_id for mv in trained)]),
        "validations": [_validation_view(v) for v in found.validations],
        "more_validations": found.next_page_token is not None,
        "columns": shown,
        "column_count": len(columns),
        "per_page": COLUMNS_PER_PAGE,
        "page": page,
        "pages": pages,
        "profile_meta": _profile_meta(dv.profile),
        "charts": json_safe({k: v for k, v in charts.items() if v is not None}),
    }


def _contract_of(mv: ModelVersion, name: str, version: int) -> str:
    """The contract this dataset version had passed when ``mv`` was registered ("" if none)."""
    for entry in mv.training_data:
        found = entry.get("name") == name and entry.get("version") == version
        if found and entry.get("contract_name"):
            return cut(f"{entry['contract_name']} v{entry.get('contract_version')}", 300)
    return ""


def _profile_meta(profile: Any) -> list[tuple[str, str]]:
    if not isinstance(profile, dict):
        return []
    rows = []
    if isinstance(profile.get("created_at"), str):
        rows.append(("Profiled at", cut(profile["created_at"], 60)))
    duration = profile.get("duration_s")
    if isinstance(duration, int | float) and not isinstance(duration, bool):
        rows.append(("Profiling took", f"{duration:.2f} s"))
    settings = profile.get("settings")
    if isinstance(settings, dict):
        for key in ("bins", "top_k", "max_categories", "quantile_sample"):
            if key in settings:
                rows.append((key, label(settings[key])))
    return rows


# -- /datasets/{name}/compare ----------------------------------------------------------------------


def _compare_page(ctx: Context, name: str, a: int, b: int, page: int) -> dict[str, Any]:
    dataset = get_dataset(ctx, DatasetName(name=name))
    va = get_dataset_version(ctx, GetDatasetVersion(name=name, version=a))
    vb = get_dataset_version(ctx, GetDatasetVersion(name=name, version=b))
    comparisons = compare_columns(profile_columns(va.profile), profile_columns(vb.profile))
    shown, pages = _page_of(comparisons, page)
    counts: dict[str, int] = {}
    for c in comparisons:
        counts[c.status] = counts.get(c.status, 0) + 1
    return {
        "dataset": dataset,
        "va": va,
        "vb": vb,
        "comparisons": comparisons,
        "shown": shown,
        "first_index": (page - 1) * COLUMNS_PER_PAGE,
        "status_counts": counts,
        "column_count": len(comparisons),
        "per_page": COLUMNS_PER_PAGE,
        "page": page,
        "pages": pages,
        "choices": [
            v.version
            for v in list_dataset_versions(
                ctx, ListDatasetVersions(name=name, max_results=VERSIONS_PER_PAGE)
            ).dataset_versions
        ],
        "version_rows": _version_rows(va, vb),
        "charts": json_safe(
            {
                f"cmp-{i}": c.chart
                for i, c in enumerate(shown, start=(page - 1) * COLUMNS_PER_PAGE)
                if c.chart is not None
            }
        ),
    }


def _version_rows(va: DatasetVersion, vb: DatasetVersion) -> list[tuple[str, str, str, bool]]:
    def validation(v: DatasetVersion) -> str:
        if v.latest_validation is None:
            return "none"
        return "passed" if v.latest_validation.passed else "failed"

    pairs = [
        ("Rows", number(va.row_count), number(vb.row_count)),
        ("Columns", str(len(va.dataset_schema)), str(len(vb.dataset_schema))),
        ("Size", filesize(va.size), filesize(vb.size)),
        ("Digest", va.digest[:12], vb.digest[:12]),
        ("Created", ms_time(va.creation_time) + " UTC", ms_time(vb.creation_time) + " UTC"),
        ("Source", cut(va.source, 300), cut(vb.source, 300)),
        ("Latest validation", validation(va), validation(vb)),
    ]
    return [(k, x, y, x != y) for k, x, y in pairs]


def router(ui: UI) -> APIRouter:
    r = APIRouter(route_class=ui.route_class, include_in_schema=False)

    @r.get("/datasets", response_class=HTMLResponse, name="ui_datasets")
    def datasets_page(
        request: Request,
        q: str = Query("", max_length=256),
        page_token: str = Query("", max_length=200),
    ) -> HTMLResponse:
        viewer = ui.viewer(request)
        found, error = ui.read(lambda ctx: _list_page(ctx, q, page_token), viewer)
        return ui.render(
            request,
            "datasets.html",
            viewer,
            status_code=400 if error else 200,
            datasets=found.datasets,
            next_page_token=found.next_page_token,
            page_token=page_token,
            query=q,
            error=error,
        )

    @r.get("/datasets/{name}", response_class=HTMLResponse, name="ui_dataset")
    def dataset_page(
        request: Request, name: str, page_token: str = Query("", max_length=200)
    ) -> HTMLResponse:
        viewer = ui.viewer(request)
        name = checked_dataset_name(name)
        data = ui.read(lambda ctx: _dataset_page(ctx, name, page_token), viewer)
        return ui.render(request, "dataset.html", viewer, **data)

    # Before /datasets/{name}/{version}, which would take "compare" for a version.
    @r.get("/datasets/{name}/compare", response_class=HTMLResponse, name="ui_dataset_compare")
    def compare_page(
        request: Request,
        name: str,
        a: str = Query("", max_length=20),
        b: str = Query("", max_length=20),
        page: int = Query(1, ge=1, le=1_000_000),
    ) -> HTMLResponse:
        viewer = ui.viewer(request)
        name = checked_dataset_name(name)
        first, second = query_version(a, "a"), query_version(b, "b")
        data = ui.read(lambda ctx: _compare_page(ctx, name, first, second, page), viewer)
        return ui.render(request, "dataset_compare.html", viewer, **data)

    @r.get("/datasets/{name}/{version}", response_class=HTMLResponse, name="ui_dataset_version")
    def version_page(
        request: Request,
        name: str,
        version: str,
        page: int = Query(1, ge=1, le=1_000_000),
    ) -> Response:
        viewer = ui.viewer(request)
        name = checked_dataset_name(name)
        if not version.isdigit():
            # /datasets/tx/latest and /datasets/tx/golden-test lead to the version's page.
            found = ui.read(lambda ctx: _resolve(ctx, name, version), viewer)
            return RedirectResponse(links.dataset_version(name, found), status_code=303)
        wanted = checked_version(version, "dataset version")
        data = ui.read(lambda ctx: _version_page(ctx, name, wanted, page), viewer)
        return ui.render(request, "dataset_version.html", viewer, **data)

    return r


def _resolve(ctx: Context, name: str, ref: str) -> int:
    if ref == "latest":
        latest = get_dataset(ctx, DatasetName(name=name)).latest_version
        if latest is None:
            raise NotFoundError(f"dataset {name!r} has no versions", field="version")
        return latest
    try:
        alias = check_alias(ref)
    except ValidationError:
        raise NotFoundError(
            f"dataset version {ref[:40]!r} does not exist", field="version"
        ) from None
    return resolve_alias(ctx, name, alias)
