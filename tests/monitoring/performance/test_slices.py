"""Per-slice reports equal the whole-window report of each slice's rows."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from mloop.core.errors import ValidationError
from mloop.monitoring.performance import (
    classification_by_slice,
    classification_metrics,
    regression_by_slice,
    regression_metrics,
)


def test_classification_slices_match_their_rows() -> None:
    rng = np.random.default_rng(0)
    n = 300
    region = rng.choice(["north", "south", "east"], n).astype(object)
    region[rng.random(n) < 0.05] = None
    proba = rng.random(n)
    y_true = (rng.random(n) < proba).astype(float)
    y_true[rng.random(n) < 0.1] = np.nan
    y_pred = (proba >= 0.5).astype(int)
    slices = classification_by_slice(region, y_true, y_pred, proba)
    assert [s.value for s in slices] == ["east", "north", "south", None]
    assert sum(s.report.n_rows for s in slices) == n
    for s in slices:
        rows = np.array([v == s.value if s.value else v is None for v in region])
        expected = classification_metrics(y_true[rows], y_pred[rows], proba[rows], classes=[0, 1])
        assert s.report.to_dict() == expected.to_dict()
        assert s.to_dict()["value"] == s.value


def test_every_slice_reports_the_same_classes_even_when_it_sees_one() -> None:
    slices = classification_by_slice(
        pd.Series(["a", "a", "b"]), [0, 1, 1], [0, 1, 1], [0.2, 0.9, 0.8]
    )
    only_b = slices[1].report
    assert only_b.classes == (0, 1)
    assert only_b["roc_auc"].value is None
    assert only_b["recall"].value == 1.0


def test_regression_slices_match_their_rows() -> None:
    slices = regression_by_slice([1, 2, 1, 2], [1.0, 2.0, None, 4.0], [1.5, 2.0, 9.0, 3.0])
    assert [s.value for s in slices] == [1, 2]
    first, second = (s.report for s in slices)
    assert (first.n_rows, first.n_missing_labels) == (2, 1)
    assert first.to_dict() == regression_metrics([1.0, None], [1.5, 9.0]).to_dict()
    assert second["mae"].value == pytest.approx(0.5)


def test_slice_column_of_another_length() -> None:
    with pytest.raises(ValidationError, match="slices has 2 rows") as err:
        regression_by_slice([1, 2], [1.0, 2.0, 3.0], [1.0, 2.0, 3.0])
    assert err.value.field == "slices"
    with pytest.raises(ValidationError, match="slices has 1 rows"):
        classification_by_slice(["a"], [0, 1], [0, 1])
