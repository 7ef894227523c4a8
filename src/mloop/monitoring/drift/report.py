"""Dataset-level drift: every column tested, p-values corrected for multiple tests, and the
share of drifted columns.

``compare(reference, current)`` takes two ``DataSummary``s; ``detect_drift(reference, data)``
summarises ``data`` first (streaming, column-parallel, with a progress callback).

Per column the method is chosen automatically (``selection``) unless ``methods`` (per
column), ``numeric_method`` or ``categorical_method`` name one; the threshold is the
method's default unless ``thresholds`` (per column) or ``method_thresholds`` (per method)
give one. Columns without values on a side are reported untested, with the reason.

Multiple tests: with ``fdr=True`` (the default) the p-values of the columns tested with
p-value methods are adjusted with Benjamini-Hochberg (``scipy.stats.false_discovery_control``)
and a column drifts when its *adjusted* p-value is below its threshold: among the columns
called drifted, the expected share of false alarms is at most the threshold. Distances are
not p-values and are not adjusted.

Dataset drift: ``drifted_share`` (drifted columns over tested columns) at or above
``drift_share`` (default 0.5).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
from scipy import stats

from mloop.core.errors import NotFoundError, ValidationError
from mloop.monitoring.drift.effects import Effect, mean_shift, share_change
from mloop.monitoring.drift.inputs import DEFAULT_BATCH_ROWS, DataLike, Kind
from mloop.monitoring.drift.methods import METHODS, Method, get_method
from mloop.monitoring.drift.selection import choose_method
from mloop.monitoring.drift.streaming import Progress, summarize
from mloop.monitoring.drift.summary import ColumnSummary, DataSummary, NumericSummary

DEFAULT_DRIFT_SHARE = 0.5


@dataclass(frozen=True)
class ColumnDrift:
    """One column's result.

    ``method`` and ``statistic`` (with ``p_value`` and, after FDR, ``adjusted_p_value`` for
    tests); ``threshold`` and ``drifted``; ``effect`` (size and direction); ``exact``: whether
    it was computed on every value rather than sketches; ``chosen``: ``auto`` or
    ``override``, with ``reason``; the non-null value counts of both sides. A column that
    could not be tested has ``tested`` False, ``method`` None and the reason in ``reason``.
    """

    column: str
    kind: Kind
    tested: bool
    reason: str
    reference_count: int
    current_count: int
    method: str | None = None
    chosen: str = "auto"
    statistic: float | None = None
    p_value: float | None = None
    adjusted_p_value: float | None = None
    threshold: float | None = None
    drifted: bool = False
    exact: bool = True
    effect: Effect | None = None

    @property
    def score(self) -> float | None:
        """The number compared with the threshold: the adjusted p-value (else the p-value)
        of tests, the statistic of distances."""
        if self.adjusted_p_value is not None:
            return self.adjusted_p_value
        return self.p_value if self.p_value is not None else self.statistic

    def to_dict(self) -> dict[str, Any]:
        return {
            "column": self.column,
            "kind": self.kind,
            "tested": self.tested,
            "reason": self.reason,
            "method": self.method,
            "chosen": self.chosen,
            "statistic": _finite(self.statistic),
            "p_value": self.p_value,
            "adjusted_p_value": self.adjusted_p_value,
            "threshold": self.threshold,
            "drifted": self.drifted,
            "exact": self.exact,
            "effect": None if self.effect is None else self.effect.to_dict(),
            "reference_count": self.reference_count,
            "current_count": self.current_count,
        }


def _finite(value: float | None) -> float | str | None:
    """JSON has no infinity: an infinite statistic (a new category under chi-square) is
    written as the string ``"inf"``."""
    if value is None or np.isfinite(value):
        return value
    return "inf" if value > 0 else "-inf"


@dataclass(frozen=True)
class DriftReport:
    """All columns' results and the dataset verdict (see the module docstring)."""

    columns: list[ColumnDrift]
    drift_share: float
    fdr: bool
    reference_rows: int
    current_rows: int
    notes: list[str] = field(default_factory=list)

    @property
    def tested(self) -> list[ColumnDrift]:
        return [c for c in self.columns if c.tested]

    @property
    def untested(self) -> list[ColumnDrift]:
        return [c for c in self.columns if not c.tested]

    @property
    def drifted_columns(self) -> list[str]:
        return [c.column for c in self.columns if c.drifted]

    @property
    def drifted_share(self) -> float:
        tested = self.tested
        return sum(c.drifted for c in tested) / len(tested) if tested else 0.0

    @property
    def dataset_drift(self) -> bool:
        return bool(self.tested) and self.drifted_share >= self.drift_share

    def column(self, name: str) -> ColumnDrift:
        for result in self.columns:
            if result.column == name:
                return result
        raise NotFoundError(f"the report has no column {name!r}", field="column")

    def to_dict(self) -> dict[str, Any]:
        return {
            "dataset_drift": self.dataset_drift,
            "drifted_share": self.drifted_share,
            "drift_share": self.drift_share,
            "drifted_columns": self.drifted_columns,
            "fdr": self.fdr,
            "reference_rows": self.reference_rows,
            "current_rows": self.current_rows,
            "notes": list(self.notes),
            "columns": [c.to_dict() for c in self.columns],
        }


