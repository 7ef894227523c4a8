"""A monitor's reference: summaries computed once, and reference values of its metrics.

- ``dataset``: the dataset version's Parquet file is read once, in record batches, into
  per-column summaries of the watched columns it has (flat memory).
- ``window``: that stretch of the endpoint's log (or of the watched dataset), summarised
  the way windows are; its
  outputs, performance and bias figures become the reference values that ``change`` alert
  rules compare each window's with, and its labelled rows calibrate a CBPE estimator that
  estimates each window's performance before its labels arrive.
- ``rolling``: nothing is stored; each window merges the summaries of the windows before it
  (see :func:`rolling_reference`), and its reference values are their metrics' means.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import orjson
from sqlalchemy import select

from mloop.core.errors import ValidationError
from mloop.datasets.files import open_version_file
from mloop.datasets.schemas import GetDatasetVersion
from mloop.datasets.versions import get_dataset_version
from mloop.monitoring import tables as t
from mloop.monitoring.schemas import ColumnKind, CreateMonitor
from mloop.store.context import Context
from mloop.store.eventlog.transaction import InTransaction

if TYPE_CHECKING:
    from mloop.monitoring.drift import DataSummary


@dataclass(frozen=True)
class ReferenceData:
    """A computed reference: its summaries, its rows, where it came from, and the reference
    values of its metrics (None: not known)."""

    summary: DataSummary
    source: str
    metrics: dict[str, float | None] | None = None
    estimator: dict[str, Any] | None = None  # a fitted CBPE, for estimates before labels

    def to_json(self) -> str:
        return orjson.dumps(
            {
                "summary": self.summary.to_dict(),
                "source": self.source,
                "metrics": self.metrics,
                "estimator": self.estimator,
            }
        ).decode()

    @classmethod
    def from_json(cls, text: str) -> ReferenceData:
        from mloop.monitoring.drift import DataSummary

        data = orjson.loads(text)
        return cls(
            DataSummary.from_dict(data["summary"]),
            data["source"],
            data.get("metrics"),
            data.get("estimator"),
        )


def build_reference(
    ctx: Context, spec: CreateMonitor, columns: Mapping[str, ColumnKind]
) -> ReferenceData | None:
    """The reference of ``spec`` (None for a rolling one, which windows build)."""
    ref = spec.reference
    if ref.kind == "dataset":
        assert ref.dataset is not None
        if ref.profile:
            return _profile_reference(ctx, ref.dataset, ref.version, columns)
        return _dataset_reference(ctx, spec, columns)
    if ref.kind == "window":
        assert ref.since is not None and ref.until is not None
        return _window_reference(ctx, spec, columns, ref.since, ref.until)
    return None


def _dataset_reference(
    ctx: Context, spec: CreateMonitor, columns: Mapping[str, ColumnKind]
) -> ReferenceData:
    import pyarrow as pa
    import pyarrow.parquet as pq

    from mloop.monitoring import drift
    from mloop.monitoring.compute import summary_kinds

    ref = spec.reference
    assert ref.dataset is not None
    found = get_dataset_version(
        ctx, GetDatasetVersion(name=ref.dataset, version=ref.version, include_profile=False)
    )
    with open_version_file(ctx, found.name, found.version) as handle:
        parquet = pq.ParquetFile(handle)
        present = [n for n in columns if n in parquet.schema_arrow.names]
        if not present:
            raise ValidationError(
                f"dataset {found.name!r} version {found.version} has none of the watched "
                f"columns ({', '.join(columns)}): pick the training dataset of the model, or "
                "name the columns to watch",
                field="reference.dataset",
            )
        reader = pa.RecordBatchReader.from_batches(
            parquet.schema_arrow.empty_table().select(present).schema,
            parquet.iter_batches(columns=present),
        )
        kinds = summary_kinds(columns)
        summary = drift.summarize(reader, columns=present, kinds={n: kinds[n] for n in present})
    source = f"dataset {found.name} version {found.version}"
    if ref.label_column is None:
        return ReferenceData(summary, source)
    return _scored(ctx, spec, summary, source, found.name, found.version)


def _scored(
    ctx: Context, spec: CreateMonitor, summary: DataSummary, source: str, name: str, version: int
) -> ReferenceData:
    """A scored held-out set: its outcomes' figures and a CBPE estimator besides."""
    from mloop.monitoring.outcomes import fit_estimator, outcome_metrics, outcome_report
    from mloop.monitoring.scored_reference import scored_table

    with open_version_file(ctx, name, version) as handle:
        table = scored_table(handle, spec, source)
    audited = spec
    if spec.fairness is not None and any(
        n not in table.column_names for n in spec.fairness.sensitive
    ):
        audited = spec.model_copy(update={"fairness": None})
    metrics = outcome_metrics(outcome_report(audited, table))
    estimator = fit_estimator(spec, table)
    if estimator is None:
        raise ValidationError(
            f"{source} has fewer than 100 labelled rows with class probabilities: a scored "
            "reference needs them to calibrate the estimate before labels",
            field="reference.label_column",
        )
    return ReferenceData(summary, f"{source}, scored", metrics, estimator)


