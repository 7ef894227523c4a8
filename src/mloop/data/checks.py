"""The checks a contract compiles to: one flat list that validation executes.

Every check has a unique name (``amount.min``, ``unique(customer_id, day)``, a rule's own
name), a kind, the columns it reads and a severity. ``params`` holds what the kind needs
(a bound, a list of values, a pattern, an SQL expression...).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

Severity = Literal["error", "warn"]

CheckKind = Literal[
    "column_present",
    "type",
    "not_null",
    "unique",
    "min",
    "max",
    "allowed_values",
    "regex",
    "row_count",
    "freshness",
    "sql_rule",
    "mean",
    "std",
    "psi",
    "custom",
    "extra_columns",
]

ROW_KINDS: frozenset[str] = frozenset(
    {"not_null", "min", "max", "allowed_values", "regex", "sql_rule"}
)
"""Kinds that test each row; they report failing counts, shares and example rows."""

DISTRIBUTION_KINDS: frozenset[str] = frozenset({"mean", "std", "psi"})
"""Kinds that compare the data with a reference profile."""


@dataclass(frozen=True)
class Check:
    """One executable check."""

    name: str
    kind: CheckKind
    columns: tuple[str, ...]
    severity: Severity
    description: str
    params: Mapping[str, Any] = field(default_factory=dict)
