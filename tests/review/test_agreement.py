"""Inter-annotator agreement: Cohen's kappa against scikit-learn on seeded random raters
(string labels, labels only one rater used), Fleiss' kappa against the worked example of
Fleiss (1971) as printed on Wikipedia's "Fleiss' kappa" page and against the constant-rater
textbook formula, pair agreement of one item, majority ties, per-reviewer and queue figures on
a hand-worked queue, and bad input."""

from __future__ import annotations

import math
from collections.abc import Hashable

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from sklearn.metrics import cohen_kappa_score

from mloop.core.errors import ValidationError
from mloop.review.agreement import (
    ReviewerAgreement,
    cohen_kappa,
    fleiss_kappa,
    item_agreement,
    majority,
    queue_agreement,
    reviewer_agreement,
)

# Fleiss (1971), as on Wikipedia: 10 subjects, 14 raters each, 5 categories; one row per
# subject, the number of raters who chose each category.
FLEISS_TABLE = [
    [0, 0, 0, 0, 14],
    [0, 2, 6, 4, 2],
    [0, 0, 3, 5, 6],
    [0, 3, 9, 2, 0],
    [2, 2, 8, 1, 1],
    [7, 7, 0, 0, 0],
    [3, 2, 6, 3, 0],
    [2, 5, 3, 2, 2],
    [6, 5, 2, 1, 0],
    [0, 2, 2, 3, 7],
]
# The P_i column printed there, to 3 decimals.
FLEISS_P_I = [1.000, 0.253, 0.308, 0.440, 0.330, 0.462, 0.242, 0.176, 0.286, 0.286]


def _labels_from_counts(row: list[int], names: list[Hashable]) -> list[Hashable]:
    """One item's label list from its count row, labels interleaved so order plays no part."""
    labels = [name for name, count in zip(names, row, strict=True) for _ in range(count)]
    return labels[::2] + labels[1::2]


def _textbook_fleiss(table: np.ndarray) -> float:
    """Fleiss' kappa with the same number of raters n on every item (the 1971 formula)."""
    items, n = table.shape[0], int(table[0].sum())
    p_i = ((table**2).sum(axis=1) - n) / (n * (n - 1))
    p_j = table.sum(axis=0) / (items * n)
    p_e = float((p_j**2).sum())
    return (float(p_i.mean()) - p_e) / (1 - p_e)


# --- Cohen's kappa ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("labels_a", "labels_b", "n"),
    [
        ([0, 1], [0, 1], 50),
        ([0, 1, 2, 3], [0, 1, 2, 3], 200),
        (["cat", "dog", "bird"], ["cat", "dog", "bird"], 30),
        # Unequal label sets: "x" only from the first rater, "w" only from the second.
        (["x", "y", "z"], ["y", "z", "w"], 80),
        (["spam", "ham"], ["spam", "ham", "unsure"], 7),
    ],
)
def test_cohen_kappa_matches_sklearn(
    labels_a: list[Hashable], labels_b: list[Hashable], n: int
) -> None:
    rng = np.random.default_rng(20240617)
    for _ in range(5):
        a = [labels_a[i] for i in rng.integers(0, len(labels_a), n)]
        # The second rater copies the first on about half the items, so kappa is away from 0.
        b = [x if rng.random() < 0.5 else labels_b[int(rng.integers(0, len(labels_b)))] for x in a]
        b = [x if x in labels_b else labels_b[0] for x in b]
        expected = cohen_kappa_score(a, b)
        assert not math.isnan(expected)
        assert cohen_kappa(a, b) == pytest.approx(expected, abs=1e-12)


@given(
    st.lists(
        st.tuples(st.sampled_from(["a", "b", "c"]), st.sampled_from(["a", "b", "d"])),
        min_size=2,
        max_size=40,
    )
)
def test_cohen_kappa_matches_sklearn_property(pairs: list[tuple[str, str]]) -> None:
    a = [x for x, _ in pairs]
    b = [y for _, y in pairs]
    if len(set(a) | set(b)) == 1:
        # scikit-learn answers nan here; the single-label case has its own test.
        assert cohen_kappa(a, b) == 1.0
        return
    assert cohen_kappa(a, b) == pytest.approx(cohen_kappa_score(a, b), abs=1e-12)


