"""Retention: deleting an event log's segments by age.

A segment goes when its newest event is older than the cutoff, in three steps: its index
row is marked (``deletion_time``) in one transaction, so readers stop opening it; its file
is deleted; then its row is deleted. A prune that stops anywhere in between (a crash, the
object store down) leaves marked rows that the next prune finishes, and never an index row
that readers use whose file is gone. Pruning again with the same cutoff does nothing.
"""

from __future__ import annotations

import datetime
import logging
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import and_, delete, select, update

from mloop.core.errors import ValidationError
from mloop.core.timeutil import now_ms
from mloop.store.context import Context
from mloop.store.eventlog.segments import check_source
from mloop.store.eventlog.tables import event_log_segments as _segments
from mloop.store.runtime import Runtime

_log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PruneResult:
    segments: int  # segments deleted (files and index rows)
    rows: int  # events they held
    failed: int  # segments whose file could not be deleted (retried by the next prune)


def _cutoff(older_than: datetime.timedelta | datetime.datetime) -> int:
    if isinstance(older_than, datetime.timedelta):
        if older_than < datetime.timedelta(0):
            raise ValidationError("older_than must not be negative", field="older_than")
        return now_ms() - int(older_than.total_seconds() * 1000)
    if isinstance(older_than, datetime.datetime):
        if older_than.tzinfo is None:
            older_than = older_than.replace(tzinfo=datetime.UTC)
        return int(older_than.timestamp() * 1000)
    raise ValidationError(
        "older_than must be a timedelta (an age) or a datetime (a cutoff)", field="older_than"
    )


def prune(
    runtime: Runtime, source: str, older_than: datetime.timedelta | datetime.datetime
) -> PruneResult:
    """Delete the segments of ``source`` whose events are all older than ``older_than``
    (an age, or a cutoff time), and finish any earlier prune that stopped half-way."""
    check_source(source)
    cutoff = _cutoff(older_than)
    marked_at = now_ms()

    def mark(ctx: Context) -> list[tuple[str, str, int]]:
        ctx.conn.execute(
            update(_segments)
            .where(
                and_(
                    _segments.c.source == source,
                    _segments.c.max_time < cutoff,
                    _segments.c.deletion_time.is_(None),
                )
            )
            .values(deletion_time=marked_at)
        )
        rows = ctx.conn.execute(
            select(_segments.c.id, _segments.c.path, _segments.c.row_count).where(
                and_(_segments.c.source == source, _segments.c.deletion_time.is_not(None))
            )
        )
        return [(r.id, r.path, r.row_count) for r in rows]

    marked = runtime.run(mark, write=True, actor="retention")
    gone: list[str] = []
    rows = failed = 0
    for segment_id, path, row_count in marked:
        try:
            runtime.artifacts.remove_tree(path)  # nothing to do when already gone
        except Exception:
            failed += 1
            _log.exception("retention: could not delete %s (the next prune retries)", path)
            continue
        gone.append(segment_id)
        rows += row_count

    def forget(ids: list[str]) -> Callable[[Context], None]:
        def run(ctx: Context) -> None:
            ctx.conn.execute(delete(_segments).where(_segments.c.id.in_(ids)))

        return run

    for start in range(0, len(gone), 500):
        runtime.run(forget(gone[start : start + 500]), write=True, actor="retention")
    return PruneResult(segments=len(gone), rows=rows, failed=failed)
