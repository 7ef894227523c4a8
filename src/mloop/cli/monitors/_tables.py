"""Tables of monitors and of their windows' verdicts."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from fnmatch import fnmatchcase
from typing import TYPE_CHECKING, Any

from mloop.cli._output import console, print_mapping, print_table
from mloop.cli.monitors._parse import fmt_seconds, fmt_utc
from mloop.core.errors import ValidationError

if TYPE_CHECKING:
    from mloop.monitoring.schemas import (
        Monitor,
        MonitorContract,
        Reference,
        WindowSummary,
    )

# Past this many metric columns a table is unreadable: the rest are named under it.
MAX_METRIC_COLUMNS = 12
# The headline performance metric of a window: the first of these it has.
_PERFORMANCE = ("performance.accuracy", "performance.mae", "performance.rmse")
START = "start"


def fmt_value(value: Any) -> Any:
    """A metric's value to four significant digits (the stored value is in --json)."""
    if isinstance(value, float) and math.isfinite(value):
        return f"{value:.4g}"
    return value


def describe_reference(reference: Reference) -> str:
    if reference.kind == "dataset":
        version = "newest version" if reference.version is None else f"version {reference.version}"
        return f"dataset {reference.dataset} {version}"
    if reference.kind == "window":
        return f"window {fmt_utc(reference.since)} to {fmt_utc(reference.until)}"
    return f"rolling: the {reference.windows} windows before each"


def watches(monitor: Monitor) -> str:
    """``churn-api`` (an endpoint), ``dataset scores by at`` or ``gateway: route support``."""
    if monitor.dataset is not None:
        return f"dataset {monitor.dataset.name} by {monitor.dataset.time_column}"
    if monitor.gateway is not None:
        return f"gateway: {monitor.gateway.scope()}"
    return monitor.endpoint or ""


def describe_contract(contract: MonitorContract | None) -> str:
    """``payments v3 (from dataset payments's policy), sha256 c37bc803d52d`` or ``-``."""
    if contract is None:
        return "-"
    text = f"{contract.name} v{contract.version}"
    if contract.dataset is not None:
        text += f" (from dataset {contract.dataset}'s policy)"
    if contract.digest:
        text += f", sha256 {contract.digest[:12]}"
    return text


def print_monitors(monitors: Sequence[Monitor]) -> None:
    contracts = any(m.contract is not None for m in monitors)
    headers = ["name", "watches", "reference", "window", "columns"]
    headers += ["contract"] if contracts else []
    headers += ["schedule", "computed to"]
    rows = []
    for m in monitors:
        row: list[Any] = [
            m.name,
            watches(m),
            describe_reference(m.reference),
            fmt_seconds(m.window_seconds),
            len(m.columns or {}),
        ]
        if contracts:
            row.append("-" if m.contract is None else f"{m.contract.name} v{m.contract.version}")
        row += ["on" if m.schedule else "off", fmt_utc(m.last_window_end)]
        rows.append(row)
    print_table("Monitors", headers, rows)


def _column_source(name: str) -> str:
    """Where a gateway monitor reads a watched column: the call log or the calls' metadata."""
    from mloop.monitoring.schemas import GATEWAY_COLUMNS

    return "call log" if name in GATEWAY_COLUMNS else "metadata"


def print_monitor(monitor: Monitor) -> None:
    fairness = monitor.fairness
    details: dict[str, Any] = {
        "watches": watches(monitor),
        "reference": describe_reference(monitor.reference),
        "reference rows": monitor.reference_rows,
        "reference computed": fmt_utc(monitor.reference_summary_time),
        "window": f"{fmt_seconds(monitor.window_seconds)} (UTC-aligned)",
        "schedule": (
            f"on, {monitor.delay_seconds} s after each window closes"
            if monitor.schedule
            else "off (mloop monitors run)"
        ),
        "computed to": fmt_utc(monitor.last_window_end),
        "contract": describe_contract(monitor.contract),
    }
    if monitor.gateway is None:  # a gateway's calls have no model outputs to judge
        details |= {
            "variants": ", ".join(monitor.variants) if monitor.variants else "all",
            "task": monitor.performance.task or "from the model",
            "positive label": monitor.performance.positive_label,
            "review threshold": monitor.review_threshold,
            "sensitive": ", ".join(fairness.sensitive) if fairness else "-",
        }
    details |= {
        "drift share": monitor.drift.drift_share,
        "created": f"{fmt_utc(monitor.creation_time)} by {monitor.created_by or '-'}",
        "description": monitor.description or "-",
    }
    print_mapping(f"Monitor {monitor.name}", details, key="field", sort=False)
    headers = ["column", "kind", "drift method", "threshold"]
    rows: list[list[Any]] = [
        [name, kind, monitor.drift.methods.get(name, "auto"), monitor.drift.thresholds.get(name)]
        for name, kind in (monitor.columns or {}).items()
    ]
    if monitor.gateway is not None:
        headers.append("from")
        rows = [[*row, _column_source(row[0])] for row in rows]
    print_table("Watched columns", headers, rows)


