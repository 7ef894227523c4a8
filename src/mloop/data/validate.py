"""Validating data against a contract, in as few streaming DuckDB scans as possible.

1. Schema checks (column presence, types, extra columns) read only the schema
   (``validation.schema``).
2. One aggregate query computes every row-level check, the row count, the newest value for
   freshness checks, and the current statistics distribution checks compare with the
   reference profile (``validation.plan`` writes it, ``validation.scan`` runs it and
   ``validation.outcomes`` judges its values). ``allowed`` and regex checks on string
   columns with few distinct values are counted by one ``GROUP BY`` per such column instead.
3. Per uniqueness key: one read of the key columns (``validation.unique``).
4. One query fetches up to ``examples`` failing rows for every failed row-level check.
5. Only when the contract has custom Python checks: one streaming pass in Arrow batches
   (``validation.custom``).
"""

from __future__ import annotations

import datetime as dt
import os
import time
from typing import Any

from mloop.core.errors import ValidationError
from mloop.data.contract import Contract
from mloop.data.contract_yaml import load_contract
from mloop.data.engine import Engine
from mloop.data.profile import DatasetProfile
from mloop.data.report import CheckResult, ValidationReport
from mloop.data.sources import SourceLike, open_source
from mloop.data.validation import scan
from mloop.data.validation.custom import custom_checks
from mloop.data.validation.plan import choose_by_value
from mloop.data.validation.schema import check_schema
from mloop.data.validation.state import Run
from mloop.data.validation.unique import check_unique

DEFAULT_EXAMPLES = 5


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
            run = Run(engine, contract, reference, moment, examples)
            results = _execute(run)
    finally:
        if owned:
            source.close()
    return ValidationReport(
        contract=contract.name,
        contract_version=contract.version,
        source=source.description,
        row_count=run.row_count,
        checks=results,
        started_at=started_at,
        duration_s=round(time.perf_counter() - started, 3),
        reference=reference.source if reference is not None else None,
    )


def _execute(run: Run) -> list[CheckResult]:
    """The phases in order; each decides the checks it can and leaves the rest open."""
    check_schema(run)
    choose_by_value(run)
    scan.aggregate_scan(run)
    scan.by_value_checks(run)
    for p in run.open("unique"):
        check_unique(run, p)
    scan.fetch_examples(run)
    custom_checks(run)
    return [run.result(p) for p in run.pending]


def _utc(value: Any) -> dt.datetime:
    if isinstance(value, dt.datetime):
        return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)
    if isinstance(value, dt.date):
        return dt.datetime.combine(value, dt.time(0), tzinfo=dt.UTC)
    raise ValidationError(f"expected a date or timestamp, got {value!r}", field="now")
