"""Monitors: created with their reference computed once, read, listed and deleted."""

from __future__ import annotations

from typing import Any

import orjson
from sqlalchemy import delete, select

from mloop.core.errors import ValidationError
from mloop.core.naming import check_asset_name, decode_page_token, encode_page_token
from mloop.core.operations import Empty
from mloop.core.timeutil import now_ms
from mloop.core.validation import check_text
from mloop.monitoring import tables as t
from mloop.monitoring.columns import signature_columns
from mloop.monitoring.ops import operations
from mloop.monitoring.schemas import (
    BASE_COLUMNS,
    MAX_DESCRIPTION,
    OUTPUT_COLUMNS,
    ColumnKind,
    CreateMonitor,
    ListMonitors,
    Monitor,
    MonitorList,
    MonitorName,
    Reference,
)
from mloop.monitoring.targets import target_kind
from mloop.serving.endpoints import load_endpoint_row
from mloop.store.assets import AssetRows
from mloop.store.context import Context


def check_monitor_name(value: object, field: str = "name") -> str:
    """A monitor name: letters, digits and ``_ . -``, starting with a letter or digit."""
    return check_asset_name(value, field, what="monitor name")


# Monitors are named assets (unique in any case); their computed windows are the rows the
# create/load/touch helpers used here never read as versions.
MONITORS = AssetRows(t.monitors, t.monitor_windows, noun="monitor", check_name=check_monitor_name)


def _check_spec(spec: CreateMonitor) -> None:
    ref = spec.reference
    needs = {
        "dataset": ("dataset",),
        "window": ("since", "until"),
        "rolling": ("windows",),
    }[ref.kind]
    for name in needs:
        if getattr(ref, name) is None:
            raise ValidationError(
                f"a {ref.kind} reference needs reference.{name}", field=f"reference.{name}"
            )
    if spec.gateway is not None and ref.kind == "dataset":
        raise ValidationError(
            "a gateway monitor compares its windows with its own call log: use a window "
            "reference (a stretch of calls) or a rolling one",
            field="reference.kind",
        )
    if spec.gateway is not None and spec.fairness is not None:
        raise ValidationError(
            "a gateway monitor has no predictions to audit for bias: watch the attribute "
            "(a metadata key) as a column to see its drift instead",
            field="fairness",
        )
    _check_scored(ref)
    if ref.kind == "window" and (ref.until or 0) <= (ref.since or 0):
        raise ValidationError(
            "reference.until must be after reference.since", field="reference.until"
        )
    for i, variant in enumerate(spec.variants or []):
        check_asset_name(variant, f"variants[{i}]", what="variant name")
    if ref.dataset is not None:
        check_asset_name(ref.dataset, "reference.dataset", what="dataset name")
    if spec.dataset is not None:
        check_asset_name(spec.dataset.name, "dataset.name", what="dataset name")
    reserved = set(BASE_COLUMNS) | set(OUTPUT_COLUMNS)
    for name in spec.columns or {}:
        if name in reserved or not name or "\x00" in name:
            raise ValidationError(
                f"column {name!r} cannot be watched: the name is empty, has NUL, or is a "
                "window column's",
                field=f"columns.{name}",
            )
    for part, values in (("methods", spec.drift.methods), ("thresholds", spec.drift.thresholds)):
        for name in values:
            if (
                spec.columns is not None
                and name not in spec.columns
                and name not in ("prediction", "confidence")
            ):
                raise ValidationError(
                    f"drift.{part} names {name!r}, which the monitor does not watch",
                    field=f"drift.{part}.{name}",
                )


def _check_scored(ref: Reference) -> None:
    """The three fields come together, with as many probability columns as classes."""
    given = [ref.label_column, ref.classes, ref.probability_columns]
    if all(v is None for v in given):
        return
    if ref.kind != "dataset" or ref.profile:
        raise ValidationError(
            "label_column, classes and probability_columns describe a scored dataset "
            "reference read row by row: use them with kind dataset, without profile",
            field="reference.label_column",
        )
    if any(v is None for v in given):
        raise ValidationError(
            "a scored reference needs label_column, classes and probability_columns together",
            field="reference.label_column",
        )
    assert ref.classes is not None and ref.probability_columns is not None
    if len(ref.classes) != len(ref.probability_columns):
        raise ValidationError(
            f"{len(ref.classes)} classes but {len(ref.probability_columns)} probability "
            "columns: give one probability column per class, in the same order",
            field="reference.probability_columns",
        )
    if len({orjson.dumps(c) for c in ref.classes}) != len(ref.classes):
        raise ValidationError("reference.classes has a class twice", field="reference.classes")


def monitor_spec(row: Any) -> CreateMonitor:
    return CreateMonitor.model_validate_json(row.spec_json)


def monitor_message(row: Any) -> Monitor:
    spec = monitor_spec(row)
    return Monitor(
        **spec.model_dump(),
        target=target_kind(spec),
        created_by=row.created_by or "",
        creation_time=row.creation_time,
        reference_summary_time=row.reference_time,
        reference_rows=row.reference_rows,
        last_window_end=row.last_window_end,
    )


def load_monitor_row(ctx: Context, name: str, *, lock: bool = False) -> Any:
    """The monitor's row; NotFoundError names it."""
    return MONITORS.load(ctx, name, lock=lock)


