"""Bad input gets a ValidationError naming the argument; every array type gives one answer."""

from __future__ import annotations

import numpy as np
import pandas as pd
import polars as pl
import pyarrow as pa
import pytest

from mloop.core.errors import ValidationError
from mloop.monitoring.performance import (
    CBPE,
    calibration_report,
    classification_metrics,
    regression_metrics,
)


def _field(excinfo: pytest.ExceptionInfo[ValidationError]) -> str | None:
    return excinfo.value.field


def test_mismatched_lengths_name_the_short_column() -> None:
    with pytest.raises(ValidationError, match="y_pred has 2 rows but y_true has 3") as err:
        classification_metrics([0, 1, 1], [0, 1])
    assert _field(err) == "y_pred"
    with pytest.raises(ValidationError, match="one row per prediction") as err:
        classification_metrics([0, 1, 1], [0, 1, 1], [0.2, 0.8])
    assert _field(err) == "y_proba"
    with pytest.raises(ValidationError, match="y_pred has 1 rows") as err:
        regression_metrics([1.0, 2.0], [1.0])
    assert _field(err) == "y_pred"


def test_labels_outside_the_known_classes_are_named() -> None:
    with pytest.raises(ValidationError, match=r"not among the classes \[0, 1\]: \[2\]") as err:
        classification_metrics([0, 1, 2], [0, 1, 1], classes=[0, 1])
    assert _field(err) == "y_true"
    with pytest.raises(ValidationError, match=r"\['maybe'\]") as err:
        classification_metrics(["yes", "no"], ["yes", "maybe"], classes=["no", "yes"])
    assert _field(err) == "y_pred"


def test_labels_of_different_types_are_refused_not_matched_as_text() -> None:
    # 1 and "1" must not silently count as the same class.
    with pytest.raises(ValidationError, match="mix label types") as err:
        classification_metrics([0, 1], ["0", "1"])
    assert _field(err) == "y_true"


@pytest.mark.parametrize(
    ("proba", "message"),
    [
        ([0.2, 1.3], r"outside \[0, 1\] in row 1"),
        ([-0.1, 0.5], r"outside \[0, 1\] in row 0"),
        ([0.2, np.nan], "missing or infinite probability in row 1"),
        ([[0.5, 0.4], [0.1, 0.9]], "row 0 sums to 0.9"),
        ([[0.5, 0.5, 0.0], [0.1, 0.9, 0.0]], "3 columns but there are 2 classes"),
    ],
)
def test_bad_probabilities(proba: list, message: str) -> None:
    with pytest.raises(ValidationError, match=message) as err:
        classification_metrics([0, 1], [0, 1], proba)
    assert _field(err) == "y_proba"


def test_one_dimensional_probabilities_need_a_binary_problem() -> None:
    with pytest.raises(ValidationError, match="one column of probabilities per class"):
        classification_metrics([0, 1, 2], [0, 1, 2], [0.1, 0.2, 0.3])


def test_empty_inputs() -> None:
    with pytest.raises(ValidationError, match="y_true is empty") as err:
        classification_metrics([], [])
    assert _field(err) == "y_true"
    with pytest.raises(ValidationError, match="y_true is empty"):
        regression_metrics(np.array([]), np.array([]))
    with pytest.raises(ValidationError, match="classes is empty"):
        classification_metrics([0], [0], classes=[])


def test_missing_predictions_and_non_finite_values_are_errors() -> None:
    with pytest.raises(ValidationError, match="y_pred is missing at row 1") as err:
        classification_metrics([0, 1], [0, None])
    assert _field(err) == "y_pred"
    with pytest.raises(ValidationError, match="missing or infinite value at row 0") as err:
        regression_metrics([1.0, 2.0], [np.nan, 1.0])
    assert _field(err) == "y_pred"
    with pytest.raises(ValidationError, match="infinite value at row 1") as err:
        regression_metrics([1.0, np.inf], [1.0, 1.0])
    assert _field(err) == "y_true"
    with pytest.raises(ValidationError, match="must hold numbers") as err:
        regression_metrics(["a", "b"], [1.0, 1.0])
    assert _field(err) == "y_true"


def test_scalars_and_matrices_where_columns_belong() -> None:
    with pytest.raises(ValidationError, match="one-dimensional"):
        classification_metrics(np.zeros((2, 2)), [0, 1])
    with pytest.raises(
        ValidationError, match="y_true must be an array of values, one per row, got a scalar"
    ):
        regression_metrics(3.0, 3.0)


def test_positive_label_must_be_a_class() -> None:
    with pytest.raises(ValidationError, match="positive_label 'x' is not among") as err:
        classification_metrics(["a", "b"], ["a", "b"], positive_label="x")
    assert _field(err) == "positive_label"


def test_options_are_checked() -> None:
    with pytest.raises(ValidationError, match="average='binary' needs two classes") as err:
        classification_metrics([0, 1, 2], [0, 1, 2], average="binary")
    assert _field(err) == "average"
    with pytest.raises(ValidationError, match="n_bins must be a positive integer"):
        calibration_report([0, 1], [0.2, 0.8], n_bins=0)
    with pytest.raises(ValidationError, match="calibration must be"):
        CBPE.fit([0, 1], [0.2, 0.8], calibration="platt")  # type: ignore[arg-type]


def test_every_array_type_gives_the_same_report() -> None:
    y_true = [1, 0, None, 1, 0, 1]
    y_pred = [1, 0, 1, 0, 0, 1]
    proba = [0.9, 0.2, 0.7, 0.4, 0.1, 0.8]
    expected = classification_metrics(y_true, y_pred, proba).to_dict()
    variants = [
        (pd.Series(y_true, dtype="Int64"), pd.Series(y_pred), pd.Series(proba)),
        (pa.array(y_true), pa.chunked_array([y_pred[:3], y_pred[3:]]), pa.array(proba)),
        (pl.Series(y_true), pl.Series(y_pred), pl.Series(proba)),
        (np.array(y_true, dtype=object), np.array(y_pred), np.array(proba)),
    ]
    for true, pred, prob in variants:
        report = classification_metrics(true, pred, prob).to_dict()
        assert report["n_missing_labels"] == 1
        assert report["metrics"] == expected["metrics"]


def test_a_column_of_per_row_probability_lists_is_a_matrix() -> None:
    rows = [[0.7, 0.2, 0.1], [0.1, 0.8, 0.1], [0.2, 0.2, 0.6]]
    as_lists = pd.Series(rows)
    report = classification_metrics([0, 1, 2], [0, 1, 2], as_lists)
    assert report["log_loss"].value == pytest.approx(-np.mean(np.log([0.7, 0.8, 0.6])))