def compare(
    reference: DataSummary,
    current: DataSummary,
    *,
    columns: Sequence[str] | None = None,
    methods: Mapping[str, str] | None = None,
    thresholds: Mapping[str, float] | None = None,
    numeric_method: str | None = None,
    categorical_method: str | None = None,
    method_thresholds: Mapping[str, float] | None = None,
    drift_share: float = DEFAULT_DRIFT_SHARE,
    fdr: bool = True,
) -> DriftReport:
    """Test every column (or ``columns``) of ``reference`` against ``current``."""
    if reference.rows == 0:
        raise ValidationError(
            "the reference summary is empty (0 rows): summarise data that has rows",
            field="reference",
        )
    if current.rows == 0:
        raise ValidationError(
            "the current data is empty (0 rows): there is nothing to compare", field="current"
        )
    if not 0.0 < drift_share <= 1.0:
        raise ValidationError(
            f"drift_share {drift_share!r} must be in (0, 1]: the share of drifted columns "
            "that makes the dataset drifted",
            field="drift_share",
        )
    names = list(columns) if columns is not None else reference.column_names
    _check_names(names, reference, current, methods or {}, thresholds or {})
    for name in method_thresholds or {}:
        if name not in METHODS:
            raise ValidationError(
                f"method_thresholds names unknown method {name!r}; known: {', '.join(METHODS)}",
                field="method_thresholds",
            )
    results = [
        _test_column(
            name,
            reference.column(name),
            current.column(name),
            (methods or {}).get(name),
            (thresholds or {}).get(name),
            numeric_method,
            categorical_method,
            method_thresholds or {},
        )
        for name in names
    ]
    if fdr:
        results = _adjust(results)
    notes = []
    if fdr and any(r.adjusted_p_value is not None for r in results):
        notes.append("p-values adjusted for multiple tests (Benjamini-Hochberg)")
    return DriftReport(
        columns=results,
        drift_share=drift_share,
        fdr=fdr,
        reference_rows=reference.rows,
        current_rows=current.rows,
        notes=notes,
    )


def detect_drift(
    reference: DataSummary,
    data: DataLike,
    *,
    columns: Sequence[str] | None = None,
    methods: Mapping[str, str] | None = None,
    thresholds: Mapping[str, float] | None = None,
    numeric_method: str | None = None,
    categorical_method: str | None = None,
    method_thresholds: Mapping[str, float] | None = None,
    drift_share: float = DEFAULT_DRIFT_SHARE,
    fdr: bool = True,
    batch_rows: int = DEFAULT_BATCH_ROWS,
    threads: int | None = None,
    progress: Progress | None = None,
) -> DriftReport:
    """Summarise ``data`` as ``reference`` was (``summarize(data, like=reference)``), then
    ``compare``. Only ``columns`` are read when given."""
    like = reference if columns is None else _only(reference, columns)
    current = summarize(data, like=like, batch_rows=batch_rows, threads=threads, progress=progress)
    return compare(
        like,
        current,
        methods=methods,
        thresholds=thresholds,
        numeric_method=numeric_method,
        categorical_method=categorical_method,
        method_thresholds=method_thresholds,
        drift_share=drift_share,
        fdr=fdr,
    )


def _only(reference: DataSummary, columns: Sequence[str]) -> DataSummary:
    """``reference.select(columns)`` (kept under this name for callers that used it)."""
    return reference.select(columns)


