"""Phase 3: uniqueness keys, each in one read of its columns.

Where a key's columns are integers, dates or timestamps spanning a small range (their
bounds come from the aggregate scan), the key is counted into an array indexed by the key
(``mloop.data.uniqueness``); otherwise one ``GROUP BY`` query counts the duplicated keys and
keeps the most repeated ones as examples.
"""

from __future__ import annotations

from typing import Any

from mloop.data import uniqueness
from mloop.data.sources import quote_ident
from mloop.data.validation.state import DATA, Pending, Run, rows
from mloop.data.values import json_safe


def check_unique(run: Run, p: Pending) -> None:
    """Count the rows repeating a key of ``p`` and judge the check."""
    if not _unique_dense(run, p):
        _unique_grouped(run, p)


def _unique_dense(run: Run, p: Pending) -> bool:
    """Count duplicates by direct addressing, where the key allows; False where not."""
    bounds = p.extra.get("bounds")
    if bounds is None or any(b is None for b in bounds):
        return False  # not integral, or a column has no values
    lows, highs = [int(b) for b in bounds[0::2]], [int(b) for b in bounds[1::2]]
    budget = uniqueness.budget_bytes(run.setting("memory_limit"))
    steps = uniqueness.strides(lows, highs, run.row_count or 0, budget)
    if steps is None:
        return False
    size = steps[0] * (highs[0] - lows[0] + 1)
    cols = [quote_ident(c) for c in p.check.columns]
    where = " AND ".join(f"{c} IS NOT NULL" for c in cols)
    batches = run.engine.reader(
        f"SELECT {', '.join(cols)} FROM {DATA} WHERE {where}",
        batch_size=uniqueness.BATCH_ROWS,
    )
    found = uniqueness.count_duplicates(batches, lows, steps, size, max(int(run.examples), 1))
    top = []
    if found.top:
        types = run.engine.con.sql(f"SELECT {', '.join(cols)} FROM {DATA} LIMIT 0")
        schema = types.to_arrow_table().schema
        columns = [
            uniqueness.arrow_values([key[i] for key, _ in found.top], schema.field(i).type)
            for i in range(len(cols))
        ]
        top = [
            ({name: columns[i][j] for i, name in enumerate(p.check.columns)}, n)
            for j, (_, n) in enumerate(found.top)
        ]
    _outcome(run, p, found.groups, found.rows, top)
    return True


def _unique_grouped(run: Run, p: Pending) -> None:
    # One GROUP BY: the duplicated keys are counted and the most repeated ones kept as
    # examples in the same query, ordered by count and then by key (min_by over the struct
    # (-n, k)), as the direct count orders them: equal counts must not come out in the
    # hash table's order.
    cols = [quote_ident(c) for c in p.check.columns]
    keys = ", ".join(cols)
    where = " AND ".join(f"{c} IS NOT NULL" for c in cols)
    key_struct = "struct_pack(" + ", ".join(f"{c} := {c}" for c in cols) + ")"
    limit = max(int(run.examples), 1)
    _, found = run.engine.table_rows(
        "SELECT count(*), sum(n), min_by(struct_pack(k := k, n := n), "
        f"struct_pack(o := -n, k := k), {limit}) FROM "
        f"(SELECT {key_struct} AS k, count(*) AS n FROM {DATA} WHERE {where} "
        f"GROUP BY {keys} HAVING count(*) > 1)"
    )
    groups, duplicated_rows, top = found[0]
    top = [(item["k"], int(item["n"])) for item in top or []]  # most repeated first
    _outcome(run, p, int(groups or 0), int(duplicated_rows or 0), top)


def _outcome(
    run: Run, p: Pending, groups: int, duplicated_rows: int, top: list[tuple[dict[str, Any], int]]
) -> None:
    p.failing_count = duplicated_rows
    if not groups:
        p.done("passed", f"{p.check.description}: no duplicates")
        return
    share = run.share(p.failing_count)
    p.done(
        "failed",
        f"{groups} duplicated keys over {rows(p.failing_count)} ({share:.2%})",
        duplicated_keys=int(groups),
    )
    label = "count" if "count" not in p.check.columns else "_count"
    for key, n in top[: run.examples]:
        example = {k: json_safe(v) for k, v in key.items()}
        example[label] = n
        p.examples.append(example)
