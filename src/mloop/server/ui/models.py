"""Registry pages: registered models, one model's versions and alias history, one version
(with its training data, signature and files), and versions of one model side by side."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, StreamingResponse

from mloop.core.errors import NotFoundError, ValidationError
from mloop.datasets.schemas import DatasetVersion, GetDatasetVersion
from mloop.datasets.versions import get_dataset_version
from mloop.models.uris import parse_runs_uri
from mloop.registry.aliases import get_alias_history
from mloop.registry.checks import check_model_name
from mloop.registry.files import list_model_version_files, open_model_file
from mloop.registry.models import get_registered_model, list_registered_models
from mloop.registry.schemas import (
    GetAliasHistory,
    ListModelVersions,
    ListRegisteredModels,
    ModelName,
    ModelVersion,
    ModelVersionRef,
    RegisteredModelList,
)
from mloop.registry.versions import get_model_version, list_model_versions
from mloop.server.ui.core import UI
from mloop.server.ui.downloads import attachment
from mloop.server.ui.formatting import cut, number
from mloop.server.ui.logged_model_views import source_logged_model
from mloop.server.ui.params import checked_name, checked_version, query_version
from mloop.server.ui.signatures import compare_signatures, signature_tables
from mloop.serving.lineage import endpoints_serving
from mloop.store.artifacts import clean_relative_path
from mloop.store.context import Context
from mloop.tracking.runs import load_runs

MODELS_PER_PAGE = 100
VERSIONS_PER_PAGE = 200
MAX_HISTORY = 1000
MAX_FILES = 500
MAX_TRAINING_DATA = 100
MAX_COMPARE = 25


def checked_model_name(raw: str) -> str:
    """A name the registry could hold; anything else names no model (404, not 400)."""
    return checked_name(raw, check_model_name, "registered model")


def _run_names(ctx: Context, run_ids: list[str]) -> dict[str, str]:
    ids = sorted({r for r in run_ids if r})
    return {run.info.run_id: run.info.run_name for run in load_runs(ctx, ids)}


def _list_page(ctx: Context, query: str, page_token: str) -> tuple[RegisteredModelList, str | None]:
    request = ListRegisteredModels(
        name_contains=query or None, max_results=MODELS_PER_PAGE, page_token=page_token or None
    )
    try:
        return list_registered_models(ctx, request), None
    except ValidationError as exc:
        if exc.field != "page_token":
            raise
        return RegisteredModelList(registered_models=[]), exc.message


def _model_page(ctx: Context, name: str, page_token: str) -> dict[str, Any]:
    model = get_registered_model(ctx, ModelName(name=name))
    versions = list_model_versions(
        ctx,
        ListModelVersions(name=name, max_results=VERSIONS_PER_PAGE, page_token=page_token or None),
    )
    history = get_alias_history(ctx, GetAliasHistory(name=name, max_results=MAX_HISTORY))
    return {
        "model": model,
        "versions": versions.model_versions,
        "next_page_token": versions.next_page_token,
        "page_token": page_token,
        "history": list(reversed(history.entries)),  # newest first
        "run_names": _run_names(ctx, [v.run_id or "" for v in versions.model_versions]),
        "metric_keys": sorted({k for v in versions.model_versions for k in v.metrics}),
    }


@dataclass(frozen=True)
class TrainingData:
    """One dataset version a model version was trained on, as recorded at registration
    (``ModelVersion.training_data``), with the dataset version as it is now (None when it
    was deleted since)."""

    name: str
    version: int
    context: str
    contract_name: str | None
    contract_version: str | None
    validation_id: int | None
    current: DatasetVersion | None


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _text(value: Any) -> str | None:
    """A recorded name or version as text (contract versions are strings, older records
    may hold numbers); anything else as absent."""
    if isinstance(value, bool) or not isinstance(value, str | int):
        return None
    return cut(str(value), 300)


def training_data(ctx: Context, mv: ModelVersion) -> list[TrainingData]:
    """The recorded training data of ``mv``; entries of another shape are skipped."""
    out = []
    for entry in mv.training_data[:MAX_TRAINING_DATA]:
        name, version = entry.get("name"), _int(entry.get("version"))
        if not isinstance(name, str) or version is None:
            continue
        try:
            current: DatasetVersion | None = get_dataset_version(
                ctx, GetDatasetVersion(name=name, version=version, include_profile=False)
            )
        except (NotFoundError, ValidationError):
            current = None  # deleted since (or a name no longer valid): no page to link
        out.append(
            TrainingData(
                name=name,
                version=version,
                context=str(entry.get("context") or ""),
                contract_name=_text(entry.get("contract_name")),
                contract_version=_text(entry.get("contract_version")),
                validation_id=_int(entry.get("validation_id")),
                current=current,
            )
        )
    return out


def _version_page(ctx: Context, name: str, version: int) -> dict[str, Any]:
    model = get_registered_model(ctx, ModelName(name=name))
    found = get_model_version(ctx, ModelVersionRef(name=name, version=version))
    try:
        files = list_model_version_files(ctx, ModelVersionRef(name=name, version=version)).files
        files_note = None
    except NotFoundError as exc:
        # A version registered through MLflow's API from a source mloop cannot read has
        # no files here; its page still shows where it came from.
        files, files_note = [], exc.message
    history = get_alias_history(ctx, GetAliasHistory(name=name, max_results=MAX_HISTORY))
    runs = load_runs(ctx, [found.run_id]) if found.run_id else []
    # Other versions worth comparing with: those the aliases point at, and the newest.
    others = {f"@{alias}": v for alias, v in sorted(model.aliases.items()) if v != version}
    if model.latest_version and model.latest_version != version:
        others.setdefault("latest", model.latest_version)
    return {
        "model": model,
        "mv": found,
        "files": sorted(files)[:MAX_FILES],
        "more_files": max(len(files) - MAX_FILES, 0),
        "files_note": files_note,
        "run": runs[0] if runs else None,
        "source_path": _source_path(found),
        "logged_model": source_logged_model(ctx, found.source),
        "training": training_data(ctx, found),
        "signature": signature_tables(found.signature),
        "compare_with": list(others.items()),
        "served_by": endpoints_serving(ctx, found.name, version),
        "history": [
            e for e in reversed(history.entries) if version in (e.from_version, e.to_version)
        ],
    }


def _source_path(mv: ModelVersion) -> str | None:
    """The folder of the source run's artifacts the version was copied from, if readable."""
    try:
        run_id, path = parse_runs_uri(mv.source)
    except ValidationError:
        return None
    return path if run_id == mv.run_id else None


