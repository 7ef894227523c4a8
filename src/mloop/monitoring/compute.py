"""One window of a monitor, computed: drift of every watched column against the
reference, data quality, the outputs, performance on labelled rows and the bias audit.

The result is what the monitor stores per window: a flat ``metrics`` mapping (what alert
rules and charts read; names like ``drift.share``, ``drift.column.age.score``,
``quality.missing.age``, ``performance.accuracy``), the full ``report``, and the window's
own ``summary`` (merged into rolling references, drawn as histograms).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import pyarrow as pa

from mloop.monitoring.drift import DataSummary
from mloop.monitoring.drift.inputs import Kind
from mloop.monitoring.outcomes import outcome_metrics, outcome_report
from mloop.monitoring.quality import quality_metrics, quality_report
from mloop.monitoring.schemas import ColumnKind, CreateMonitor, WindowStatus
from mloop.monitoring.windows import OUTPUT_COLUMNS

# How the window reader's kinds are summarised: booleans count as two categories.
DRIFT_KINDS: dict[ColumnKind, Kind] = {
    "number": "numeric",
    "category": "categorical",
    "bool": "categorical",
}
# Output columns whose drift is measured beside the inputs, when the reference has them.
DRIFTING_OUTPUTS = ("prediction", "confidence")


@dataclass(frozen=True)
class WindowResult:
    status: WindowStatus
    rows: int
    metrics: dict[str, float | None]
    report: dict[str, Any]
    summary: DataSummary | None


def watched(spec: CreateMonitor, columns: Mapping[str, ColumnKind]) -> dict[str, ColumnKind]:
    """The inputs a monitor reads: its columns and its fairness audit's attributes."""
    found = dict(columns)
    for name in spec.fairness.sensitive if spec.fairness is not None else ():
        found.setdefault(name, "category")
    return found


def summary_frame(window: pa.Table, columns: Mapping[str, ColumnKind]) -> pa.Table:
    """The columns of a window that are summarised: the watched inputs, the prediction (as
    its JSON text, a category) and the confidence."""
    names = [n for n in columns if n in window.column_names]
    names += [n for n in DRIFTING_OUTPUTS if n in window.column_names]
    return window.select(names)


def summary_kinds(columns: Mapping[str, ColumnKind]) -> dict[str, Kind]:
    kinds = {name: DRIFT_KINDS[kind] for name, kind in columns.items()}
    kinds.update({"prediction": "categorical", "confidence": "numeric"})
    return kinds


def first_window(
    spec: CreateMonitor, window: pa.Table, columns: Mapping[str, ColumnKind]
) -> WindowResult:
    """A window with no reference yet (the first of a rolling reference): its volume, its
    outputs and performance, and its summary, which the next windows' reference is made of."""
    from mloop.monitoring import drift

    rows = window.num_rows
    metrics: dict[str, float | None] = {"volume.rows": float(rows)}
    if rows == 0:
        return WindowResult("empty", 0, metrics, {"volume": {"rows": 0}}, None)
    frame = summary_frame(window, columns)
    kinds = summary_kinds(columns)
    summary = drift.summarize(frame, kinds={n: kinds[n] for n in frame.column_names})
    outcomes = outcome_report(spec, window)
    metrics.update(outcome_metrics(outcomes))
    report = {"volume": {"rows": rows}, "drift": None, **outcomes}
    return WindowResult("ok", rows, metrics, report, summary)


def compute_window(
    spec: CreateMonitor,
    reference: DataSummary,
    window: pa.Table,
    columns: Mapping[str, ColumnKind],
    *,
    expected_rows: float | None = None,
    estimator: dict[str, Any] | None = None,
) -> WindowResult:
    """The result of one window (``window`` as :func:`~mloop.monitoring.windows.read_window`
    gives it). ``expected_rows``: the rows a window of the reference held on average, for
    the volume change; ``estimator``: the reference's CBPE estimator (as a dict)."""
    from mloop.monitoring import drift

    rows = window.num_rows
    metrics: dict[str, float | None] = {"volume.rows": float(rows)}
    if expected_rows:
        metrics["volume.change"] = rows / expected_rows - 1.0
    if rows == 0:
        return WindowResult("empty", 0, metrics, {"volume": {"rows": 0}}, None)
    frame = summary_frame(window, columns)
    # Columns the reference lacks (a dataset reference has no predictions) are not tested.
    names = [n for n in frame.column_names if n in reference.columns]
    summary = drift.summarize(frame.select(names), like=_restricted(reference, names))
    tested = [n for n in summary.columns if n in reference.columns]
    outputs = [n for n in tested if n in OUTPUT_COLUMNS]
    report_drift = drift.compare(
        reference,
        summary,
        columns=tested,
        methods={k: v for k, v in spec.drift.methods.items() if k in tested},
        thresholds={k: v for k, v in spec.drift.thresholds.items() if k in tested},
        drift_share=spec.drift.drift_share,
    )
    drift_dict = report_drift.to_dict()
    metrics.update(_drift_metrics(report_drift, outputs))
    quality = quality_report(
        reference, summary, window, [n for n in columns if n in summary.columns]
    )
    metrics.update(quality_metrics(quality))
    outcomes = outcome_report(spec, window, estimator)
    metrics.update(outcome_metrics(outcomes))
    if spec.drift.multivariate:
        found = _multivariate(reference, summary)
        drift_dict["multivariate"] = found
        metrics["drift.multivariate.auc"] = None if found is None else found["auc"]
    report = {
        "volume": {"rows": rows, "expected_rows": expected_rows},
        "drift": drift_dict,
        "quality": quality,
        **outcomes,
    }
    return WindowResult("ok", rows, metrics, report, summary)


def _multivariate(reference: DataSummary, current: DataSummary) -> dict[str, Any] | None:
    """The domain classifier's verdict on the two summaries' row samples (None when a side
    has no sample)."""
    from mloop.monitoring import drift

    if reference.sample is None or current.sample is None:
        return None
    return drift.domain_classifier(reference, current).to_dict()


def _restricted(reference: DataSummary, names: list[str]) -> DataSummary:
    """The reference's summaries of ``names`` only."""
    from mloop.monitoring.drift.report import _only

    return _only(reference, names)


def _drift_metrics(report: Any, outputs: list[str]) -> dict[str, float | None]:
    metrics: dict[str, float | None] = {
        "drift.share": report.drifted_share,
        "drift.dataset": 1.0 if report.dataset_drift else 0.0,
    }
    for result in report.columns:
        if not result.tested:
            continue
        prefix = f"drift.{'output' if result.column in outputs else 'column'}.{result.column}"
        metrics[f"{prefix}.score"] = result.score
        metrics[f"{prefix}.drifted"] = 1.0 if result.drifted else 0.0
    return metrics
