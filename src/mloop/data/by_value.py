"""Value checks evaluated once per distinct value rather than once per row.

An ``allowed`` list or a regex depends on the value alone, so on a column with few distinct
values (country codes, statuses, e-mail domains...) it is cheaper to group the column first
(``SELECT c, count(*) ... GROUP BY c``) and count the failing rows as the sum of the counts
of the failing values: a regex then runs a few thousand times instead of millions. On a
column of mostly distinct values the grouping would cost more than it saves, so the choice
is made on an estimate of the number of distinct values in up to ``SAMPLE_ROWS`` rows (the
result is the same either way, only the speed differs).
"""

from __future__ import annotations

from collections.abc import Sequence

from mloop.data.sources import quote_ident

SAMPLE_ROWS = 1 << 20
"""Rows the distinct values are estimated on."""
MAX_SHARE_REGEX = 0.25
"""Grouped when the sample's distinct values are at most this share of its rows, for a
column with a regex check (a regex costs far more per row than grouping does)..."""
MAX_SHARE_ALLOWED = 0.01
"""... and for a column with only ``allowed`` checks (a hashed list lookup is cheap)."""


def sample_sql(view: str, columns: Sequence[str]) -> str:
    """One row: the sampled row count, then each column's estimated distinct values."""
    cols = ", ".join(quote_ident(c) for c in columns)
    estimates = ", ".join(f"approx_count_distinct({quote_ident(c)})" for c in columns)
    return f"SELECT count(*), {estimates} FROM (SELECT {cols} FROM {view} LIMIT {SAMPLE_ROWS})"


def worth_grouping(sampled: int, distinct: int | None, has_regex: bool) -> bool:
    """Whether a column with ``distinct`` values in ``sampled`` rows is checked by value."""
    if not sampled:
        return False
    limit = MAX_SHARE_REGEX if has_regex else MAX_SHARE_ALLOWED
    return (distinct or 0) <= limit * sampled


def grouped_sql(view: str, column: str, conditions: Sequence[str]) -> str:
    """One row: for each condition (SQL on ``column``, true for a failing value), the rows
    whose value fails it. NULL is one of the groups, and fails as it would row by row."""
    c = quote_ident(column)
    n = quote_ident("__mloop_rows" if column != "__mloop_rows" else "__mloop_rows_")
    sums = ", ".join(f"sum({n}) FILTER (WHERE {cond})" for cond in conditions)
    return f"SELECT {sums} FROM (SELECT {c}, count(*) AS {n} FROM {view} GROUP BY {c})"
