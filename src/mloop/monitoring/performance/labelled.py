"""The labelled rows of a classifier's window, encoded as class indices.

``prepare_classification`` checks the columns (lengths, known classes, probabilities), drops
the rows whose label has not arrived (counting them) and encodes labels and predictions as
indices into ``classes``, the order of the probability columns.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Hashable, Sequence
from typing import Any

import numpy as np

from mloop.core.errors import ValidationError
from mloop.monitoring.performance.inputs import (
    as_array,
    as_probabilities,
    check_lengths,
    encode_labels,
    missing_mask,
    resolve_classes,
    resolve_positive,
)


@dataclasses.dataclass(frozen=True)
class LabelledClassification:
    """Encoded labelled rows: ``true`` and ``pred`` index ``classes``; ``proba`` has one
    column per class (None when no probabilities were given)."""

    classes: tuple[Any, ...]
    positive: int  # index of the positive class (meaningful for binary problems)
    true: np.ndarray
    pred: np.ndarray
    proba: np.ndarray | None
    n_rows: int
    n_missing_labels: int
    labelled_rows: np.ndarray  # the input rows that have a label (a boolean mask)

    @property
    def binary(self) -> bool:
        return len(self.classes) <= 2

    @property
    def positive_label(self) -> Any:
        return self.classes[self.positive]

    @property
    def n_labelled(self) -> int:
        return len(self.true)

    def rows(self, selected: np.ndarray) -> LabelledClassification:
        """The same problem on the input rows in ``selected`` (a boolean mask of all rows)."""
        kept = selected[self.labelled_rows]
        return dataclasses.replace(
            self,
            true=self.true[kept],
            pred=self.pred[kept],
            proba=None if self.proba is None else self.proba[kept],
            n_rows=int(selected.sum()),
            n_missing_labels=int((selected & ~self.labelled_rows).sum()),
            labelled_rows=self.labelled_rows[selected],
        )


def prepare_classification(
    y_true: Any,
    y_pred: Any = None,
    y_proba: Any = None,
    *,
    classes: Sequence[Hashable] | None = None,
    positive_label: Hashable | None = None,
) -> LabelledClassification:
    """Check and encode one window of labels, predictions and (optional) probabilities.

    ``classes`` names every class in the order of the columns of ``y_proba``; without it the
    classes are the sorted labels seen in ``y_true`` and ``y_pred``, so pass it whenever a
    window may not see every class. For two classes ``positive_label`` defaults to the
    second class in sorted order (1 of {0, 1}). Without ``y_pred`` the prediction is the
    most probable class of ``y_proba`` (the first one on a tie).
    """
    true_values = as_array(y_true, "y_true")
    labelled = ~missing_mask(true_values)
    observed = {"y_true": true_values[labelled]}
    n_rows = len(true_values)
    pred_values = None
    if y_pred is not None:
        pred_values = as_array(y_pred, "y_pred")
        n_rows = check_lengths(y_true=true_values, y_pred=pred_values)
        _check_complete(pred_values)
        observed["y_pred"] = pred_values
    known, positive = resolve_positive(resolve_classes(classes, observed), positive_label)
    true = encode_labels(true_values[labelled], known, "y_true")
    proba = None
    if y_proba is not None:
        proba = as_probabilities(y_proba, n_rows, known, positive)
    if pred_values is not None:
        pred = encode_labels(pred_values, known, "y_pred")
    elif proba is not None:
        pred = np.argmax(proba, axis=1)
    else:
        raise ValidationError("y_pred or y_proba is required", field="y_pred")
    return LabelledClassification(
        classes=known,
        positive=positive,
        true=true,
        pred=pred[labelled],
        proba=None if proba is None else proba[labelled],
        n_rows=n_rows,
        n_missing_labels=n_rows - int(labelled.sum()),
        labelled_rows=labelled,
    )


def _check_complete(pred_values: np.ndarray) -> None:
    missing = missing_mask(pred_values)
    if missing.any():
        raise ValidationError(
            f"y_pred is missing at row {int(np.argmax(missing))} "
            f"({int(missing.sum())} rows): every row needs a prediction",
            field="y_pred",
        )
