"""Phase 1: the checks the schema answers (column presence, types, extra columns), and the
checks that cannot run because their column is missing or of the wrong type.

Checks on a missing or wrongly typed column are skipped (the presence or type check reports
it) or, when nothing else reports it, errored; none of them crashes the validation.
"""

from __future__ import annotations

import datetime as dt

import pyarrow as pa

from mloop.data import dtypes
from mloop.data.checks import Check
from mloop.data.validation.state import Pending, Run

_TYPED_KINDS = frozenset(
    {"min", "max", "allowed_values", "regex", "freshness", "mean", "std", "psi"}
)


def check_schema(run: Run) -> None:
    """Decide the schema checks, and the checks whose columns rule them out."""
    failed_columns: dict[str, str] = {}  # column -> the check that reports its problem
    optional_absent: set[str] = set()
    for name, spec in run.contract.columns.items():
        if name not in run.fields and not spec.required:
            optional_absent.add(name)
    for p in run.pending:
        check = p.check
        if check.kind == "column_present":
            name = check.columns[0]
            if name in run.fields:
                p.done("passed", f"{name} is present")
            else:
                p.done("failed", f"column {name!r} is missing{run.hint(name)}")
                failed_columns[name] = check.name
        elif check.kind == "type":
            name = check.columns[0]
            if name not in run.fields:
                continue
            actual = run.fields[name].type
            expected = check.params["type"]
            if dtypes.type_matches(expected, actual):
                p.done("passed", f"{name} is {dtypes.type_name(actual)}", type=str(actual))
            else:
                p.done(
                    "failed",
                    f"{name} is {dtypes.type_name(actual)}, expected {expected}",
                    type=dtypes.type_name(actual),
                )
                failed_columns.setdefault(name, check.name)
        elif check.kind == "extra_columns":
            known = set(check.params["known"])
            extra = [n for n in run.schema.names if n not in known]
            if extra:
                shown = ", ".join(extra[:20]) + (", ..." if len(extra) > 20 else "")
                p.done(
                    "failed",
                    f"{len(extra)} columns not in the contract: {shown}",
                    columns=extra,
                )
            else:
                p.done("passed", "no columns outside the contract")
    for p in run.open():
        _check_columns(run, p, failed_columns, optional_absent)


def _check_columns(
    run: Run, p: Pending, failed_columns: dict[str, str], optional_absent: set[str]
) -> None:
    check = p.check
    if check.kind == "type":  # still open: the column is missing
        name = check.columns[0]
        if name in optional_absent:
            p.done("skipped", f"optional column {name!r} is absent")
        else:
            p.done("skipped", f"column {name!r} is missing; see {name}.present")
        return
    for name in check.columns:
        if name in run.fields:
            continue
        if name in optional_absent:
            p.done("skipped", f"optional column {name!r} is absent")
        elif name in failed_columns:
            p.done("skipped", f"column {name!r} is missing; see {failed_columns[name]}")
        elif check.kind == "sql_rule":
            # The names a rule's syntax tree shows may be lambda parameters or struct
            # fields; DuckDB's binder decides what is really missing (scan.bind_rules).
            continue
        else:
            p.done("error", f"column {name!r} is not in the data{run.hint(name)}")
        return
    if check.kind in _TYPED_KINDS:
        name = check.columns[0]
        problem = inapplicable(check, run.fields[name].type)
        if problem is not None:
            if name in failed_columns and failed_columns[name].endswith(".type"):
                p.done("skipped", f"{problem}; see {failed_columns[name]}")
            else:
                p.done("error", problem)


def inapplicable(check: Check, arrow_type: pa.DataType) -> str | None:
    """Why ``check`` cannot run on a column of this type, or None."""
    kind = dtypes.kind_of(arrow_type)
    shown = dtypes.type_name(arrow_type)
    if check.kind in ("min", "max"):
        bound = check.params["value"]
        if isinstance(bound, dt.date):
            if kind != "temporal":
                return f"a date or timestamp bound needs a temporal column, not {shown}"
        elif kind != "numeric":
            return f"a numeric bound needs a numeric column, not {shown}"
    elif check.kind == "allowed_values":
        values = check.params["values"]
        if dtypes.is_string(arrow_type):
            ok = all(isinstance(v, str) for v in values)
        elif dtypes.is_bool(arrow_type):
            ok = all(isinstance(v, bool) for v in values)
        elif kind == "numeric":
            ok = all(isinstance(v, int | float) and not isinstance(v, bool) for v in values)
        elif kind == "temporal":
            ok = all(isinstance(v, dt.date) for v in values)
        else:
            return f"allowed values cannot be checked on a {shown} column"
        if not ok:
            return f"the allowed values do not match the column's type {shown}"
    elif check.kind == "regex":
        if not dtypes.is_string(arrow_type):
            return f"a regex needs a string column, not {shown}"
    elif check.kind == "freshness":
        if kind != "temporal":
            return f"freshness needs a date or timestamp column, not {shown}"
    elif check.kind in ("mean", "std"):
        if kind != "numeric":
            return f"{check.kind} needs a numeric column, not {shown}"
    elif check.kind == "psi" and kind not in ("numeric", "categorical"):
        return f"PSI needs a numeric or categorical column, not {shown}"
    return None
