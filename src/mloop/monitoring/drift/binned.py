"""A numeric distribution known only as counts in fixed bins: what a stored dataset profile
keeps (20 equal-width bins between the exact minimum and maximum).

It answers the same questions as ``QuantileSketch`` (``count``, ``exact``, ``edges``,
``cdf``, ``quantiles``) so the drift tests take either. Its distribution function is exact at
the bin edges and modelled as linear inside a bin. Two binned distributions merge only when
their edges are equal (the counts then add, associatively).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from mloop.core.errors import ValidationError

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]


@dataclass(frozen=True, eq=False)
class BinnedCounts:
    """Counts of values in bins: bin ``i`` holds values in ``(edges[i], edges[i + 1]]``, the
    first bin also ``edges[0]``. A constant column has two equal edges and one bin."""

    bin_edges: FloatArray
    bin_counts: IntArray

    def __post_init__(self) -> None:
        edges, counts = self.bin_edges, self.bin_counts
        if edges.ndim != 1 or counts.ndim != 1 or edges.size != counts.size + 1 or not counts.size:
            raise ValidationError(
                "binned counts need one more edge than counts, and at least one bin",
                field="histogram",
            )
        if not np.isfinite(edges).all() or (np.diff(edges) < 0).any() or (counts < 0).any():
            raise ValidationError(
                "bin edges must be finite and ascending, counts non-negative", field="histogram"
            )

    @property
    def count(self) -> int:
        return int(self.bin_counts.sum())

    @property
    def exact(self) -> bool:
        return False

    @property
    def low(self) -> float:
        return float(self.bin_edges[0])

    @property
    def high(self) -> float:
        return float(self.bin_edges[-1])

    @property
    def shift(self) -> None:
        """Binned counts have no bit-bucket shift (see ``QuantileSketch``)."""
        return None

    def edges(self) -> tuple[FloatArray, FloatArray]:
        return self.bin_edges[:-1].copy(), self.bin_edges[1:].copy()

    @property
    def counts(self) -> IntArray:
        return self.bin_counts

    def cdf(self, at: npt.ArrayLike) -> FloatArray:
        points = np.asarray(at, dtype=np.float64)
        total = self.count
        if total == 0:
            return np.full(points.shape, np.nan)
        cum = np.r_[0.0, np.cumsum(self.bin_counts)] / total
        if self.bin_edges[0] == self.bin_edges[-1]:  # a constant column: one point mass
            return np.where(points >= self.bin_edges[0], 1.0, 0.0)
        return np.asarray(
            np.interp(points, self.bin_edges, cum, left=0.0, right=1.0), dtype=np.float64
        )

    def quantiles(self, levels: npt.ArrayLike) -> FloatArray:
        q = np.asarray(levels, dtype=np.float64)
        total = self.count
        if total == 0:
            return np.full(q.shape, np.nan)
        cum = np.r_[0.0, np.cumsum(self.bin_counts)] / total
        keep = np.r_[True, np.diff(cum) > 0]
        return np.asarray(np.interp(q, cum[keep], self.bin_edges[keep]), dtype=np.float64)

    def largest_bucket_share(self) -> float:
        total = self.count
        return float(self.bin_counts.max()) / total if total else 0.0

    def merge(self, other: object) -> BinnedCounts:
        if not isinstance(other, BinnedCounts) or not np.array_equal(
            self.bin_edges, other.bin_edges
        ):
            raise ValidationError(
                "summaries built from dataset profiles merge only with each other, and only "
                "when their histogram edges are equal",
                field="summary",
            )
        return BinnedCounts(self.bin_edges, self.bin_counts + other.bin_counts)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, BinnedCounts):
            return NotImplemented
        return np.array_equal(self.bin_edges, other.bin_edges) and np.array_equal(
            self.bin_counts, other.bin_counts
        )

    __hash__ = None  # type: ignore[assignment]

    def to_dict(self) -> dict[str, Any]:
        return {"edges": self.bin_edges.tolist(), "counts": self.bin_counts.tolist()}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> BinnedCounts:
        try:
            edges = np.asarray(data["edges"], dtype=np.float64)
            counts = np.asarray(data["counts"], dtype=np.int64)
        except (KeyError, TypeError, ValueError) as exc:
            raise ValidationError(f"not binned counts: {exc}", field="histogram") from exc
        return cls(edges, counts)
