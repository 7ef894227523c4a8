"""Classifier performance on labelled outcomes, with optional bootstrap intervals.

``classification_metrics(y_true, y_pred, y_proba)`` returns a ``ClassificationReport`` whose
``metrics`` always hold the same names, so a monitor stores one row per metric and window:

- ``accuracy``: share of labelled rows predicted right.
- ``precision``, ``recall``, ``f1``: for the positive class of a binary problem
  (``average="binary"``, the default for two classes), or averaged over classes
  (``"macro"``: plain mean, the default for more classes; ``"weighted"``: weighted by each
  class's labelled count). F1 is ``2 TP / (2 TP + FP + FN)``. A class whose metric is
  undefined (precision of a class never predicted) is left out of the average, as
  scikit-learn does with ``zero_division=np.nan``.
- ``roc_auc``: binary AUC of the positive-class probability; multiclass one-vs-rest AUC per
  class, averaged as above, over the classes that have both positive and negative rows.
- ``log_loss``: mean of ``-log p(true class)``, probabilities clipped to [eps, 1 - eps].
- ``brier``: binary ``mean((p - y)^2)`` of the positive class; multiclass
  ``mean(sum_k (p_k - y_k)^2)`` (0 to 2).
- ``ece``: expected calibration error over 10 equal bins (see ``calibration``).

Rows whose label is missing are left out and counted (``n_missing_labels``). A metric that is
undefined on the window (ROC AUC when every label is one class) is ``Metric(None, reason=...)``.
The values equal scikit-learn's (``tests/monitoring/performance`` checks them); the code is
numpy only, because monitoring must not need the ``sklearn`` extra.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Hashable, Sequence
from typing import Any, Literal

import numpy as np

from mloop.core.errors import ValidationError
from mloop.monitoring.performance.bootstrap import Bootstrap, point_weights, resampled
from mloop.monitoring.performance.calibration import bin_columns, bin_index
from mloop.monitoring.performance.labelled import LabelledClassification, prepare_classification
from mloop.monitoring.performance.ranking import RankedScores
from mloop.monitoring.performance.results import Metric, make_metric
from mloop.monitoring.performance.weighted import column_sums, nan_average, ratio

Average = Literal["binary", "macro", "weighted"]
METRICS = ("accuracy", "precision", "recall", "f1", "roc_auc", "log_loss", "brier", "ece")
_EPS = float(np.finfo(np.float64).eps)
_ECE_BINS = 10


@dataclasses.dataclass(frozen=True)
class ClassMetrics:
    """Precision, recall and F1 of one class, with its labelled and predicted counts."""

    label: Any
    support: int
    predicted: int
    precision: Metric
    recall: Metric
    f1: Metric

    def to_dict(self) -> dict[str, Any]:
        return {
            "label": self.label,
            "support": self.support,
            "predicted": self.predicted,
            "precision": self.precision.to_dict(),
            "recall": self.recall.to_dict(),
            "f1": self.f1.to_dict(),
        }


@dataclasses.dataclass(frozen=True)
class ClassificationReport:
    """A classifier's metrics on one window (or slice) of labelled rows."""

    n_rows: int
    n_labelled: int
    n_missing_labels: int
    classes: tuple[Any, ...]
    positive_label: Any  # the positive class of a binary problem, else None
    average: str
    metrics: dict[str, Metric]
    per_class: tuple[ClassMetrics, ...]

    def __getitem__(self, name: str) -> Metric:
        return self.metrics[name]

    def to_dict(self) -> dict[str, Any]:
        return {
            "n_rows": self.n_rows,
            "n_labelled": self.n_labelled,
            "n_missing_labels": self.n_missing_labels,
            "classes": list(self.classes),
            "positive_label": self.positive_label,
            "average": self.average,
            "metrics": {name: m.to_dict() for name, m in self.metrics.items()},
            "per_class": [c.to_dict() for c in self.per_class],
        }


def classification_metrics(
    y_true: Any,
    y_pred: Any = None,
    y_proba: Any = None,
    *,
    classes: Sequence[Hashable] | None = None,
    positive_label: Hashable | None = None,
    average: Average | None = None,
    bootstrap: Bootstrap | None = None,
) -> ClassificationReport:
    """Accuracy, precision/recall/F1, ROC AUC, log loss, Brier score and ECE of one window.

    ``y_pred`` holds predicted labels (without it: the most probable class of ``y_proba``);
    ``y_proba`` the positive-class probability (binary) or one column per class in the order
    of ``classes``. Pass ``classes`` whenever a window may miss a class. With ``bootstrap``
    each metric gets a percentile interval from that many resamples of the labelled rows.
    """
    data = prepare_classification(
        y_true, y_pred, y_proba, classes=classes, positive_label=positive_label
    )
    return report_from_labelled(data, average=average, bootstrap=bootstrap)


