"""Per-column summaries of a dataset or window: what drift tests compare.

A ``DataSummary`` holds one summary per column and, optionally, a uniform row sample:

- ``NumericSummary``: counts of values, nulls, NaN and infinities; mean and the sum of squared
  deviations (merged with Chan's formula); a ``QuantileSketch`` of the finite values (exact up
  to ``max_buckets`` distinct values), or ``BinnedCounts`` when built from a stored dataset
  profile;
- ``CategoricalSummary``: null count and ``CategoryCounts`` (exact up to ``max_categories``
  categories, a fixed hash-chosen subset plus ``other`` beyond).

Summaries are plain values: ``to_dict``/``from_dict`` (and ``to_json``/``from_json`` on
``DataSummary``) round-trip through JSON, and ``merge`` combines the summaries of two parts
into the summary of the whole. Merging is associative and commutative: counts, sketches,
categories and samples exactly; the mean and squared deviations up to floating-point
rounding.
"""

from __future__ import annotations

import difflib
import json
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar, TypeAlias

from mloop.core.errors import NotFoundError, ValidationError
from mloop.monitoring.drift.binned import BinnedCounts
from mloop.monitoring.drift.categories import CategoryCounts
from mloop.monitoring.drift.inputs import Kind
from mloop.monitoring.drift.sample import RowSample
from mloop.monitoring.drift.sketch import QuantileSketch

FORMAT_VERSION = 1

Distribution: TypeAlias = QuantileSketch | BinnedCounts


def _merge_types(a: str, b: str) -> str:
    """Column types of two parts: equal ones stay, different ones are listed (sorted, so
    the result does not depend on the order of merging)."""
    parts = sorted({*a.split(" | "), *b.split(" | ")})
    return " | ".join(parts)


