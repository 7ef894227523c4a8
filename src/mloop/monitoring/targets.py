"""What a monitor watches, an endpoint's inference log or a dataset by event time, behind
one interface: a window's rows as a stream, and the subject alerts are about."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import TYPE_CHECKING

from mloop.monitoring.schemas import ColumnKind, CreateMonitor
from mloop.store.context import Context
from mloop.store.eventlog.transaction import InTransaction

if TYPE_CHECKING:
    import pyarrow as pa


def subject(spec: CreateMonitor, monitor: str) -> dict[str, str]:
    """The alert subject of a monitor's windows: the monitor and what it watches."""
    if spec.dataset is not None:
        return {"monitor": monitor, "dataset": spec.dataset.name}
    assert spec.endpoint is not None
    return {"monitor": monitor, "endpoint": spec.endpoint}


def described(spec: CreateMonitor) -> str:
    """``endpoint churn`` or ``dataset scores``: for messages."""
    if spec.dataset is not None:
        return f"dataset {spec.dataset.name}"
    return f"endpoint {spec.endpoint}"


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
