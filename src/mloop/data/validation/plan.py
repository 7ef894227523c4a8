"""The plan of the aggregate scan: one ``SELECT`` whose columns answer every open check.

Each row-level check is one ``count_if(<violation>)`` (DuckDB runs it faster than
``count(*) FILTER (WHERE ...)``); freshness checks take the newest value; distribution checks
the current statistics they compare with the reference profile (mean, standard deviation,
counts in the reference's histogram bins or categories); uniqueness keys of integral
columns their bounds. ``allowed`` and regex checks on string columns with few distinct values
are left out: ``scan.by_value_checks`` evaluates them once per distinct value instead.
Each planned check remembers its positions in the result row (``Pending.slots``).
"""

from __future__ import annotations

from typing import Any

import pyarrow as pa

from mloop.data import by_value, dtypes, uniqueness
from mloop.data.checks import DISTRIBUTION_KINDS, ROW_KINDS, Check
from mloop.data.profile import ColumnProfile
from mloop.data.sources import quote_ident
from mloop.data.sql_rules import wrap_rule
from mloop.data.validation.state import DATA, Pending, Run


def plan_aggregate(run: Run) -> tuple[list[str], list[Any]]:
    """The aggregate query's expressions (``count(*)`` first) and their parameters."""
    exprs: list[str] = ["count(*)"]
    params: list[Any] = []
    for p in run.open():
        p.slots = []
        kind = p.check.kind
        if kind in ROW_KINDS:
            p.condition = violation(p.check, run.fields)
            if p.extra.get("by_value"):
                continue  # scan.by_value_checks counts it
            sql, values = p.condition
            p.slots = [len(exprs)]
            exprs.append(f"count_if({sql})")
            params += values
        elif kind == "freshness":
            p.slots = [len(exprs)]
            exprs.append(epoch_us_of_max(p.check.columns[0], run.fields))
        elif kind in DISTRIBUTION_KINDS:
            planned = _plan_distribution(run, p)
            if planned is not None:
                p.slots = list(range(len(exprs), len(exprs) + len(planned)))
                for sql, values in planned:
                    exprs.append(sql)
                    params += values
        elif kind == "unique":
            _plan_key_bounds(run, p, exprs)
    return exprs, params


def violation(check: Check, fields: dict[str, pa.Field]) -> tuple[str, list[Any]]:
    """SQL that is true for a row violating ``check``, and its parameters."""
    kind = check.kind
    if kind == "sql_rule":
        return f"NOT {wrap_rule(check.params['sql'])}", []
    name = check.columns[0]
    c = quote_ident(name)
    arrow_type = fields[name].type
    if kind == "not_null":
        return f"{c} IS NULL", []
    if kind == "min":
        return f"{c} < ?", [check.params["value"]]
    if kind == "max":
        return f"{c} > ?", [check.params["value"]]
    if kind == "allowed_values":
        values = list(check.params["values"])
        marks = ", ".join("?" for _ in values)
        return f"{as_value(c, arrow_type)} NOT IN ({marks})", values
    if kind == "regex":
        return f"NOT regexp_matches(CAST({c} AS VARCHAR), ?)", [check.params["pattern"]]
    raise AssertionError(kind)


def choose_by_value(run: Run) -> None:
    """Mark the value checks of string columns with few distinct values (estimated on a
    sample), which ``scan.by_value_checks`` counts over the grouped column instead of the
    aggregate query."""
    columns: dict[str, list[Pending]] = {}
    for p in run.open("allowed_values", "regex"):
        name = p.check.columns[0]
        if dtypes.is_string(run.fields[name].type):
            columns.setdefault(name, []).append(p)
    if not columns:
        return
    names = list(columns)
    row = run.engine.one(by_value.sample_sql(DATA, names))
    for name, distinct in zip(names, row[1:], strict=True):
        has_regex = any(p.check.kind == "regex" for p in columns[name])
        if by_value.worth_grouping(int(row[0]), distinct, has_regex):
            for p in columns[name]:
                p.extra["by_value"] = True


def _plan_key_bounds(run: Run, p: Pending, exprs: list[str]) -> None:
    """For a key of integral columns: each column's bounds, as integers, so that
    ``unique`` can count it by direct addressing."""
    p.extra.pop("bounds_at", None)
    types = run.duckdb_types()
    bounds = []
    for name in p.check.columns:
        c = quote_ident(name)
        low = uniqueness.integer_sql(types.get(name, ""), f"min({c})")
        high = uniqueness.integer_sql(types.get(name, ""), f"max({c})")
        if low is None or high is None:
            return
        bounds += [low, high]
    p.extra["bounds_at"] = len(exprs)
    exprs += bounds


def _reference_column(run: Run, p: Pending) -> ColumnProfile | None:
    name = p.check.columns[0]
    if run.reference is None:
        p.done("error", "no reference profile was given (validate(..., reference=profile))")
        return None
    if name not in run.reference:
        p.done("error", f"the reference profile has no column {name!r}")
        return None
    return run.reference.column(name)


def _plan_distribution(run: Run, p: Pending) -> list[tuple[str, list[Any]]] | None:
    ref = _reference_column(run, p)
    if ref is None:
        return None
    f = run.fields[p.check.columns[0]]
    c = quote_ident(f.name)
    x = as_double(c, f.type)
    kind = p.check.kind
    if kind == "mean":
        if ref.mean is None:
            p.done("error", "the reference profile has no mean for this column")
            return None
        return [(f"avg({x})", [])]
    if kind == "std":
        if ref.std is None:
            p.done("error", "the reference profile has no standard deviation for this column")
            return None
        return [(f"stddev_samp({x})", [])]
    # psi
    column_kind = dtypes.kind_of(f.type)
    if column_kind == "numeric":
        if ref.histogram is None:
            p.done("error", "the reference profile has no histogram for this column")
            return None
        edges = ref.histogram.edges
        uppers = edges[1:] if edges[0] != edges[-1] else [edges[0]]
        p.extra["edges"] = edges
        return [(f"histogram({x}, ?)", [uppers])]
    pairs = ref.categories if ref.categories is not None else ref.top
    if not pairs:
        p.done("error", "the reference profile has no category counts for this column")
        return None
    values = [v for v, _ in pairs]
    p.extra["reference_pairs"] = pairs
    v = as_value(c, f.type)
    marks = ", ".join("?" for _ in values)
    return [
        (f"histogram(CASE WHEN {v} IN ({marks}) THEN {v} END)", values),
        (f"count({c})", []),
    ]


def epoch_us_of_max(name: str, fields: dict[str, pa.Field]) -> str:
    """Microseconds since the epoch of a temporal column's newest value (naive = UTC).

    Returned as a number so that zoned timestamps need no time-zone conversion in Python.
    """
    return dtypes.epoch_us_sql(f"max({quote_ident(name)})", fields[name].type)


def as_double(c: str, arrow_type: pa.DataType) -> str:
    """A numeric column as DOUBLE, non-finite floats as NULL."""
    if dtypes.is_float(arrow_type):
        return f"(CASE WHEN isfinite({c}) THEN CAST({c} AS DOUBLE) END)"
    return f"CAST({c} AS DOUBLE)"


def as_value(c: str, arrow_type: pa.DataType) -> str:
    """Dictionary-encoded (ENUM) columns compared as text, so any value can be looked up."""
    return f"CAST({c} AS VARCHAR)" if pa.types.is_dictionary(arrow_type) else c