def report_from_labelled(
    data: LabelledClassification,
    *,
    average: Average | None = None,
    bootstrap: Bootstrap | None = None,
) -> ClassificationReport:
    """The report of already encoded rows (``classification_metrics`` after its checks)."""
    chosen = _check_average(average, data)
    metrics, per_class = _assemble(data, chosen, bootstrap)
    return ClassificationReport(
        n_rows=data.n_rows,
        n_labelled=data.n_labelled,
        n_missing_labels=data.n_missing_labels,
        classes=data.classes,
        positive_label=data.positive_label if data.binary else None,
        average=chosen,
        metrics=metrics,
        per_class=per_class,
    )


def _check_average(average: Average | None, data: LabelledClassification) -> Average:
    if average is None:
        return "binary" if data.binary else "macro"
    if average not in ("binary", "macro", "weighted"):
        raise ValidationError(
            f"average must be 'binary', 'macro' or 'weighted', got {average!r}", field="average"
        )
    if average == "binary" and not data.binary:
        raise ValidationError(
            f"average='binary' needs two classes, there are {len(data.classes)}: use 'macro' "
            "or 'weighted'",
            field="average",
        )
    return average


def _assemble(
    data: LabelledClassification, average: Average, bootstrap: Bootstrap | None
) -> tuple[dict[str, Metric], tuple[ClassMetrics, ...]]:
    n = data.n_labelled
    if n == 0:
        reason = f"no labelled rows yet ({data.n_missing_labels} rows await labels)"
        empty = Metric(value=None, reason=reason)
        return {name: empty for name in METRICS}, tuple(
            ClassMetrics(c, 0, 0, empty, empty, empty) for c in data.classes
        )
    window = _Window(data, average)
    point = window.values(point_weights(n))
    samples = resampled(window.values, n, bootstrap) if bootstrap is not None else None
    level = bootstrap.confidence if bootstrap is not None else 0.95
    reasons = _reasons(data, average)

    def metric(name: str, column: int | None = None) -> Metric:
        values = point[name][0] if column is None else point[name][0, column]
        spread = None
        if samples is not None:
            spread = samples[name] if column is None else samples[name][:, column]
        return make_metric(values, reasons.get((name, column), ""), spread, level)

    metrics = {name: metric(name) for name in METRICS}
    per_class = tuple(
        ClassMetrics(
            label=label,
            support=int(point["class_support"][0, k]),
            predicted=int(point["class_predicted"][0, k]),
            precision=metric("class_precision", k),
            recall=metric("class_recall", k),
            f1=metric("class_f1", k),
        )
        for k, label in enumerate(data.classes)
    )
    return metrics, per_class


