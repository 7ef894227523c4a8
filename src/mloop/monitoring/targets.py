"""What a monitor watches, an endpoint's inference log, a dataset by event time or the LLM
gateway's call log, behind one interface: a window's rows as a stream, what else watches
them pass (call statistics, contract checks), and the subject alerts are about."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import TYPE_CHECKING

from mloop.monitoring.observers import WindowObserver
from mloop.monitoring.schemas import ColumnKind, CreateMonitor, TargetKind
from mloop.store.context import Context
from mloop.store.eventlog.transaction import InTransaction

if TYPE_CHECKING:
    import pyarrow as pa


def target_kind(spec: CreateMonitor) -> TargetKind:
    if spec.dataset is not None:
        return "dataset"
    if spec.gateway is not None:
        return "gateway"
    return "endpoint"


def subject(spec: CreateMonitor, monitor: str) -> dict[str, str]:
    """The alert subject of a monitor's windows: the monitor and what it watches."""
    if spec.dataset is not None:
        return {"monitor": monitor, "dataset": spec.dataset.name}
    if spec.gateway is not None:
        found = {"monitor": monitor, "gateway": spec.gateway.scope()}
        if spec.gateway.route is not None:
            found["route"] = spec.gateway.route
        return found
    assert spec.endpoint is not None
    return {"monitor": monitor, "endpoint": spec.endpoint}


def described(spec: CreateMonitor) -> str:
    """``endpoint churn``, ``dataset scores`` or ``the gateway's calls (route chat)``."""
    if spec.dataset is not None:
        return f"dataset {spec.dataset.name}"
    if spec.gateway is not None:
        return f"the gateway's calls ({spec.gateway.scope()})"
    return f"endpoint {spec.endpoint}"


def window_observers(spec: CreateMonitor) -> list[WindowObserver]:
    """What watches each window of ``spec`` besides drift, quality and outcomes."""
    found: list[WindowObserver] = []
    if spec.gateway is not None:
        from mloop.monitoring.gateway_metrics import CallStats

        found.append(CallStats())
    if spec.contract is not None:
        from mloop.monitoring.window_contracts import ContractChecks

        found.append(ContractChecks(spec.contract))
    return found


@contextmanager
def open_target_window(
    ctx: Context,
    spec: CreateMonitor,
    *,
    since: int,
    until: int,
    columns: Mapping[str, ColumnKind],
) -> Iterator[pa.RecordBatchReader]:
    """The rows of the window ``[since, until)`` of what ``spec`` watches, with labels."""
    if spec.dataset is not None:
        from mloop.monitoring.dataset_windows import open_dataset_window

        with open_dataset_window(
            ctx, spec.dataset, since=since, until=until, features=columns
        ) as rows:
            yield rows
        return
    if spec.gateway is not None:
        from mloop.monitoring.gateway_windows import open_gateway_window

        with open_gateway_window(
            ctx, spec.gateway, since=since, until=until, features=columns
        ) as rows:
            yield rows
        return
    from mloop.monitoring.windows import open_window

    assert spec.endpoint is not None
    with open_window(
        InTransaction(ctx),  # type: ignore[arg-type]
        spec.endpoint,
        since=since,
        until=until,
        features=columns,
        variants=spec.variants,
        labels=True,
    ) as rows:
        yield rows