def test_cohen_kappa_edge_cases() -> None:
    assert cohen_kappa([], []) is None
    assert cohen_kappa(["a"], ["b"]) is None
    # Perfect agreement on one label counts as agreement (scikit-learn gives nan).
    assert cohen_kappa(["ok"] * 5, ["ok"] * 5) == 1.0
    assert cohen_kappa(["a", "b", "a"], ["a", "b", "a"]) == 1.0
    # Total disagreement on two balanced labels: p_o = 0, p_e = 1/2, kappa = -1.
    assert cohen_kappa(["a", "b"], ["b", "a"]) == -1.0
    # One rater constant, the other not: p_o = p_e = 2/3, kappa = 0.
    assert cohen_kappa(["a", "a", "a"], ["a", "a", "b"]) == 0.0


def test_cohen_kappa_unequal_lengths_raise() -> None:
    with pytest.raises(ValueError, match=r"3 and 2") as caught:
        cohen_kappa(["a", "b", "a"], ["a", "b"])
    assert isinstance(caught.value, ValidationError)


# --- Fleiss' kappa and item agreement -----------------------------------------------------


def test_fleiss_kappa_worked_example() -> None:
    items = [_labels_from_counts(row, [1, 2, 3, 4, 5]) for row in FLEISS_TABLE]
    assert [len(item) for item in items] == [14] * 10
    for labels, printed in zip(items, FLEISS_P_I, strict=True):
        agreement = item_agreement(labels)
        assert agreement is not None
        assert round(agreement, 3) == printed
    kappa = fleiss_kappa(items)
    assert kappa is not None
    # Printed: P = 0.378, P_e = 0.213, kappa = 0.210; exactly 0.2099307...
    assert round(kappa, 3) == 0.210
    assert kappa == pytest.approx(0.20993070442195524, abs=1e-12)


def test_fleiss_kappa_reduces_to_constant_rater_formula() -> None:
    rng = np.random.default_rng(7)
    names: list[Hashable] = ["low", "mid", "high", "n/a"]
    for raters in (2, 3, 5, 9):
        for _ in range(5):
            # Random count rows with `raters` answers each, skewed so kappa varies.
            weights = rng.dirichlet(np.ones(len(names)) * 0.7, size=25)
            table = np.array([rng.multinomial(raters, w) for w in weights])
            items = [_labels_from_counts(list(row), names) for row in table]
            assert fleiss_kappa(items) == pytest.approx(_textbook_fleiss(table), abs=1e-12)


def test_fleiss_kappa_varying_raters_and_edge_cases() -> None:
    # Items of 3, 3 and 2 raters. P_i = 1/3, 1, 0; P = 4/9. Counts a: 2+0+1 = 3,
    # b: 1+3+1 = 5 of 8; P_e = (9 + 25) / 64 = 17/32; kappa = (4/9 - 17/32) / (15/32).
    items = [["a", "a", "b"], ["b", "b", "b"], ["a", "b"]]
    expected = (4 / 9 - 17 / 32) / (15 / 32)
    assert fleiss_kappa(items) == pytest.approx(expected, abs=1e-12)
    # Items with fewer than 2 answers are left out.
    assert fleiss_kappa([*items, ["a"], []]) == pytest.approx(expected, abs=1e-12)
    assert fleiss_kappa([["a"], ["b"], []]) is None
    assert fleiss_kappa([]) is None
    # One label everywhere: P_e = 1 and P = 1, read as agreement.
    assert fleiss_kappa([["x", "x"], ["x", "x", "x"]]) == 1.0
    # Two raters on every item: Fleiss differs from Cohen (it pools the raters' margins),
    # but perfect agreement on mixed labels is 1 in both.
    assert fleiss_kappa([["x", "x"], ["y", "y"]]) == 1.0


def test_item_agreement() -> None:
    assert item_agreement(["a", "a", "b"]) == pytest.approx(1 / 3)
    assert item_agreement(["a", "a", "a"]) == 1.0
    assert item_agreement(["a", "b", "c"]) == 0.0
    # Pairs (a,a) and (b,b) of the 6 unordered pairs.
    assert item_agreement(["a", "b", "a", "b"]) == pytest.approx(2 / 6)
    assert item_agreement(["a"]) is None
    assert item_agreement([]) is None


# --- Majority -----------------------------------------------------------------------------


