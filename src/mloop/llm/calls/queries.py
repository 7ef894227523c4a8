"""Read queries over the gateway's call log (``llm_calls``) for the UI and reports.

Recent calls with filters and paging, one call with everything recorded about it, and
aggregates over a time window: totals (of all calls or of a filter's, such as one prompt
version's), per day (optionally per route, model or token), latency percentiles per route
and per day, and what the log says about each target of each route.

Definitions the pages rely on:

* an *error* is a call with status ``error``; a call a guardrail refused is ``blocked`` and
  counted apart;
* the *cache hit rate* is hits (``exact`` or ``semantic``) over lookups (hits and ``miss``):
  calls that bypassed the cache or had it off are not lookups;
* latency percentiles are nearest-rank: the p-th percentile of n values is the value at
  rank ceil(p * n) in ascending order;
* the text filter matches a substring, ignoring case (ASCII letters only on SQLite), of the
  call's id, route, models, provider, prompt, token, project, error and captured request
  and response.

The SQL is portable between SQLite and PostgreSQL: days are the integer division of the
millisecond timestamp by 86,400,000 (UTC days), percentiles are read with ORDER BY / OFFSET.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import orjson
import sqlalchemy as sa

from mloop.llm.calls.tables import llm_calls
from mloop.store.context import Context

DAY_MS = 86_400_000
STATUSES = ("ok", "error", "blocked")
CACHE_STATES = ("miss", "exact", "semantic", "bypass", "off")
CACHE_HITS = ("exact", "semantic")
CACHE_LOOKUPS = ("miss", "exact", "semantic")
GROUPS = ("route", "model", "token")
# Filter values naming the empty cases: route names and token names cannot start with "(".
DIRECT = "(direct)"  # a call that named a provider model instead of a route
NO_TOKEN = "(no token)"  # a call made without a token (authentication off)
MAX_PERCENTILE_ROUTES = 100
MAX_FAILED_CALLS_READ = 5000  # calls whose attempts are read for per-target failures

_c = llm_calls.c
_DAY = (_c.time // sa.literal_column(str(DAY_MS), sa.BigInteger)).label("day")

_SUMMARY_COLUMNS = (
    _c.id,
    _c.time,
    _c.endpoint,
    _c.route,
    _c.provider,
    _c.model,
    _c.requested_model,
    _c.prompt_name,
    _c.prompt_version,
    _c.token_name,
    _c.project,
    _c.status,
    _c.error_code,
    _c.error_message,
    _c.http_status,
    _c.stream,
    _c.input_tokens,
    _c.output_tokens,
    _c.cost_usd,
    _c.cache,
    _c.saved_usd,
    _c.latency_ms,
    _c.ttft_ms,
    _c.retries,
    _c.fallbacks,
    _c.guardrails_json,
)


# -- filters ------------------------------------------------------------------------------------


_TEXT_COLUMNS = (
    _c.id,
    _c.route,
    _c.requested_model,
    _c.provider,
    _c.model,
    _c.prompt_name,
    _c.token_name,
    _c.project,
    _c.error_code,
    _c.error_message,
    _c.request_json,
    _c.response_json,
)


def _like_pattern(text: str) -> str:
    """A LIKE pattern (escape character ``\\``) matching ``text`` anywhere, lower-cased."""
    escaped = text.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


@dataclass(frozen=True)
class CallFilter:
    """Which calls to read; None means any. ``since`` is inclusive, ``until`` exclusive.
    ``prompt_version`` narrows ``prompt`` (a prompt name) to one version."""

    route: str | None = None  # a route name, or DIRECT
    status: str | None = None
    cache: str | None = None
    token: str | None = None  # a token name, or NO_TOKEN
    since: int | None = None
    until: int | None = None
    prompt: str | None = None
    prompt_version: int | None = None
    text: str | None = None

    @property
    def active(self) -> bool:
        """Whether any filter is set."""
        return any(v is not None for v in self.__dict__.values())

    def where(self) -> list[sa.ColumnElement[bool]]:
        out: list[sa.ColumnElement[bool]] = []
        if self.prompt is not None:
            out.append(_c.prompt_name == self.prompt)
            if self.prompt_version is not None:
                out.append(_c.prompt_version == self.prompt_version)
        if self.text:
            pattern = _like_pattern(self.text)
            out.append(
                sa.or_(*(sa.func.lower(col).like(pattern, escape="\\") for col in _TEXT_COLUMNS))
            )
        if self.route is not None:
            out.append(_c.route.is_(None) if self.route == DIRECT else _c.route == self.route)
        if self.status is not None:
            out.append(_c.status == self.status)
        if self.cache is not None:
            out.append(_c.cache == self.cache)
        if self.token is not None:
            out.append(_c.token_name == ("" if self.token == NO_TOKEN else self.token))
        if self.since is not None:
            out.append(_c.time >= self.since)
        if self.until is not None:
            out.append(_c.time < self.until)
        return out


# -- calls --------------------------------------------------------------------------------------


@dataclass
class CallSummary:
    """A call as the list shows it (no captured content)."""

    id: str
    time: int
    endpoint: str
    route: str | None
    provider: str | None
    model: str | None
    requested_model: str
    prompt_name: str | None
    prompt_version: int | None
    token_name: str
    project: str
    status: str
    error_code: str | None
    error_message: str | None
    http_status: int
    stream: bool
    input_tokens: int
    output_tokens: int
    cost_usd: float
    cache: str
    saved_usd: float
    latency_ms: float
    ttft_ms: float | None
    retries: int
    fallbacks: int
    guardrails: list[dict[str, Any]] = field(default_factory=list)

    @property
    def triggered_guardrails(self) -> list[dict[str, Any]]:
        """The decisions that fired (or failed and were treated as fired)."""
        return [g for g in self.guardrails if g.get("triggered") or g.get("error")]


@dataclass
class CallDetail(CallSummary):
    """A call with its attempts, captured content and metadata."""

    cached_input_tokens: int = 0
    cache_write_tokens: int = 0
    cost_exact: str = "0"
    attempts: list[dict[str, Any]] = field(default_factory=list)
    capture: str = "none"
    request: Any = None
    response: Any = None
    metadata: dict[str, Any] = field(default_factory=dict)


def _loads(text: str | None, default: Any) -> Any:
    """Stored JSON, or ``default`` when there is none or it does not parse."""
    if text is None:
        return default
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:
        return default


def _dicts(value: Any) -> list[dict[str, Any]]:
    return [v for v in value if isinstance(v, dict)] if isinstance(value, list) else []


def _summary_fields(row: sa.RowMapping) -> dict[str, Any]:
    values = {k: v for k, v in dict(row).items() if k != "guardrails_json"}
    values["stream"] = bool(values["stream"])
    values["guardrails"] = _dicts(_loads(row["guardrails_json"], []))
    return values


def list_calls(
    ctx: Context, flt: CallFilter, *, limit: int = 50, offset: int = 0
) -> tuple[list[CallSummary], bool]:
    """Calls matching ``flt``, newest first, and whether more follow this page."""
    query = (
        sa.select(*_SUMMARY_COLUMNS)
        .where(*flt.where())
        .order_by(_c.time.desc(), _c.id.desc())
        .limit(limit + 1)
        .offset(offset)
    )
    rows = ctx.conn.execute(query).mappings().all()
    calls = [CallSummary(**_summary_fields(r)) for r in rows[:limit]]
    return calls, len(rows) > limit


def get_call(ctx: Context, call_id: str) -> CallDetail | None:
    """One call by id, or None."""
    row = ctx.conn.execute(sa.select(llm_calls).where(_c.id == call_id)).mappings().first()
    if row is None:
        return None
    values = _summary_fields(row)
    for name in ("attempts_json", "request_json", "response_json", "metadata_json"):
        values.pop(name)
    metadata = _loads(row["metadata_json"], {})
    return CallDetail(
        **values,
        attempts=_dicts(_loads(row["attempts_json"], [])),
        request=_loads(row["request_json"], row["request_json"]),
        response=_loads(row["response_json"], row["response_json"]),
        metadata=metadata if isinstance(metadata, dict) else {},
    )


def distinct_values(ctx: Context, column: str, *, since: int, limit: int = 200) -> list[str]:
    """The routes (``route``) or token names (``token``) seen since ``since``, sorted; the
    empty cases as DIRECT and NO_TOKEN."""
    col = _c.route if column == "route" else _c.token_name
    rows = ctx.conn.execute(
        sa.select(col).where(_c.time >= since).group_by(col).order_by(col).limit(limit)
    ).all()
    empty = DIRECT if column == "route" else NO_TOKEN
    return sorted({empty if not r[0] else str(r[0]) for r in rows})


# -- aggregates ---------------------------------------------------------------------------------


@dataclass
class Aggregate:
    """Counts and sums over a set of calls."""

    requests: int = 0
    errors: int = 0
    blocked: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    cost_usd: float = 0.0
    saved_usd: float = 0.0
    cache_hits: int = 0
    cache_lookups: int = 0

    @property
    def error_rate(self) -> float | None:
        return self.errors / self.requests if self.requests else None

    @property
    def hit_rate(self) -> float | None:
        return self.cache_hits / self.cache_lookups if self.cache_lookups else None


@dataclass
class Totals(Aggregate):
    """A window's aggregate with its latency percentiles (ms; None without calls)."""

    p50_ms: float | None = None
    p95_ms: float | None = None


