"""Reads of route rollouts for the web UI: one rollout by id, its events, and what the call
log says about its two sides, per time bucket or over a span.

The candidate's calls are the ones the health rules read (:func:`checks.read_window`): the
route's calls that used the candidate prompt version or went to the candidate target. The
stable side is the rest of what the rollout splits: for a prompt rollout, the route's calls
that used the version the label named at the start; for a target rollout, the route's other
calls. As for the rules, a call the caller made fail (a bad request, a guardrail's block, the
caller's rate limit) is ``invalid``: it counts as a request but not in the error rate or the
latency. Latency percentiles are nearest-rank (the p-th percentile of n calls is the value
at rank ceil(p n)), computed by the database, portable between SQLite and PostgreSQL.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from mloop.core.errors import NotFoundError
from mloop.llm.calls.tables import llm_calls
from mloop.llm.rollouts import tables as t
from mloop.llm.rollouts.checks import _of_candidate
from mloop.llm.rollouts.policy import rollout_message
from mloop.llm.rollouts.schemas import RouteRollout, RouteRolloutEvent
from mloop.store.context import Context

SIDES = ("stable", "candidate")
MAX_EVENTS = 1000

_c = llm_calls.c


@dataclass(frozen=True)
class SideStats:
    """One side's calls over a span: all of them, the failures that count against it,
    the invalid ones (the caller's), and the latency of the served ones (ms)."""

    requests: int
    errors: int
    invalid: int
    p50_ms: float | None
    p99_ms: float | None

    @property
    def served(self) -> int:
        """The calls the side answered or failed on (the rules' denominator)."""
        return self.requests - self.invalid

    @property
    def error_rate(self) -> float | None:
        return self.errors / self.served if self.served else None


@dataclass(frozen=True)
class SideBucket:
    """One side's figures in one time bucket (``start`` in ms since the epoch)."""

    start: int
    side: str
    stats: SideStats


def get_route_rollout(ctx: Context, rollout_id: int, *, lock: bool = False) -> RouteRollout:
    """The rollout ``rollout_id``, locked for the transaction with ``lock`` (PostgreSQL)."""
    r = t.route_rollouts
    query = sa.select(r).where(r.c.id == rollout_id)
    row = ctx.conn.execute(query.with_for_update() if lock else query).first()
    if row is None:
        raise NotFoundError(f"route rollout {rollout_id} does not exist", field="rollout_id")
    return rollout_message(row)


def rollout_events(
    ctx: Context, rollout_id: int, *, limit: int = MAX_EVENTS
) -> list[RouteRolloutEvent]:
    """The rollout's audited events, oldest first (at most ``limit``, the newest)."""
    e = t.route_rollout_events
    rows = ctx.conn.execute(
        sa.select(e).where(e.c.rollout_id == rollout_id).order_by(e.c.id.desc()).limit(limit)
    ).all()
    return [
        RouteRolloutEvent(
            id=x.id,
            route=x.route,
            rollout_id=x.rollout_id,
            kind=x.kind,
            actor=x.actor,
            timestamp=x.timestamp,
            reason=x.reason or "",
            detail=json.loads(x.detail_json or "{}"),
        )
        for x in reversed(rows)
    ]


def _split(rollout: RouteRollout) -> list[sa.ColumnElement[bool]]:
    """The calls the rollout splits between its sides."""
    where: list[sa.ColumnElement[bool]] = [_c.route == rollout.route]
    if rollout.variant_kind == "prompt":
        name = (rollout.prompt or "").partition("@")[0]
        versions = [int(v) for v in (rollout.stable, rollout.candidate) if v.isdigit()]
        where += [_c.prompt_name == name, _c.prompt_version.in_(versions)]
    return where


def _kind() -> sa.ColumnElement[str]:
    """ok, error (the provider's side: a 5xx or no answer) or invalid, as the rules count."""
    failed = (_c.status == "error") & ((_c.http_status >= 500) | (_c.http_status == 0))
    return sa.case((_c.status == "ok", "ok"), (failed, "error"), else_="invalid")


def _figures(
    ctx: Context, rollout: RouteRollout, since: int, until: int, bucket: int | None
) -> dict[tuple[int, str], SideStats]:
    """(bucket start, side) -> figures of the calls between ``since`` (inclusive) and
    ``until`` (exclusive); one bucket (start 0) when ``bucket`` is None."""
    if bucket is None:
        start: sa.ColumnElement[Any] = sa.literal_column("0", sa.BigInteger)
    else:
        size = sa.literal_column(str(int(bucket)), sa.BigInteger)
        start = (_c.time // size) * size
    calls = (
        sa.select(
            start.label("start"),
            sa.case((_of_candidate(rollout), "candidate"), else_="stable").label("side"),
            _kind().label("kind"),
            _c.latency_ms,
            _c.id,
        )
        .where(*_split(rollout), _c.time >= since, _c.time < until)
        .subquery()
    )
    group = (calls.c.start, calls.c.side)
    counts = ctx.conn.execute(
        sa.select(
            *group,
            sa.func.count().label("requests"),
            sa.func.sum(sa.case((calls.c.kind == "error", 1), else_=0)).label("errors"),
            sa.func.sum(sa.case((calls.c.kind == "invalid", 1), else_=0)).label("invalid"),
        ).group_by(*group)
    ).all()
    ranked = (
        sa.select(
            *group,
            calls.c.latency_ms,
            sa.func.row_number()
            .over(partition_by=group, order_by=(calls.c.latency_ms, calls.c.id))
            .label("rank"),
            sa.func.count().over(partition_by=group).label("n"),
        )
        .where(calls.c.kind != "invalid")
        .subquery()
    )
    n = ranked.c.n
    p50_rank, p99_rank = (n + 1) // 2, (n * 99 + 99) // 100
    percentiles: dict[tuple[int, str], list[float | None]] = {}
    for row in ctx.conn.execute(
        sa.select(
            ranked.c.start,
            ranked.c.side,
            ranked.c.latency_ms,
            ranked.c.rank == p50_rank,
            ranked.c.rank == p99_rank,
        ).where(sa.or_(ranked.c.rank == p50_rank, ranked.c.rank == p99_rank))
    ):
        entry = percentiles.setdefault((int(row[0]), str(row[1])), [None, None])
        if row[3]:
            entry[0] = float(row[2])
        if row[4]:
            entry[1] = float(row[2])
    out = {}
    for row in counts:
        key = (int(row.start), str(row.side))
        p50, p99 = percentiles.get(key, [None, None])
        # PostgreSQL sums integers as NUMERIC: normalise.
        out[key] = SideStats(int(row.requests), int(row.errors), int(row.invalid), p50, p99)
    return out


def side_series(
    ctx: Context, rollout: RouteRollout, since: int, until: int, bucket: int
) -> list[SideBucket]:
    """Each side's figures per ``bucket`` ms (buckets start at multiples of it), oldest
    first; buckets where a side had no calls are absent."""
    found = _figures(ctx, rollout, since, until, bucket)
    return [SideBucket(start, side, stats) for (start, side), stats in sorted(found.items())]


def side_totals(
    ctx: Context, rollout: RouteRollout, since: int, until: int
) -> dict[str, SideStats]:
    """Each side's figures over the span; a side without calls is absent."""
    return {side: s for (_, side), s in _figures(ctx, rollout, since, until, None).items()}
