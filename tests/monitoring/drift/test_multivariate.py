"""The domain classifier sees a change no single column shows."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest

from mloop.core.errors import ValidationError
from mloop.monitoring import drift


def pairs(n: int, seed: int, sign: float) -> pa.Table:
    rng = np.random.default_rng(seed)
    a = rng.normal(0, 1, n)
    return pa.table(
        {
            "a": a,
            "b": sign * 0.9 * a + rng.normal(0, 0.45, n),  # same spread either sign
            "noise": rng.normal(0, 1, n),
            "group": rng.choice(["x", "y"], n),
        }
    )


def test_a_flipped_correlation_is_found_with_the_columns_behind_it() -> None:
    reference = drift.summarize(pairs(20_000, 1, 1.0), seed=1)
    current = pairs(20_000, 2, -1.0)
    assert drift.detect_drift(reference, current).drifted_columns == []  # marginals unchanged
    result = drift.domain_classifier(reference, current)
    assert result.drifted and result.auc > 0.75 and result.p_value < 1e-6
    assert {name for name, _ in result.top_columns[:2]} == {"a", "b"}
    assert (result.reference_rows, result.current_rows) == (1_000, 1_000)
    assert result.to_dict()["method"] == "domain_classifier"


def test_same_distribution_does_not_drift() -> None:
    reference = drift.summarize(pairs(20_000, 1, 1.0), seed=1)
    result = drift.domain_classifier(reference, pairs(20_000, 3, 1.0), columns=["a", "b", "group"])
    assert not result.drifted and result.auc < 0.56
    assert result.columns == ["a", "b", "group"]


def test_bad_input() -> None:
    without = drift.summarize(pairs(100, 1, 1.0), sample_rows=0)
    with pytest.raises(ValidationError, match="no row sample"):
        drift.domain_classifier(without, pairs(100, 2, 1.0))
    with pytest.raises(ValidationError, match="at least 10 rows"):
        drift.domain_classifier(pairs(6, 1, 1.0), pairs(100, 2, 1.0))
    with pytest.raises(ValidationError, match="folds"):
        drift.domain_classifier(pairs(100, 1, 1.0), pairs(100, 2, 1.0), folds=1)
