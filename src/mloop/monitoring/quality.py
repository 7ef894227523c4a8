"""Data quality of a window against its reference: missing values, categories the
reference never saw, numbers outside the reference's range, and the window's volume.

Shares are of the window's rows (missing) or of its non-null values (new categories, out
of range), so that they compare across windows of any size. Missing and new categories
come from the window's summary; out-of-range needs the values, and is one vectorised
comparison per numeric column.
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


def _out_of_range(reference: NumericSummary, values: pa.ChunkedArray) -> dict[str, Any]:
    low, high = reference.min, reference.max
    present = values.length() - values.null_count
    if low is None or high is None or present == 0:
        return {"share": None, "below": 0, "above": 0, "min": low, "max": high}
    numbers = pc.cast(values, pa.float64())
    below = int(pc.sum(pc.less(numbers, low)).as_py() or 0)
    above = int(pc.sum(pc.greater(numbers, high)).as_py() or 0)
    return {
        "share": _share(below + above, present),
        "below": below,
        "above": above,
        "min": low,
        "max": high,
    }


def quality_report(
    reference: DataSummary, current: DataSummary, window: pa.Table, columns: Sequence[str]
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
        elif isinstance(before, NumericSummary) and name in window.column_names:
            entry["out_of_range"] = _out_of_range(before, window.column(name))
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
