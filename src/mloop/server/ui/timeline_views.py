"""The model timeline drawn on the server as SVG: one lane per kind of entry (trigger, policy
run, pipeline run, gate, approval, rollout, deployment, alert, alias move) with a marker per
entry on a shared UTC time axis, and above them one band row per alias showing which version
held it when (the champion first). Every marker and band links to its object.

Only geometry is computed here; ``timeline_model.html`` writes the elements.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from mloop.automation.policy_schemas import TimelineEntry
from mloop.server.ui.formatting import ms_time
from mloop.store.versions import AliasMove

KIND_ORDER: tuple[str, ...] = (
    "trigger",
    "policy",
    "pipeline",
    "gate",
    "approval",
    "rollout",
    "deployment",
    "alert",
    "alias",
)
CHAMPION = "champion"
MAX_ALIASES = 4  # band rows drawn; the champion always among them when it exists

WIDTH = 1100
LABEL_W = 120  # the lane names' column
PAD = 12  # right margin, and room for a marker at the window's edges
AXIS = 26  # the tick labels above the bands
BAND = 20
LANE = 22
GAP = 8  # between the bands and the lanes
MIN_SPAN = 10_000  # a window never narrower than ten seconds (entries at one moment)
NEAR = 8.0  # px: a dot this close to the one before it in its lane is moved off the line
NUDGE = 5  # px up or down

# Tick spacings a clock or calendar reads, in milliseconds.
_S, _M, _H, _D = 1000, 60_000, 3_600_000, 86_400_000
_STEPS = (
    *(n * _S for n in (1, 2, 5, 10, 15, 30)),
    *(n * _M for n in (1, 2, 5, 10, 15, 30)),
    *(n * _H for n in (1, 2, 3, 6, 12)),
    *(n * _D for n in (1, 2, 7, 14, 30, 91, 182, 365)),
)


@dataclass(frozen=True)
class Held:
    """One alias held by one version from ``start`` until ``end`` (None: still)."""

    alias: str
    version: int
    start: int
    end: int | None


def holdings(moves: Sequence[AliasMove]) -> list[Held]:
    """Which version held each alias when, from the alias moves (oldest first): a move
    ends the previous holder's time and starts the new one's; a deletion only ends it."""
    open_: dict[str, tuple[int, int]] = {}  # alias -> (version, since)
    found: list[Held] = []
    for m in sorted(moves, key=lambda m: m.timestamp):
        previous = open_.pop(m.alias, None)
        if previous is not None:
            found.append(Held(m.alias, previous[0], previous[1], m.timestamp))
        if m.to_version is not None:
            open_[m.alias] = (m.to_version, m.timestamp)
    found += [Held(alias, v, since, None) for alias, (v, since) in open_.items()]
    return sorted(found, key=lambda h: (h.alias, h.start))


def _step(span: float, ticks: int = 7) -> int:
    raw = span / ticks
    return next((s for s in _STEPS if s >= raw), _STEPS[-1])


def _tick_label(at: int, step: int) -> str:
    text = ms_time(at)  # YYYY-MM-DD HH:MM:SS
    if step >= _D:
        return text[:10]
    if step >= _M:
        return text[5:16]
    return text[11:]


def _alias_rows(held: list[Held], start: int) -> list[str]:
    """The aliases with a band in the window, the champion first, then by name."""
    seen = sorted({h.alias for h in held if h.end is None or h.end > start})
    ordered = ([CHAMPION] if CHAMPION in seen else []) + [a for a in seen if a != CHAMPION]
    return ordered[:MAX_ALIASES]


def _nudge(before: list[dict[str, Any]], at: float) -> int:
    """Dots at about the same moment alternate above and below the lane's line, so that
    two of them stay apart (the time axis is not bent: only the height changes)."""
    if not before or at - before[-1]["x"] >= NEAR:
        return 0
    return NUDGE if before[-1]["dy"] <= 0 else -NUDGE


def _window(entries: Sequence[TimelineEntry]) -> tuple[int, int]:
    first = min(e.at for e in entries)
    last = max(e.at for e in entries)
    if last - first < MIN_SPAN:
        middle = (first + last) // 2
        first, last = middle - MIN_SPAN // 2, middle + MIN_SPAN // 2
    margin = (last - first) // 40  # markers at the edges stay whole
    return first - margin, last + margin


def timeline_chart(
    entries: Sequence[TimelineEntry],
    moves: Sequence[AliasMove],
    *,
    url_of: Callable[[TimelineEntry], str | None],
    version_url: Callable[[int], str],
    chosen: int | None = None,
) -> dict[str, Any] | None:
    """The SVG's geometry: ``ticks``, alias ``bands`` (rows of bands per alias), entry
    ``lanes`` (a row of markers per kind present), ``width`` and ``height``; None without
    entries. ``url_of(entry)`` is the page of an entry's object; ``chosen`` marks the bands
    of one version."""
    if not entries:
        return None
    start, end = _window(entries)
    scale = (WIDTH - LABEL_W - PAD) / (end - start)

    def x(at: int) -> float:
        return round(LABEL_W + (min(max(at, start), end) - start) * scale, 1)

    held = holdings(moves)
    bands = []
    for row, alias in enumerate(_alias_rows(held, start)):
        y = AXIS + row * BAND
        drawn = []
        for h in held:
            if h.alias != alias or (h.end is not None and h.end <= start) or h.start >= end:
                continue
            left, right = x(h.start), x(end if h.end is None else h.end)
            until = "now" if h.end is None else f"{ms_time(h.end)} UTC"
            drawn.append(
                {
                    "version": h.version,
                    "x": left,
                    "width": max(round(right - left, 1), 2.0),
                    "url": version_url(h.version),
                    "still": h.end is None,
                    "chosen": h.version == chosen,
                    "colour": h.version % 8,
                    "title": f"{alias}: v{h.version} from {ms_time(h.start)} UTC until {until}",
                }
            )
        bands.append({"alias": alias, "y": y, "bands": drawn})
    top = AXIS + len(bands) * BAND + (GAP if bands else 0)
    lanes: list[dict[str, Any]] = []
    for kind in [k for k in KIND_ORDER if any(e.kind == k for e in entries)]:
        y = top + len(lanes) * LANE
        mine = sorted((e for e in entries if e.kind == kind), key=lambda e: e.at)
        markers: list[dict[str, Any]] = []
        for e in mine:
            markers.append(
                {
                    "x": x(e.at),
                    "dy": _nudge(markers, x(e.at)),
                    "url": url_of(e),
                    "title": f"{ms_time(e.at)} UTC: {e.title}",
                    "chosen": chosen is not None and e.version == chosen,
                }
            )
        lanes.append({"kind": kind, "y": y, "count": len(mine), "markers": markers})
    height = top + len(lanes) * LANE + PAD
    step = _step(end - start)
    first_tick = start - start % step + (step if start % step else 0)
    ticks = [
        {"x": x(at), "label": _tick_label(at, step)} for at in range(first_tick, end + 1, step)
    ]
    return {
        "width": WIDTH,
        "height": height,
        "label_width": LABEL_W,
        "axis_y": AXIS - 8,
        "band_height": BAND,
        "lane_height": LANE,
        "ticks": ticks,
        "bands": bands,
        "lanes": lanes,
        "start": start,
        "end": end,
    }
