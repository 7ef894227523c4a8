"""A mergeable quantile sketch of float values: counts per bucket of the float bit pattern.

Why this sketch. Drift tests on numbers need the reference's distribution function, and a
reference is summarised once, stored, merged (a month from daily summaries) and compared
with many windows. The sketch must therefore be small, exactly mergeable, deterministic and
fine enough for KS, Wasserstein and PSI. Fixed quantile grids and t-digests are not exactly
mergeable (merging re-approximates); KLL sketches are randomised. Counting values per bucket
of a fixed bucketing scheme is: the counts of two parts add up to the counts of the whole,
whatever the order.

The buckets. A finite float64 is a sign, an exponent and 52 bits of mantissa. Dropping the
lowest ``shift`` bits of ``|x|``'s bit pattern maps ``x`` to a bucket key; the buckets of
one key are the values sharing those leading bits: one value at shift 0, and at shift
``s > 0`` an interval whose width is ``2^(s-52)`` times the value's power of two (a relative
width of ``2^(s-52)``, the scheme of HDR histograms and DDSketch). Negative values get the
key ``~k`` (``-k - 1``), so keys sort as the values do and one arithmetic right shift
coarsens any key by one bit: the buckets of shift ``s + 1`` are unions of pairs of buckets
of shift ``s``.

Uniform collapse. A sketch holds at most ``max_buckets`` occupied buckets: it uses the
finest shift (at least ``min_shift``) at which the values occupy no more. The representation
is then a function of the multiset of values alone, and ``merge`` (coarsen both to the
coarser shift, add the counts, coarsen while too many buckets are occupied) gives exactly the
sketch of the union: merging is associative and commutative, bit for bit. The precision
adapts to the data: values confined to one power of two (``1000 + N(0, 0.1)``) keep about as
many mantissa bits as they need, while a standard normal spreading over many powers of two
settles at about 7 bits (0.8 % relative width) with 4,096 buckets.

Exactness. While the values occupy at most ``max_buckets`` distinct floats the sketch stays at
shift 0 and holds every distinct value with its count: small references (up to
``max_buckets`` rows) and low-cardinality columns are exact, and the drift tests then
compute exactly what scipy computes on the raw values.

Approximate comparisons. Above shift 0 the distribution function is modelled as linear
inside each bucket (values spread evenly), with the first and last bucket cut to the exact
minimum and maximum. Comparing two sketches brings both to the coarser shift, so both
models break at the same bucket edges: a KS statistic computed on the model is at most the
exact one, and below it by at most the largest difference of mass inside one bucket.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from mloop.core.errors import ValidationError

DEFAULT_MAX_BUCKETS = 4096
"""Occupied buckets a sketch keeps by default: references of up to this many rows stay exact,
and a standard normal sample of any size settles at 7 mantissa bits."""

MIN_BUCKETS = 64
MAX_SHIFT = 52
_MAGNITUDE = np.int64(0x7FFF_FFFF_FFFF_FFFF)
# Key ranges up to this size are counted with bincount (linear) rather than sorted.
_BINCOUNT_SPAN = 1 << 22

IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]


def bucket_keys(values: FloatArray, shift: int) -> IntArray:
    """The bucket key of each finite value at ``shift`` (0: the value itself)."""
    bits = (values + 0.0).view(np.int64)  # + 0.0 turns -0.0 into 0.0
    magnitude = (bits & _MAGNITUDE) >> np.int64(shift)
    return np.where(bits < 0, ~magnitude, magnitude)


def count_keys(keys: IntArray) -> tuple[IntArray, IntArray]:
    """Sorted distinct keys and their counts."""
    if keys.size == 0:
        return np.empty(0, np.int64), np.empty(0, np.int64)
    low, high = int(keys.min()), int(keys.max())
    if high - low < max(_BINCOUNT_SPAN, 4 * keys.size) and high - low < 1 << 26:
        counts = np.bincount(keys - low)
        present = np.flatnonzero(counts)
        return present.astype(np.int64) + low, counts[present].astype(np.int64)
    unique, counts = np.unique(keys, return_counts=True)
    return unique.astype(np.int64), counts.astype(np.int64)


def _add_counts(keys: Sequence[IntArray], counts: Sequence[IntArray]) -> tuple[IntArray, IntArray]:
    """The sum of several (keys, counts) sets, as sorted distinct keys and counts."""
    all_keys = np.concatenate(keys) if len(keys) > 1 else keys[0]
    all_counts = np.concatenate(counts) if len(counts) > 1 else counts[0]
    if all_keys.size == 0:
        return all_keys.astype(np.int64), all_counts.astype(np.int64)
    order = np.argsort(all_keys, kind="stable")
    sorted_keys = all_keys[order]
    starts = np.flatnonzero(np.r_[True, sorted_keys[1:] != sorted_keys[:-1]])
    return sorted_keys[starts], np.add.reduceat(all_counts[order], starts).astype(np.int64)


def _coarsen(keys: IntArray, counts: IntArray, bits: int) -> tuple[IntArray, IntArray]:
    if bits <= 0:
        return keys, counts
    coarse = keys >> np.int64(bits)  # keys are sorted, so coarse keys are too
    starts = np.flatnonzero(np.r_[True, coarse[1:] != coarse[:-1]]) if coarse.size else coarse
    if coarse.size == 0:
        return coarse, counts
    return coarse[starts], np.add.reduceat(counts, starts).astype(np.int64)


def _collapse(
    keys: IntArray, counts: IntArray, shift: int, max_buckets: int
) -> tuple[IntArray, IntArray, int]:
    """Coarsen to the finest shift at which at most ``max_buckets`` buckets are occupied."""
    if keys.size <= max_buckets:
        return keys, counts, shift
    # The occupied count only falls as the shift grows: binary search on sorted keys.
    low, high = 1, MAX_SHIFT - shift
    while low < high:
        bits = (low + high) // 2
        coarse = keys >> np.int64(bits)
        if 1 + int(np.count_nonzero(coarse[1:] != coarse[:-1])) <= max_buckets:
            high = bits
        else:
            low = bits + 1
    keys, counts = _coarsen(keys, counts, low)
    return keys, counts, shift + low


def _edge_values(magnitudes: IntArray, shift: int) -> FloatArray:
    """The float whose bit pattern is each magnitude shifted left by ``shift``; patterns
    beyond the largest finite float become inf."""
    limit = np.int64(0x7FF0_0000_0000_0000 >> shift)
    return (np.minimum(magnitudes, limit) << np.int64(shift)).view(np.float64)


@dataclass(frozen=True, eq=False)
class QuantileSketch:
    """Counts of finite values per bucket (see the module docstring).

    ``keys`` are sorted distinct bucket keys at ``shift``, ``counts`` their positive counts;
    ``low`` and ``high`` are the exact smallest and largest value (None when empty).
    Build one with ``QuantileSketch.of(values)`` or ``SketchBuilder``; never mutate it.
    """

    shift: int
    keys: IntArray
    counts: IntArray
    low: float | None
    high: float | None
    max_buckets: int = DEFAULT_MAX_BUCKETS
    min_shift: int = 0
    _total: int = field(default=-1, repr=False)

    def __post_init__(self) -> None:
        if self._total < 0:
            object.__setattr__(self, "_total", int(self.counts.sum()))

    # ---------------------------------------------------------------- building

    @classmethod
    def empty(cls, max_buckets: int = DEFAULT_MAX_BUCKETS, min_shift: int = 0) -> QuantileSketch:
        _check_settings(max_buckets, min_shift)
        none = np.empty(0, np.int64)
        return cls(min_shift, none, none.copy(), None, None, max_buckets, min_shift)

    @classmethod
    def of(
        cls,
        values: npt.ArrayLike,
        *,
        max_buckets: int = DEFAULT_MAX_BUCKETS,
        min_shift: int = 0,
    ) -> QuantileSketch:
        """The sketch of ``values`` (finite floats; NaN and infinities are refused)."""
        builder = SketchBuilder(max_buckets=max_buckets, min_shift=min_shift)
        array = np.asarray(values, dtype=np.float64).ravel()
        if not np.isfinite(array).all():
            raise ValidationError("a sketch takes finite values only", field="values")
        builder.add(array)
        return builder.result()

    # ---------------------------------------------------------------- reading

    @property
    def count(self) -> int:
        return self._total

    @property
    def exact(self) -> bool:
        """Whether every value is kept as itself (shift 0)."""
        return self.shift == 0

    def values(self) -> FloatArray:
        """The distinct values (exact sketches only), ascending."""
        if not self.exact:
            raise ValueError("only an exact sketch (shift 0) knows its values")
        return _decode_points(self.keys)

    def edges(self) -> tuple[FloatArray, FloatArray]:
        """Lower and upper value of each bucket, the outer ones cut to ``low`` and ``high``."""
        if self.exact:
            points = _decode_points(self.keys)
            return points, points.copy()
        magnitude = np.where(self.keys < 0, ~self.keys, self.keys)
        near = _edge_values(magnitude, self.shift)
        far = _edge_values(magnitude + 1, self.shift)
        negative = self.keys < 0
        lower = np.where(negative, -far, near)
        upper = np.where(negative, -near, far)
        if self.keys.size:
            assert self.low is not None and self.high is not None
            lower = np.clip(lower, self.low, self.high)
            upper = np.clip(upper, self.low, self.high)
        return lower, upper

    def coarsened(self, shift: int) -> QuantileSketch:
        """The same values at a coarser (or equal) shift."""
        if shift < self.shift:
            raise ValueError(f"cannot refine a sketch from shift {self.shift} to {shift}")
        keys, counts = _coarsen(self.keys, self.counts, shift - self.shift)
        return QuantileSketch(
            shift, keys, counts, self.low, self.high, self.max_buckets, self.min_shift, self._total
        )

    def cdf(self, at: npt.ArrayLike) -> FloatArray:
        """``P(X <= at)``: exact for an exact sketch and at bucket edges, linear inside a
        bucket otherwise."""
        points = np.asarray(at, dtype=np.float64)
        if self.count == 0:
            return np.full(points.shape, np.nan)
        lower, upper = self.edges()
        cum = np.cumsum(self.counts)
        done = np.searchsorted(upper, points, side="right")  # buckets wholly at or below
        below = np.where(done > 0, cum[np.maximum(done - 1, 0)], 0).astype(np.float64)
        if not self.exact:
            j = np.minimum(done, self.counts.size - 1)
            width = upper[j] - lower[j]
            inside = (done < self.counts.size) & (points > lower[j]) & (width > 0)
            share = np.where(inside, (points - lower[j]) / np.where(width > 0, width, 1.0), 0.0)
            below += share * self.counts[j]
        return below / self.count

    def quantiles(self, levels: npt.ArrayLike) -> FloatArray:
        """Values at the given levels in [0, 1]: for an exact sketch the smallest value whose
        distribution function reaches the level (numpy's ``inverted_cdf``), else the inverse
        of the linear model."""
        q = np.asarray(levels, dtype=np.float64)
        if self.count == 0:
            return np.full(q.shape, np.nan)
        if self.exact:
            values = _decode_points(self.keys)
            running = np.cumsum(self.counts)
            index = np.searchsorted(running, q * self.count, side="left")
            return values[np.clip(index, 0, values.size - 1)]
        lower, upper = self.edges()
        cum = np.cumsum(self.counts) / self.count
        x = np.empty(2 * lower.size)
        f = np.empty(2 * lower.size)
        x[0::2], x[1::2] = lower, upper
        f[0::2], f[1::2] = np.r_[0.0, cum[:-1]], cum
        keep = np.r_[True, np.diff(f) > 0]  # np.interp needs increasing levels
        return np.asarray(np.interp(q, f[keep], x[keep]), dtype=np.float64)

    def largest_bucket_share(self) -> float:
        """The largest share of the values in one bucket (0 for an exact sketch)."""
        if self.exact or self.count == 0:
            return 0.0
        return float(self.counts.max()) / self.count

    # ---------------------------------------------------------------- combining

    def merge(self, other: QuantileSketch) -> QuantileSketch:
        """The sketch of both sketches' values (associative and commutative, exactly)."""
        max_buckets = min(self.max_buckets, other.max_buckets)
        min_shift = max(self.min_shift, other.min_shift)
        shift = max(self.shift, other.shift, min_shift)
        a, b = self.coarsened(shift), other.coarsened(shift)
        keys, counts = _add_counts([a.keys, b.keys], [a.counts, b.counts])
        keys, counts, shift = _collapse(keys, counts, shift, max_buckets)
        return QuantileSketch(
            shift,
            keys,
            counts,
            _min_or_none(self.low, other.low),
            _max_or_none(self.high, other.high),
            max_buckets,
            min_shift,
        )

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, QuantileSketch):
            return NotImplemented
        return (
            self.shift == other.shift
            and self.max_buckets == other.max_buckets
            and self.min_shift == other.min_shift
            and self.low == other.low
            and self.high == other.high
            and np.array_equal(self.keys, other.keys)
            and np.array_equal(self.counts, other.counts)
        )

    __hash__ = None  # type: ignore[assignment]

    # ---------------------------------------------------------------- JSON

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON: keys as the first key and the differences to the next (small ints;
        int64 arithmetic, so a difference past the int64 range wraps and unwraps again)."""
        keys = self.keys.tolist()
        deltas = [keys[0], *np.diff(self.keys).tolist()] if keys else []
        return {
            "shift": self.shift,
            "max_buckets": self.max_buckets,
            "min_shift": self.min_shift,
            "low": self.low,
            "high": self.high,
            "key_deltas": deltas,
            "counts": self.counts.tolist(),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> QuantileSketch:
        try:
            keys = np.cumsum(np.asarray(data["key_deltas"], dtype=np.int64)).astype(np.int64)
            counts = np.asarray(data["counts"], dtype=np.int64)
            shift = int(data["shift"])
            max_buckets = int(data.get("max_buckets", DEFAULT_MAX_BUCKETS))
            min_shift = int(data.get("min_shift", 0))
        except (KeyError, TypeError, ValueError) as exc:
            raise ValidationError(f"not a quantile sketch: {exc}", field="sketch") from exc
        if keys.shape != counts.shape or (counts <= 0).any() or not 0 <= shift <= MAX_SHIFT:
            raise ValidationError(
                "not a quantile sketch: keys and counts differ in length, a count is not "
                "positive or the shift is outside 0..52",
                field="sketch",
            )
        if keys.size > 1 and not (keys[1:] > keys[:-1]).all():
            raise ValidationError("not a quantile sketch: keys must increase", field="sketch")
        low, high = data.get("low"), data.get("high")
        return cls(
            shift,
            keys,
            counts,
            None if low is None else float(low),
            None if high is None else float(high),
            max_buckets,
            min_shift,
        )


class SketchBuilder:
    """Accumulates finite values batch by batch into a ``QuantileSketch`` (flat memory:
    at most a few times ``max_buckets`` pending buckets)."""

    def __init__(self, *, max_buckets: int = DEFAULT_MAX_BUCKETS, min_shift: int = 0) -> None:
        _check_settings(max_buckets, min_shift)
        self.max_buckets = max_buckets
        self.min_shift = min_shift
        self.shift = min_shift
        # Bucket counts not yet added together, each at the shift it was counted at.
        self._pending: list[tuple[IntArray, IntArray, int]] = []
        self._pending_size = 0
        self.low: float | None = None
        self.high: float | None = None

    def add(self, values: FloatArray) -> None:
        """Add finite float64 values (the caller removes NaN and infinities)."""
        if values.size == 0:
            return
        self.low = _min_or_none(self.low, float(values.min()))
        self.high = _max_or_none(self.high, float(values.max()))
        if not self._pending and values.size > 4 * self.max_buckets:
            # Any subset occupies at most the buckets the whole does, so the shift a subset
            # needs is a lower bound of the final one: start there and skip sorting every
            # distinct float of the first batch.
            head = values[: 4 * self.max_buckets]
            keys, counts = count_keys(bucket_keys(head, self.shift))
            self.shift = _collapse(keys, counts, self.shift, self.max_buckets)[2]
        keys, counts = count_keys(bucket_keys(values, self.shift))
        # Settle the shift on this batch at once, so later batches count coarse keys.
        keys, counts, self.shift = _collapse(keys, counts, self.shift, self.max_buckets)
        self._pending.append((keys, counts, self.shift))
        self._pending_size += keys.size
        if self._pending_size > 4 * self.max_buckets:
            self._compact()

    def _compact(self) -> None:
        if not self._pending:
            return
        shift = self.shift
        parts = [_coarsen(keys, counts, shift - at) for keys, counts, at in self._pending]
        keys, counts = _add_counts([k for k, _ in parts], [c for _, c in parts])
        keys, counts, self.shift = _collapse(keys, counts, shift, self.max_buckets)
        self._pending = [(keys, counts, self.shift)]
        self._pending_size = keys.size

    def result(self) -> QuantileSketch:
        """The sketch of everything added so far."""
        if not self._pending:
            return QuantileSketch.empty(self.max_buckets, self.min_shift)
        self._compact()
        keys, counts, shift = self._pending[0]
        return QuantileSketch(
            shift, keys, counts, self.low, self.high, self.max_buckets, self.min_shift
        )


def _decode_points(keys: IntArray) -> FloatArray:
    """The values of shift-0 keys."""
    magnitude = np.where(keys < 0, ~keys, keys).view(np.float64)
    return np.where(keys < 0, -magnitude, magnitude)


def _check_settings(max_buckets: int, min_shift: int) -> None:
    if not isinstance(max_buckets, int) or max_buckets < MIN_BUCKETS:
        raise ValidationError(
            f"max_buckets must be an integer of at least {MIN_BUCKETS}, not {max_buckets!r}",
            field="max_buckets",
        )
    if not isinstance(min_shift, int) or not 0 <= min_shift <= MAX_SHIFT:
        raise ValidationError(
            f"min_shift must be an integer in 0..{MAX_SHIFT}, not {min_shift!r}",
            field="min_shift",
        )


def _min_or_none(a: float | None, b: float | None) -> float | None:
    if a is None:
        return b
    return a if b is None else min(a, b)


def _max_or_none(a: float | None, b: float | None) -> float | None:
    if a is None:
        return b
    return a if b is None else max(a, b)


def relative_width(shift: int) -> float:
    """The relative width of a bucket at ``shift``: ``2^(shift - 52)`` (0 at shift 0)."""
    return 0.0 if shift == 0 else math.ldexp(1.0, shift - MAX_SHIFT)