def _profile_reference(
    ctx: Context, name: str, version: int | None, columns: Mapping[str, ColumnKind]
) -> ReferenceData:
    """The dataset version's stored profile as the reference: nothing is read but the
    profile (see ``mloop.monitoring.drift.profile_reference`` for what it gives up)."""
    from mloop.data.profile import DatasetProfile
    from mloop.monitoring import drift

    found = get_dataset_version(
        ctx, GetDatasetVersion(name=name, version=version, include_profile=True)
    )
    if not found.profile:
        raise ValidationError(
            f"dataset {found.name!r} version {found.version} has no stored profile: leave "
            "reference.profile off to read its data",
            field="reference.profile",
        )
    summary = drift.from_profile(DatasetProfile.from_dict(found.profile))
    present = [n for n in columns if n in summary.columns]
    if not present:
        raise ValidationError(
            f"the profile of dataset {found.name!r} version {found.version} has none of the "
            f"watched columns ({', '.join(columns)})",
            field="reference.dataset",
        )
    source = f"dataset {found.name} version {found.version} (its stored profile)"
    return ReferenceData(summary.select(present), source)


def _window_reference(
    ctx: Context, spec: CreateMonitor, columns: Mapping[str, ColumnKind], since: int, until: int
) -> ReferenceData:
    from mloop.monitoring.compute import compute_window

    if until <= since:
        raise ValidationError("reference.until must be after reference.since", field="reference")
    if spec.endpoint is not None:
        return _log_reference(ctx, spec, columns, since, until)
    from mloop.monitoring.targets import described, open_target_window, window_observers

    with open_target_window(ctx, spec, since=since, until=until, columns=columns) as rows:
        result = compute_window(spec, None, rows, columns, observers=window_observers(spec))
    if result.summary is None:
        raise ValidationError(
            f"{described(spec)} has no rows between reference.since and reference.until: "
            "pick a stretch with data",
            field="reference",
        )
    source = f"{described(spec)} from {since} to {until}"
    return ReferenceData(result.summary, source, result.metrics)


def _log_reference(
    ctx: Context, spec: CreateMonitor, columns: Mapping[str, ColumnKind], since: int, until: int
) -> ReferenceData:
    """A stretch of an endpoint's log: its labelled rows also calibrate a CBPE estimator."""
    from mloop.monitoring import drift
    from mloop.monitoring.compute import summary_frame, summary_kinds
    from mloop.monitoring.outcomes import fit_estimator, outcome_metrics, outcome_report
    from mloop.monitoring.windows import read_window

    assert spec.endpoint is not None
    table = read_window(
        InTransaction(ctx),  # type: ignore[arg-type]
        spec.endpoint,
        since=since,
        until=until,
        features=columns,
        variants=spec.variants,
        labels=True,
    )
    if table.num_rows == 0:
        raise ValidationError(
            f"endpoint {spec.endpoint!r} logged no successful request between "
            "reference.since and reference.until: pick a window with traffic",
            field="reference",
        )
    frame = summary_frame(table, columns)
    kinds = summary_kinds(columns)
    summary = drift.summarize(frame, kinds={n: kinds[n] for n in frame.column_names})
    metrics = outcome_metrics(outcome_report(spec, table))
    source = f"endpoint {spec.endpoint} from {since} to {until}"
    return ReferenceData(summary, source, metrics, fit_estimator(spec, table))


def rolling_reference(ctx: Context, monitor: str, start: int, windows: int) -> ReferenceData | None:
    """The merged summaries of the ``windows`` computed windows before ``start``, with their
    metrics' means as reference values (None when there is none yet)."""
    from mloop.monitoring.drift import DataSummary

    w = t.monitor_windows
    rows = list(
        ctx.conn.execute(
            select(w.c.window_start, w.c.summary_json, w.c.metrics_json)
            .where(w.c.monitor == monitor, w.c.window_start < start, w.c.status == "ok")
            .order_by(w.c.window_start.desc())
            .limit(windows)
        )
    )
    summaries = [DataSummary.from_json(r.summary_json) for r in rows if r.summary_json]
    if not summaries:
        return None
    merged = summaries[0]
    for other in summaries[1:]:
        merged = merged.merge(other)
    return ReferenceData(
        merged,
        f"the {len(summaries)} windows before this one",
        _means([orjson.loads(r.metrics_json) for r in rows]),
    )


def _means(series: list[dict[str, Any]]) -> dict[str, float | None]:
    totals: dict[str, list[float]] = {}
    for metrics in series:
        for name, value in metrics.items():
            if isinstance(value, int | float):
                totals.setdefault(name, []).append(float(value))
    return {name: sum(values) / len(values) for name, values in totals.items()}
