"""The run-search language compiled to SQLAlchemy: parsed clauses and order keys to one
``SELECT runs.run_id`` over the tracking tables."""

from __future__ import annotations

import operator
from collections.abc import Callable
from typing import Any

from sqlalchemy import (
    Boolean,
    ColumnElement,
    FromClause,
    Select,
    and_,
    case,
    exists,
    intersect,
    literal,
    select,
    true,
)
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.functions import FunctionElement

from mloop.tracking.search_terms import (
    INTEGER_ATTRIBUTES,
    NULLABLE_ATTRIBUTES,
    NUMERIC_ATTRIBUTES,
    Clause,
    OrderKey,
)
from mloop.tracking.tables import (
    VALUE_PREFIX_LENGTH,
    latest_metrics,
    params,
    runs,
    tags,
    value_prefix,
)

_COMPARE: dict[str, Callable[[Any, Any], Any]] = {
    "=": operator.eq,
    "!=": operator.ne,
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
}


class _CaseSensitiveLike(FunctionElement[bool]):
    """``column LIKE pattern ESCAPE '\\'``, case-sensitive on every database.

    SQLite's LIKE ignores ASCII case, so there the equivalent GLOB pattern is used instead.
    Arguments: column, LIKE pattern, GLOB pattern.
    """

    type = Boolean()
    name = "mloop_case_sensitive_like"
    _is_implicitly_boolean = True
    inherit_cache = True


@compiles(_CaseSensitiveLike)
def _compile_like(element: _CaseSensitiveLike, compiler: SQLCompiler, **kw: Any) -> str:
    column, pattern, _glob = list(element.clauses)
    return compiler.process(column.like(pattern, escape="\\"), **kw)


@compiles(_CaseSensitiveLike, "sqlite")
def _compile_like_sqlite(element: _CaseSensitiveLike, compiler: SQLCompiler, **kw: Any) -> str:
    column, _pattern, glob = list(element.clauses)
    return compiler.process(column.op("GLOB")(glob), **kw)


class _ByteOrder(FunctionElement[Any]):
    """A string compared in byte order when sorting, on every database.

    SQLite's default collation (BINARY) is byte order already. PostgreSQL's default is the
    database's, often a language collation (ICU or ``en_US``) that sorts ``XGBoost`` before
    ``rf`` and ``xgb``; ``COLLATE "C"`` makes it byte order there too (UTF-8 byte order is
    code point order), so a search answers in the same order on both databases.
    """

    name = "mloop_byte_order"
    inherit_cache = True


@compiles(_ByteOrder)
def _compile_byte_order(element: _ByteOrder, compiler: SQLCompiler, **kw: Any) -> str:
    (value,) = list(element.clauses)
    return compiler.process(value, **kw)


@compiles(_ByteOrder, "postgresql")
def _compile_byte_order_pg(element: _ByteOrder, compiler: SQLCompiler, **kw: Any) -> str:
    (value,) = list(element.clauses)
    return compiler.process(value.collate("C"), **kw)


def _like_to_glob(pattern: str) -> str:
    """Translate a LIKE pattern (``%``, ``_``, backslash escape) to a SQLite GLOB pattern."""
    out: list[str] = []
    chars = iter(pattern)
    for char in chars:
        if char == "\\":
            char = next(chars, "\\")
            out.append("[" + char + "]" if char in "*?[" else char)
        elif char == "%":
            out.append("*")
        elif char == "_":
            out.append("?")
        elif char in "*?[":
            out.append("[" + char + "]")
        else:
            out.append(char)
    return "".join(out)


def case_sensitive_like(column: Any, pattern: str) -> ColumnElement[bool]:
    """``column LIKE pattern`` (``%``, ``_``, backslash escape), case-sensitive on every
    database, as MLflow's search languages define LIKE."""
    return _CaseSensitiveLike(column, literal(pattern), literal(_like_to_glob(pattern)))


def _string_condition(column: Any, op: str, value: Any) -> ColumnElement[bool]:
    if op == "LIKE":
        return case_sensitive_like(column, value)
    if op == "ILIKE":
        return column.ilike(value, escape="\\")
    if op == "IN":
        return column.in_(value)
    if op == "NOT IN":
        return column.not_in(value)
    return _COMPARE[op](column, value)


def _numeric_bind(value: float) -> Any:
    """An int where the number is integral (keeps BIGINT indexes usable), else a float."""
    return int(value) if value.is_integer() else literal(value)


def _condition(clause: Clause) -> ColumnElement[bool]:
    """The WHERE condition on ``runs`` for one clause."""
    if clause.kind == "attribute":
        column = runs.c[clause.key]
        if clause.op == "IS NULL":
            return column.is_(None)
        if clause.op == "IS NOT NULL":
            return column.is_not(None)
        if clause.key in INTEGER_ATTRIBUTES:
            value: Any = clause.value
            ids = [int(v) for v in value] if isinstance(value, tuple) else int(str(value))
            return _string_condition(column, clause.op, ids)
        if clause.key in NUMERIC_ATTRIBUTES:
            assert isinstance(clause.value, float)
            return _COMPARE[clause.op](column, _numeric_bind(clause.value))
        return _string_condition(column, clause.op, clause.value)

    table = {"metric": latest_metrics, "param": params, "tag": tags}[clause.kind]
    # IS NULL is the one key clause that is not a set of matching run ids.
    return ~exists().where(table.c.run_id == runs.c.run_id, table.c.key == clause.key)