def _target(ctx: Context, req: CreateMonitor) -> tuple[CreateMonitor, dict[str, ColumnKind]]:
    """The request with its target's stored names and its watched columns."""
    named = [t for t in (req.endpoint, req.dataset, req.gateway) if t is not None]
    if len(named) != 1:
        raise ValidationError(
            "name what the monitor watches: exactly one of endpoint (its inference log), "
            "dataset (a registered dataset, by event time) and gateway (the LLM gateway's "
            "call log)",
            field="endpoint",
        )
    if req.gateway is not None:
        from mloop.monitoring.gateway_windows import gateway_columns

        return req, gateway_columns(req.columns)
    if req.dataset is not None:
        from mloop.monitoring.dataset_windows import dataset_columns, resolve_version

        name, _ = resolve_version(ctx, req.dataset)
        target = req.dataset.model_copy(update={"name": name})
        spec = req.model_copy(update={"dataset": target})
        found = dict(req.columns) if req.columns else dataset_columns(ctx, target)
        return spec, found  # type: ignore[return-value]
    assert req.endpoint is not None
    endpoint = load_endpoint_row(ctx, req.endpoint).name
    columns = dict(req.columns) if req.columns else signature_columns(ctx, endpoint)
    return req.model_copy(update={"endpoint": endpoint}), columns


def _pinned(ctx: Context, spec: CreateMonitor) -> CreateMonitor:
    """A dataset reference pinned to the version it is computed from."""
    ref = spec.reference
    if ref.kind != "dataset" or ref.version is not None:
        return spec
    from mloop.datasets.schemas import GetDatasetVersion
    from mloop.datasets.versions import get_dataset_version

    assert ref.dataset is not None
    found = get_dataset_version(
        ctx, GetDatasetVersion(name=ref.dataset, version=None, include_profile=False)
    )
    pinned = ref.model_copy(update={"dataset": found.name, "version": found.version})
    return spec.model_copy(update={"reference": pinned})


@operations.post("/monitors/create", CreateMonitor, Monitor)
def create_monitor(ctx: Context, req: CreateMonitor) -> Monitor:
    """Create a monitor of an endpoint, a dataset or the gateway and compute its reference
    (a dataset version, pinned, or a window; a rolling reference is built by the windows
    themselves)."""
    _check_spec(req)
    spec, columns = _target(ctx, req)
    description = check_text(req.description or "", "description", max_length=MAX_DESCRIPTION)
    spec = _pinned(ctx, spec).model_copy(update={"columns": columns, "description": description})
    if spec.contract is not None:
        from mloop.monitoring.window_contracts import check_watched, resolve_contract

        contract = resolve_contract(ctx, spec.contract)
        check_watched(contract, columns)
        spec = spec.model_copy(update={"contract": contract})
    from mloop.monitoring.references import build_reference  # pyarrow: when used

    reference = build_reference(ctx, spec, columns)
    MONITORS.create(
        ctx,
        check_monitor_name(req.name),
        description=description,
        endpoint=spec.endpoint,
        dataset=None if spec.dataset is None else spec.dataset.name,
        spec_json=spec.model_dump_json(),
        created_by=ctx.actor,
        reference_json=None if reference is None else reference.to_json(),
        reference_time=None if reference is None else now_ms(),
        reference_rows=None if reference is None else reference.summary.rows,
    )
    return monitor_message(load_monitor_row(ctx, req.name))


@operations.get("/monitors/get", MonitorName, Monitor, quick=True)
def get_monitor(ctx: Context, req: MonitorName) -> Monitor:
    """A monitor's specification and where its schedule stands."""
    return monitor_message(load_monitor_row(ctx, req.name))


@operations.get("/monitors/list", ListMonitors, MonitorList)
def list_monitors(ctx: Context, req: ListMonitors) -> MonitorList:
    """Monitors by name, optionally of one endpoint, one dataset or one kind of target."""
    offset = decode_page_token(req.page_token)
    query = select(t.monitors).order_by(t.monitors.c.name)
    if req.endpoint is not None:
        endpoint = check_asset_name(req.endpoint, "endpoint", what="endpoint name")
        query = query.where(t.monitors.c.endpoint == endpoint)
    if req.dataset is not None:
        dataset = check_asset_name(req.dataset, "dataset", what="dataset name")
        query = query.where(t.monitors.c.dataset == dataset)
    if req.target is not None:
        # A gateway monitor is the one that names neither an endpoint nor a dataset.
        endpoint_c, dataset_c = t.monitors.c.endpoint, t.monitors.c.dataset
        query = query.where(
            {
                "endpoint": endpoint_c.is_not(None),
                "dataset": dataset_c.is_not(None),
                "gateway": endpoint_c.is_(None) & dataset_c.is_(None),
            }[req.target]
        )
    rows = list(ctx.conn.execute(query.limit(req.max_results + 1).offset(offset)))
    token = encode_page_token(offset + req.max_results) if len(rows) > req.max_results else None
    return MonitorList(
        monitors=[monitor_message(r) for r in rows[: req.max_results]], next_page_token=token
    )


@operations.post("/monitors/delete", MonitorName, Empty, role="admin")
def delete_monitor(ctx: Context, req: MonitorName) -> Empty:
    """Delete a monitor and its computed windows (alerts it raised stay in their history)."""
    row = load_monitor_row(ctx, req.name, lock=True)
    ctx.conn.execute(delete(t.monitor_windows).where(t.monitor_windows.c.monitor == row.name))
    ctx.conn.execute(delete(t.monitors).where(t.monitors.c.name == row.name))
    return Empty()


def reference_metrics(row: Any) -> dict[str, float | None] | None:
    """The stored reference's metric values (a window reference's), or None."""
    if not row.reference_json:
        return None
    metrics = orjson.loads(row.reference_json).get("metrics")
    return metrics if isinstance(metrics, dict) else None