def compare_versions(raw: list[str]) -> list[int]:
    """Version numbers from ``?versions=1,2`` or ``?versions=1&versions=2``, in order,
    without repeats; at least two and at most :data:`MAX_COMPARE`."""
    numbers: list[int] = []
    for chunk in raw:
        for part in chunk.split(","):
            part = part.strip()
            if not part:
                continue
            number = query_version(part, "versions")
            if number not in numbers:
                numbers.append(number)
    if len(numbers) < 2:
        raise ValidationError(
            "choose at least two versions to compare (?versions=1,2)", field="versions"
        )
    if len(numbers) > MAX_COMPARE:
        raise ValidationError(
            f"at most {MAX_COMPARE} versions can be compared at once, got {len(numbers)}",
            field="versions",
        )
    return numbers


@dataclass(frozen=True)
class DataRow:
    """One dataset across the compared versions: the entries each was trained on."""

    name: str
    cells: list[list[TrainingData]]
    differs: bool


def _data_rows(training: list[list[TrainingData]]) -> list[DataRow]:
    names = sorted({d.name for entries in training for d in entries})
    rows = []
    for name in names:
        cells = [[d for d in entries if d.name == name] for entries in training]
        kept = {tuple(sorted((d.version, d.contract_name or "") for d in c)) for c in cells}
        rows.append(DataRow(name=name, cells=cells, differs=len(kept) > 1))
    return rows


