"""Dataset profiles as the UI shows them: per-column views, chart data and comparisons.

A stored profile is ``DatasetProfile.to_dict()`` as the client sent it. The server checked
only its outline (format version, row count, column names), so everything here reads it
defensively: a field of the wrong type is shown as missing, never an error. What reaches a
page is bounded: at most :data:`MAX_BINS` histogram bins, :data:`MAX_BARS` categories per
chart and :data:`~mloop.server.ui.formatting.MAX_LABEL` characters per value.

Two versions are compared from their stored profiles alone (no data is read): the
population stability index of a numeric column spreads the newer version's histogram over
the older one's bins, assuming values are uniform within a bin; that of a categorical
column uses the older version's categories plus one bin for every other value.

The index is ``mloop.data``'s own (:func:`mloop.data.stats.population_stability_index`),
the formula a distribution check uses; that module needs neither DuckDB nor pyarrow, so the
server still runs without the ``data`` extra.
"""

from __future__ import annotations

import bisect
import itertools
import json
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from mloop.data.stats import population_stability_index
from mloop.server.ui.formatting import cut, label, number, percent

MAX_BINS = 100
"""Histogram bins sent to the page; finer histograms are merged."""
MAX_BARS = 15
"""Categories drawn per chart; the rest are one "other" bar."""
MAX_CATEGORY_PAIRS = 100_000
"""Category counts read from one column's profile."""
MAX_QUANTILES = 50
OVERLAY_BINS = (10, 50)
"""Least and most common bins of an overlay chart."""
PSI_MODERATE = 0.1
PSI_LARGE = 0.25


# -- reading a stored profile ------------------------------------------------------------


