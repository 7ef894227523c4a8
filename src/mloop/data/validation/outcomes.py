"""The values the scan returned, judged: each check's status, message and observations."""

from __future__ import annotations

import datetime as dt
from typing import Any

from mloop.data.profile import bin_counts
from mloop.data.report import Status
from mloop.data.stats import population_stability_index
from mloop.data.validation.state import Pending, Run, rows
from mloop.data.values import finite_or_none, json_safe

_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)

_VIOLATION_TEXT = {
    "not_null": "null",
    "allowed_values": "outside the allowed values",
    "regex": "not matching the pattern",
    "sql_rule": "where the rule is false",
}


def row_level(run: Run, p: Pending, failing: int) -> None:
    """A row-level check from its count of violating rows."""
    p.failing_count = failing
    if failing == 0:
        p.done("passed", f"{p.check.description}: every row")
        return
    kind = p.check.kind
    if kind == "min":
        what = f"below {p.check.params.get('value')}"
    elif kind == "max":
        what = f"above {p.check.params.get('value')}"
    else:
        what = _VIOLATION_TEXT[kind]
    share = run.share(failing)
    p.done("failed", f"{rows(failing)} {what} ({share:.2%} of {run.row_count})")


def row_count(run: Run, p: Pending) -> None:
    """The row-count bounds against the rows scanned."""
    n = run.row_count or 0
    lo, hi = p.check.params["min"], p.check.params["max"]
    if (lo is not None and n < lo) or (hi is not None and n > hi):
        p.done("failed", f"{n} rows; expected {p.check.description}", rows=n)
    else:
        p.done("passed", f"{n} rows", rows=n)


def freshness(run: Run, p: Pending, newest_us: Any) -> None:
    """The age of the newest value (microseconds since the epoch) against the limit."""
    if newest_us is None:
        p.done("failed", f"{p.check.columns[0]} has no values")
        return
    moment = _EPOCH + dt.timedelta(microseconds=int(newest_us))
    age = run.now - moment
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


def distribution(run: Run, p: Pending, values: list[Any]) -> None:
    """A mean, standard deviation or PSI check from the statistics the scan computed."""
    if p.check.kind in ("mean", "std"):
        _moment(run, p, values[0])
    else:
        _psi(run, p, values)


def _moment(run: Run, p: Pending, value: Any) -> None:
    assert run.reference is not None
    ref = run.reference.column(p.check.columns[0])
    kind = p.check.kind
    current = finite_or_none(value)
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


def _psi(run: Run, p: Pending, values: list[Any]) -> None:
    assert run.reference is not None
    ref = run.reference.column(p.check.columns[0])
    limit = float(p.check.params["max"])
    if "edges" in p.extra:
        edges = p.extra["edges"]
        assert ref.histogram is not None
        if edges[0] == edges[-1]:
            expected_bins = [float(sum(ref.histogram.counts)), 0.0]
            counts = values[0] or {}
            actual_bins = [
                float(sum(n for b, n in counts.items() if b is not None and float(b) <= edges[0])),
                float(sum(n for b, n in counts.items() if b is not None and float(b) > edges[0])),
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
