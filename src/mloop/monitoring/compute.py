"""One window of a monitor, computed: drift of every watched column against the
reference, data quality, the outputs, performance on labelled rows and the bias audit.

The result is what the monitor stores per window: a flat ``metrics`` mapping (what alert
rules and charts read; names like ``drift.share``, ``drift.column.age.score``,
``quality.missing.age``, ``performance.accuracy``), the full ``report``, and the window's
own ``summary`` (merged into rolling references, drawn as histograms).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from mloop.monitoring.drift import DataSummary
from mloop.monitoring.drift.inputs import Kind
from mloop.monitoring.observers import WindowObserver
from mloop.monitoring.outcomes import outcome_metrics, outcome_report
from mloop.monitoring.quality import RangeCounter, quality_metrics, quality_report
from mloop.monitoring.schemas import OUTPUT_COLUMNS, ColumnKind, CreateMonitor, WindowStatus

# How the window reader's kinds are summarised: booleans count as two categories.
DRIFT_KINDS: dict[ColumnKind, Kind] = {
    "number": "numeric",
    "category": "categorical",
    "bool": "categorical",
}
# Output columns kept dictionary-encoded while a window streams past.
_ENCODED = frozenset({"prediction", "classes", "label"})
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
    """The inputs a monitor reads: its columns, its fairness audit's attributes and its
    performance slices."""
    found = dict(columns)
    for name in spec.fairness.sensitive if spec.fairness is not None else ():
        found.setdefault(name, "category")
    for name in spec.performance.slices:
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


class _Outcomes:
    """The small columns of a window kept whole while its inputs stream past: the outputs,
    the labels and the fairness audit's attributes."""

    def __init__(self, spec: CreateMonitor) -> None:
        sensitive = spec.fairness.sensitive if spec.fairness is not None else []
        slices = [n for n in spec.performance.slices if n not in sensitive]
        self.names = [*OUTPUT_COLUMNS, *sensitive, *slices]
        self.batches: list[pa.RecordBatch] = []
        self.rows = 0

    def add(self, batch: pa.RecordBatch) -> None:
        self.rows += batch.num_rows
        present = [n for n in self.names if batch.schema.get_field_index(n) >= 0]
        # Copied: a batch from DuckDB shares one allocation across its columns, so keeping
        # these few columns as they are would keep every input column of the window alive.
        # The JSON texts (a handful of distinct predictions, classes and labels) are kept
        # dictionary-encoded: 4 bytes a row.
        columns = [
            pc.dictionary_encode(batch.column(n))
            if n in _ENCODED
            else pa.concat_arrays([batch.column(n)])
            for n in present
        ]
        self.batches.append(pa.RecordBatch.from_arrays(columns, names=present))

    def table(self, schema: pa.Schema) -> pa.Table:
        if self.batches:
            return pa.Table.from_batches(self.batches)
        present = [n for n in self.names if schema.get_field_index(n) >= 0]
        return pa.schema([schema.field(n) for n in present]).empty_table()


def _as_stream(window: pa.Table | pa.RecordBatchReader) -> pa.RecordBatchReader:
    if isinstance(window, pa.Table):
        return pa.RecordBatchReader.from_batches(window.schema, window.to_batches())
    return window


def compute_window(
    spec: CreateMonitor,
    reference: DataSummary | None,
    window: pa.Table | pa.RecordBatchReader,
    columns: Mapping[str, ColumnKind],
    *,
    expected_rows: float | None = None,
    estimator: dict[str, Any] | None = None,
    observers: Sequence[WindowObserver] = (),
) -> WindowResult:
    """The result of one window: ``window`` has the columns of
    :func:`~mloop.monitoring.windows.read_window`, as a table or a stream of batches (read
    once, with flat memory: only the outputs, labels and audited attributes are kept).
    Without a ``reference`` (the first windows of a rolling one) the window is summarised
    and its outputs reported, without drift or quality. ``expected_rows``: the rows a
    window of the reference held on average, for the volume change; ``estimator``: the
    reference's CBPE estimator (as a dict); ``observers`` see every batch too and add
    their sections and metrics (they are closed before this returns)."""
    try:
        return _compute(spec, reference, window, columns, expected_rows, estimator, observers)
    finally:
        for observer in observers:
            observer.close()


def _compute(
    spec: CreateMonitor,
    reference: DataSummary | None,
    window: pa.Table | pa.RecordBatchReader,
    columns: Mapping[str, ColumnKind],
    expected_rows: float | None,
    estimator: dict[str, Any] | None,
    observers: Sequence[WindowObserver],
) -> WindowResult:
    from mloop.monitoring import drift

    stream = _as_stream(window)
    kinds = summary_kinds(columns)
    # Gateway calls have no prediction or confidence: their null columns are not summarised.
    drifting = DRIFTING_OUTPUTS if spec.gateway is None else ()
    summarised = [
        n
        for n in [*columns, *drifting]
        if stream.schema.get_field_index(n) >= 0 and (reference is None or n in reference.columns)
    ]
    ranges = RangeCounter(reference, list(columns)) if reference is not None else None
    kept = _Outcomes(spec)

    def feed() -> Iterator[pa.RecordBatch]:
        for batch in stream:
            if ranges is not None:
                ranges.add(batch)
            kept.add(batch)
            for observer in observers:
                observer.add(batch)
            yield batch.select(summarised)

    inputs = pa.RecordBatchReader.from_batches(
        pa.schema([stream.schema.field(n) for n in summarised]), feed()
    )
    if reference is None:
        summary = drift.summarize(inputs, kinds={n: kinds[n] for n in summarised})
    else:
        summary = drift.summarize(inputs, like=_restricted(reference, summarised))
    rows = kept.rows
    metrics: dict[str, float | None] = {"volume.rows": float(rows)}
    if expected_rows:
        metrics["volume.change"] = rows / expected_rows - 1.0
    report: dict[str, Any] = {"volume": {"rows": rows, "expected_rows": expected_rows}}
    # Observers report on empty windows too: no calls at all is what a rule on
    # gateway.calls is there to see.
    for observer in observers:
        section, observed = observer.finish()
        report[observer.section] = section
        metrics.update(observed)
    if rows == 0:
        return WindowResult("empty", 0, metrics, report, None)
    outcomes = outcome_report(spec, kept.table(stream.schema), estimator)
    metrics.update(outcome_metrics(outcomes))
    if reference is None:
        report["drift"] = None
        report["note"] = "no reference yet: the first windows of a rolling reference only record"
        return WindowResult("ok", rows, metrics, {**report, **outcomes}, summary)
    outputs = [n for n in summarised if n in OUTPUT_COLUMNS]
    found = drift.compare(
        reference,
        summary,
        columns=summarised,
        methods={k: v for k, v in spec.drift.methods.items() if k in summarised},
        thresholds={k: v for k, v in spec.drift.thresholds.items() if k in summarised},
        drift_share=spec.drift.drift_share,
    )
    drift_dict = found.to_dict()
    metrics.update(_drift_metrics(found, outputs))
    assert ranges is not None
    quality = quality_report(
        reference, summary, ranges, [n for n in columns if n in summary.columns]
    )
    metrics.update(quality_metrics(quality))
    if spec.drift.multivariate:
        verdict = _multivariate(reference, summary)
        drift_dict["multivariate"] = verdict
        metrics["drift.multivariate.auc"] = None if verdict is None else verdict["auc"]
    report.update({"drift": drift_dict, "quality": quality, **outcomes})
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
    return reference.select(names)


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
