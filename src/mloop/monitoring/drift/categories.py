"""Category counts with a cap that keeps merging exact.

Every category is counted exactly while a column has at most ``max_categories`` of them.
Beyond that, the kept categories are the ``max_categories`` whose *label hash* (BLAKE2b, 64
bits) is smallest, and the values of every other category count as ``other``. Which
categories survive depends on the set of labels alone, never on counts or order, so:

- merging stays exact and associative: a category kept in the union is kept, with its full
  count, in every part that holds it (the bottom-k property of hash sketches);
- the reference and a current window cut the categories the same way, so they are compared
  on the same bins.

Keeping the most frequent categories instead would lose counts that a later merge needs
(a category rare in one part and frequent in another). A column with thousands of distinct
labels (identifiers, free text) says little per category anyway; its ``other`` share, new
categories and the kept ones still show drift.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from mloop.core.errors import ValidationError

DEFAULT_MAX_CATEGORIES = 1000
"""Categories counted exactly per column; beyond, a fixed hash-chosen subset is kept."""


def category_label(value: Any) -> str:
    """The text a category is counted under: booleans ``true``/``false`` (as Arrow casts
    them), integral floats without ``.0``, everything else ``str``."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and math.isfinite(value) and value.is_integer():
        return str(int(value))
    return str(value)


def label_rank(label: str) -> tuple[int, str]:
    """The order in which categories are kept under the cap (smallest first)."""
    digest = hashlib.blake2b(label.encode("utf-8", "surrogatepass"), digest_size=8).digest()
    return int.from_bytes(digest, "big"), label


