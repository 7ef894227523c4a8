"""MLflow 3 logged models as other pages show them: the links to their pages, a run's
logged, read and produced models, the logged model a model version was registered from,
and the versions registered from a logged model.

Logged models belong to the MLflow layer (``mloop.compat.mlflow``); this module only reads
its tables, so the run page and the model-version page can point at them ("where did this
come from", both ways) without importing the logged-model pages.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select

from mloop.compat.mlflow import tables as t
from mloop.compat.mlflow.logged_models import MODELS_FOLDER
from mloop.compat.mlflow.run_models import model_links
from mloop.store.context import Context

MODEL_ID = re.compile(r"^m-[0-9a-f]{32}$")
_SOURCE = re.compile(r"^models:/(m-[0-9a-f]{32})/?$")
VERSIONS_TAG = "mlflow.modelVersions"
MAX_RUN_MODELS = 200  # models one run page lists per kind of link

# Status -> (short label, badge class).
STATUS_BADGES = {
    "LOGGED_MODEL_READY": ("ready", "pass"),
    "LOGGED_MODEL_PENDING": ("pending", "warn"),
    "LOGGED_MODEL_UPLOAD_FAILED": ("upload failed", "fail"),
}


# -- reads ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class ModelRef:
    """A logged model a page links to; ``name`` and ``status`` are None when the id names
    no model mloop holds (MLflow links runs to model ids unchecked)."""

    model_id: str
    name: str | None
    status: str | None
    deleted: bool = False
    step: int | None = None


def in_run_layout(row: Any) -> bool:
    """Whether a model's files sit in its run's artifacts (not a folder of its own)."""
    return not str(row.storage_path).endswith(f"/{MODELS_FOLDER}/{row.model_id}/artifacts")


def registered_versions(tags: dict[str, str]) -> list[tuple[str, int]]:
    """(name, version) of each version registered from a model, from its
    ``mlflow.modelVersions`` tag; a malformed tag (any client may set it) gives none."""
    try:
        found = json.loads(tags.get(VERSIONS_TAG) or "[]")
    except ValueError:
        return []
    out: list[tuple[str, int]] = []
    if not isinstance(found, list):
        return out
    for item in found:
        if not isinstance(item, dict) or not isinstance(item.get("name"), str):
            continue
        version = item.get("version")
        if isinstance(version, str) and version.isdigit() and len(version) <= 9:
            version = int(version)
        if isinstance(version, int) and not isinstance(version, bool) and version > 0:
            out.append((item["name"], version))
    return out


def _refs(ctx: Context, pairs: list[tuple[str, int | None]]) -> list[ModelRef]:
    ids = sorted({m for m, _ in pairs})
    c = t.logged_models.c
    rows = {
        r.model_id: r
        for r in ctx.conn.execute(
            select(c.model_id, c.name, c.status, c.lifecycle_stage).where(c.model_id.in_(ids))
        )
    }
    out = []
    for model_id, step in pairs:
        row = rows.get(model_id)
        out.append(
            ModelRef(
                model_id=model_id,
                name=row.name if row else None,
                status=row.status if row else None,
                deleted=bool(row and row.lifecycle_stage != "active"),
                step=step,
            )
        )
    return out


def run_logged_models(ctx: Context, run_id: str) -> dict[str, list[ModelRef]]:
    """The models a run logged (their source run), read (inputs) and produced (outputs)."""
    c = t.logged_models.c
    logged = ctx.conn.execute(
        select(c.model_id)
        .where(c.run_id == run_id, c.lifecycle_stage == "active")
        .order_by(c.creation_time, c.model_id)
        .limit(MAX_RUN_MODELS)
    ).scalars()
    links = model_links(ctx, [run_id]).get(run_id)
    inputs = list(dict.fromkeys(links.inputs))[:MAX_RUN_MODELS] if links else []
    outputs = list(dict.fromkeys(links.outputs))[:MAX_RUN_MODELS] if links else []
    return {
        "logged": _refs(ctx, [(m, None) for m in logged]),
        "inputs": _refs(ctx, [(m, None) for m in inputs]),
        "outputs": _refs(ctx, outputs),
    }


def source_logged_model(ctx: Context, source: str) -> ModelRef | None:
    """The logged model a version's ``models:/m-...`` source names, if mloop holds it."""
    found = _SOURCE.match(source or "")
    if found is None:
        return None
    refs = _refs(ctx, [(found.group(1), None)])
    return refs[0] if refs[0].name is not None else None
