"""Inter-annotator agreement for review queues: how much the people answering agree.

- ``cohen_kappa``: two raters over the same items, chance-corrected.
- ``fleiss_kappa``: any number of raters per item (the generalisation to a varying number of
  raters per item, which is Fleiss' kappa when every item has the same number).
- ``item_agreement``: the share of agreeing rater pairs on one item.
- ``majority``: the consensus label of one item and whether it is a tie.
- ``reviewer_agreement`` and ``queue_agreement``: per-reviewer and whole-queue figures from a
  queue's answers, ``{item id: {reviewer: label}}``.

Labels are opaque hashable values compared with ``==`` (so ``True == 1``, as in Python). The
counts are exact integers; only the final ratios are floats.

Kappa is undefined when chance agreement is 1, that is when every answer of every rater is the
one same label (scikit-learn returns nan there). Here it is 1.0: perfect agreement on a single
label is agreement, and a queue whose reviewers all answered ``ok`` should not read as broken.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass

from mloop.core.errors import ValidationError

__all__ = [
    "ReviewerAgreement",
    "cohen_kappa",
    "fleiss_kappa",
    "item_agreement",
    "majority",
    "queue_agreement",
    "reviewer_agreement",
]


def cohen_kappa(a: Sequence[Hashable], b: Sequence[Hashable]) -> float | None:
    """Cohen's kappa of two raters' labels on the same items, in the same order.

    None with fewer than 2 items; 1.0 when both raters gave one same label to every item.
    """
    if len(a) != len(b):
        raise ValidationError(
            f"the two raters' label lists differ in length: {len(a)} and {len(b)}", field="b"
        )
    n = len(a)
    if n < 2:
        return None
    agreed = sum(1 for x, y in zip(a, b, strict=True) if x == y)
    counts_a, counts_b = Counter(a), Counter(b)
    # Chance agreement p_e = sum_k (a_k / n) (b_k / n); kept as the integer n^2 p_e.
    chance = sum(count * counts_b.get(label, 0) for label, count in counts_a.items())
    if chance == n * n:
        # Both raters used one and the same label throughout, so they agreed everywhere.
        return 1.0
    # (p_o - p_e) / (1 - p_e), both terms multiplied by n^2.
    return (agreed * n - chance) / (n * n - chance)


def item_agreement(labels: Sequence[Hashable]) -> float | None:
    """The share of rater pairs of one item that gave the same label; None under 2 labels."""
    n = len(labels)
    if n < 2:
        return None
    return _agreeing_pairs(Counter(labels)) / (n * (n - 1))


def fleiss_kappa(items: Sequence[Sequence[Hashable]]) -> float | None:
    """Fleiss' kappa over items, each the labels its raters gave; raters per item may vary.

    ``P_i = sum_j n_ij (n_ij - 1) / (n_i (n_i - 1))``, ``P = mean P_i``,
    ``p_j = sum_i n_ij / sum_i n_i``, ``P_e = sum_j p_j^2``, ``kappa = (P - P_e) / (1 - P_e)``.
    Items with fewer than 2 labels are left out; None when none is left.
    """
    shares: list[float] = []
    totals: Counter[Hashable] = Counter()
    for labels in items:
        n = len(labels)
        if n < 2:
            continue
        counts = Counter(labels)
        shares.append(_agreeing_pairs(counts) / (n * (n - 1)))
        totals.update(counts)
    if not shares:
        return None
    observed = math.fsum(shares) / len(shares)
    answers = sum(totals.values())
    # P_e as the exact fraction chance / answers^2.
    chance = sum(count * count for count in totals.values())
    if chance == answers * answers:
        # One label over the whole set: every P_i is 1, so P is 1 too.
        return 1.0
    return (observed * answers * answers - chance) / (answers * answers - chance)


def majority(labels: Sequence[Hashable]) -> tuple[Hashable, bool]:
    """The most frequent label and whether another label is as frequent.

    On a tie the label given first among the tied ones wins, so the answer is deterministic.
    """
    if not labels:
        raise ValidationError("majority needs at least one label", field="labels")
    # Counter keeps the order labels were first seen in, which breaks ties.
    counts = Counter(labels)
    top = max(counts.values())
    winners = [label for label, count in counts.items() if count == top]
    return winners[0], len(winners) > 1


@dataclass(frozen=True)
class ReviewerAgreement:
    """One reviewer's agreement with the others in a queue.

    ``items``: items the reviewer answered. ``with_consensus``: share of their answers on
    items with 2+ answers that equal the majority of the other reviewers (items where the
    others tie are skipped); None when no item counted. ``kappa``: mean Cohen's kappa with each
    other reviewer over their shared items, for pairs sharing at least ``min_shared`` items;
    None when no pair does. ``compared_items``: items with 2+ answers the reviewer took part in.
    """

    reviewer: str
    items: int
    with_consensus: float | None
    kappa: float | None
    compared_items: int


def reviewer_agreement(
    answers: Mapping[Hashable, Mapping[str, Hashable]], *, min_shared: int = 2
) -> list[ReviewerAgreement]:
    """Per-reviewer agreement from ``{item id: {reviewer: label}}``, sorted by reviewer."""
    if min_shared < 2:
        raise ValidationError(
            f"min_shared must be at least 2 (kappa needs 2 items), got {min_shared}",
            field="min_shared",
        )
    by_reviewer: dict[str, dict[Hashable, Hashable]] = {}
    for item, given in answers.items():
        for reviewer, label in given.items():
            by_reviewer.setdefault(reviewer, {})[item] = label

    matched: Counter[str] = Counter()
    judged: Counter[str] = Counter()
    compared: Counter[str] = Counter()
    for given in answers.values():
        if len(given) < 2:
            continue
        for reviewer, label in given.items():
            compared[reviewer] += 1
            consensus, tie = majority([x for r, x in given.items() if r != reviewer])
            if tie:
                continue
            judged[reviewer] += 1
            matched[reviewer] += label == consensus

    # Kappa is symmetric: compute each pair once and credit it to both reviewers.
    kappas: dict[str, list[float]] = {reviewer: [] for reviewer in by_reviewer}
    names = sorted(by_reviewer)
    for i, first in enumerate(names):
        mine = by_reviewer[first]
        for second in names[i + 1 :]:
            theirs = by_reviewer[second]
            shared = [item for item in mine if item in theirs]
            if len(shared) < min_shared:
                continue
            kappa = cohen_kappa([mine[x] for x in shared], [theirs[x] for x in shared])
            if kappa is not None:  # always, as min_shared >= 2
                kappas[first].append(kappa)
                kappas[second].append(kappa)

    return [
        ReviewerAgreement(
            reviewer=reviewer,
            items=len(by_reviewer[reviewer]),
            with_consensus=matched[reviewer] / judged[reviewer] if judged[reviewer] else None,
            kappa=math.fsum(kappas[reviewer]) / len(kappas[reviewer]) if kappas[reviewer] else None,
            compared_items=compared[reviewer],
        )
        for reviewer in names
    ]


def queue_agreement(answers: Mapping[Hashable, Mapping[str, Hashable]]) -> float | None:
    """Fleiss' kappa (varying raters per item) over a queue's items with 2+ answers."""
    return fleiss_kappa([list(given.values()) for given in answers.values()])


def _agreeing_pairs(counts: Counter[Hashable]) -> int:
    """Ordered pairs of distinct raters that gave the same label: sum_j n_j (n_j - 1)."""
    return sum(count * (count - 1) for count in counts.values())