@dataclass(frozen=True, eq=False)
class NumericSummary:
    """A numeric column: ``count`` finite values, ``nulls``, ``nan``, ``pos_inf`` and
    ``neg_inf``; ``mean`` and ``m2`` (sum of squared deviations from the mean) of the finite
    values; their distribution in ``sketch``."""

    kind: ClassVar[Kind] = "numeric"

    type: str
    count: int
    nulls: int
    nan: int
    pos_inf: int
    neg_inf: int
    mean: float | None
    m2: float
    sketch: Distribution

    @property
    def rows(self) -> int:
        return self.count + self.nulls + self.nan + self.pos_inf + self.neg_inf

    @property
    def non_finite(self) -> int:
        return self.nan + self.pos_inf + self.neg_inf

    @property
    def std(self) -> float | None:
        """Population standard deviation (``ddof=0``, as ``numpy.std``) of finite values."""
        return math.sqrt(max(self.m2, 0.0) / self.count) if self.count else None

    @property
    def min(self) -> float | None:
        return self.sketch.low if self.count else None

    @property
    def max(self) -> float | None:
        return self.sketch.high if self.count else None

    @property
    def exact(self) -> bool:
        """Whether every distinct finite value is kept with its count."""
        return self.sketch.exact

    def distinct(self) -> int | None:
        """Distinct finite values when known exactly (an exact sketch), else None."""
        return int(self.sketch.counts.size) if self.sketch.exact else None

    def merge(self, other: NumericSummary) -> NumericSummary:
        n = self.count + other.count
        if self.mean is None or other.mean is None:
            mean = self.mean if other.mean is None else other.mean
            m2 = self.m2 + other.m2
        else:
            # Weighted, not ``a + delta * nb / n``: the difference of two huge means of
            # opposite sign would overflow.
            mean = self.mean * (self.count / n) + other.mean * (other.count / n)
            delta = other.mean - self.mean
            m2 = self.m2 + other.m2 + delta * delta * (self.count / n) * other.count
        return NumericSummary(
            type=_merge_types(self.type, other.type),
            count=n,
            nulls=self.nulls + other.nulls,
            nan=self.nan + other.nan,
            pos_inf=self.pos_inf + other.pos_inf,
            neg_inf=self.neg_inf + other.neg_inf,
            mean=mean,
            m2=m2,
            sketch=_merge_distributions(self.sketch, other.sketch),
        )

    def to_dict(self) -> dict[str, Any]:
        binned = isinstance(self.sketch, BinnedCounts)
        return {
            "kind": self.kind,
            "type": self.type,
            "count": self.count,
            "nulls": self.nulls,
            "nan": self.nan,
            "pos_inf": self.pos_inf,
            "neg_inf": self.neg_inf,
            "mean": _number_out(self.mean),
            "m2": _number_out(self.m2),
            "histogram" if binned else "sketch": self.sketch.to_dict(),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> NumericSummary:
        sketch: Distribution
        if "histogram" in data:
            sketch = BinnedCounts.from_dict(data["histogram"])
        else:
            sketch = QuantileSketch.from_dict(data["sketch"])
        mean = _number_in(data.get("mean"))
        summary = cls(
            type=str(data.get("type", "double")),
            count=int(data["count"]),
            nulls=int(data.get("nulls", 0)),
            nan=int(data.get("nan", 0)),
            pos_inf=int(data.get("pos_inf", 0)),
            neg_inf=int(data.get("neg_inf", 0)),
            mean=mean,
            m2=_number_in(data.get("m2", 0.0)) or 0.0,
            sketch=sketch,
        )
        if summary.count != sketch.count:
            raise ValidationError(
                f"numeric summary counts {summary.count} values but its distribution "
                f"{sketch.count}",
                field="count",
            )
        return summary


def _number_out(value: float | None) -> float | str | None:
    """JSON has no infinity: moments of values near the float limits can overflow, and are
    written as the strings ``inf`` and ``-inf``."""
    if value is None or math.isfinite(value):
        return value
    return "inf" if value > 0 else "-inf" if value < 0 else "nan"


def _number_in(value: Any) -> float | None:
    return None if value is None else float(value)


def _merge_distributions(a: Distribution, b: Distribution) -> Distribution:
    if isinstance(a, QuantileSketch) and isinstance(b, QuantileSketch):
        return a.merge(b)
    if isinstance(a, BinnedCounts):
        return a.merge(b)
    return b.merge(a)


@dataclass(frozen=True, eq=False)
class CategoricalSummary:
    """A categorical column: ``nulls`` and the counts of its categories."""

    kind: ClassVar[Kind] = "categorical"

    type: str
    nulls: int
    categories: CategoryCounts

    @property
    def count(self) -> int:
        """Non-null values."""
        return self.categories.total

    @property
    def rows(self) -> int:
        return self.count + self.nulls

    @property
    def exact(self) -> bool:
        return not self.categories.capped

    def distinct(self) -> int | None:
        """Distinct categories when every one is counted, else None."""
        return None if self.categories.capped else len(self.categories.counts)

    def merge(self, other: CategoricalSummary) -> CategoricalSummary:
        return CategoricalSummary(
            type=_merge_types(self.type, other.type),
            nulls=self.nulls + other.nulls,
            categories=self.categories.merge(other.categories),
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "type": self.type,
            "nulls": self.nulls,
            **self.categories.to_dict(),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> CategoricalSummary:
        return cls(
            type=str(data.get("type", "string")),
            nulls=int(data.get("nulls", 0)),
            categories=CategoryCounts.from_dict(data),
        )


ColumnSummary: TypeAlias = NumericSummary | CategoricalSummary


def column_from_dict(data: dict[str, Any]) -> ColumnSummary:
    kind = data.get("kind")
    if kind == "numeric":
        return NumericSummary.from_dict(data)
    if kind == "categorical":
        return CategoricalSummary.from_dict(data)
    raise ValidationError(
        f"unknown column summary kind {kind!r} (numeric or categorical)", field="kind"
    )


@dataclass(frozen=True, eq=False)
class DataSummary:
    """Summaries of a dataset's columns (see the module docstring).

    ``rows`` counts every row; ``skipped`` names columns left out and why (types drift is
    not measured on); ``sample`` is a uniform sample of rows for the domain classifier, or
    None; ``source`` says what was summarised.
    """

    rows: int
    columns: dict[str, ColumnSummary]
    sample: RowSample | None = None
    skipped: dict[str, str] = field(default_factory=dict)
    source: str = ""
    format_version: int = FORMAT_VERSION

    @property
    def column_names(self) -> list[str]:
        return list(self.columns)

    def column(self, name: str) -> ColumnSummary:
        """One column's summary; NotFoundError (with a close match) if there is none."""
        try:
            return self.columns[name]
        except KeyError:
            hint = difflib.get_close_matches(name, list(self.columns), n=1)
            extra = f" (did you mean {hint[0]!r}?)" if hint else ""
            raise NotFoundError(
                f"the summary has no column {name!r}{extra}", field="column"
            ) from None

    def select(self, names: Sequence[str]) -> DataSummary:
        """The summaries of ``names`` only, in that order (the row sample keeps those
        columns too); NotFoundError for a column the summary lacks."""
        columns = {name: self.column(name) for name in names}
        sample = None
        if self.sample is not None:
            kept = {n: self.sample.columns[n] for n in names if n in self.sample.columns}
            sample = RowSample(self.sample.size, self.sample.priorities, kept)
        return DataSummary(self.rows, columns, sample, {}, self.source, self.format_version)

    def merge(self, other: DataSummary) -> DataSummary:
        """The summary of both parts' rows (associative and commutative)."""
        if list(self.columns) != list(other.columns):
            only_a = [c for c in self.columns if c not in other.columns]
            only_b = [c for c in other.columns if c not in self.columns]
            raise ValidationError(
                "summaries of different columns cannot be merged "
                f"(only in the first: {only_a or 'none'}; only in the second: "
                f"{only_b or 'none'}; or a different order)",
                field="columns",
            )
        columns = {
            name: _merge_column(name, mine, other.columns[name])
            for name, mine in self.columns.items()
        }
        sample = (
            self.sample.merge(other.sample)
            if self.sample is not None and other.sample is not None
            else None
        )
        sources = sorted({s for s in (*self.source.split(" + "), *other.source.split(" + ")) if s})
        return DataSummary(
            rows=self.rows + other.rows,
            columns=columns,
            sample=sample,
            skipped={**self.skipped, **other.skipped},
            source=" + ".join(sources),
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "format_version": self.format_version,
            "rows": self.rows,
            "source": self.source,
            "skipped": dict(self.skipped),
            "columns": {name: col.to_dict() for name, col in self.columns.items()},
            "sample": None if self.sample is None else self.sample.to_dict(),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> DataSummary:
        version = int(data.get("format_version", FORMAT_VERSION))
        if version > FORMAT_VERSION:
            raise ValidationError(
                f"summary format {version} is newer than this mloop reads ({FORMAT_VERSION})",
                field="format_version",
            )
        try:
            columns = {str(k): column_from_dict(v) for k, v in dict(data["columns"]).items()}
            rows = int(data["rows"])
        except (KeyError, TypeError) as exc:
            raise ValidationError(f"not a data summary: {exc}", field="columns") from exc
        sample = data.get("sample")
        return cls(
            rows=rows,
            columns=columns,
            sample=None if sample is None else RowSample.from_dict(sample),
            skipped={str(k): str(v) for k, v in dict(data.get("skipped") or {}).items()},
            source=str(data.get("source", "")),
            format_version=version,
        )

    def to_json(self, *, indent: int | None = None) -> str:
        return json.dumps(self.to_dict(), indent=indent, allow_nan=False)

    @classmethod
    def from_json(cls, text: str | bytes) -> DataSummary:
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ValidationError(f"not JSON: {exc}", field="summary") from exc
        if not isinstance(data, dict):
            raise ValidationError("a data summary is a JSON object", field="summary")
        return cls.from_dict(data)


def _merge_column(name: str, mine: ColumnSummary, theirs: ColumnSummary) -> ColumnSummary:
    if isinstance(mine, NumericSummary) and isinstance(theirs, NumericSummary):
        return mine.merge(theirs)
    if isinstance(mine, CategoricalSummary) and isinstance(theirs, CategoricalSummary):
        return mine.merge(theirs)
    raise ValidationError(
        f"column {name!r} is {mine.kind} in one summary and {theirs.kind} in the other: "
        "summarise both with the same kinds",
        field="columns",
    )


def merge(first: DataSummary, *others: DataSummary) -> DataSummary:
    """The summary of all parts' rows: ``merge(a, b, c) == a.merge(b).merge(c)``, in any
    grouping and order."""
    result = first
    for other in others:
        result = result.merge(other)
    return result