@dataclass
class DailyRow(Aggregate):
    """One UTC day (days since the epoch) of one key (a route, model or token; None when
    not grouped)."""

    day: int = 0
    key: str | None = None


@dataclass
class RouteStats(Aggregate):
    """A route's aggregate over a window with its latency percentiles."""

    route: str = DIRECT
    p50_ms: float | None = None
    p95_ms: float | None = None


def _count_if(condition: sa.ColumnElement[bool]) -> sa.ColumnElement[Any]:
    return sa.func.coalesce(sa.func.sum(sa.case((condition, 1), else_=0)), 0)


_AGGREGATES = (
    sa.func.count().label("requests"),
    _count_if(_c.status == "error").label("errors"),
    _count_if(_c.status == "blocked").label("blocked"),
    sa.func.coalesce(sa.func.sum(_c.input_tokens), 0).label("input_tokens"),
    sa.func.coalesce(sa.func.sum(_c.output_tokens), 0).label("output_tokens"),
    sa.func.coalesce(sa.func.sum(_c.cost_usd), 0.0).label("cost_usd"),
    sa.func.coalesce(sa.func.sum(_c.saved_usd), 0.0).label("saved_usd"),
    _count_if(_c.cache.in_(CACHE_HITS)).label("cache_hits"),
    _count_if(_c.cache.in_(CACHE_LOOKUPS)).label("cache_lookups"),
)
_INT_FIELDS = ("requests", "errors", "blocked", "input_tokens", "output_tokens")
_COUNT_FIELDS = (*_INT_FIELDS, "cache_hits", "cache_lookups")


