"""Validating data against a contract, in as few streaming DuckDB scans as possible.

1. Schema checks (column presence, types, extra columns) read only the schema. Checks on
   a missing or wrongly typed column are skipped (the presence or type check reports it)
   or, when nothing else reports it, errored; none of them crashes the validation.
2. One aggregate query computes every row-level check (``count_if(<violation>)`` each:
   DuckDB runs it faster than ``count(*) FILTER (WHERE ...)``), the row count, the newest
   value for freshness checks, and the current statistics distribution checks compare with
   the reference profile (mean, standard deviation, counts in the reference's histogram
   bins or categories). ``allowed`` and regex checks on string columns with few distinct
   values are left out: one ``GROUP BY`` per such column evaluates them once per distinct
   value instead (``by_value``; the column's distinct values are first estimated on a
   sample).
3. Per uniqueness key: where its columns are integers, dates or timestamps spanning a small
   range (their bounds come from the aggregate query), one read of the key columns counted
   into an array indexed by the key (``uniqueness``); otherwise one ``GROUP BY`` query,
   which also returns the most repeated keys as examples.
4. One query fetches up to ``examples`` failing rows for every failed row-level check.
5. Only when the contract has custom Python checks: one streaming pass in Arrow batches.

SQL rules are refused unless they are a single expression (``sql_rules``); before running,
each is bound against the data, so an unknown column or a non-boolean rule is that rule's
error rather than a failed validation.
"""

from __future__ import annotations

import datetime as dt
import difflib
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from mloop.core.errors import ValidationError
from mloop.data import by_value, dtypes, uniqueness
from mloop.data.checks import DISTRIBUTION_KINDS, ROW_KINDS, Check
from mloop.data.contract import Contract
from mloop.data.contract_yaml import load_contract
from mloop.data.custom import CustomCheck, find_check
from mloop.data.engine import VIEW, Engine
from mloop.data.profile import ColumnProfile, DatasetProfile, bin_counts
from mloop.data.report import CheckResult, Status, ValidationReport
from mloop.data.sources import SourceLike, open_source, quote_ident
from mloop.data.sql_rules import wrap_rule
from mloop.data.stats import population_stability_index
from mloop.data.values import finite_or_none, json_safe

DEFAULT_EXAMPLES = 5
_TYPED_KINDS = frozenset(
    {"min", "max", "allowed_values", "regex", "freshness", "mean", "std", "psi"}
)
_CUSTOM_BATCH_ROWS = 65_536
_DATA = quote_ident(VIEW)


def validate(
    data: SourceLike,
    contract: Contract | str | os.PathLike[str],
    reference: DatasetProfile | dict[str, Any] | None = None,
    *,
    now: dt.datetime | None = None,
    examples: int = DEFAULT_EXAMPLES,
    memory_limit: str | None = None,
    threads: int | None = None,
) -> ValidationReport:
    """Check ``data`` (anything ``open_source`` accepts) against ``contract``.

    ``contract`` is a ``Contract`` or the path of a YAML file. ``reference`` is the profile
    distribution checks compare with (a ``DatasetProfile`` or its ``to_dict()``); without
    it, distribution checks are errors. ``now`` is the time freshness is measured from
    (default: the current UTC time). ``examples`` is the most failing rows shown per check.
    """
    if not isinstance(contract, Contract):
        contract = load_contract(contract)
    if isinstance(reference, dict):
        reference = DatasetProfile.from_dict(reference)
    if examples < 0:
        raise ValidationError("examples must be 0 or more", field="examples")
    started = time.perf_counter()
    started_at = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    moment = _utc(now) if now is not None else dt.datetime.now(dt.UTC)
    source = open_source(data)
    owned = source is not data
    try:
        with Engine(source, memory_limit=memory_limit, threads=threads) as engine:
            run = _Run(engine, contract, reference, moment, examples)
            results, row_count = run.execute()
    finally:
        if owned:
            source.close()
    return ValidationReport(
        contract=contract.name,
        contract_version=contract.version,
        source=source.description,
        row_count=row_count,
        checks=results,
        started_at=started_at,
        duration_s=round(time.perf_counter() - started, 3),
        reference=reference.source if reference is not None else None,
    )


