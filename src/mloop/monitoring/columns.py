"""The inputs a monitor watches by default: the live model's signature."""

from __future__ import annotations

from typing import Any

from mloop.core.errors import ValidationError
from mloop.monitoring.schemas import ColumnKind
from mloop.registry.schemas import ModelVersionRef
from mloop.registry.versions import get_model_version
from mloop.serving.deployments import current_deployment
from mloop.store.context import Context


def kind_of(dtype: str) -> ColumnKind:
    """A signature dtype's kind: numbers, booleans, and everything else as categories."""
    name = dtype.lower()
    if name.startswith(("float", "int", "uint", "double", "long")):
        return "number"
    if name in ("bool", "boolean"):
        return "bool"
    return "category"


def signature_columns(ctx: Context, endpoint: str) -> dict[str, ColumnKind]:
    """The input columns of the model the endpoint's stable variant serves."""
    live = current_deployment(ctx, endpoint)
    if live is None:
        raise ValidationError(
            f"endpoint {endpoint!r} has no deployment yet, so its inputs are unknown: deploy "
            "a model first or name the columns to watch",
            field="columns",
        )
    stable = next((v for v in live.variants if v.role == "stable"), live.variants[0])
    version = get_model_version(ctx, ModelVersionRef(name=stable.model, version=stable.version))
    inputs: Any = (version.signature or {}).get("inputs") or {}
    columns = inputs.get("columns") if isinstance(inputs, dict) else None
    if not columns:
        raise ValidationError(
            f"models:/{stable.model}/{stable.version} has no signature with named input "
            "columns: name the columns to watch",
            field="columns",
        )
    return {str(c["name"]): kind_of(str(c.get("dtype", ""))) for c in columns if c.get("name")}