def _matching_ids(clause: Clause) -> Select[Any]:
    """``SELECT run_id`` of the runs a metric, param or tag clause (not IS NULL) accepts."""
    table = {"metric": latest_metrics, "param": params, "tag": tags}[clause.kind]
    has_key = select(table.c.run_id).where(table.c.key == clause.key)
    if clause.op == "IS NOT NULL":
        return has_key
    if clause.kind == "metric":
        # NaN is stored as NULL, so it never satisfies a comparison.
        assert isinstance(clause.value, float)
        return has_key.where(_COMPARE[clause.op](table.c.value, clause.value))
    # Equality is tested on the indexed prefix of the value (see tables.py). A value shorter
    # than the prefix length equals a stored value exactly when the prefixes are equal, so
    # only longer values need the exact comparison too (which keeps SQLite off the index).
    if clause.op in ("=", "IN"):
        wanted = clause.value if isinstance(clause.value, tuple) else (clause.value,)
        prefixes = sorted({_prefix_of(v) for v in wanted})
        matched = has_key.where(value_prefix(table.c.value).in_(prefixes))
        if any(len(str(v)) >= VALUE_PREFIX_LENGTH for v in wanted):
            matched = matched.where(table.c.value.in_([str(v) for v in wanted]))
        return matched
    return has_key.where(_string_condition(table.c.value, clause.op, clause.value))


def _prefix_of(value: object) -> str:
    return str(value)[:VALUE_PREFIX_LENGTH]


def _order_terms(
    from_: FromClause, key: OrderKey, index: int
) -> tuple[FromClause, list[ColumnElement[Any]]]:
    """Join what the key needs and return its ORDER BY terms (missing values last)."""
    value: Any
    if key.kind == "attribute":
        value = runs.c[key.key]
        rank = case((value.is_(None), 1), else_=0) if key.key in NULLABLE_ATTRIBUTES else None
        if key.key not in NUMERIC_ATTRIBUTES and key.key not in INTEGER_ATTRIBUTES:
            value = _ByteOrder(value)
    else:
        table = {"metric": latest_metrics, "param": params, "tag": tags}[key.kind]
        alias = table.alias(f"order_{index}")
        from_ = from_.outerjoin(
            alias, and_(alias.c.run_id == runs.c.run_id, alias.c.key == key.key)
        )
        value = alias.c.value
        if key.kind == "metric":
            # Numbers first, then NaN, then runs that never logged the metric.
            rank = case((value.is_not(None), 0), (alias.c.is_nan == true(), 1), else_=2)
        else:
            rank = case((value.is_(None), 1), else_=0)
            value = _ByteOrder(value)
    terms: list[ColumnElement[Any]] = [] if rank is None else [rank.asc()]
    terms.append(value.asc() if key.ascending else value.desc())
    return from_, terms


def select_runs(
    *,
    experiment_ids: list[int],
    clauses: list[Clause],
    keys: list[OrderKey],
    lifecycle: str,
) -> Select[Any]:
    """``SELECT runs.run_id`` for the experiments, lifecycle (``all`` for any), clauses and
    order keys given, ordered with ``start_time DESC, run_id ASC`` last. Strings (params,
    tags, names, ids) sort in byte order on every database."""
    # Runs matching the key clauses come from one INTERSECT of index lookups, joined to
    # runs by primary key: far fewer rows touched than testing every run of the experiment.
    keyed = [c for c in clauses if c.kind != "attribute" and c.op != "IS NULL"]
    others = [c for c in clauses if c not in keyed]
    from_: FromClause = runs
    if keyed:
        subselects = [_matching_ids(c) for c in keyed]
        matched = (subselects[0] if len(subselects) == 1 else intersect(*subselects)).subquery(
            "matched"
        )
        from_ = matched.join(runs, runs.c.run_id == matched.c.run_id)
    ordering: list[ColumnElement[Any]] = []
    for index, key in enumerate(keys):
        from_, terms = _order_terms(from_, key, index)
        ordering.extend(terms)
    ordering.extend([runs.c.start_time.desc(), _ByteOrder(runs.c.run_id).asc()])

    stmt = select(runs.c.run_id).select_from(from_)
    stmt = stmt.where(runs.c.experiment_id.in_([int(e) for e in experiment_ids]))
    if lifecycle != "all":
        stmt = stmt.where(runs.c.lifecycle_stage == lifecycle)
    for clause in others:
        stmt = stmt.where(_condition(clause))
    return stmt.order_by(*ordering)
