"""Validation's fast paths against the general queries, on generated frames.

tests/data/test_fast_paths.py compares the two on hand-made data; here hypothesis draws the
frames: integer keys (one or two columns, nulls, negative values, the ends of int64) for the
direct-addressing uniqueness count, and low-cardinality string columns (nulls, quotes,
regex metacharacters) for the checks run once per distinct value. Each frame is validated
with the fast paths and with them switched off; the reports must agree.
"""

from __future__ import annotations

from typing import Any

import pandas as pd
import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from mloop.data import Column, Contract, ValidationReport, by_value, uniqueness, validate
from mloop.data.contract import UniqueKey

INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1


def _reports(frame: pd.DataFrame, contract: Contract) -> tuple[ValidationReport, ValidationReport]:
    fast = validate(frame, contract, examples=3)
    with pytest.MonkeyPatch.context() as m:
        m.setattr(uniqueness, "strides", lambda *args: None)
        m.setattr(by_value, "worth_grouping", lambda *args: False)
        plain = validate(frame, contract, examples=3)
    return fast, plain


def _summary(report: ValidationReport, *, with_examples: bool) -> dict[str, Any]:
    return {
        c.name: (
            c.status,
            c.message,
            c.failing_count,
            c.observed,
            c.examples if with_examples else len(c.examples),
        )
        for c in report.checks
    }


# Mostly small ranges (the direct count applies), sometimes the ends of int64 (it must not
# overflow, or must step aside).
KEY_VALUES = st.one_of(
    st.integers(min_value=-5, max_value=5),
    st.integers(min_value=-5, max_value=5),
    st.sampled_from([INT64_MIN, INT64_MAX, INT64_MIN + 1, INT64_MAX - 1]),
)


@given(
    rows=st.lists(
        st.tuples(st.none() | KEY_VALUES, st.none() | KEY_VALUES), min_size=0, max_size=40
    ),
    composite=st.booleans(),
)
# Found by the generator: keys repeated equally often came out in any order on the general
# path, by key on the fast one.
@example(rows=[(k, None) for k in (-1, -3, 0, -1, -3, 0)], composite=False)
def test_unique_keys_fast_and_general_agree(
    rows: list[tuple[int | None, int | None]], composite: bool
) -> None:
    frame = pd.DataFrame(
        {
            "a": pd.array([r[0] for r in rows], dtype="Int64"),
            "b": pd.array([r[1] for r in rows], dtype="Int64"),
        }
    )
    if composite:
        contract = Contract(name="c", unique=[UniqueKey(("a", "b"))])
    else:
        contract = Contract(name="c", columns={"a": Column(unique=True)})
    fast, plain = _reports(frame, contract)
    # The examples are the most repeated keys, by count then key, on both paths.
    assert _summary(fast, with_examples=True) == _summary(plain, with_examples=True)


STRINGS = st.none() | st.sampled_from(["a", "b", "B", "", "it's", "50%", "a_b", "[x]", "é", "a.b"])


@given(
    values=st.lists(STRINGS, min_size=0, max_size=60),
    allowed=st.lists(st.sampled_from(["a", "b", "it's", "50%", "é", ""]), max_size=4),
    regex=st.sampled_from([None, "^[ab]$", "%", "'", r"\.", "^$", "é"]),
    nullable=st.booleans(),
)
def test_value_checks_fast_and_general_agree(
    values: list[str | None], allowed: list[str], regex: str | None, nullable: bool
) -> None:
    frame = pd.DataFrame({"s": pd.array(values, dtype="string")})
    column = Column(allowed=allowed or None, regex=regex, nullable=nullable)
    fast, plain = _reports(frame, Contract(name="c", columns={"s": column}))
    # Which failing rows are shown as examples is not specified; how many is.
    assert _summary(fast, with_examples=False) == _summary(plain, with_examples=False)