@dataclass(frozen=True)
class CategoryCounts:
    """Counts of the kept categories, and ``other``: values of categories not kept.

    ``kept`` says how the counted categories were chosen: ``hash`` (the rule above) or
    ``top``: a fixed ``vocabulary`` of labels counted exactly, every other value counted as
    ``other``. A dataset profile that kept only its most frequent values gives ``top``
    counts, and a window summarised like such a reference counts the same vocabulary.
    ``top`` counts merge only with counts of the same vocabulary.
    """

    counts: Mapping[str, int]
    other: int = 0
    max_categories: int = DEFAULT_MAX_CATEGORIES
    kept: Literal["hash", "top"] = "hash"
    vocabulary: tuple[str, ...] = ()

    def known(self, label: str) -> bool:
        """Whether this label's count is known exactly (a missing label then counts 0)."""
        if self.kept == "top":
            return label in self.vocabulary
        return not self.capped or label in self.counts

    @property
    def total(self) -> int:
        return sum(self.counts.values()) + self.other

    @property
    def capped(self) -> bool:
        """Whether some categories were folded into ``other``."""
        return self.other > 0

    def merge(self, other: CategoryCounts) -> CategoryCounts:
        """Counts of both parts (associative and commutative, exactly)."""
        vocabulary: tuple[str, ...] | None = None
        if "top" in (self.kept, other.kept):
            if (self.kept, self.vocabulary) != (other.kept, other.vocabulary):
                raise ValidationError(
                    "category counts that kept only a profile's top values merge only with "
                    "counts of the same values: the counts of other categories are unknown",
                    field="categories",
                )
            vocabulary = self.vocabulary
        counter = CategoryCounter(
            max_categories=min(self.max_categories, other.max_categories), vocabulary=vocabulary
        )
        counter.add_counts(self.counts.items(), other=self.other)
        counter.add_counts(other.counts.items(), other=other.other)
        return counter.result()

    def most_common(self) -> list[tuple[str, int]]:
        """Kept categories, most frequent first (ties by label)."""
        return sorted(self.counts.items(), key=lambda item: (-item[1], item[0]))

    def to_dict(self) -> dict[str, Any]:
        return {
            "counts": [[label, count] for label, count in self.most_common()],
            "other": self.other,
            "max_categories": self.max_categories,
            "kept": self.kept,
            **({"vocabulary": list(self.vocabulary)} if self.kept == "top" else {}),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> CategoryCounts:
        try:
            pairs = [(str(label), int(count)) for label, count in data["counts"]]
            other = int(data.get("other", 0))
            cap = int(data.get("max_categories", DEFAULT_MAX_CATEGORIES))
            kept = str(data.get("kept", "hash"))
            vocabulary = tuple(str(label) for label in data.get("vocabulary") or ())
        except (KeyError, TypeError, ValueError) as exc:
            raise ValidationError(f"not category counts: {exc}", field="categories") from exc
        if (
            any(count <= 0 for _, count in pairs)
            or other < 0
            or len(pairs) > cap
            or kept not in ("hash", "top")
            or (kept == "top" and not {label for label, _ in pairs} <= set(vocabulary))
        ):
            raise ValidationError(
                "not category counts: counts must be positive, other non-negative, at most "
                "max_categories categories kept, and kept 'hash' or 'top' (with every "
                "counted label in its vocabulary)",
                field="categories",
            )
        if kept == "top":
            return cls(dict(pairs), other, cap, "top", vocabulary)
        return cls(dict(pairs), other, cap)


class CategoryCounter:
    """Accumulates (label, count) pairs into ``CategoryCounts``; holds at most twice the cap
    between compactions."""

    def __init__(
        self,
        *,
        max_categories: int = DEFAULT_MAX_CATEGORIES,
        vocabulary: Sequence[str] | None = None,
    ) -> None:
        if not isinstance(max_categories, int) or max_categories < 2:
            raise ValidationError(
                f"max_categories must be an integer of at least 2, not {max_categories!r}",
                field="max_categories",
            )
        self.max_categories = max_categories
        self.counts: dict[str, int] = {}
        self.other = 0
        self._ranks: dict[str, tuple[int, str]] = {}
        # Once capped, a label ranked above this can never be kept.
        self._bar: tuple[int, str] | None = None
        # A fixed vocabulary: only these labels are counted, the rest is ``other``.
        self.vocabulary = None if vocabulary is None else tuple(vocabulary)
        self._words = None if vocabulary is None else frozenset(vocabulary)

    def add_counts(self, pairs: Iterable[tuple[str, int]], *, other: int = 0) -> None:
        """Add counts per label, and ``other``: values of categories a capped part dropped."""
        counts = self.counts
        self.other += other
        if self._words is not None:
            for label, count in pairs:
                if label in self._words:
                    counts[label] = counts.get(label, 0) + count
                else:
                    self.other += count
            return
        for label, count in pairs:
            if label in counts:
                counts[label] += count
            elif self._bar is None:
                counts[label] = count
            else:
                rank = label_rank(label)
                if rank > self._bar:  # never among the kept ones: not stored
                    self.other += count
                else:
                    self._ranks[label] = rank
                    counts[label] = count
        if len(counts) > 2 * self.max_categories:
            self._compact()

    def _rank(self, label: str) -> tuple[int, str]:
        rank = self._ranks.get(label)
        if rank is None:
            rank = self._ranks[label] = label_rank(label)
        return rank

    def _compact(self) -> None:
        if len(self.counts) <= self.max_categories:
            return
        ranked = sorted(self.counts, key=self._rank)
        kept, dropped = ranked[: self.max_categories], ranked[self.max_categories :]
        for label in dropped:
            self.other += self.counts.pop(label)
            self._ranks.pop(label, None)
        self._bar = self._rank(kept[-1])

    def result(self) -> CategoryCounts:
        # A capped part keeps exactly max_categories labels, all ranked below the labels it
        # dropped, so the bottom ranks of what arrived are the bottom ranks of the union.
        if self.vocabulary is not None:
            counts = {label: n for label, n in self.counts.items() if n > 0}
            return CategoryCounts(counts, self.other, self.max_categories, "top", self.vocabulary)
        self._compact()
        return CategoryCounts(dict(self.counts), self.other, self.max_categories)