@dataclass
class _Pending:
    """A check's state while the run is under way."""

    check: Check
    status: Status | None = None
    message: str = ""
    failing_count: int | None = None
    observed: dict[str, Any] = field(default_factory=dict)
    examples: list[dict[str, Any]] = field(default_factory=list)
    condition: tuple[str, list[Any]] | None = None  # the violation, for row-level checks
    slots: list[int] = field(default_factory=list)  # positions in the aggregate row
    extra: dict[str, Any] = field(default_factory=dict)

    def done(self, status: Status, message: str, **observed: Any) -> None:
        self.status = status
        self.message = message
        self.observed.update(observed)


class _Run:
    """One validation: plans the queries, runs them and interprets the results."""

    def __init__(
        self,
        engine: Engine,
        contract: Contract,
        reference: DatasetProfile | None,
        now: dt.datetime,
        examples: int,
    ) -> None:
        self.engine = engine
        self.contract = contract
        self.reference = reference
        self.now = now
        self.examples = examples
        self.schema = engine.source.schema
        self.fields = {f.name: f for f in self.schema}
        self.pending = [_Pending(c) for c in contract.checks()]
        self.row_count: int | None = None
        self._types: dict[str, str] | None = None

    def execute(self) -> tuple[list[CheckResult], int | None]:
        self._schema_checks()
        self._choose_by_value()
        self._aggregate_scan()
        self._by_value_checks()
        for p in self._open("unique"):
            self._unique(p)
        self._fetch_examples()
        self._custom_checks()
        return [self._result(p) for p in self.pending], self.row_count

    def _open(self, *kinds: str) -> list[_Pending]:
        return [
            p for p in self.pending if p.status is None and (not kinds or p.check.kind in kinds)
        ]

    # -- 1: schema ----------------------------------------------------------------------

    def _schema_checks(self) -> None:
        failed_columns: dict[str, str] = {}  # column -> the check that reports its problem
        optional_absent: set[str] = set()
        for name, spec in self.contract.columns.items():
            if name not in self.fields and not spec.required:
                optional_absent.add(name)
        for p in self.pending:
            check = p.check
            if check.kind == "column_present":
                name = check.columns[0]
                if name in self.fields:
                    p.done("passed", f"{name} is present")
                else:
                    p.done("failed", f"column {name!r} is missing{self._hint(name)}")
                    failed_columns[name] = check.name
            elif check.kind == "type":
                name = check.columns[0]
                if name not in self.fields:
                    continue
                actual = self.fields[name].type
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
                extra = [n for n in self.schema.names if n not in known]
                if extra:
                    shown = ", ".join(extra[:20]) + (", ..." if len(extra) > 20 else "")
                    p.done(
                        "failed",
                        f"{len(extra)} columns not in the contract: {shown}",
                        columns=extra,
                    )
                else:
                    p.done("passed", "no columns outside the contract")
        for p in self._open():
            self._check_columns(p, failed_columns, optional_absent)

    def _check_columns(
        self, p: _Pending, failed_columns: dict[str, str], optional_absent: set[str]
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
            if name in self.fields:
                continue
            if name in optional_absent:
                p.done("skipped", f"optional column {name!r} is absent")
            elif name in failed_columns:
                p.done("skipped", f"column {name!r} is missing; see {failed_columns[name]}")
            elif check.kind == "sql_rule":
                # The names a rule's syntax tree shows may be lambda parameters or struct
                # fields; DuckDB's binder decides what is really missing (_bind_rules).
                continue
            else:
                p.done("error", f"column {name!r} is not in the data{self._hint(name)}")
            return
        if check.kind in _TYPED_KINDS:
            name = check.columns[0]
            problem = _inapplicable(check, self.fields[name].type)
            if problem is not None:
                if name in failed_columns and failed_columns[name].endswith(".type"):
                    p.done("skipped", f"{problem}; see {failed_columns[name]}")
                else:
                    p.done("error", problem)

    def _hint(self, name: str) -> str:
        # A renamed column shows up as a column the contract does not name: look there first.
        named = {c for check in self.contract.checks() for c in check.columns}
        unclaimed = [c for c in self.schema.names if c not in named]
        close = difflib.get_close_matches(name, unclaimed or self.schema.names, n=1)
        if close:
            return f" (did you mean {close[0]!r}?)"
        if unclaimed:
            shown = ", ".join(repr(c) for c in unclaimed[:5])
            return f" (the data has columns the contract does not name: {shown})"
        return ""

    # -- 2: the aggregate scan ------------------------------------------------------------

    def _aggregate_scan(self) -> None:
        self._bind_rules()
        exprs, params = self._plan_aggregate()
        sql = f"SELECT {', '.join(exprs)} FROM {_DATA}"
        try:
            row = self.engine.one(sql, params)
        except duckdb.Error:
            # A rule can fail while running (a failed cast, say): find it, drop it, go again.
            if not self._isolate_failing_rules():
                raise
            exprs, params = self._plan_aggregate()
            row = self.engine.one(f"SELECT {', '.join(exprs)} FROM {_DATA}", params)
        self.row_count = int(row[0])
        for p in self._open("unique"):
            at = p.extra.pop("bounds_at", None)
            if at is not None:
                p.extra["bounds"] = row[at : at + 2 * len(p.check.columns)]
        for p in self._open("row_count"):
            self._row_count(p)
        for p in self._open():
            if not p.slots:
                continue
            values = [row[i] for i in p.slots]
            kind = p.check.kind
            if kind in ROW_KINDS:
                self._row_level(p, int(values[0] or 0))
            elif kind == "freshness":
                self._freshness(p, values[0])
            else:
                self._distribution(p, values)

    def _plan_aggregate(self) -> tuple[list[str], list[Any]]:
        exprs: list[str] = ["count(*)"]
        params: list[Any] = []
        for p in self._open():
            p.slots = []
            kind = p.check.kind
            if kind in ROW_KINDS:
                p.condition = self._condition(p.check)
                if p.extra.get("by_value"):
                    continue  # _by_value_checks counts it
                sql, values = p.condition
                p.slots = [len(exprs)]
                exprs.append(f"count_if({sql})")
                params += values
            elif kind == "freshness":
                p.slots = [len(exprs)]
                exprs.append(_epoch_us_of_max(p.check.columns[0], self.fields))
            elif kind in DISTRIBUTION_KINDS:
                planned = self._plan_distribution(p)
                if planned is not None:
                    p.slots = list(range(len(exprs), len(exprs) + len(planned)))
                    for sql, values in planned:
                        exprs.append(sql)
                        params += values
            elif kind == "unique":
                self._plan_key_bounds(p, exprs)
        return exprs, params

    def _plan_key_bounds(self, p: _Pending, exprs: list[str]) -> None:
        """For a key of integral columns: each column's bounds, as integers, so that
        ``_unique`` can count it by direct addressing."""
        p.extra.pop("bounds_at", None)
        types = self._duckdb_types()
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

    def _duckdb_types(self) -> dict[str, str]:
        if self._types is None:
            rel = self.engine.con.sql(f"SELECT * FROM {_DATA} LIMIT 0")
            self._types = {n: str(t) for n, t in zip(rel.columns, rel.types, strict=True)}
        return self._types

    def _choose_by_value(self) -> None:
        """Mark the value checks of string columns with few distinct values, which
        ``_by_value_checks`` counts over the grouped column instead of the aggregate query."""
        columns: dict[str, list[_Pending]] = {}
        for p in self._open("allowed_values", "regex"):
            name = p.check.columns[0]
            if dtypes.is_string(self.fields[name].type):
                columns.setdefault(name, []).append(p)
        if not columns:
            return
        names = list(columns)
        row = self.engine.one(by_value.sample_sql(_DATA, names))
        for name, distinct in zip(names, row[1:], strict=True):
            has_regex = any(p.check.kind == "regex" for p in columns[name])
            if by_value.worth_grouping(int(row[0]), distinct, has_regex):
                for p in columns[name]:
                    p.extra["by_value"] = True

    def _by_value_checks(self) -> None:
        columns: dict[str, list[_Pending]] = {}
        for p in self._open("allowed_values", "regex"):
            if p.extra.get("by_value") and p.condition is not None:
                columns.setdefault(p.check.columns[0], []).append(p)
        for name, checks in columns.items():
            conditions = [p.condition for p in checks if p.condition is not None]
            sql = by_value.grouped_sql(_DATA, name, [c for c, _ in conditions])
            row = self.engine.one(sql, [v for _, values in conditions for v in values])
            for p, failing in zip(checks, row, strict=True):
                self._row_level(p, int(failing or 0))

    def _isolate_failing_rules(self) -> bool:
        found = False
        for p in self._open("sql_rule"):
            cond, values = p.condition or ("FALSE", [])
            try:
                self.engine.one(f"SELECT count_if({cond}) FROM {_DATA}", values)
            except duckdb.Error as exc:
                p.done("error", f"the rule failed while running: {_first_line(exc)}")
                p.condition = None
                found = True
        return found

    def _bind_rules(self) -> None:
        for p in self._open("sql_rule"):
            sql = wrap_rule(p.check.params["sql"])
            try:
                types = self.engine.con.sql(f"SELECT {sql} AS r FROM {_DATA} LIMIT 0").types
            except duckdb.Error as exc:
                p.done("error", f"the rule does not apply to this data: {_first_line(exc)}")
                continue
            if str(types[0]) != "BOOLEAN":
                p.done("error", f"the rule must be true or false for each row; it gives {types[0]}")

    def _condition(self, check: Check) -> tuple[str, list[Any]]:
        """SQL that is true for a row violating ``check``, and its parameters."""
        kind = check.kind
        if kind == "sql_rule":
            return f"NOT {wrap_rule(check.params['sql'])}", []
        name = check.columns[0]
        c = quote_ident(name)
        arrow_type = self.fields[name].type
        if kind == "not_null":
            return f"{c} IS NULL", []
        if kind == "min":
            return f"{c} < ?", [check.params["value"]]
        if kind == "max":
            return f"{c} > ?", [check.params["value"]]
        if kind == "allowed_values":
            values = list(check.params["values"])
            marks = ", ".join("?" for _ in values)
            return f"{_as_value(c, arrow_type)} NOT IN ({marks})", values
        if kind == "regex":
            return f"NOT regexp_matches(CAST({c} AS VARCHAR), ?)", [check.params["pattern"]]
        raise AssertionError(kind)

    # -- interpretation of the aggregate row ----------------------------------------------

    def _row_level(self, p: _Pending, failing: int) -> None:
        p.failing_count = failing
        if failing == 0:
            p.done("passed", f"{p.check.description}: every row")
            return
        share = failing / self.row_count if self.row_count else 0.0
        what = {
            "not_null": "null",
            "min": f"below {p.check.params.get('value')}",
            "max": f"above {p.check.params.get('value')}",
            "allowed_values": "outside the allowed values",
            "regex": "not matching the pattern",
            "sql_rule": "where the rule is false",
        }[p.check.kind]
        p.done("failed", f"{_rows(failing)} {what} ({share:.2%} of {self.row_count})")

    def _row_count(self, p: _Pending) -> None:
        n = self.row_count or 0
        lo, hi = p.check.params["min"], p.check.params["max"]
        if (lo is not None and n < lo) or (hi is not None and n > hi):
            p.done("failed", f"{n} rows; expected {p.check.description}", rows=n)
        else:
            p.done("passed", f"{n} rows", rows=n)

    def _freshness(self, p: _Pending, newest_us: Any) -> None:
        if newest_us is None:
            p.done("failed", f"{p.check.columns[0]} has no values")
            return
        moment = _EPOCH + dt.timedelta(microseconds=int(newest_us))
        age = self.now - moment
        limit: dt.timedelta = p.check.params["max_age"]
        observed = {"newest": moment.isoformat(), "age_seconds": round(age.total_seconds(), 3)}
        if age > limit:
            p.done(
                "failed",
                f"the newest value is {_age(age)} old; the limit is {_age(limit)}",
                **observed,
            )
        else:
            p.done("passed", f"the newest value is {_age(age)} old", **observed)

    # -- distribution checks ----------------------------------------------------------------

    def _reference_column(self, p: _Pending) -> ColumnProfile | None:
        name = p.check.columns[0]
        if self.reference is None:
            p.done("error", "no reference profile was given (validate(..., reference=profile))")
            return None
        if name not in self.reference:
            p.done("error", f"the reference profile has no column {name!r}")
            return None
        return self.reference.column(name)

    def _plan_distribution(self, p: _Pending) -> list[tuple[str, list[Any]]] | None:
        ref = self._reference_column(p)
        if ref is None:
            return None
        f = self.fields[p.check.columns[0]]
        c = quote_ident(f.name)
        x = _as_double(c, f.type)
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
        v = _as_value(c, f.type)
        marks = ", ".join("?" for _ in values)
        return [
            (f"histogram(CASE WHEN {v} IN ({marks}) THEN {v} END)", values),
            (f"count({c})", []),
        ]

    def _distribution(self, p: _Pending, values: list[Any]) -> None:
        assert self.reference is not None
        ref = self.reference.column(p.check.columns[0])
        kind = p.check.kind
        if kind in ("mean", "std"):
            current = finite_or_none(values[0])
            expected = ref.mean if kind == "mean" else ref.std
            assert expected is not None
            label = "mean" if kind == "mean" else "standard deviation"
            if current is None:
                p.done("failed", f"the column has no {label} (no values)", reference=expected)
                return
            tolerance = float(p.check.params["tolerance"])
            difference = abs(current - expected)
            relative = difference / abs(expected) if expected else difference
            observed = {
                "value": current,
                "reference": expected,
                "relative_difference": relative,
            }
            text = (
                f"{label} {current:.6g} vs reference {expected:.6g} "
                f"({relative:.2%} apart; tolerance {tolerance:.2%})"
            )
            p.done("passed" if relative <= tolerance else "failed", text, **observed)
            return
        limit = float(p.check.params["max"])
        if "edges" in p.extra:
            edges = p.extra["edges"]
            assert ref.histogram is not None
            if edges[0] == edges[-1]:
                expected_bins = [float(sum(ref.histogram.counts)), 0.0]
                counts = values[0] or {}
                actual_bins = [
                    float(
                        sum(n for b, n in counts.items() if b is not None and float(b) <= edges[0])
                    ),
                    float(
                        sum(n for b, n in counts.items() if b is not None and float(b) > edges[0])
                    ),
                ]
            else:
                expected_bins = [float(n) for n in ref.histogram.counts]
                actual_bins = [float(n) for n in bin_counts(edges, values[0] or {})]
        else:
            pairs = p.extra["reference_pairs"]
            counts = {json_safe(k): int(n) for k, n in (values[0] or {}).items() if k is not None}
            expected_bins = [float(n) for _, n in pairs]
            actual_bins = [float(counts.get(v, 0)) for v, _ in pairs]
            expected_bins.append(float(max(ref.count - sum(n for _, n in pairs), 0)))
            actual_bins.append(float(max(int(values[1] or 0) - sum(counts.values()), 0)))
        psi = population_stability_index(expected_bins, actual_bins)
        if psi != psi:  # NaN: one side has no values
            p.done("failed", "PSI cannot be computed: no values", psi=None)
            return
        status: Status = "passed" if psi <= limit else "failed"
        p.done(status, f"PSI {psi:.4f} (limit {limit:g})", psi=psi, bins=len(expected_bins))

    # -- 3: uniqueness ---------------------------------------------------------------------

    def _unique(self, p: _Pending) -> None:
        if not self._unique_dense(p):
            self._unique_grouped(p)

    def _unique_dense(self, p: _Pending) -> bool:
        """Count duplicates by direct addressing (``uniqueness``), where the key allows;
        False where it does not."""
        bounds = p.extra.get("bounds")
        if bounds is None or any(b is None for b in bounds):
            return False  # not integral, or a column has no values
        lows, highs = [int(b) for b in bounds[0::2]], [int(b) for b in bounds[1::2]]
        budget = uniqueness.budget_bytes(self._setting("memory_limit"))
        steps = uniqueness.strides(lows, highs, self.row_count or 0, budget)
        if steps is None:
            return False
        size = steps[0] * (highs[0] - lows[0] + 1)
        cols = [quote_ident(c) for c in p.check.columns]
        where = " AND ".join(f"{c} IS NOT NULL" for c in cols)
        batches = self.engine.reader(
            f"SELECT {', '.join(cols)} FROM {_DATA} WHERE {where}",
            batch_size=uniqueness.BATCH_ROWS,
        )
        found = uniqueness.count_duplicates(batches, lows, steps, size, max(int(self.examples), 1))
        top = []
        if found.top:
            types = self.engine.con.sql(f"SELECT {', '.join(cols)} FROM {_DATA} LIMIT 0")
            schema = types.to_arrow_table().schema
            columns = [
                uniqueness.arrow_values([key[i] for key, _ in found.top], schema.field(i).type)
                for i in range(len(cols))
            ]
            top = [
                ({name: columns[i][j] for i, name in enumerate(p.check.columns)}, n)
                for j, (_, n) in enumerate(found.top)
            ]
        self._unique_outcome(p, found.groups, found.rows, top)
        return True

    def _setting(self, name: str) -> str:
        return str(self.engine.one("SELECT current_setting(?)", [name])[0])

    def _unique_grouped(self, p: _Pending) -> None:
        # One GROUP BY: the duplicated keys are counted and the most repeated ones kept as
        # examples (max_by(..., n)) in the same query.
        cols = [quote_ident(c) for c in p.check.columns]
        keys = ", ".join(cols)
        where = " AND ".join(f"{c} IS NOT NULL" for c in cols)
        key_struct = "struct_pack(" + ", ".join(f"{c} := {c}" for c in cols) + ")"
        limit = max(int(self.examples), 1)
        _, rows = self.engine.table_rows(
            f"SELECT count(*), sum(n), max_by(struct_pack(k := k, n := n), n, {limit}) FROM "
            f"(SELECT {key_struct} AS k, count(*) AS n FROM {_DATA} WHERE {where} "
            f"GROUP BY {keys} HAVING count(*) > 1)"
        )
        groups, duplicated_rows, top = rows[0]
        top = [(item["k"], int(item["n"])) for item in top or []]  # most repeated first
        self._unique_outcome(p, int(groups or 0), int(duplicated_rows or 0), top)

    def _unique_outcome(
        self, p: _Pending, groups: int, duplicated_rows: int, top: list[tuple[dict[str, Any], int]]
    ) -> None:
        p.failing_count = duplicated_rows
        if not groups:
            p.done("passed", f"{p.check.description}: no duplicates")
            return
        share = p.failing_count / self.row_count if self.row_count else 0.0
        p.done(
            "failed",
            f"{groups} duplicated keys over {_rows(p.failing_count)} ({share:.2%})",
            duplicated_keys=int(groups),
        )
        label = "count" if "count" not in p.check.columns else "_count"
        for key, n in top[: self.examples]:
            example = {k: json_safe(v) for k, v in key.items()}
            example[label] = n
            p.examples.append(example)

    # -- 4: examples ---------------------------------------------------------------------

    def _fetch_examples(self) -> None:
        failed = [
            p
            for p in self.pending
            if p.status == "failed" and p.condition is not None and p.failing_count
        ]
        if not failed or not self.examples:
            return
        parts = []
        params: list[Any] = []
        for i, p in enumerate(failed):
            assert p.condition is not None
            sql, values = p.condition
            parts.append(
                f"SELECT * FROM (SELECT {i} AS __mloop_check, * FROM {_DATA} "
                f"WHERE {sql} LIMIT {int(self.examples)})"
            )
            params += values
        names, rows = self.engine.table_rows(" UNION ALL ".join(parts), params)
        names = names[1:]
        for row in rows:
            target = failed[int(row[0])]
            target.examples.append({k: json_safe(v) for k, v in zip(names, row[1:], strict=True)})

    # -- 5: custom checks -------------------------------------------------------------------

    def _custom_checks(self) -> None:
        runs: list[tuple[_Pending, CustomCheck]] = []
        for p in self._open("custom"):
            check = p.check.params.get("check") or find_check(p.check.name)
            if check is None:
                close = difflib.get_close_matches(p.check.name, list(_registered_names()), n=1)
                hint = f" (did you mean {close[0]!r}?)" if close else ""
                p.done(
                    "error",
                    f"no custom check named {p.check.name!r} is registered{hint}; import the "
                    "module that defines it with @check before validating",
                )
                continue
            missing = [c for c in check.columns or () if c not in self.fields]
            if missing:
                p.done("error", f"column {missing[0]!r} is not in the data{self._hint(missing[0])}")
                continue
            if (
                p.check.params.get("explicit_severity") is None
                and p.check.severity != check.severity
            ):
                p.check = _with_severity(p.check, check.severity)
            p.failing_count = 0
            runs.append((p, check))
        if not runs:
            return
        needed: list[str] | None = []
        for _, check in runs:
            if check.columns is None:
                needed = None
                break
            assert needed is not None
            needed += [c for c in check.columns if c not in needed]
        select = "*" if needed is None else ", ".join(quote_ident(c) for c in needed)
        for batch in self.engine.reader(
            f"SELECT {select} FROM {_DATA}", batch_size=_CUSTOM_BATCH_ROWS
        ):
            active = [(p, c) for p, c in runs if p.status is None]
            if not active:
                break
            for p, check in active:
                self._custom_batch(p, check, batch)
        for p, _ in runs:
            if p.status is None:
                failing = p.failing_count or 0
                if failing:
                    share = failing / self.row_count if self.row_count else 0.0
                    message = f"{_rows(failing)} failing ({share:.2%} of {self.row_count})"
                    p.done("failed", message)
                else:
                    p.done("passed", f"{p.check.description}: every row")

    def _custom_batch(self, p: _Pending, check: CustomCheck, batch: pa.RecordBatch) -> None:
        part = batch if check.columns is None else batch.select(list(check.columns))
        argument: Any = part.to_pandas() if check.batch_format == "pandas" else part
        try:
            outcome = check.fn(argument)
            failing_rows = _failing_rows(outcome, part.num_rows)
        except Exception as exc:  # a user's check: report whatever it raised
            p.done("error", f"the check raised {type(exc).__name__}: {exc}")
            return
        if isinstance(failing_rows, int):
            p.failing_count = (p.failing_count or 0) + failing_rows
            return
        p.failing_count = (p.failing_count or 0) + len(failing_rows)
        room = self.examples - len(p.examples)
        if room > 0 and len(failing_rows):
            rows = batch.take(pa.array(failing_rows[:room])).to_pylist()
            p.examples += [{k: json_safe(v) for k, v in row.items()} for row in rows]

    # -- results ----------------------------------------------------------------------------

    def _result(self, p: _Pending) -> CheckResult:
        check = p.check
        share = None
        if p.failing_count is not None and check.kind in (*ROW_KINDS, "unique", "custom"):
            share = p.failing_count / self.row_count if self.row_count else 0.0
        return CheckResult(
            name=check.name,
            kind=check.kind,
            columns=list(check.columns),
            severity=check.severity,
            status=p.status or "error",
            message=p.message or "not evaluated",
            description=check.description,
            failing_count=p.failing_count,
            failing_share=share,
            examples=p.examples,
            observed=json_safe(p.observed),
        )


# -- helpers ----------------------------------------------------------------------------


def _failing_rows(outcome: Any, n: int) -> int | np.ndarray:
    """A custom check's return value as a failure count or the failing row positions."""
    if isinstance(outcome, bool | np.bool_):
        raise TypeError("return a boolean mask (True = the row passes) or a count of failing rows")
    if isinstance(outcome, int | np.integer):
        if outcome < 0:
            raise ValueError(f"a failure count cannot be negative ({outcome})")
        return int(outcome)
    if isinstance(outcome, pa.ChunkedArray | pa.Array):
        mask = pc.fill_null(outcome, True).to_numpy(zero_copy_only=False)
    elif hasattr(outcome, "to_numpy"):  # pandas Series
        mask = np.asarray(outcome.to_numpy(dtype=object, na_value=True), dtype=bool)
    else:
        values = np.asarray(outcome, dtype=object)
        mask = np.array([True if v is None else bool(v) for v in values.ravel()], dtype=bool)
    mask = np.asarray(mask)
    if mask.dtype != bool:
        raise TypeError(f"the mask must hold booleans, not {mask.dtype}")
    if mask.shape != (n,):
        raise ValueError(f"the mask has {mask.size} entries for a batch of {n} rows")
    return np.flatnonzero(~mask)


def _inapplicable(check: Check, arrow_type: pa.DataType) -> str | None:
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


_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


def _epoch_us_of_max(name: str, fields: dict[str, Any]) -> str:
    """Microseconds since the epoch of a temporal column's newest value (naive = UTC).

    Returned as a number so that zoned timestamps need no time-zone conversion in Python.
    """
    c = quote_ident(name)
    if pa.types.is_date(fields[name].type):
        return f"epoch_us(CAST(max({c}) AS TIMESTAMP))"
    return f"epoch_us(max({c}))"


def _as_double(c: str, arrow_type: pa.DataType) -> str:
    if dtypes.is_float(arrow_type):
        return f"(CASE WHEN isfinite({c}) THEN CAST({c} AS DOUBLE) END)"
    return f"CAST({c} AS DOUBLE)"


def _as_value(c: str, arrow_type: pa.DataType) -> str:
    """Dictionary-encoded (ENUM) columns compared as text, so any value can be looked up."""
    return f"CAST({c} AS VARCHAR)" if pa.types.is_dictionary(arrow_type) else c


def _utc(value: Any) -> dt.datetime:
    if isinstance(value, dt.datetime):
        return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)
    if isinstance(value, dt.date):
        return dt.datetime.combine(value, dt.time(0), tzinfo=dt.UTC)
    raise ValidationError(f"expected a date or timestamp, got {value!r}", field="now")


def _age(delta: dt.timedelta) -> str:
    seconds = delta.total_seconds()
    sign = "-" if seconds < 0 else ""
    seconds = abs(seconds)
    if seconds < 120:
        return f"{sign}{seconds:.0f}s"
    minutes = seconds / 60
    if minutes < 120:
        return f"{sign}{minutes:.0f}m"
    hours = minutes / 60
    if hours < 48:
        return f"{sign}{hours:.1f}h"
    return f"{sign}{hours / 24:.1f}d"


def _rows(n: int) -> str:
    return f"{n} row" if n == 1 else f"{n} rows"


def _first_line(exc: BaseException) -> str:
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__


def _registered_names() -> Sequence[str]:
    from mloop.data.custom import registered_checks

    return list(registered_checks())


def _with_severity(check: Check, severity: Any) -> Check:
    from dataclasses import replace

    return replace(check, severity=severity)
