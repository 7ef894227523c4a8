"""Performance before labels arrive: confidence-based performance estimation (CBPE).

The idea is NannyML's CBPE. If a classifier's probabilities are calibrated, a row predicted
positive with probability 0.9 is a true positive nine times in ten, so the expected
confusion matrix of a window follows from its probabilities alone::

    E[TP] = sum over predicted positives of p      E[FP] = sum over predicted positives of 1 - p
    E[FN] = sum over predicted negatives of p      E[TN] = sum over predicted negatives of 1 - p

and accuracy, precision, recall and F1 follow from it. ROC AUC is the same ratio of
expectations over pairs: each row counts as positive with weight p and negative with
weight 1 - p, ranked by the model's own scores (a row is not paired with itself). For
multiclass problems the expected accuracy is the mean calibrated probability of the
predicted class.

Raw model scores are rarely calibrated, so ``CBPE.fit`` learns a calibrator on a labelled
reference (the model's validation data, or a recent window with labels): isotonic
regression, as NannyML does, when the reference has at least ``min_isotonic_rows`` labelled
rows; below that, Platt scaling on the log-odds, whose two parameters a small reference can
pin down (see ``calibrators``). Multiclass problems calibrate each class one-vs-rest and
renormalise each row.

Each estimate comes with a band: labels are simulated from the calibrated probabilities
(``n_simulations`` times, seeded) and the realised metric computed for each; the central
``confidence`` share of those values is where the realised metric should fall when the
assumptions hold, and their standard deviation is the estimate's sampling error. The band
is sampling error only: it does not cover calibration error or a broken assumption.

Assumptions (the estimate is wrong, silently, when they fail):

1. No concept drift: P(label | features) is the same as in the reference. Covariate shift
   (the mix of inputs changes) is fine; that is what CBPE is for. If the relation between
   inputs and labels changes, the probabilities no longer mean what they meant and the
   estimate keeps reporting the old performance: only realised metrics on labels reveal it.
2. The calibration learnt on the reference holds in the window: the reference covers the
   score range the window uses (the calibrator extends its end values beyond it).
3. Enough rows: enough reference rows to calibrate (thousands for isotonic), and enough rows
   per window that the band is narrow enough to act on.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Hashable, Sequence
from typing import Any, Literal

import numpy as np

from mloop.core.errors import ValidationError
from mloop.monitoring.performance.calibrators import (
    Calibrator,
    IdentityCalibrator,
    calibrator_from_dict,
    fit_isotonic,
    fit_sigmoid,
)
from mloop.monitoring.performance.expectation import AccuracyExpectation, BinaryExpectation
from mloop.monitoring.performance.inputs import (
    as_array,
    as_probabilities,
    check_lengths,
    encode_labels,
    missing_mask,
    python_scalar,
)
from mloop.monitoring.performance.labelled import prepare_classification
from mloop.monitoring.performance.ranking import RankedScores
from mloop.monitoring.performance.results import Metric, finite_or_none, make_metric

Calibration = Literal["auto", "isotonic", "sigmoid", "none"]
MIN_ISOTONIC_ROWS = 1000


@dataclasses.dataclass(frozen=True)
class PerformanceEstimate:
    """Estimated metrics of one unlabelled window.

    Each metric's ``low``/``high`` bound where the realised value should fall (at
    ``confidence``) if the assumptions hold; ``std_errors`` are the simulated standard
    deviations of the realised metric.
    """

    n_rows: int
    calibration: str
    confidence: float
    metrics: dict[str, Metric]
    std_errors: dict[str, float | None]

    def __getitem__(self, name: str) -> Metric:
        return self.metrics[name]

    def to_dict(self) -> dict[str, Any]:
        return {
            "n_rows": self.n_rows,
            "calibration": self.calibration,
            "confidence": self.confidence,
            "metrics": {name: m.to_dict() for name, m in self.metrics.items()},
            "std_errors": dict(self.std_errors),
        }


@dataclasses.dataclass(frozen=True)
class CBPE:
    """A performance estimator calibrated on a labelled reference (build it with ``fit``).

    ``calibrators`` holds one calibrator for the positive class of a binary problem, or one
    per class (in the order of ``classes``) for a multiclass one.
    """

    classes: tuple[Any, ...]
    positive_label: Any
    calibration: str
    calibrators: tuple[Calibrator, ...]
    n_reference: int

    @property
    def binary(self) -> bool:
        return len(self.classes) == 2

    @classmethod
    def fit(
        cls,
        y_true: Any,
        y_proba: Any,
        *,
        classes: Sequence[Hashable] | None = None,
        positive_label: Hashable | None = None,
        calibration: Calibration = "auto",
        min_isotonic_rows: int = MIN_ISOTONIC_ROWS,
    ) -> CBPE:
        """Learn the calibration of ``y_proba`` on the labelled reference ``y_true``.

        ``calibration="auto"`` uses isotonic regression with at least ``min_isotonic_rows``
        labelled rows and Platt scaling below; ``"none"`` trusts the probabilities as they
        are. Rows without a label are left out. Every class needs both positive and
        negative reference rows.
        """
        data = prepare_classification(
            y_true, None, y_proba, classes=classes, positive_label=positive_label
        )
        if len(data.classes) < 2:
            raise ValidationError(
                f"CBPE needs at least two classes, got {list(data.classes)}: pass classes",
                field="classes",
            )
        reference = data.proba
        if reference is None:
            raise ValidationError("y_proba is required", field="y_proba")
        method = _method(calibration, data.n_labelled, min_isotonic_rows)
        columns = [data.positive] if data.binary else list(range(len(data.classes)))
        calibrators = []
        for column in columns:
            outcome = (data.true == column).astype(np.float64)
            n_positive = int(outcome.sum())
            if n_positive < 1 or n_positive == len(outcome):
                raise ValidationError(
                    f"the reference needs labelled rows of {data.classes[column]!r} and of "
                    f"other classes to calibrate ({n_positive} of {len(outcome)} are "
                    f"{data.classes[column]!r})",
                    field="y_true",
                )
            calibrators.append(_fit(method, reference[:, column], outcome))
        return cls(
            classes=data.classes,
            positive_label=data.positive_label if data.binary else None,
            calibration=method,
            calibrators=tuple(calibrators),
            n_reference=data.n_labelled,
        )

    def calibrate(self, y_proba: Any) -> np.ndarray:
        """Calibrated probabilities, one column per class (rows sum to 1)."""
        proba = self._probabilities(y_proba)
        return self._calibrated(proba)

    def estimate(
        self,
        y_proba: Any,
        y_pred: Any = None,
        *,
        confidence: float = 0.95,
        n_simulations: int = 1000,
        seed: int | None = 0,
    ) -> PerformanceEstimate:
        """Estimated accuracy (and, binary, precision, recall, F1, ROC AUC) of a window.

        ``y_pred`` are the labels the model returned (default: the most probable class).
        """
        _check_band(confidence, n_simulations)
        proba = self._probabilities(y_proba)
        pred = self._predictions(y_pred, proba)
        calibrated = self._calibrated(proba)
        values: BinaryExpectation | AccuracyExpectation
        if self.binary:
            positive = self.classes.index(self.positive_label)
            # Rows in score order: ROC AUC then needs no reordering per simulation.
            order = np.argsort(proba[:, positive], kind="stable")
            values = BinaryExpectation(
                calibrated[order, positive],
                pred[order] == positive,
                RankedScores(proba[order, positive]),
            )
        else:
            rows = np.arange(len(pred))
            values = AccuracyExpectation(calibrated[rows, pred])
        point = values.expected()
        simulated = values.simulated(n_simulations, np.random.default_rng(seed))
        metrics: dict[str, Metric] = {}
        errors: dict[str, float | None] = {}
        for name in values.names:
            sims = simulated[name]
            metrics[name] = make_metric(point[name], values.reason(name), sims, confidence)
            kept = sims[np.isfinite(sims)]
            errors[name] = finite_or_none(kept.std(ddof=1)) if kept.size > 1 else None
        return PerformanceEstimate(
            n_rows=len(pred),
            calibration=self.calibration,
            confidence=confidence,
            metrics=metrics,
            std_errors=errors,
        )

    def _probabilities(self, y_proba: Any) -> np.ndarray:
        positive = self.classes.index(self.positive_label) if self.binary else 0
        return as_probabilities(y_proba, None, self.classes, positive)

    def _predictions(self, y_pred: Any, proba: np.ndarray) -> np.ndarray:
        if y_pred is None:
            return np.argmax(proba, axis=1)
        values = as_array(y_pred, "y_pred")
        check_lengths(y_proba=proba, y_pred=values)
        if missing_mask(values).any():
            raise ValidationError(
                "y_pred has missing values: every row needs a prediction", field="y_pred"
            )
        return encode_labels(values, self.classes, "y_pred")

    def _calibrated(self, proba: np.ndarray) -> np.ndarray:
        if self.binary:
            positive = self.classes.index(self.positive_label)
            p = np.clip(self.calibrators[0](proba[:, positive]), 0.0, 1.0)
            out = np.empty_like(proba)
            out[:, positive], out[:, 1 - positive] = p, 1.0 - p
            return out
        columns = np.column_stack(
            [calibrator(proba[:, c]) for c, calibrator in enumerate(self.calibrators)]
        )
        sums = columns.sum(axis=1, keepdims=True)
        # A row every class calibrates to 0 keeps its raw probabilities.
        return np.where(sums > 0, columns / np.where(sums > 0, sums, 1.0), proba)

    def to_dict(self) -> dict[str, Any]:
        """The fitted estimator as JSON-ready values (``from_dict`` reads it back)."""
        return {
            "classes": list(self.classes),
            "positive_label": self.positive_label,
            "calibration": self.calibration,
            "calibrators": [c.to_dict() for c in self.calibrators],
            "n_reference": self.n_reference,
        }

    @classmethod
    def from_dict(cls, body: dict[str, Any]) -> CBPE:
        """The estimator a ``to_dict`` stored."""
        try:
            classes = tuple(python_scalar(c) for c in body["classes"])
            calibrators = tuple(calibrator_from_dict(c) for c in body["calibrators"])
            estimator = cls(
                classes=classes,
                positive_label=body.get("positive_label"),
                calibration=str(body["calibration"]),
                calibrators=calibrators,
                n_reference=int(body["n_reference"]),
            )
        except (KeyError, TypeError) as exc:
            raise ValidationError(f"malformed CBPE estimator: {exc}", field="estimator") from exc
        expected = 1 if estimator.binary else len(classes)
        if len(calibrators) != expected or (
            estimator.binary and estimator.positive_label not in classes
        ):
            raise ValidationError(
                "malformed CBPE estimator: calibrators or positive_label do not match classes",
                field="estimator",
            )
        return estimator


def _method(calibration: Calibration, n_labelled: int, min_isotonic_rows: int) -> str:
    if calibration not in ("auto", "isotonic", "sigmoid", "none"):
        raise ValidationError(
            f"calibration must be 'auto', 'isotonic', 'sigmoid' or 'none', got {calibration!r}",
            field="calibration",
        )
    if calibration != "auto":
        return calibration
    return "isotonic" if n_labelled >= min_isotonic_rows else "sigmoid"


def _fit(method: str, score: np.ndarray, outcome: np.ndarray) -> Calibrator:
    if method == "isotonic":
        return fit_isotonic(score, outcome)
    if method == "sigmoid":
        return fit_sigmoid(score, outcome)
    return IdentityCalibrator()


def _check_band(confidence: float, n_simulations: int) -> None:
    if not 0.0 < confidence < 1.0:
        raise ValidationError(
            f"confidence must be between 0 and 1 (e.g. 0.95), got {confidence}",
            field="confidence",
        )
    if isinstance(n_simulations, bool) or not isinstance(n_simulations, int) or n_simulations < 2:
        raise ValidationError(
            f"n_simulations must be an integer of at least 2, got {n_simulations!r}",
            field="n_simulations",
        )
