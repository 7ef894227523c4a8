"""Output monitoring: label shares, value and confidence distributions, the review share."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from mloop.core.errors import ValidationError
from mloop.monitoring.performance import (
    confidence_summary,
    label_distribution,
    value_distribution,
)


def test_label_distribution_lists_every_known_class_and_counts_missing() -> None:
    result = label_distribution(
        pd.Series(["yes", "no", "yes", None]), classes=["no", "yes", "maybe"]
    )
    assert [(c.label, c.count) for c in result.labels] == [("no", 1), ("yes", 2), ("maybe", 0)]
    assert [c.share for c in result.labels] == pytest.approx([1 / 3, 2 / 3, 0.0])
    assert (result.n_rows, result.n_missing) == (4, 1)
    with pytest.raises(ValidationError, match="not among the classes"):
        label_distribution(["yes", "perhaps"], classes=["no", "yes"])


def test_value_distribution_on_shared_edges_counts_values_outside() -> None:
    reference = value_distribution(np.arange(100.0), bins=4)
    assert reference.histogram.edges == (0.0, 24.75, 49.5, 74.25, 99.0)
    assert sum(reference.histogram.counts) == 100
    current = value_distribution(
        [-5.0, 10.0, 60.0, 120.0, float("nan")], edges=reference.histogram.edges
    )
    assert current.histogram.counts == (1, 0, 1, 0)
    assert (current.histogram.below, current.histogram.above) == (1, 1)
    assert current.n_missing == 1
    assert current.quantiles["p50"] == pytest.approx(35.0)
    assert (current.min, current.max) == (-5.0, 120.0)
    assert json.loads(json.dumps(current.to_dict())) == current.to_dict()


def test_value_distribution_of_nothing_but_missing_values() -> None:
    result = value_distribution([None, None])
    assert (result.n_rows, result.n_missing, result.mean, result.quantiles) == (2, 2, None, {})


def test_confidence_summary_counts_rows_below_the_review_threshold() -> None:
    proba = np.array([[0.9, 0.1], [0.55, 0.45], [0.3, 0.7], [0.5, 0.5]])
    summary = confidence_summary(proba, review_threshold=0.6, bins=5)
    assert summary.n_for_review == 2  # 0.55 and 0.5
    assert summary.share_for_review == 0.5
    assert summary.distribution.histogram.edges == pytest.approx((0.0, 0.2, 0.4, 0.6, 0.8, 1.0))
    assert summary.distribution.histogram.counts == (0, 0, 2, 1, 1)
    one_column = confidence_summary([0.9, None, 0.2], review_threshold=0.5)
    assert (one_column.n_for_review, one_column.share_for_review) == (1, 0.5)
    assert one_column.distribution.n_missing == 1
    assert json.loads(json.dumps(summary.to_dict())) == summary.to_dict()


def test_confidence_summary_rejects_what_is_not_a_probability() -> None:
    with pytest.raises(ValidationError, match=r"must be probabilities in \[0, 1\]") as err:
        confidence_summary([0.2, 3.0])
    assert err.value.field == "confidence"
    with pytest.raises(ValidationError, match="review_threshold must be in"):
        confidence_summary([0.2], review_threshold=1.5)
    with pytest.raises(ValidationError, match="quantiles must be fractions"):
        value_distribution([1.0], quantiles=[50])
    with pytest.raises(ValidationError, match="edges must be at least two increasing"):
        value_distribution([1.0], edges=[1.0, 0.0])
