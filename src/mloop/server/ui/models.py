"""Registry pages: registered models, one model's versions and alias history, one version."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse

from mloop.core.errors import ValidationError
from mloop.registry.aliases import get_alias_history
from mloop.registry.checks import check_model_name
from mloop.registry.files import list_model_version_files
from mloop.registry.models import get_registered_model, list_registered_models
from mloop.registry.schemas import (
    GetAliasHistory,
    ListModelVersions,
    ListRegisteredModels,
    ModelName,
    ModelVersionRef,
    RegisteredModelList,
)
from mloop.registry.versions import get_model_version, list_model_versions
from mloop.server.ui.core import UI
from mloop.server.ui.params import checked_name, checked_version
from mloop.store.context import Context
from mloop.tracking.runs import load_runs

MODELS_PER_PAGE = 100
VERSIONS_PER_PAGE = 200
MAX_HISTORY = 1000


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


def _version_page(ctx: Context, name: str, version: int) -> dict[str, Any]:
    model = get_registered_model(ctx, ModelName(name=name))
    found = get_model_version(ctx, ModelVersionRef(name=name, version=version))
    files = list_model_version_files(ctx, ModelVersionRef(name=name, version=version)).files
    history = get_alias_history(ctx, GetAliasHistory(name=name, max_results=MAX_HISTORY))
    return {
        "model": model,
        "mv": found,
        "files": files,
        "run_names": _run_names(ctx, [found.run_id or ""]),
        "history": [
            e for e in reversed(history.entries) if version in (e.from_version, e.to_version)
        ],
    }


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

    return r