def _aggregate_fields(row: sa.RowMapping) -> dict[str, Any]:
    # PostgreSQL sums integers as NUMERIC (Decimal): normalise to int and float.
    out: dict[str, Any] = {name: int(row[name] or 0) for name in _COUNT_FIELDS}
    out["cost_usd"] = float(row["cost_usd"] or 0.0)
    out["saved_usd"] = float(row["saved_usd"] or 0.0)
    return out


def _window(since: int, until: int) -> list[sa.ColumnElement[bool]]:
    return [_c.time >= since, _c.time < until]


def _percentile(
    ctx: Context, where: list[sa.ColumnElement[bool]], count: int, p: float
) -> float | None:
    """The nearest-rank ``p`` percentile of the latency of ``count`` calls matching ``where``."""
    if count <= 0:
        return None
    rank = max(math.ceil(p * count), 1)
    value = ctx.conn.execute(
        sa.select(_c.latency_ms).where(*where).order_by(_c.latency_ms).limit(1).offset(rank - 1)
    ).scalar()
    return None if value is None else float(value)


def totals(ctx: Context, since: int, until: int, flt: CallFilter | None = None) -> Totals:
    """Everything between ``since`` (inclusive) and ``until`` (exclusive), or what of it
    ``flt`` keeps, in one aggregate."""
    where = _window(since, until) + (flt.where() if flt is not None else [])
    row = ctx.conn.execute(sa.select(*_AGGREGATES).where(*where)).mappings().one()
    out = Totals(**_aggregate_fields(row))
    out.p50_ms = _percentile(ctx, where, out.requests, 0.5)
    out.p95_ms = _percentile(ctx, where, out.requests, 0.95)
    return out


