"""What the phases of a validation share: the run and the state of each of its checks."""

from __future__ import annotations

import datetime as dt
import difflib
from dataclasses import dataclass, field
from typing import Any

from mloop.data.checks import ROW_KINDS, Check
from mloop.data.contract import Contract
from mloop.data.engine import VIEW, Engine
from mloop.data.profile import DatasetProfile
from mloop.data.report import CheckResult, Status
from mloop.data.sources import quote_ident
from mloop.data.values import json_safe

DATA = quote_ident(VIEW)
"""The data as the queries name it."""


@dataclass
class Pending:
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


class Run:
    """One validation: the data's engine and schema, the contract and what is known so far."""

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
        self.pending = [Pending(c) for c in contract.checks()]
        self.row_count: int | None = None
        self._types: dict[str, str] | None = None

    def open(self, *kinds: str) -> list[Pending]:
        """The checks without an outcome yet, of the given kinds (any kind without)."""
        return [
            p for p in self.pending if p.status is None and (not kinds or p.check.kind in kinds)
        ]

    def share(self, failing: int) -> float:
        """``failing`` rows as a share of all rows (0 for no rows)."""
        return failing / self.row_count if self.row_count else 0.0

    def hint(self, name: str) -> str:
        """A suggestion for a column the data lacks, or ``""``."""
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

    def duckdb_types(self) -> dict[str, str]:
        """Each column's DuckDB type name."""
        if self._types is None:
            rel = self.engine.con.sql(f"SELECT * FROM {DATA} LIMIT 0")
            self._types = {n: str(t) for n, t in zip(rel.columns, rel.types, strict=True)}
        return self._types

    def setting(self, name: str) -> str:
        """A DuckDB setting of the engine, as text."""
        return str(self.engine.one("SELECT current_setting(?)", [name])[0])

    def result(self, p: Pending) -> CheckResult:
        """The outcome of one check as the report shows it."""
        check = p.check
        share = None
        if p.failing_count is not None and check.kind in (*ROW_KINDS, "unique", "custom"):
            share = self.share(p.failing_count)
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


def rows(n: int) -> str:
    """``1 row``, ``2 rows``."""
    return f"{n} row" if n == 1 else f"{n} rows"


def first_line(exc: BaseException) -> str:
    """The first line of an error's text (its type where it has none)."""
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