def test_majority() -> None:
    assert majority(["a", "b", "b"]) == ("b", False)
    assert majority(["yes"]) == ("yes", False)
    # Ties go to the label given first among the tied ones.
    assert majority(["a", "b"]) == ("a", True)
    assert majority(["b", "a"]) == ("b", True)
    assert majority(["c", "b", "a", "a", "b"]) == ("b", True)
    assert majority([1, 2, 2, 1, 3]) == (1, True)
    with pytest.raises(ValidationError, match="at least one label"):
        majority([])


# --- Per-reviewer and queue figures -------------------------------------------------------

QUEUE: dict[Hashable, dict[str, Hashable]] = {
    "i1": {"ann": "cat", "bob": "cat", "cy": "dog"},
    "i2": {"ann": "dog", "bob": "dog", "cy": "dog"},
    "i3": {"ann": "cat", "bob": "dog"},
    "i4": {"ann": "cat", "dee": "dog"},
    "i5": {"bob": "cat", "cy": "cat"},
    "i6": {"eve": "cat"},
}


def test_reviewer_agreement_hand_worked() -> None:
    # with_consensus (majority of the others, ties skipped):
    #   ann: i1 others cat/dog tie, skip; i2 dog = dog; i3 dog != cat; i4 dog != cat -> 1/3
    #   bob: i1 tie, skip; i2 match; i3 others cat != dog; i5 cat = cat          -> 2/3
    #   cy:  i1 others cat,cat != dog; i2 match; i5 match                         -> 2/3
    #   dee: i4 other cat != dog                                                  -> 0
    #   eve: only a single-answer item                                            -> None
    # Cohen's kappa per pair (min_shared 2):
    #   ann-bob on i1..i3: [cat,dog,cat] vs [cat,dog,dog]: p_o 2/3, p_e (2*1+1*2)/9 = 4/9,
    #     kappa (2/3 - 4/9) / (5/9) = 0.4
    #   ann-cy on i1,i2: [cat,dog] vs [dog,dog]: p_o 1/2, p_e 2/4 = 1/2, kappa 0
    #   bob-cy on i1,i2,i5: [cat,dog,cat] vs [dog,dog,cat]: p_o 2/3, p_e 4/9, kappa 0.4
    #   ann-dee share 1 item: not counted.
    #   ann mean(0.4, 0) = 0.2; bob mean(0.4, 0.4) = 0.4; cy mean(0, 0.4) = 0.2
    found = reviewer_agreement(QUEUE)
    assert [r.reviewer for r in found] == ["ann", "bob", "cy", "dee", "eve"]
    rows = [(r.items, r.with_consensus, r.kappa, r.compared_items) for r in found]
    assert rows == [
        (4, pytest.approx(1 / 3), pytest.approx(0.2), 4),
        (4, pytest.approx(2 / 3), pytest.approx(0.4), 4),
        (3, pytest.approx(2 / 3), pytest.approx(0.2), 3),
        (1, 0.0, None, 1),
        (1, None, None, 0),
    ]
    # The frozen record compares by value.
    assert found[4] == ReviewerAgreement("eve", 1, None, None, 0)


def test_reviewer_agreement_min_shared() -> None:
    # With 3 shared items required, ann-cy (2 shared) drops out: everyone left has only 0.4.
    found = {r.reviewer: r.kappa for r in reviewer_agreement(QUEUE, min_shared=3)}
    assert found == {
        "ann": pytest.approx(0.4),
        "bob": pytest.approx(0.4),
        "cy": pytest.approx(0.4),
        "dee": None,
        "eve": None,
    }
    with pytest.raises(ValidationError, match="min_shared") as caught:
        reviewer_agreement(QUEUE, min_shared=1)
    assert caught.value.field == "min_shared"
    assert reviewer_agreement({}) == []


def test_queue_agreement_hand_worked() -> None:
    # Items with 2+ answers: i1 [cat,cat,dog] P 1/3; i2 [dog x3] P 1; i3, i4 [cat,dog] P 0;
    # i5 [cat,cat] P 1. P = (7/3) / 5 = 7/15. cat 6, dog 6 of 12: P_e = 1/2.
    # kappa = (7/15 - 1/2) / (1/2) = -1/15.
    assert queue_agreement(QUEUE) == pytest.approx(-1 / 15, abs=1e-12)
    assert queue_agreement({"i6": {"eve": "cat"}}) is None
    assert queue_agreement({}) is None
