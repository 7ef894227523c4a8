"""Phase 5: custom Python checks, all in one streaming pass over the data in Arrow batches
(only when the contract has any)."""

from __future__ import annotations

import difflib
from dataclasses import replace
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from mloop.data.custom import CustomCheck, find_check, registered_checks
from mloop.data.sources import quote_ident
from mloop.data.validation.state import DATA, Pending, Run, rows
from mloop.data.values import json_safe

_BATCH_ROWS = 65_536


def custom_checks(run: Run) -> None:
    """Resolve each custom check, run them over the data and judge them."""
    runs = _resolve(run)
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
    for batch in run.engine.reader(f"SELECT {select} FROM {DATA}", batch_size=_BATCH_ROWS):
        active = [(p, c) for p, c in runs if p.status is None]
        if not active:
            break
        for p, check in active:
            _run_batch(run, p, check, batch)
    for p, _ in runs:
        if p.status is None:
            failing = p.failing_count or 0
            if failing:
                share = run.share(failing)
                p.done("failed", f"{rows(failing)} failing ({share:.2%} of {run.row_count})")
            else:
                p.done("passed", f"{p.check.description}: every row")


def _resolve(run: Run) -> list[tuple[Pending, CustomCheck]]:
    """The open custom checks that can run, with their functions; the others errored."""
    runs: list[tuple[Pending, CustomCheck]] = []
    for p in run.open("custom"):
        check = p.check.params.get("check") or find_check(p.check.name)
        if check is None:
            close = difflib.get_close_matches(p.check.name, list(registered_checks()), n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            p.done(
                "error",
                f"no custom check named {p.check.name!r} is registered{hint}; import the "
                "module that defines it with @check before validating",
            )
            continue
        missing = [c for c in check.columns or () if c not in run.fields]
        if missing:
            p.done("error", f"column {missing[0]!r} is not in the data{run.hint(missing[0])}")
            continue
        if p.check.params.get("explicit_severity") is None and p.check.severity != check.severity:
            p.check = replace(p.check, severity=check.severity)
        p.failing_count = 0
        runs.append((p, check))
    return runs


def _run_batch(run: Run, p: Pending, check: CustomCheck, batch: pa.RecordBatch) -> None:
    part = batch if check.columns is None else batch.select(list(check.columns))
    argument: Any = part.to_pandas() if check.batch_format == "pandas" else part
    try:
        outcome = check.fn(argument)
        failing_rows = failing_rows_of(outcome, part.num_rows)
    except Exception as exc:  # a user's check: report whatever it raised
        p.done("error", f"the check raised {type(exc).__name__}: {exc}")
        return
    if isinstance(failing_rows, int):
        p.failing_count = (p.failing_count or 0) + failing_rows
        return
    p.failing_count = (p.failing_count or 0) + len(failing_rows)
    room = run.examples - len(p.examples)
    if room > 0 and len(failing_rows):
        taken = batch.take(pa.array(failing_rows[:room])).to_pylist()
        p.examples += [{k: json_safe(v) for k, v in row.items()} for row in taken]


def failing_rows_of(outcome: Any, n: int) -> int | np.ndarray:
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
