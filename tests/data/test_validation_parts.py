"""Parts of a validation run on their own: custom-check outcomes and check applicability."""

from __future__ import annotations

import datetime as dt
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from mloop.data import Column, Contract
from mloop.data.validation.custom import failing_rows_of
from mloop.data.validation.schema import inapplicable


@pytest.mark.parametrize(
    "outcome",
    [
        [True, False, None, False],
        np.array([True, False, True, False]) | np.array([False, False, True, False]),
        pa.array([True, False, None, False]),
        pa.chunked_array([[True, False], [None, False]]),
        pd.Series([True, False, None, False], dtype="boolean"),
    ],
)
def test_a_mask_gives_the_failing_positions_and_null_passes(outcome: Any) -> None:
    assert failing_rows_of(outcome, 4).tolist() == [1, 3]  # type: ignore[union-attr]


def test_a_count_is_taken_as_is() -> None:
    assert failing_rows_of(3, 10) == 3
    assert failing_rows_of(np.int64(0), 10) == 0


@pytest.mark.parametrize(
    ("outcome", "error", "text"),
    [
        (True, TypeError, "boolean mask"),
        (-1, ValueError, "negative"),
        ([True, False], ValueError, "2 entries for a batch of 3"),
        (pa.array([1.0, 0.0, 1.0]), TypeError, "booleans"),
    ],
)
def test_malformed_outcomes_are_refused(outcome: Any, error: type[Exception], text: str) -> None:
    with pytest.raises(error, match=text):
        failing_rows_of(outcome, 3)


def _check(column: Column) -> Any:
    contract = Contract(name="c", columns={"x": column})
    return next(c for c in contract.checks() if c.kind not in ("column_present", "type"))


@pytest.mark.parametrize(
    ("column", "arrow_type", "problem"),
    [
        (Column(min=1), pa.int64(), None),
        (Column(min=1), pa.string(), "a numeric bound needs a numeric column, not string"),
        (Column(min=dt.date(2024, 1, 1)), pa.date32(), None),
        (Column(min=dt.date(2024, 1, 1)), pa.int64(), "needs a temporal column, not int64"),
        (Column(allowed=["a"]), pa.string(), None),
        (Column(allowed=[1]), pa.string(), "do not match the column's type string"),
        (Column(allowed=[True]), pa.bool_(), None),
        (Column(allowed=["a"]), pa.list_(pa.int64()), "cannot be checked on a list<item"),
        (Column(regex="a"), pa.int64(), "a regex needs a string column, not int64"),
        (Column(nullable=False), pa.list_(pa.int64()), None),
    ],
)
def test_which_checks_apply_to_which_types(
    column: Column, arrow_type: pa.DataType, problem: str | None
) -> None:
    found = inapplicable(_check(column), arrow_type)
    if problem is None:
        assert found is None
    else:
        assert found is not None and problem in found