def _drifted(metrics: dict[str, float | None], part: str) -> str:
    prefix, suffix = f"drift.{part}.", ".drifted"
    names = [
        key[len(prefix) : -len(suffix)]
        for key, value in metrics.items()
        if key.startswith(prefix) and key.endswith(suffix) and value == 1.0
    ]
    return ", ".join(names) or "-"


def _dataset_drift(metrics: dict[str, float | None]) -> str:
    value = metrics.get("drift.dataset")
    return "-" if value is None else "DRIFT" if value == 1.0 else "no"


def _default_columns(windows: Sequence[WindowSummary]) -> list[tuple[str, Any]]:
    """(header, cell of a window) of the verdicts most people look at first."""
    columns: list[tuple[str, Any]] = [
        ("drift share", lambda w: w.metrics.get("drift.share")),
        ("dataset drift", lambda w: _dataset_drift(w.metrics)),
        ("drifted columns", lambda w: _drifted(w.metrics, "column")),
    ]
    if any(k.startswith("drift.output.") for w in windows for k in w.metrics):
        columns.append(("output drift", lambda w: _drifted(w.metrics, "output")))
    headline = next(
        (name for name in _PERFORMANCE if any(w.metrics.get(name) is not None for w in windows)),
        None,
    )
    if headline is not None:
        columns.append((headline.rpartition(".")[2], lambda w: w.metrics.get(headline)))
    if any(w.metrics.get("output.review_share") is not None for w in windows):
        columns.append(("review share", lambda w: w.metrics.get("output.review_share")))
    if any("gateway.calls" in w.metrics for w in windows):
        columns += [
            ("error rate", lambda w: w.metrics.get("gateway.error_rate")),
            ("latency p95 ms", lambda w: w.metrics.get("gateway.latency.p95")),
            ("cost usd", lambda w: w.metrics.get("gateway.cost_usd")),
        ]
    if any("quality.contract.failed_checks" in w.metrics for w in windows):
        columns += [
            ("failed checks", lambda w: _count(w.metrics.get("quality.contract.failed_checks"))),
            ("worst check share", lambda w: w.metrics.get("quality.contract.max_share")),
        ]
    return columns


def _count(value: float | None) -> int | None:
    """A count stored as a float metric, as the integer it is."""
    return None if value is None else int(value)


@dataclass(frozen=True)
class _Picked:
    """The metric columns ``--metric`` picked: headers without their shared ``prefix``,
    and how many more matched than a table can show."""

    columns: list[tuple[str, Any]]
    prefix: str
    hidden: int


def _metric_columns(windows: Sequence[WindowSummary], patterns: Sequence[str]) -> _Picked:
    """The metrics matching ``patterns`` (in the patterns' order, then by name), at most
    :data:`MAX_METRIC_COLUMNS`."""
    present = sorted({key for w in windows for key in w.metrics})
    chosen: list[str] = []
    for pattern in patterns:
        matched = [name for name in present if fnmatchcase(name, pattern)]
        if not matched and windows:
            families = sorted({name.split(".")[0] + ".*" for name in present})
            raise ValidationError(
                f"--metric {pattern!r} matches no metric of these windows; they have "
                f"{', '.join(families)} (see one window's with `mloop monitors window`)",
                field="metric",
            )
        chosen += [name for name in matched if name not in chosen]
    shown = chosen[:MAX_METRIC_COLUMNS]
    prefix = _common_prefix(shown)
    columns = [(name[len(prefix) :], _getter(name)) for name in shown]
    return _Picked(columns, prefix, len(chosen) - len(shown))


def _getter(name: str) -> Any:
    return lambda w: w.metrics.get(name)


def _common_prefix(names: Sequence[str]) -> str:
    """The dotted prefix all of ``names`` share (``performance.``); empty for one name."""
    if len(names) < 2:
        return ""
    common: list[str] = []
    for segment in zip(*(name.split(".")[:-1] for name in names), strict=False):
        if len(set(segment)) != 1:
            break
        common.append(segment[0])
    return "".join(f"{part}." for part in common)


def print_windows(
    title: str, windows: Sequence[WindowSummary], patterns: Sequence[str] = ()
) -> None:
    """One row per window: its start, status, rows, then the default verdicts or the
    metrics ``patterns`` pick, then the alerts it raised (and why it failed, if one did)."""
    hidden = 0
    title += " (UTC)"
    if patterns:
        picked = _metric_columns(windows, patterns)
        columns, hidden = picked.columns, picked.hidden
        if picked.prefix:
            title += f", {picked.prefix}*"
    else:
        columns = _default_columns(windows)
    errors = any(w.error for w in windows)
    headers = [START, "status", "rows", *(h for h, _ in columns), "alerts"]
    if errors:
        headers.append("error")
    rows = []
    for w in windows:
        values = [fmt_value(get(w)) for _, get in columns]
        row = [fmt_utc(w.start), w.status, w.rows, *values, w.alerts]
        if errors:
            row.append(w.error or "-")
        rows.append(row)
    print_table(title, headers, rows)
    if hidden:
        console().print(
            f"{hidden} more metrics match: narrow --metric, or see them all with --json",
            markup=False,
        )
