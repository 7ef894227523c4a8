"""A contract compiled to the flat list of ``Check`` objects that validation executes.

Each check is named after what declares it (``amount.min``, ``unique(customer_id, day)``,
a rule's own name) and comes with that declaration's key path, so that a name used twice
is reported where it is declared.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any, cast

from mloop.data.checks import Check
from mloop.data.errors import Path

if TYPE_CHECKING:
    from mloop.data.contract import (
        Column,
        Contract,
        CustomRef,
        Distribution,
        Freshness,
        UniqueKey,
    )


def compile_checks(contract: Contract) -> Iterator[tuple[Check, Path]]:
    """Each check of ``contract`` in a stable order, with the key path that declares it."""
    for name, col in contract.columns.items():
        yield from _column_checks(name, col)
    if contract.extra_columns != "allow":
        yield (
            Check(
                "extra_columns",
                "extra_columns",
                (),
                "error" if contract.extra_columns == "error" else "warn",
                "no columns other than those the contract names",
                {"known": tuple(contract.columns)},
            ),
            ("extra_columns",),
        )
    # The model's validators turned the conveniences into these lists (see ``Contract``).
    unique = cast("list[UniqueKey]", contract.unique)
    freshness = cast("list[Freshness]", contract.freshness)
    custom = cast("list[CustomRef]", contract.custom)
    for i, key in enumerate(unique):
        label = ", ".join(key.columns)
        yield (
            Check(
                f"unique({label})",
                "unique",
                key.columns,
                key.severity,
                f"({label}) is unique",
            ),
            ("unique", i),
        )
    if contract.rows is not None:
        yield (
            Check(
                "row_count",
                "row_count",
                (),
                contract.rows.severity,
                _range_text("row count", contract.rows.min, contract.rows.max),
                {"min": contract.rows.min, "max": contract.rows.max},
            ),
            ("rows",),
        )
    for i, fresh in enumerate(freshness):
        yield (
            Check(
                f"{fresh.column}.freshness",
                "freshness",
                (fresh.column,),
                fresh.severity,
                f"newest {fresh.column} at most {_duration_text(fresh.max_age)} old",
                {"max_age": fresh.max_age},
            ),
            ("freshness", i),
        )
    for i, rule in enumerate(contract.rules):
        yield (
            Check(
                rule.name,
                "sql_rule",
                tuple(rule.columns),
                rule.severity,
                rule.description or rule.sql,
                {"sql": rule.sql},
            ),
            ("rules", i, "name"),
        )
    for i, dist in enumerate(contract.distribution):
        yield from _distribution_checks(dist, ("distribution", i))
    for i, ref in enumerate(custom):
        default = ref.check.severity if ref.check is not None else "error"
        description = ref.check.description if ref.check is not None else ""
        columns = ref.check.columns if ref.check is not None and ref.check.columns else ()
        yield (
            Check(
                ref.name,
                "custom",
                tuple(columns),
                ref.severity or default,
                description or f"custom check {ref.name}",
                {"check": ref.check, "explicit_severity": ref.severity},
            ),
            ("custom", i),
        )


def _column_checks(name: str, col: Column) -> Iterator[tuple[Check, Path]]:
    cols = (name,)
    base: Path = ("columns", name)
    if col.required:
        yield (
            Check(
                f"{name}.present",
                "column_present",
                cols,
                col.severity_of("required"),
                f"{name} is present",
            ),
            base,
        )
    if col.type is not None:
        yield (
            Check(
                f"{name}.type",
                "type",
                cols,
                col.severity_of("type"),
                f"{name} is {col.type}",
                {"type": col.type},
            ),
            (*base, "type"),
        )
    if not col.nullable:
        yield (
            Check(
                f"{name}.not_null",
                "not_null",
                cols,
                col.severity_of("nullable"),
                f"{name} is not null",
            ),
            (*base, "nullable"),
        )
    if col.unique:
        yield (
            Check(f"{name}.unique", "unique", cols, col.severity_of("unique"), f"{name} is unique"),
            (*base, "unique"),
        )
    if col.min is not None:
        yield (
            Check(
                f"{name}.min",
                "min",
                cols,
                col.severity_of("min"),
                f"{name} >= {col.min}",
                {"value": col.min},
            ),
            (*base, "min"),
        )
    if col.max is not None:
        yield (
            Check(
                f"{name}.max",
                "max",
                cols,
                col.severity_of("max"),
                f"{name} <= {col.max}",
                {"value": col.max},
            ),
            (*base, "max"),
        )
    if col.allowed is not None:
        shown = ", ".join(repr(v) for v in list(col.allowed)[:10])
        more = ", ..." if len(col.allowed) > 10 else ""
        yield (
            Check(
                f"{name}.allowed",
                "allowed_values",
                cols,
                col.severity_of("allowed"),
                f"{name} in [{shown}{more}]",
                {"values": tuple(col.allowed)},
            ),
            (*base, "allowed"),
        )
    if col.regex is not None:
        yield (
            Check(
                f"{name}.regex",
                "regex",
                cols,
                col.severity_of("regex"),
                f"{name} matches {col.regex!r}",
                {"pattern": col.regex},
            ),
            (*base, "regex"),
        )


def _distribution_checks(dist: Distribution, path: Path) -> Iterator[tuple[Check, Path]]:
    c = dist.column
    if dist.mean_within is not None:
        yield (
            Check(
                f"{c}.mean",
                "mean",
                (c,),
                dist.severity,
                f"mean of {c} within {dist.mean_within:g} (relative) of the reference",
                {"tolerance": dist.mean_within},
            ),
            (*path, "mean_within"),
        )
    if dist.std_within is not None:
        yield (
            Check(
                f"{c}.std",
                "std",
                (c,),
                dist.severity,
                f"standard deviation of {c} within {dist.std_within:g} (relative) of the reference",
                {"tolerance": dist.std_within},
            ),
            (*path, "std_within"),
        )
    if dist.psi_max is not None:
        yield (
            Check(
                f"{c}.psi",
                "psi",
                (c,),
                dist.severity,
                f"PSI of {c} against the reference at most {dist.psi_max:g}",
                {"max": dist.psi_max},
            ),
            (*path, "psi_max"),
        )


def _range_text(what: str, lo: Any, hi: Any) -> str:
    if lo is not None and hi is not None:
        return f"{what} between {lo} and {hi}"
    return f"{what} >= {lo}" if lo is not None else f"{what} <= {hi}"


def _duration_text(value: dt.timedelta) -> str:
    seconds = value.total_seconds()
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size and seconds % size == 0:
            return f"{int(seconds // size)}{unit}"
    return f"{seconds:g}s"