class _Window:
    """The labelled rows, arranged once for any number of weightings.

    Every metric but ROC AUC is a ratio of weighted column sums, so ``values`` takes them
    all in one matrix product per chunk of rows (columns: ones, correct, then per class
    labelled / predicted / hits, then log loss, Brier and the ECE bins). A binary window's
    rows are sorted by score first, so ROC AUC needs no reordering per weighting.
    """

    def __init__(self, data: LabelledClassification, average: Average) -> None:
        self.average, self.binary, self.positive = average, data.binary, data.positive
        self.k = len(data.classes)
        true, pred, proba = data.true, data.pred, data.proba
        if self.binary and proba is not None:
            order = np.argsort(proba[:, data.positive], kind="stable")
            true, pred, proba = true[order], pred[order], proba[order]
        self.true, self.pred, self.proba = true, pred, proba
        self.n_columns = 2 + 3 * self.k
        self.ranked: list[tuple[RankedScores, np.ndarray]] = []
        if proba is not None:
            self.n_columns += 2 + _ECE_BINS
            rows = np.arange(len(true))
            self.loss = -np.log(np.clip(proba[rows, true], _EPS, 1.0 - _EPS))
            if self.binary:
                score, hit = proba[:, self.positive], (true == self.positive).astype(np.float64)
                self.brier = (score - hit) ** 2
            else:
                onehot = np.zeros_like(proba)
                onehot[rows, true] = 1.0
                self.brier = ((proba - onehot) ** 2).sum(axis=1)
                score = proba.max(axis=1)
                hit = (np.argmax(proba, axis=1) == true).astype(np.float64)
            self.residual, self.bins = score - hit, bin_index(score, _ECE_BINS)
            if self.k >= 2:
                scored = [self.positive] if self.binary else range(self.k)
                self.ranked = [(RankedScores(proba[:, c]), true == c) for c in scored]

    def columns(self, part: slice) -> np.ndarray:
        true, pred = self.true[part], self.pred[part]
        classes = np.arange(self.k)
        is_true = true[:, None] == classes
        is_pred = pred[:, None] == classes
        pieces = [
            np.ones((len(true), 1)),
            (true == pred)[:, None],
            is_true,
            is_pred,
            is_true & is_pred,
        ]
        if self.proba is not None:
            pieces += [
                self.loss[part, None],
                self.brier[part, None],
                bin_columns(self.residual, self.bins, _ECE_BINS, part),
            ]
        return np.hstack(pieces).astype(np.float64, copy=False)

    def values(self, weights: np.ndarray) -> dict[str, np.ndarray]:
        """Every metric for each row of ``weights``: ``(b,)`` arrays, ``(b, k)`` per class."""
        sums = column_sums(weights, self.columns, self.n_columns)
        k = self.k
        total, correct = sums[:, 0], sums[:, 1]
        support, predicted, hits = (
            sums[:, 2 : 2 + k],
            sums[:, 2 + k : 2 + 2 * k],
            sums[:, 2 + 2 * k : 2 + 3 * k],
        )
        precision = ratio(hits, predicted)
        recall = ratio(hits, support)
        f1 = ratio(2.0 * hits, support + predicted)
        out = {
            "accuracy": ratio(correct, total),
            "class_support": support,
            "class_predicted": predicted,
            "class_precision": precision,
            "class_recall": recall,
            "class_f1": f1,
        }
        for name, per_class in (("precision", precision), ("recall", recall), ("f1", f1)):
            out[name] = self._average(per_class, support)
        nan = np.full(weights.shape[0], np.nan)
        if self.proba is None:
            out.update(roc_auc=nan, log_loss=nan, brier=nan, ece=nan)
            return out
        rest = sums[:, 2 + 3 * k :]
        out["log_loss"] = ratio(rest[:, 0], total)
        out["brier"] = ratio(rest[:, 1], total)
        out["ece"] = ratio(np.abs(rest[:, 2:]).sum(axis=1), total)
        out["roc_auc"] = self._roc_auc(weights, support) if self.ranked else nan
        return out

    def _average(self, per_class: np.ndarray, support: np.ndarray) -> np.ndarray:
        if self.average == "binary":
            return per_class[:, self.positive]
        return nan_average(per_class, support if self.average == "weighted" else None)

    def _roc_auc(self, weights: np.ndarray, support: np.ndarray) -> np.ndarray:
        aucs = np.column_stack(
            [ranked.auc_of_labels(weights, labels) for ranked, labels in self.ranked]
        )
        if self.binary:
            return aucs[:, 0]
        return nan_average(aucs, support if self.average == "weighted" else None)


def _reasons(data: LabelledClassification, average: Average) -> dict[tuple[str, int | None], str]:
    """Why each undefined value is undefined, keyed by (metric, class column or None)."""
    reasons: dict[tuple[str, int | None], str] = {}
    for k, label in enumerate(data.classes):
        reasons[("class_precision", k)] = f"no row was predicted {label!r}"
        reasons[("class_recall", k)] = f"no labelled row is {label!r}"
        reasons[("class_f1", k)] = f"{label!r} was neither labelled nor predicted"
    if average == "binary":
        for name in ("precision", "recall", "f1"):
            reasons[(name, None)] = reasons[(f"class_{name}", data.positive)]
    else:
        for name in ("precision", "recall", "f1"):
            reasons[(name, None)] = f"{name} is undefined for every class"
    if data.proba is None:
        for name in ("roc_auc", "log_loss", "brier", "ece"):
            reasons[(name, None)] = "needs predicted probabilities (y_proba)"
    else:
        present = sorted({data.classes[c] for c in np.unique(data.true).tolist()}, key=repr)
        reasons[("roc_auc", None)] = (
            f"every labelled row is {present[0]!r}; ROC AUC needs labelled rows of two classes"
            if len(present) == 1
            else "no class has both positive and negative labelled rows"
        )
    return reasons
