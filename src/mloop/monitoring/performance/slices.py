"""Metrics per slice: the rows grouped by a slice column, one report per value.

A slice is the rows that share a value of a column (a region, a device type, a model
version); rows with no value form the slice ``None``. Each slice gets the same report as a
whole window, with its own counts, so a small slice shows as small. Classes are resolved on
all rows first, so every slice reports the same classes and positive label.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Hashable, Sequence
from typing import Any, Generic, TypeVar

from mloop.monitoring.performance.bootstrap import Bootstrap
from mloop.monitoring.performance.classification import (
    Average,
    ClassificationReport,
    report_from_labelled,
)
from mloop.monitoring.performance.groups import group_rows
from mloop.monitoring.performance.inputs import as_finite_floats, as_optional_floats, check_lengths
from mloop.monitoring.performance.labelled import prepare_classification
from mloop.monitoring.performance.regression import RegressionReport, report_from_arrays

R = TypeVar("R", ClassificationReport, RegressionReport)


@dataclasses.dataclass(frozen=True)
class SliceReport(Generic[R]):
    """One slice's value and its report (``report.n_rows`` is the slice's row count)."""

    value: Any
    report: R

    def to_dict(self) -> dict[str, Any]:
        return {"value": self.value, **self.report.to_dict()}


def classification_by_slice(
    slices: Any,
    y_true: Any,
    y_pred: Any = None,
    y_proba: Any = None,
    *,
    classes: Sequence[Hashable] | None = None,
    positive_label: Hashable | None = None,
    average: Average | None = None,
    bootstrap: Bootstrap | None = None,
) -> tuple[SliceReport[ClassificationReport], ...]:
    """``classification_metrics`` for each value of ``slices`` (one value per row)."""
    data = prepare_classification(
        y_true, y_pred, y_proba, classes=classes, positive_label=positive_label
    )
    groups = group_rows(slices, "slices")
    check_lengths(y_true=data.labelled_rows, slices=groups.codes)
    return tuple(
        SliceReport(
            value=label,
            report=report_from_labelled(
                data.rows(groups.codes == code), average=average, bootstrap=bootstrap
            ),
        )
        for code, label in enumerate(groups.labels)
    )


def regression_by_slice(
    slices: Any, y_true: Any, y_pred: Any, *, bootstrap: Bootstrap | None = None
) -> tuple[SliceReport[RegressionReport], ...]:
    """``regression_metrics`` for each value of ``slices`` (one value per row)."""
    target, missing = as_optional_floats(y_true, "y_true")
    predicted = as_finite_floats(y_pred, "y_pred")
    groups = group_rows(slices, "slices")
    check_lengths(y_true=target, y_pred=predicted, slices=groups.codes)
    reports = []
    for code, label in enumerate(groups.labels):
        rows = groups.codes == code
        report = report_from_arrays(
            target[rows], predicted[rows], missing[rows], bootstrap=bootstrap
        )
        reports.append(SliceReport(value=label, report=report))
    return tuple(reports)