def _compare_page(ctx: Context, name: str, numbers: list[int]) -> dict[str, Any]:
    model = get_registered_model(ctx, ModelName(name=name))
    versions = [get_model_version(ctx, ModelVersionRef(name=name, version=n)) for n in numbers]
    found_runs = {
        r.info.run_id: r for r in load_runs(ctx, sorted({v.run_id for v in versions if v.run_id}))
    }
    runs = [found_runs.get(v.run_id or "") for v in versions]
    params = sorted({k for r in runs if r is not None for k in r.data.params})
    metrics = sorted({k for v in versions for k in v.metrics})
    training = [training_data(ctx, v) for v in versions]
    choices = list_model_versions(
        ctx, ListModelVersions(name=name, max_results=VERSIONS_PER_PAGE)
    ).model_versions
    return {
        "model": model,
        "versions": versions,
        "runs": runs,
        "metric_rows": _diff(
            metrics, [[number(v.metrics.get(k)) for k in metrics] for v in versions]
        ),
        "param_rows": _diff(
            params, [[r.data.params.get(k, "") if r else "" for k in params] for r in runs]
        ),
        "data_rows": _data_rows(training),
        "signature_rows": compare_signatures([v.signature for v in versions]),
        "choices": [v.version for v in choices],
        "selected": numbers,
    }


def _diff(keys: list[str], columns: list[list[str]]) -> list[tuple[str, list[str], bool]]:
    """(key, the value in each version, whether they differ) for each key."""
    rows = []
    for i, key in enumerate(keys):
        values = [column[i] for column in columns]
        rows.append((key, values, len(set(values)) > 1))
    return rows


def router(ui: UI) -> APIRouter:
    r = APIRouter(route_class=ui.route_class, include_in_schema=False)

    @r.get("/models", response_class=HTMLResponse, name="ui_models")
    def models_page(
        request: Request,
        q: str = Query("", max_length=256),
        page_token: str = Query("", max_length=200),
    ) -> HTMLResponse:
        viewer = ui.viewer(request)
        page, error = ui.read(lambda ctx: _list_page(ctx, q, page_token), viewer)
        return ui.render(
            request,
            "models.html",
            viewer,
            status_code=400 if error else 200,
            models=page.registered_models,
            next_page_token=page.next_page_token,
            page_token=page_token,
            query=q,
            error=error,
        )

    @r.get("/models/{name}", response_class=HTMLResponse, name="ui_model")
    def model_page(
        request: Request, name: str, page_token: str = Query("", max_length=200)
    ) -> HTMLResponse:
        viewer = ui.viewer(request)
        name = checked_model_name(name)
        data = ui.read(lambda ctx: _model_page(ctx, name, page_token), viewer)
        return ui.render(request, "model.html", viewer, **data)

    @r.get("/models/{name}/versions/{version}", response_class=HTMLResponse, name="ui_version")
    def version_page(request: Request, name: str, version: str) -> HTMLResponse:
        viewer = ui.viewer(request)
        name = checked_model_name(name)
        number = checked_version(version, "model version")
        data = ui.read(lambda ctx: _version_page(ctx, name, number), viewer)
        return ui.render(request, "model_version.html", viewer, **data)

    @r.get("/models/{name}/compare", response_class=HTMLResponse, name="ui_model_compare")
    def compare_page(
        request: Request, name: str, versions: list[str] = Query(default=[])
    ) -> HTMLResponse:
        viewer = ui.viewer(request)
        name = checked_model_name(name)
        if sum(len(v) for v in versions) > 4096:
            raise ValidationError("versions is too long", field="versions")
        numbers = compare_versions(versions)
        data = ui.read(lambda ctx: _compare_page(ctx, name, numbers), viewer)
        return ui.render(request, "model_compare.html", viewer, **data)

    @r.get("/models/{name}/versions/{version}/files", name="ui_model_version_file")
    def download(
        request: Request, name: str, version: str, path: str = Query(..., max_length=4096)
    ) -> StreamingResponse:
        viewer = ui.viewer(request)
        name = checked_model_name(name)
        number = checked_version(version, "model version")
        clean = clean_relative_path(path)
        handle = ui.read(lambda ctx: open_model_file(ctx, name, number, clean), viewer)
        return attachment(handle, clean)

    return r
