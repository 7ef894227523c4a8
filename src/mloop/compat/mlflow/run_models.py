"""A run's links to MLflow logged models: the models it read and the ones it produced.

``log_inputs(models=...)`` and ``log_outputs`` write them; the run's JSON reads them back
as ``inputs.model_inputs`` and ``outputs.model_outputs``. As in MLflow, the model is not
checked: a link may name a model created later, or by another client.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field

from sqlalchemy import insert, select

from mloop.compat.mlflow import tables as t
from mloop.core.errors import ValidationError
from mloop.store.context import Context
from mloop.tracking.runs import require_active_run

MAX_MODEL_ID_LENGTH = 40  # the column's width; MLflow's ids are "m-" and 32 hex digits


@dataclass
class ModelLinks:
    """One run's links: model ids read, and (model id, step) pairs produced."""

    inputs: list[str] = field(default_factory=list)
    outputs: list[tuple[str, int | None]] = field(default_factory=list)


def record_model_inputs(ctx: Context, run_id: str, model_ids: Sequence[str]) -> None:
    _record(ctx, run_id, [(m, "input", None) for m in model_ids])


def record_model_outputs(
    ctx: Context, run_id: str, outputs: Sequence[tuple[str, int | None]]
) -> None:
    _record(ctx, run_id, [(m, "output", step) for m, step in outputs])


def _record(ctx: Context, run_id: str, links: list[tuple[str, str, int | None]]) -> None:
    for model_id, _direction, _step in links:
        if not model_id or len(model_id) > MAX_MODEL_ID_LENGTH:
            raise ValidationError(
                f"Invalid value {model_id!r} for parameter 'model_id' supplied: it must be a "
                f"logged model id of 1 to {MAX_MODEL_ID_LENGTH} characters",
                field="model_id",
            )
    require_active_run(ctx, run_id)
    if not links:
        return
    ctx.conn.execute(
        insert(t.run_model_links),
        [{"run_id": run_id, "model_id": m, "direction": d, "step": step} for m, d, step in links],
    )


def model_links(ctx: Context, run_ids: Sequence[str]) -> dict[str, ModelLinks]:
    """The links of each run (runs without any are absent), in the order they were logged."""
    found: dict[str, ModelLinks] = defaultdict(ModelLinks)
    if not run_ids:
        return found
    c = t.run_model_links.c
    rows = ctx.conn.execute(
        select(c.run_id, c.model_id, c.direction, c.step)
        .where(c.run_id.in_(list(run_ids)))
        .order_by(c.id)
    )
    for row in rows:
        links = found[row.run_id]
        if row.direction == "input":
            links.inputs.append(row.model_id)
        else:
            links.outputs.append((row.model_id, row.step))
    return found
