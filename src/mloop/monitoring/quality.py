"""Data quality of a window against its reference: missing values, categories the
reference never saw, numbers outside the reference's range, and the window's volume.

Shares are of the window's rows (missing) or of its non-null values (new categories, out
of range), so that they compare across windows of any size. Missing and new categories
come from the window's summary; out-of-range is counted batch by batch as the window is
read (:class:`RangeCounter`), one vectorised comparison per numeric column.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from mloop.monitoring.drift import CategoricalSummary, DataSummary, NumericSummary


def _share(part: int, whole: int) -> float | None:
    return part / whole if whole else None


def _new_categories(reference: CategoricalSummary, current: CategoricalSummary) -> dict[str, Any]:
    """Values of categories the reference counted exactly and never saw."""
    unseen = {
        label: count
        for label, count in current.categories.counts.items()
        if reference.categories.known(label) and reference.categories.counts.get(label, 0) == 0
    }
    top = sorted(unseen.items(), key=lambda item: (-item[1], item[0]))[:10]
    return {
        "share": _share(sum(unseen.values()), current.count),
        "count": sum(unseen.values()),
        "examples": [label for label, _ in top],
    }


class RangeCounter:
    """Counts, batch by batch, the values of numeric columns outside the reference's
    minimum and maximum."""

    def __init__(self, reference: DataSummary, columns: Sequence[str]) -> None:
        self._bounds: dict[str, tuple[float, float]] = {}
        for name in columns:
            summary = reference.columns.get(name)
            if isinstance(summary, NumericSummary) and summary.min is not None:
                assert summary.max is not None
                self._bounds[name] = (summary.min, summary.max)
        self.counts: dict[str, list[int]] = {name: [0, 0, 0] for name in self._bounds}

    def add(self, batch: pa.RecordBatch) -> None:
        for name, (low, high) in self._bounds.items():
            index = batch.schema.get_field_index(name)
            if index < 0:
                continue
            numbers = pc.cast(batch.column(index), pa.float64())
            counts = self.counts[name]
            counts[0] += int(pc.sum(pc.less(numbers, low)).as_py() or 0)
            counts[1] += int(pc.sum(pc.greater(numbers, high)).as_py() or 0)
            counts[2] += len(numbers) - numbers.null_count

    def report(self, name: str) -> dict[str, Any] | None:
        if name not in self._bounds:
            return None
        below, above, present = self.counts[name]
        low, high = self._bounds[name]
        return {
            "share": _share(below + above, present),
            "below": below,
            "above": above,
            "min": low,
            "max": high,
        }


def quality_report(
    reference: DataSummary, current: DataSummary, ranges: RangeCounter, columns: Sequence[str]
) -> dict[str, dict[str, Any]]:
    """Per column: the missing share, and new categories or out-of-range values."""
    report: dict[str, dict[str, Any]] = {}
    for name in columns:
        if name not in current.columns:
            continue
        now = current.columns[name]
        missing = now.nulls + (now.nan if isinstance(now, NumericSummary) else 0)
        entry: dict[str, Any] = {"missing": _share(missing, current.rows)}
        before = reference.columns.get(name)
        if isinstance(before, CategoricalSummary) and isinstance(now, CategoricalSummary):
            entry["new_categories"] = _new_categories(before, now)
        elif isinstance(before, NumericSummary):
            found = ranges.report(name)
            if found is not None:
                entry["out_of_range"] = found
        report[name] = entry
    return report


def quality_metrics(report: dict[str, dict[str, Any]]) -> dict[str, float | None]:
    """The report's shares as flat metrics: ``quality.missing.<column>`` and so on."""
    metrics: dict[str, float | None] = {}
    for name, entry in report.items():
        metrics[f"quality.missing.{name}"] = entry["missing"]
        for part in ("new_categories", "out_of_range"):
            if part in entry:
                metrics[f"quality.{part}.{name}"] = entry[part]["share"]
    return metrics