def _finite(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    number_ = float(value)
    return number_ if math.isfinite(number_) else None


def _count(value: Any) -> int | None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        return None
    return value


def _key(value: Any) -> str:
    """A hashable identity of a category value (``1`` and ``"1"`` stay apart)."""
    try:
        return json.dumps(value, sort_keys=True, allow_nan=True, default=str)
    except (TypeError, ValueError):
        return repr(value)


@dataclass
class Histogram:
    edges: list[float]
    counts: list[float]

    @property
    def total(self) -> float:
        return float(sum(self.counts))

    @property
    def constant(self) -> bool:
        return self.edges[0] == self.edges[-1]


def _histogram(raw: Any) -> Histogram | None:
    if not isinstance(raw, dict):
        return None
    edges, counts = raw.get("edges"), raw.get("counts")
    if not isinstance(edges, list) or not isinstance(counts, list):
        return None
    if not 1 <= len(counts) <= 1_000_000 or len(edges) != len(counts) + 1:
        return None
    e = [_finite(x) for x in edges]
    c = [_finite(x) for x in counts]
    if any(x is None for x in e) or any(x is None or x < 0 for x in c):
        return None
    fe = [float(x) for x in e if x is not None]
    if any(b < a for a, b in itertools.pairwise(fe)):
        return None
    return Histogram(edges=fe, counts=[float(x) for x in c if x is not None])


def _pairs(raw: Any) -> list[tuple[Any, float]] | None:
    """``[[value, count], ...]`` as read from a profile; None when absent or malformed."""
    if not isinstance(raw, list):
        return None
    out: list[tuple[Any, float]] = []
    for item in raw[:MAX_CATEGORY_PAIRS]:
        if not isinstance(item, list | tuple) or len(item) != 2:
            return None
        count = _finite(item[1])
        if count is None or count < 0:
            return None
        out.append((item[0], count))
    return out


@dataclass
class ColumnView:
    """One column of a profile, every field checked."""

    index: int
    name: str
    type: str
    kind: str
    nullable: bool
    count: int | None
    null_count: int | None
    distinct: int | None
    min: Any
    max: Any
    mean: float | None
    std: float | None
    quantiles: list[tuple[str, float | None]]
    non_finite: int | None
    histogram: Histogram | None
    # Category counts, most frequent first: every value when ``complete``, else the top.
    pairs: list[tuple[Any, float]] | None
    complete: bool

    @property
    def rows(self) -> int | None:
        if self.count is None or self.null_count is None:
            return None
        return self.count + self.null_count

    @property
    def null_share(self) -> float | None:
        rows = self.rows
        if rows is None or self.null_count is None:
            return None
        return self.null_count / rows if rows else 0.0

    @property
    def min_text(self) -> str:
        return stat_text(self.min)

    @property
    def max_text(self) -> str:
        return stat_text(self.max)

    def stats(self) -> list[tuple[str, str]]:
        """(label, shown value) rows of the column's statistics."""
        rows: list[tuple[str, str]] = [
            ("non-null", number(self.count)),
            ("nulls", _with_share(self.null_count, self.null_share)),
            ("distinct (approx.)", number(self.distinct)),
        ]
        if self.kind in ("numeric", "temporal") or self.min is not None:
            rows += [("min", stat_text(self.min)), ("max", stat_text(self.max))]
        if self.kind == "numeric":
            rows += [("mean", number(self.mean)), ("std", number(self.std))]
            rows += [(f"p{_level(q)}", number(v)) for q, v in self.quantiles]
        if self.non_finite:
            rows.append(("NaN / infinite", number(self.non_finite)))
        return rows


def _level(q: str) -> str:
    """``"0.05"`` -> ``"5"``, ``"0.995"`` -> ``"99.5"``."""
    try:
        return f"{float(q) * 100:g}"
    except ValueError:
        return q


def _with_share(count: int | None, share: float | None) -> str:
    if count is None:
        return ""
    return f"{count} ({percent(share)})" if share is not None else str(count)


def stat_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return cut(value)
    return label(value)


def column_view(raw: Any, index: int) -> ColumnView:
    data = raw if isinstance(raw, dict) else {}
    kind = data.get("kind")
    quantiles_raw = data.get("quantiles")
    quantiles: list[tuple[str, float | None]] = []
    if isinstance(quantiles_raw, dict):
        items = [(str(k), _finite(v)) for k, v in list(quantiles_raw.items())[:MAX_QUANTILES]]
        quantiles = sorted(items, key=lambda kv: _sort_level(kv[0]))
    categories = _pairs(data.get("categories"))
    top = _pairs(data.get("top"))
    pairs = categories if categories is not None else top
    if pairs is not None:
        pairs = sorted(pairs, key=lambda p: -p[1])
    mn, mx = data.get("min"), data.get("max")
    return ColumnView(
        index=index,
        name=str(data.get("name", f"column {index}")),
        type=cut(str(data.get("type", "")), 500),
        kind=kind if isinstance(kind, str) else "other",
        nullable=bool(data.get("nullable", True)),
        count=_count(data.get("count")),
        null_count=_count(data.get("null_count")),
        distinct=_count(data.get("distinct")),
        min=mn if isinstance(mn, str | int | float) and not isinstance(mn, bool) else None,
        max=mx if isinstance(mx, str | int | float) and not isinstance(mx, bool) else None,
        mean=_finite(data.get("mean")),
        std=_finite(data.get("std")),
        quantiles=quantiles,
        non_finite=_count(data.get("non_finite_count")),
        histogram=_histogram(data.get("histogram")),
        pairs=pairs,
        complete=categories is not None,
    )


def _sort_level(q: str) -> float:
    try:
        return float(q)
    except ValueError:
        return math.inf


def profile_columns(profile: Any) -> list[ColumnView]:
    """Every column of a stored profile, in order."""
    raw = profile.get("columns") if isinstance(profile, dict) else None
    if not isinstance(raw, list):
        return []
    return [column_view(c, i) for i, c in enumerate(raw)]


# -- chart data ----------------------------------------------------------------------------


def merge_bins(hist: Histogram, limit: int = MAX_BINS) -> Histogram:
    """At most ``limit`` bins, merging neighbours (the totals stay the same)."""
    n = len(hist.counts)
    if n <= limit:
        return hist
    step = math.ceil(n / limit)
    edges = [hist.edges[i] for i in range(0, n, step)] + [hist.edges[-1]]
    counts = [float(sum(hist.counts[i : i + step])) for i in range(0, n, step)]
    return Histogram(edges=edges, counts=counts)


def _display_edges(hist: Histogram) -> list[float]:
    """A constant column's one zero-width bin, widened so it can be drawn."""
    if not hist.constant:
        return hist.edges
    v = hist.edges[0]
    half = abs(v) * 0.05 or 0.5
    return [v - half, v + half]


def _bars(col: ColumnView) -> tuple[list[dict[str, Any]], float]:
    pairs = col.pairs or []
    shown = pairs[:MAX_BARS]
    total = float(col.count) if col.count is not None else float(sum(c for _, c in pairs))
    other = max(total - sum(c for _, c in shown), 0.0)
    bars = [
        {"label": label(v, 80), "count": c, "share": (c / total if total else None)}
        for v, c in shown
    ]
    return bars, other


def column_chart(col: ColumnView) -> dict[str, Any] | None:
    """The chart of one column: a histogram (numeric) or its top categories."""
    if col.kind == "numeric" and col.histogram is not None:
        hist = merge_bins(col.histogram)
        return {"type": "hist", "edges": _display_edges(hist), "counts": hist.counts}
    if col.pairs:
        bars, other = _bars(col)
        total = float(col.count) if col.count is not None else None
        return {
            "type": "bars",
            "bars": bars,
            "other": other,
            "other_share": (other / total if total else None),
            "complete": col.complete,
        }
    return None


def rebin(hist: Histogram, edges: Sequence[float], *, clamp: bool) -> list[float]:
    """``hist``'s counts spread over the bins of ``edges`` (uniform within each bin).

    A zero-width bin is a point mass. With ``clamp``, mass below the first edge counts in
    the first bin and mass above the last edge in the last (as a distribution check bins
    the current data on the reference's edges); without, it is dropped.
    """
    n = len(edges) - 1
    out = [0.0] * n
    lo_edge, hi_edge = edges[0], edges[-1]

    def add_point(x: float, c: float) -> None:
        if x < lo_edge or x > hi_edge:
            if clamp:
                out[0 if x < lo_edge else n - 1] += c
            return
        # Bin i holds (edges[i], edges[i+1]]; the first bin also holds its lower edge.
        i = max(bisect.bisect_left(edges, x) - 1, 0)
        out[min(i, n - 1)] += c

    for j, c in enumerate(hist.counts):
        if c <= 0:
            continue
        lo, hi = hist.edges[j], hist.edges[j + 1]
        if hi <= lo or hi_edge <= lo_edge:
            add_point(lo, c)
            continue
        width = hi - lo
        if clamp:
            if lo < lo_edge:
                out[0] += c * (min(hi, lo_edge) - lo) / width
            if hi > hi_edge:
                out[n - 1] += c * (hi - max(lo, hi_edge)) / width
        start = max(bisect.bisect_right(edges, lo) - 1, 0)
        for i in range(start, n):
            a, b = edges[i], edges[i + 1]
            if a >= hi:
                break
            overlap = min(b, hi) - max(a, lo)
            if overlap > 0:
                out[i] += c * overlap / width
    return out


def _mass_at_or_below(hist: Histogram, x: float) -> float:
    """How much of ``hist`` lies at or below ``x`` (uniform within each bin)."""
    total = 0.0
    for j, c in enumerate(hist.counts):
        lo, hi = hist.edges[j], hist.edges[j + 1]
        if hi <= x:
            total += c
        elif lo < x:
            total += c * (x - lo) / (hi - lo)
    return total


def _numeric_psi(a: Histogram, b: Histogram) -> float:
    if a.constant:
        # As a distribution check does: one bin at the value, one above it.
        below = _mass_at_or_below(b, a.edges[0])
        return population_stability_index([a.total, 0.0], [below, b.total - below])
    return population_stability_index(a.counts, rebin(b, a.edges, clamp=True))


def _categorical_psi(a: ColumnView, b: ColumnView) -> float:
    a_pairs = a.pairs or []
    b_counts = {_key(v): c for v, c in (b.pairs or [])}
    expected = [c for _, c in a_pairs]
    actual = [b_counts.get(_key(v), 0.0) for v, _ in a_pairs]
    a_total = float(a.count) if a.count is not None else sum(expected)
    b_total = float(b.count) if b.count is not None else sum(b_counts.values())
    expected.append(max(a_total - sum(expected), 0.0))
    actual.append(max(b_total - sum(actual), 0.0))
    return population_stability_index(expected, actual)


def column_psi(a: ColumnView, b: ColumnView) -> tuple[float | None, bool]:
    """PSI of ``b`` against ``a`` (None when it cannot be computed) and whether it is an
    approximation beyond the uniform-within-bins one (only top categories were profiled)."""
    if a.kind != b.kind:
        return None, False
    if a.kind == "numeric" and a.histogram is not None and b.histogram is not None:
        value = _numeric_psi(a.histogram, b.histogram)
        return (value if math.isfinite(value) else None), False
    if a.kind == "categorical" and a.pairs and b.pairs is not None:
        value = _categorical_psi(a, b)
        return (value if math.isfinite(value) else None), not (a.complete and b.complete)
    return None, False


def psi_level(value: float | None) -> str:
    """``low``, ``moderate`` or ``large`` (rough readings of a PSI); ``none`` without one."""
    if value is None:
        return "none"
    if value < PSI_MODERATE:
        return "low"
    if value <= PSI_LARGE:
        return "moderate"
    return "large"


def overlay_chart(a: ColumnView, b: ColumnView) -> dict[str, Any] | None:
    """Both versions' distributions as shares on one axis: histograms re-binned onto common
    equal-width bins, or grouped bars of the categories most frequent in either."""
    if a.kind == b.kind == "numeric" and a.histogram and b.histogram:
        ha, hb = a.histogram, b.histogram
        lo, hi = min(ha.edges[0], hb.edges[0]), max(ha.edges[-1], hb.edges[-1])
        if hi <= lo:
            edges = _display_edges(Histogram(edges=[lo, hi], counts=[0.0]))
            lo, hi = edges[0], edges[-1]
        least, most = OVERLAY_BINS
        bins = min(max(len(ha.counts), len(hb.counts), least), most)
        edges = [lo + (hi - lo) * i / bins for i in range(bins)] + [hi]
        series = []
        for h in (ha, hb):
            counts = rebin(h, edges, clamp=True)
            total = sum(counts)
            series.append([c / total if total else 0.0 for c in counts])
        return {"type": "hist-overlay", "edges": edges, "shares": series}
    if a.kind == b.kind and a.pairs is not None and b.pairs is not None and (a.pairs or b.pairs):
        shares: list[dict[str, float]] = []
        labels: dict[str, str] = {}
        for col in (a, b):
            pairs = col.pairs or []
            total = float(col.count) if col.count is not None else sum(c for _, c in pairs)
            share: dict[str, float] = {}
            for v, c in pairs:
                k = _key(v)
                labels.setdefault(k, label(v, 80))
                share[k] = c / total if total else 0.0
            shares.append(share)
        keys = sorted(labels, key=lambda k: -max(shares[0].get(k, 0.0), shares[1].get(k, 0.0)))
        keys = keys[:MAX_BARS]
        pairs_shown = [(shares[0].get(k, 0.0), shares[1].get(k, 0.0)) for k in keys]
        bars = [
            {"label": labels[k], "shares": list(p)} for k, p in zip(keys, pairs_shown, strict=True)
        ]
        other = [max(1.0 - sum(p[i] for p in pairs_shown), 0.0) for i in (0, 1)]
        return {
            "type": "bars-overlay",
            "bars": bars,
            "other": other,
            "complete": a.complete and b.complete,
        }
    return None


# -- comparing two versions ------------------------------------------------------------------


@dataclass
class StatRow:
    label: str
    a: str
    b: str
    delta: str
    differs: bool


@dataclass
class ColumnComparison:
    name: str
    status: str  # same | changed | type changed | added | removed
    a: ColumnView | None
    b: ColumnView | None
    psi: float | None = None
    psi_approximate: bool = False
    rows: list[StatRow] = field(default_factory=list)
    chart: dict[str, Any] | None = None

    @property
    def psi_level(self) -> str:
        return psi_level(self.psi)


def _delta(a: Any, b: Any) -> str:
    x, y = _finite(a), _finite(b)
    if x is None or y is None or x == y:
        return ""
    diff = y - x
    text = ("+" if diff > 0 else "") + number(diff)
    if x != 0:
        text += f" ({'+' if diff > 0 else ''}{diff / abs(x) * 100:.1f}%)"
    return text


def _stat_rows(a: ColumnView, b: ColumnView) -> list[StatRow]:
    def row(name: str, x: Any, y: Any, shown_x: str, shown_y: str) -> StatRow:
        return StatRow(name, shown_x, shown_y, _delta(x, y), shown_x != shown_y)

    rows = [
        row("type", None, None, a.type, b.type),
        row("rows", a.rows, b.rows, number(a.rows), number(b.rows)),
        row("nulls", a.null_count, b.null_count, number(a.null_count), number(b.null_count)),
        row(
            "null share",
            a.null_share,
            b.null_share,
            percent(a.null_share, 2),
            percent(b.null_share, 2),
        ),
        row("distinct (approx.)", a.distinct, b.distinct, number(a.distinct), number(b.distinct)),
    ]
    if a.kind in ("numeric", "temporal") or b.kind in ("numeric", "temporal"):
        rows.append(row("min", a.min, b.min, stat_text(a.min), stat_text(b.min)))
        rows.append(row("max", a.max, b.max, stat_text(a.max), stat_text(b.max)))
    if a.kind == "numeric" or b.kind == "numeric":
        rows.append(row("mean", a.mean, b.mean, number(a.mean), number(b.mean)))
        rows.append(row("std", a.std, b.std, number(a.std), number(b.std)))
        qa, qb = dict(a.quantiles), dict(b.quantiles)
        for q in sorted(set(qa) | set(qb), key=_sort_level):
            x, y = qa.get(q), qb.get(q)
            rows.append(row(f"p{_level(q)}", x, y, number(x), number(y)))
    if a.non_finite or b.non_finite:
        x, y = a.non_finite, b.non_finite
        rows.append(row("NaN / infinite", x, y, number(x), number(y)))
    return rows


def compare_columns(a_cols: list[ColumnView], b_cols: list[ColumnView]) -> list[ColumnComparison]:
    """Every column of either version: those of ``b`` in its order, then those only in ``a``."""
    by_name_a = {c.name: c for c in a_cols}
    names_b = {c.name for c in b_cols}
    out = []
    for b in b_cols:
        a = by_name_a.get(b.name)
        if a is None:
            out.append(ColumnComparison(b.name, "added", None, b, chart=column_chart(b)))
            continue
        psi, approximate = column_psi(a, b)
        rows = _stat_rows(a, b)
        if a.type != b.type:
            status = "type changed"
        elif any(r.differs for r in rows) or (psi is not None and psi >= PSI_MODERATE):
            status = "changed"
        else:
            status = "same"
        out.append(
            ColumnComparison(
                b.name,
                status,
                a,
                b,
                psi=psi,
                psi_approximate=approximate,
                rows=rows,
                chart=overlay_chart(a, b),
            )
        )
    for a in a_cols:
        if a.name not in names_b:
            out.append(ColumnComparison(a.name, "removed", a, None, chart=column_chart(a)))
    return out
