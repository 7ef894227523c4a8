"""Phase 2 and 4: the queries over the data.

SQL rules are first bound against the data (``bind_rules``), so an unknown column or a
non-boolean rule is that rule's error rather than a failed validation. Then one aggregate
query answers every planned check (``aggregate_scan``; see ``plan``), one ``GROUP BY`` per
string column with few distinct values answers its value checks (``by_value_checks``), and
finally one query fetches up to ``examples`` failing rows for every failed row-level check
(``fetch_examples``).
"""

from __future__ import annotations

from typing import Any

import duckdb

from mloop.data import by_value
from mloop.data.checks import ROW_KINDS
from mloop.data.sql_rules import wrap_rule
from mloop.data.validation import outcomes
from mloop.data.validation.plan import plan_aggregate
from mloop.data.validation.state import DATA, Pending, Run, first_line
from mloop.data.values import json_safe


def aggregate_scan(run: Run) -> None:
    """Run the aggregate query and judge every check it answers."""
    bind_rules(run)
    exprs, params = plan_aggregate(run)
    try:
        row = run.engine.one(f"SELECT {', '.join(exprs)} FROM {DATA}", params)
    except duckdb.Error:
        # A rule can fail while running (a failed cast, say): find it, drop it, go again.
        if not _isolate_failing_rules(run):
            raise
        exprs, params = plan_aggregate(run)
        row = run.engine.one(f"SELECT {', '.join(exprs)} FROM {DATA}", params)
    run.row_count = int(row[0])
    for p in run.open("unique"):
        at = p.extra.pop("bounds_at", None)
        if at is not None:
            p.extra["bounds"] = row[at : at + 2 * len(p.check.columns)]
    for p in run.open("row_count"):
        outcomes.row_count(run, p)
    for p in run.open():
        if not p.slots:
            continue
        values = [row[i] for i in p.slots]
        kind = p.check.kind
        if kind in ROW_KINDS:
            outcomes.row_level(run, p, int(values[0] or 0))
        elif kind == "freshness":
            outcomes.freshness(run, p, values[0])
        else:
            outcomes.distribution(run, p, values)


def bind_rules(run: Run) -> None:
    """Error the SQL rules that do not apply to this data or are not true or false."""
    for p in run.open("sql_rule"):
        sql = wrap_rule(p.check.params["sql"])
        try:
            types = run.engine.con.sql(f"SELECT {sql} AS r FROM {DATA} LIMIT 0").types
        except duckdb.Error as exc:
            p.done("error", f"the rule does not apply to this data: {first_line(exc)}")
            continue
        if str(types[0]) != "BOOLEAN":
            p.done("error", f"the rule must be true or false for each row; it gives {types[0]}")


def _isolate_failing_rules(run: Run) -> bool:
    """Run each rule alone and error those that fail; whether any did."""
    found = False
    for p in run.open("sql_rule"):
        cond, values = p.condition or ("FALSE", [])
        try:
            run.engine.one(f"SELECT count_if({cond}) FROM {DATA}", values)
        except duckdb.Error as exc:
            p.done("error", f"the rule failed while running: {first_line(exc)}")
            p.condition = None
            found = True
    return found


def by_value_checks(run: Run) -> None:
    """The value checks ``plan.choose_by_value`` grouped: one query per column."""
    columns: dict[str, list[Pending]] = {}
    for p in run.open("allowed_values", "regex"):
        if p.extra.get("by_value") and p.condition is not None:
            columns.setdefault(p.check.columns[0], []).append(p)
    for name, checks in columns.items():
        conditions = [p.condition for p in checks if p.condition is not None]
        sql = by_value.grouped_sql(DATA, name, [c for c, _ in conditions])
        row = run.engine.one(sql, [v for _, values in conditions for v in values])
        for p, failing in zip(checks, row, strict=True):
            outcomes.row_level(run, p, int(failing or 0))


def fetch_examples(run: Run) -> None:
    """Up to ``run.examples`` failing rows of every failed row-level check, in one query."""
    failed = [
        p
        for p in run.pending
        if p.status == "failed" and p.condition is not None and p.failing_count
    ]
    if not failed or not run.examples:
        return
    parts = []
    params: list[Any] = []
    for i, p in enumerate(failed):
        assert p.condition is not None
        sql, values = p.condition
        parts.append(
            f"SELECT * FROM (SELECT {i} AS __mloop_check, * FROM {DATA} "
            f"WHERE {sql} LIMIT {int(run.examples)})"
        )
        params += values
    names, rows = run.engine.table_rows(" UNION ALL ".join(parts), params)
    names = names[1:]
    for row in rows:
        target = failed[int(row[0])]
        target.examples.append({k: json_safe(v) for k, v in zip(names, row[1:], strict=True)})