def _check_names(
    names: Sequence[str],
    reference: DataSummary,
    current: DataSummary,
    methods: Mapping[str, str],
    thresholds: Mapping[str, float],
) -> None:
    for name in names:
        reference.column(name)  # NotFoundError with a close match
        if name not in current.columns:
            raise ValidationError(
                f"column {name!r} is in the reference but missing from the current data; "
                "restore it, or leave it out with columns=[...]",
                field="columns",
            )
        ref_kind, cur_kind = reference.columns[name].kind, current.columns[name].kind
        if ref_kind != cur_kind:
            raise ValidationError(
                f"column {name!r} is {ref_kind} in the reference but {cur_kind} in the current "
                "data: summarise the current data with like=reference",
                field="columns",
            )
    for what, given in (("methods", methods), ("thresholds", thresholds)):
        unknown = [n for n in given if n not in names]
        if unknown:
            raise ValidationError(
                f"{what} names column {unknown[0]!r}, which is not compared", field=what
            )


def _test_column(
    name: str,
    reference: ColumnSummary,
    current: ColumnSummary,
    method_name: str | None,
    threshold: float | None,
    numeric_method: str | None,
    categorical_method: str | None,
    method_thresholds: Mapping[str, float],
) -> ColumnDrift:
    kind = reference.kind
    chosen = "override"
    wanted = method_name or (numeric_method if kind == "numeric" else categorical_method)
    if wanted is not None:
        method = get_method(wanted, column=name, kind=kind)
        reason = f"{method.name} as configured"
    else:
        auto, reason = choose_method(reference, current)
        method, chosen = METHODS[auto], "auto"
    if threshold is not None:
        limit = method.check_threshold(threshold, name)
    elif method.name in method_thresholds:
        limit = method.check_threshold(method_thresholds[method.name], name)
    else:
        limit = method.default_threshold
    empty = [side for side, s in (("reference", reference), ("current", current)) if s.count == 0]
    if empty:
        rows = {"reference": reference.rows, "current": current.rows}
        why = " and ".join(f"the {side} ({rows[side]:,} rows)" for side in empty)
        return ColumnDrift(
            column=name,
            kind=kind,
            tested=False,
            reason=f"no non-null values in {why}: nothing to compare",
            reference_count=reference.count,
            current_count=current.count,
        )
    outcome = method.run(reference, current)
    effect = _effect(reference, current, method)
    return ColumnDrift(
        column=name,
        kind=kind,
        tested=True,
        reason=reason,
        reference_count=reference.count,
        current_count=current.count,
        method=method.name,
        chosen=chosen,
        statistic=outcome.statistic,
        p_value=outcome.p_value,
        threshold=limit,
        drifted=_decide(method, outcome.p_value, outcome.statistic, limit),
        exact=outcome.exact,
        effect=effect,
    )


def _effect(reference: ColumnSummary, current: ColumnSummary, method: Method) -> Effect:
    numeric_test = method.name in ("ks", "wasserstein") or (
        method.name == "psi" and isinstance(reference, NumericSummary)
    )
    numeric_pair = isinstance(reference, NumericSummary) and isinstance(current, NumericSummary)
    if numeric_pair and numeric_test:
        assert isinstance(reference, NumericSummary) and isinstance(current, NumericSummary)
        return mean_shift(reference, current)
    return share_change(reference, current)


def _decide(method: Method, p_value: float | None, statistic: float, threshold: float) -> bool:
    if method.p_value:
        return p_value is not None and p_value < threshold
    return bool(statistic >= threshold)


def _adjust(results: list[ColumnDrift]) -> list[ColumnDrift]:
    """Benjamini-Hochberg over the p-value tests; their verdicts use the adjusted p."""
    tested = [i for i, r in enumerate(results) if r.tested and r.p_value is not None]
    if not tested:
        return results
    raw = np.array([results[i].p_value for i in tested], dtype=np.float64)
    adjusted = stats.false_discovery_control(raw, method="bh")
    out = list(results)
    for i, p in zip(tested, adjusted.tolist(), strict=True):
        r = results[i]
        assert r.threshold is not None
        out[i] = replace(r, adjusted_p_value=float(p), drifted=float(p) < r.threshold)
    return out