def _group_columns(by: str | None) -> list[sa.ColumnElement[Any]]:
    if by is None:
        return []
    if by == "route":
        return [_c.route]
    if by == "model":
        return [_c.provider, _c.model]
    if by == "token":
        return [_c.token_name]
    raise ValueError(f"by must be one of {', '.join(GROUPS)} or None, got {by!r}")


def group_key(by: str, row: sa.RowMapping | dict[str, Any]) -> str:
    """The label of a group: the route (DIRECT for none), ``provider/model`` (the requested
    model when no provider answered) or the token name (NO_TOKEN for none)."""
    if by == "route":
        return str(row["route"]) if row["route"] else DIRECT
    if by == "model":
        if row["model"]:
            return f"{row['provider']}/{row['model']}" if row["provider"] else str(row["model"])
        return "(no model)"
    return str(row["token_name"]) if row["token_name"] else NO_TOKEN


def daily(ctx: Context, since: int, until: int, by: str | None = None) -> list[DailyRow]:
    """Per UTC day in the window (and per route, model or token when ``by`` says so),
    ordered by day; days without calls are absent."""
    groups = _group_columns(by)
    query = (
        sa.select(_DAY, *groups, *_AGGREGATES)
        .where(*_window(since, until))
        .group_by(_DAY, *groups)
        .order_by(_DAY)
    )
    out = []
    for row in ctx.conn.execute(query).mappings():
        key = group_key(by, row) if by is not None else None
        out.append(DailyRow(day=int(row["day"]), key=key, **_aggregate_fields(row)))
    if by == "model":
        out = _merge_same_keys(out)  # (None, m) and ("", m) both read "m"
    return out


def _merge_same_keys(rows: list[DailyRow]) -> list[DailyRow]:
    merged: dict[tuple[int, str | None], DailyRow] = {}
    for row in rows:
        into = merged.get((row.day, row.key))
        if into is None:
            merged[(row.day, row.key)] = row
            continue
        for name in (*_COUNT_FIELDS, "cost_usd", "saved_usd"):
            setattr(into, name, getattr(into, name) + getattr(row, name))
    return list(merged.values())


def route_stats(ctx: Context, since: int, until: int) -> dict[str, RouteStats]:
    """Per route (DIRECT for calls that named a provider model) over the window, with the
    latency percentiles of the :data:`MAX_PERCENTILE_ROUTES` busiest routes."""
    where = _window(since, until)
    query = sa.select(_c.route, *_AGGREGATES).where(*where).group_by(_c.route)
    stats: dict[str, RouteStats] = {}
    for row in ctx.conn.execute(query).mappings():
        name = str(row["route"]) if row["route"] else DIRECT
        stats[name] = RouteStats(route=name, **_aggregate_fields(row))
    busiest = sorted(stats.values(), key=lambda s: -s.requests)[:MAX_PERCENTILE_ROUTES]
    for s in busiest:
        route_where = [
            *where,
            _c.route.is_(None) if s.route == DIRECT else _c.route == s.route,
        ]
        s.p50_ms = _percentile(ctx, route_where, s.requests, 0.5)
        s.p95_ms = _percentile(ctx, route_where, s.requests, 0.95)
    return stats


