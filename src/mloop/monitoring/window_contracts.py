"""Data contracts checked window by window: the share of rows that break each rule.

A monitor with a ``contract`` validates every window against the contract's row-level
checks: nulls, bounds, allowed values, patterns and SQL rules (``mloop.data``'s
validation, one DuckDB scan). The checks that judge a whole dataset version (column
types, extra columns, uniqueness, row counts, freshness, distributions) and custom
Python checks (their code lives in the client) are left out: a window is a slice of
traffic, its columns are read as numbers, text or booleans, and drift covers
distributions. Only watched columns are in a window; the checks of other columns are
reported as skipped.

The window's batches go to a temporary Parquet file as they stream past (only the
contract's columns), so memory stays flat and the window is read once.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import tempfile
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from mloop.core.errors import ValidationError
from mloop.monitoring.schemas import ColumnKind, MonitorContract
from mloop.store.context import Context

if TYPE_CHECKING:
    import pyarrow.parquet as pq

    from mloop.data import Contract

EXAMPLES = 3  # failing rows shown per check


def resolve_contract(ctx: Context, given: MonitorContract) -> MonitorContract:
    """The contract as the monitor keeps it: its YAML (a dataset's policy is copied) and
    which contract it is. A contract that does not parse is refused here, not per window."""
    from mloop.datasets.contracts import parse_policy_contract

    if (given.dataset is None) == (given.yaml is None):
        raise ValidationError(
            "contract needs exactly one of dataset (that dataset's registration policy) and "
            "yaml (the contract's text)",
            field="contract",
        )
    text = given.yaml
    if given.dataset is not None:
        from mloop.datasets.common import load_dataset_row

        row = load_dataset_row(ctx, given.dataset)
        if not row.policy_contract:
            raise ValidationError(
                f"dataset {row.name!r} has no registration policy, so no contract to check "
                "windows against: set one (mloop datasets policy set) or give the contract's "
                "yaml",
                field="contract.dataset",
            )
        text = row.policy_contract
    assert text is not None
    from mloop.data import ContractError

    try:
        contract, digest = parse_policy_contract(text, field="contract.yaml")
    except ContractError as exc:
        raise ValidationError(f"the contract does not parse: {exc}", field="contract.yaml") from exc
    return MonitorContract(
        dataset=given.dataset,
        yaml=text,
        name=contract.name,
        version=str(contract.version),
        digest=digest,
    )


def row_contract(contract: Contract) -> Contract:
    """``contract`` with only its row-level checks, and no column required."""
    columns = {
        name: dataclasses.replace(column, type=None, required=False, unique=False)
        for name, column in contract.columns.items()
    }
    return dataclasses.replace(
        contract,
        columns=columns,
        unique=[],
        rows=None,
        freshness=None,
        distribution=[],
        custom=[],
        extra_columns="allow",
    )


def contract_columns(contract: Contract) -> list[str]:
    """The columns the contract's row-level checks read."""
    names = list(contract.columns)
    for rule in contract.rules:
        names += [n for n in rule.columns if n not in names]
    return names


def check_watched(contract: MonitorContract, columns: Mapping[str, ColumnKind]) -> None:
    """Refuse a contract none of whose checks could run on the watched columns."""
    assert contract.yaml is not None
    from mloop.data import parse_contract

    names = contract_columns(row_contract(parse_contract(contract.yaml, "<monitor contract>")))
    if not any(n in columns for n in names):
        raise ValidationError(
            f"the contract checks {', '.join(names[:10]) or 'no column'}, none of which the "
            f"monitor watches ({', '.join(list(columns)[:10])}): watch them, or pick the "
            "contract of these inputs",
            field="contract",
        )


class ContractChecks:
    """A :class:`~mloop.monitoring.observers.WindowObserver` that validates the window."""

    section = "contract"

    def __init__(self, given: MonitorContract) -> None:
        from mloop.data import parse_contract

        assert given.yaml is not None
        self.given = given
        self.contract = row_contract(parse_contract(given.yaml, "<monitor contract>"))
        self._wanted = contract_columns(self.contract)
        self._writer: pq.ParquetWriter | None = None
        self._path: str | None = None
        self.rows = 0

    def add(self, batch: pa.RecordBatch) -> None:
        import pyarrow.parquet as pq

        present = [n for n in self._wanted if batch.schema.get_field_index(n) >= 0]
        part = batch.select(present)
        if self._writer is None:
            handle, self._path = tempfile.mkstemp(prefix="mloop-window-", suffix=".parquet")
            os.close(handle)
            self._writer = pq.ParquetWriter(self._path, part.schema)
        self._writer.write_batch(part)
        self.rows += batch.num_rows

    def finish(self) -> tuple[dict[str, Any], dict[str, float | None]]:
        from mloop.data import validate

        report: dict[str, Any] = {
            "contract": self.given.name,
            "version": self.given.version,
            "digest": self.given.digest,
            "dataset": self.given.dataset,
            "rows": self.rows,
            "checks": [],
        }
        if self._writer is None:
            return report, {}
        self._writer.close()
        self._writer = None
        assert self._path is not None
        found = validate(self._path, self.contract, examples=EXAMPLES)
        checks = [r.to_dict() for r in found.checks]
        report["checks"] = checks
        metrics: dict[str, float | None] = {}
        shares = []
        failed = 0
        for check in checks:
            share = check["failing_share"]
            metrics[f"quality.contract.check.{check['name']}.share"] = share
            if share is not None:
                shares.append(share)
            if check["severity"] == "error" and check["status"] in ("failed", "error"):
                failed += 1
        metrics["quality.contract.failed_checks"] = float(failed)
        metrics["quality.contract.max_share"] = max(shares) if shares else 0.0
        report["failed_checks"] = failed
        return report, metrics

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
            self._writer = None
        if self._path is not None:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self._path)
            self._path = None