def daily_latency(
    ctx: Context, since: int, until: int
) -> list[tuple[int, float | None, float | None]]:
    """The nearest-rank p50 and p95 latency (ms) per UTC day of the window: ``(day, p50,
    p95)`` ordered by day; days without calls are absent. One query: each call's rank
    within its day, keeping the ranks ceil(n / 2) and ceil(95 n / 100), in integers."""
    ranked = (
        sa.select(
            _DAY,
            _c.latency_ms,
            sa.func.row_number()
            .over(partition_by=_DAY, order_by=(_c.latency_ms, _c.id))
            .label("rank"),
            sa.func.count().over(partition_by=_DAY).label("n"),
        )
        .where(*_window(since, until))
        .subquery()
    )
    n = ranked.c.n
    p50_rank = (n + 1) // 2
    p95_rank = (n * 95 + 99) // 100
    rows = ctx.conn.execute(
        sa.select(
            ranked.c.day,
            ranked.c.latency_ms,
            ranked.c.rank == p50_rank,
            ranked.c.rank == p95_rank,
        ).where(sa.or_(ranked.c.rank == p50_rank, ranked.c.rank == p95_rank))
    ).all()
    found: dict[int, list[float | None]] = {}
    for day, latency, is_p50, is_p95 in rows:
        entry = found.setdefault(int(day), [None, None])
        if is_p50:
            entry[0] = float(latency)
        if is_p95:
            entry[1] = float(latency)
    return [(day, p50, p95) for day, (p50, p95) in sorted(found.items())]


@dataclass
class TargetStats:
    """What the call log says about one target (provider and model) of one route over a
    window: the calls it answered and its failed attempts, with the time of the latest of
    each (ms) and the latest failure's message."""

    answered: int = 0
    failed: int = 0
    last_answer: int | None = None
    last_failure: int | None = None
    last_error: str = ""

    @property
    def last_failed(self) -> bool:
        """Whether the target's latest recorded attempt failed."""
        if self.last_failure is None:
            return False
        return self.last_answer is None or self.last_failure > self.last_answer


def target_stats(ctx: Context, since: int, until: int) -> dict[tuple[str, str, str], TargetStats]:
    """Per ``(route, provider, model)`` (route DIRECT for calls that named a provider
    model): calls answered, from the call's own columns, and failed attempts, from the
    attempts of the calls that retried, fell back or failed (the newest
    :data:`MAX_FAILED_CALLS_READ` of them; other calls had no failed attempt)."""
    where = _window(since, until)
    out: dict[tuple[str, str, str], TargetStats] = {}

    def entry(route: str | None, provider: str, model: str) -> TargetStats:
        return out.setdefault((route or DIRECT, provider, model), TargetStats())

    answered = (
        sa.select(_c.route, _c.provider, _c.model, sa.func.count(), sa.func.max(_c.time))
        .where(*where, _c.provider.is_not(None), _c.model.is_not(None))
        .group_by(_c.route, _c.provider, _c.model)
    )
    for route, provider, model, count, last in ctx.conn.execute(answered):
        stats = entry(route, str(provider), str(model))
        stats.answered += int(count)
        stats.last_answer = max(int(last), stats.last_answer or 0)
    troubled = (
        sa.select(_c.route, _c.time, _c.attempts_json)
        .where(*where, sa.or_(_c.retries > 0, _c.fallbacks > 0, _c.status == "error"))
        .order_by(_c.time.desc())
        .limit(MAX_FAILED_CALLS_READ)
    )
    for route, when, attempts_json in ctx.conn.execute(troubled):
        for attempt in _dicts(_loads(attempts_json, [])):
            if attempt.get("outcome") == "ok" or not attempt.get("provider"):
                continue
            stats = entry(route, str(attempt["provider"]), str(attempt.get("model") or ""))
            stats.failed += 1
            if stats.last_failure is None or int(when) > stats.last_failure:
                stats.last_failure = int(when)
                stats.last_error = str(attempt.get("message") or attempt.get("outcome") or "")
    return out


def distinct_prompts(ctx: Context, *, since: int, limit: int = 200) -> list[tuple[str, int | None]]:
    """The prompt versions (name, version) that calls since ``since`` used, sorted."""
    rows = ctx.conn.execute(
        sa.select(_c.prompt_name, _c.prompt_version)
        .where(_c.time >= since, _c.prompt_name.is_not(None))
        .group_by(_c.prompt_name, _c.prompt_version)
        .order_by(_c.prompt_name, _c.prompt_version)
        .limit(limit)
    ).all()
    return [(str(name), None if version is None else int(version)) for name, version in rows]
