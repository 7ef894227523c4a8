"""What a monitor's page draws, built from its computed windows: the drift heat map (columns
by windows, each cell coloured by how far the column's drift statistic went past its
threshold), the histograms of one window against the reference, the figures over time, the
bias audit and the outputs of one window, the gateway calls and contract checks of one
window, what the monitor watches, and the alert timeline.

Everything here is plain data for the templates (the heat map is an HTML table of links, so
it works without scripts) or JSON for ``monitors.js`` (histograms, bars, charts).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from mloop.alerts.schemas import SEVERITIES, Alert
from mloop.monitoring.schemas import GatewayTarget, WindowReport
from mloop.server.ui.formatting import cut, json_safe, label, number, percent
from mloop.server.ui.links import link_to

if TYPE_CHECKING:
    from mloop.monitoring.histograms import Histogram  # pyarrow: drawn only when a page asks

MINUTE = 60
HOUR = 3600
DAY = 86_400
MAX_LABEL = 120  # characters of a column name or category shown in a chart
# How far past its threshold a column went, as the cell's shade: not drifted 0-2, drifted
# 3-5. ``strength`` is 1 at the threshold (see :func:`drift_strength`).
CALM_STEPS = (0.5, 0.8)
DRIFT_STEPS = (2.0, 10.0)
# Metrics charted over time besides performance, in this order: (metric, title, format);
# each one only when a window shown has it (the gateway's for gateway monitors, the
# contract's for monitors with a contract).
OVER_TIME = (
    ("drift.share", "Share of columns drifted", "pct"),
    ("volume.rows", "Rows per window", "plain"),
    ("output.confidence.mean", "Mean confidence", "plain"),
    ("output.review_share", "Share under the review threshold", "pct"),
    ("gateway.error_rate", "Error rate of the calls", "pct"),
    ("gateway.latency.p95", "Latency p95 of the calls", "ms"),
    ("gateway.cost_usd", "Cost per window", "usd"),
    ("gateway.cache_hit_rate", "Cache hit rate", "pct"),
    ("quality.contract.max_share", "Largest share of rows breaking a contract check", "pct"),
)
MAX_CHECKS = 200  # contract checks shown for one window
MAX_EXAMPLES = 3  # failing rows shown per check
MAX_EXAMPLE_COLUMNS = 8
MAX_STATUSES = 20  # call statuses listed for one window


def span_text(seconds: int) -> str:
    """A window length in words: ``1 hour``, ``15 minutes``, ``1 day``, ``90 seconds``."""
    for unit, name in ((DAY, "day"), (HOUR, "hour"), (MINUTE, "minute")):
        if seconds % unit == 0:
            count = seconds // unit
            return f"{count} {name}" + ("" if count == 1 else "s")
    return f"{seconds} seconds"


def window_label(start: int, window_seconds: int) -> str:
    """A short heading for a window: its time of day, or its date for daily windows."""
    fmt = "%m-%d" if window_seconds % DAY == 0 else "%H:%M"
    return time.strftime(fmt, time.gmtime(start / 1000))


def window_time(start: int) -> str:
    return time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(start / 1000))


# -- drift --------------------------------------------------------------------------------


def _float(value: Any) -> float | None:
    """A stored number (``"inf"`` stands for infinity in JSON), or None."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return None
    return float(value) if isinstance(value, int | float) else None


def _p_value_method(method: str | None) -> bool:
    """Whether ``method`` calls drift on a p-value (below the threshold) rather than on a
    distance (at or above it)."""
    from mloop.monitoring.drift import METHODS

    found = METHODS.get(method or "")
    return bool(found and found.p_value)


def drift_strength(column: dict[str, Any]) -> float | None:
    """How far a tested column went towards drift, 1 at its threshold: threshold / p-value
    for tests, statistic / threshold for distances. None when it was not tested."""
    if not column.get("tested"):
        return None
    threshold = _float(column.get("threshold"))
    if not threshold:
        return None
    if _p_value_method(column.get("method")):
        p = _float(column.get("adjusted_p_value"))
        p = _float(column.get("p_value")) if p is None else p
        if p is None:
            return None
        return threshold / max(p, 1e-300)
    statistic = _float(column.get("statistic"))
    return None if statistic is None else statistic / threshold


def drift_level(column: dict[str, Any]) -> int:
    """The heat map's shade of a column: -1 untested, 0-2 not drifted, 3-5 drifted."""
    strength = drift_strength(column)
    if strength is None:
        return -1
    if column.get("drifted"):
        return 3 + sum(strength >= s for s in DRIFT_STEPS)
    return min(2, sum(strength >= s for s in CALM_STEPS))


def drift_text(column: dict[str, Any]) -> str:
    """One line on a column's test: method, statistic, p-value, threshold and verdict."""
    if not column.get("tested"):
        return f"not tested: {column.get('reason') or 'no values'}"
    parts = [str(column.get("method"))]
    statistic = _float(column.get("statistic"))
    if statistic is not None:
        parts.append(f"statistic {number(statistic)}")
    p = _float(column.get("adjusted_p_value"))
    if p is not None:
        parts.append(f"adjusted p {number(p)}")
    elif _float(column.get("p_value")) is not None:
        parts.append(f"p {number(_float(column.get('p_value')))}")
    parts.append(f"threshold {number(_float(column.get('threshold')))}")
    parts.append("drifted" if column.get("drifted") else "no drift")
    return ", ".join(parts)


@dataclass(frozen=True)
class HeatCell:
    level: int  # -1 untested, 0-2 calm, 3-5 drifted
    drifted: bool
    title: str
    url: str


@dataclass(frozen=True)
class HeatRow:
    column: str
    output: bool  # the prediction or confidence rather than an input
    anchor: str  # the id of the column's card on the page
    cells: list[HeatCell | None]


@dataclass(frozen=True)
class HeatWindow:
    start: int
    end: int
    status: str
    rows: int
    label: str
    title: str
    url: str
    selected: bool
    share: float | None  # drifted share of the columns, None when drift was not measured
    dataset_drift: bool
    share_level: int


@dataclass(frozen=True)
class AlertMark:
    """The alerts a window fired (first breach) or kept open, most severe first."""

    alerts: list[Alert]
    severity: str
    title: str
    url: str


@dataclass
class HeatMap:
    windows: list[HeatWindow] = field(default_factory=list)
    rows: list[HeatRow] = field(default_factory=list)
    alerts: list[AlertMark | None] = field(default_factory=list)


def drift_columns(report: dict[str, Any], outputs: tuple[str, ...] = ()) -> list[dict[str, Any]]:
    """A window report's per-column drift results (none when drift was not measured), less
    the ``outputs`` that were not tested: a log without predictions (the gateway's calls, a
    dataset without a prediction column) has nothing to show for them."""
    drift = report.get("drift")
    found = list(drift.get("columns") or []) if isinstance(drift, dict) else []
    return [c for c in found if c.get("tested") or c.get("column") not in outputs]


def _share_level(share: float | None, dataset_drift: bool) -> int:
    if share is None:
        return -1
    if dataset_drift:
        return 5 if share >= 0.75 else 4
    return 2 if share >= 0.25 else 1 if share > 0 else 0


def heat_map(
    monitor: str,
    reports: list[WindowReport],
    window_seconds: int,
    selected: int | None,
    outputs: tuple[str, ...],
    alerts: list[Alert],
) -> HeatMap:
    """The heat map of ``reports`` (oldest first): one row per column compared in any of
    them (inputs in the monitor's order, then the outputs tested in any of them), one
    column per window, and the alerts each window fired."""
    order: list[str] = []
    for report in reports:
        for column in drift_columns(report.report, outputs):
            if column["column"] not in order:
                order.append(column["column"])
    order = [c for c in order if c not in outputs] + [c for c in order if c in outputs]
    found = HeatMap()
    by_column: dict[str, list[HeatCell | None]] = {c: [] for c in order}
    for report in reports:
        url = link_to("monitor", name=monitor, window=report.start)
        share = report.metrics.get("drift.share")
        dataset_drift = report.metrics.get("drift.dataset") == 1.0
        when = window_time(report.start)
        title = f"{when}: {report.rows} rows"
        if share is not None:
            title += f", {percent(share)} of columns drifted"
        if report.status != "ok":
            title += f" ({report.status}{': ' + report.error if report.error else ''})"
        found.windows.append(
            HeatWindow(
                start=report.start,
                end=report.end,
                status=report.status,
                rows=report.rows,
                label=window_label(report.start, window_seconds),
                title=cut(title, 400),
                url=url,
                selected=report.start == selected,
                share=share,
                dataset_drift=dataset_drift,
                share_level=_share_level(share, dataset_drift),
            )
        )
        columns = {c["column"]: c for c in drift_columns(report.report)}
        for index, name in enumerate(order):
            found_column = columns.get(name)
            if found_column is None:
                by_column[name].append(None)
                continue
            by_column[name].append(
                HeatCell(
                    level=drift_level(found_column),
                    drifted=bool(found_column.get("drifted")),
                    title=cut(f"{name} · {when}: {drift_text(found_column)}", 400),
                    url=f"{url}#column-{index}",
                )
            )
    found.rows = [
        HeatRow(name, name in outputs, f"column-{i}", by_column[name])
        for i, name in enumerate(order)
    ]
    found.alerts = [_alert_mark(monitor, w, alerts) for w in found.windows]
    return found


def _alert_mark(monitor: str, window: HeatWindow, alerts: list[Alert]) -> AlertMark | None:
    """The alerts whose breach began in ``window``."""
    fired = [a for a in alerts if a.window_start == window.start]
    if not fired:
        return None
    rank = {s: i for i, s in enumerate(SEVERITIES)}
    fired.sort(key=lambda a: (-rank.get(a.severity, 0), a.id))
    title = "; ".join(f"#{a.id} {a.severity}: {a.rule} ({a.metric})" for a in fired)
    return AlertMark(
        fired, fired[0].severity, cut(title, 400), link_to("alert", alert_id=fired[0].id)
    )


# -- one window ---------------------------------------------------------------------------


def histogram_json(
    histogram: Histogram, anchor: str, drift: dict[str, Any] | None
) -> dict[str, Any]:
    """A column's histogram as ``monitors.js`` draws it."""
    return json_safe(
        {
            "column": histogram.column,
            "anchor": anchor,
            "kind": histogram.kind,
            "reference_count": histogram.reference_count,
            "current_count": histogram.current_count,
            "drifted": bool(drift and drift.get("drifted")),
            "test": drift_text(drift) if drift else None,
            "bins": [
                {
                    "label": cut(b.label, MAX_LABEL),
                    "reference": b.reference,
                    "current": b.current,
                    "kind": b.kind,
                    "low": b.low,
                    "high": b.high,
                }
                for b in histogram.bins
            ],
        }
    )


def _metric(entry: Any) -> tuple[float | None, float | None, float | None]:
    if not isinstance(entry, dict):
        return None, None, None
    return _float(entry.get("value")), _float(entry.get("low")), _float(entry.get("high"))


def _performance_series(
    reports: list[WindowReport], section: str, name: str, label: str, dash: bool
) -> dict[str, Any] | None:
    """One metric of a report section (``performance``: measured on labelled rows,
    ``estimated_performance``: expected before labels) across the windows, with its
    interval when any window has one; None when no window has the metric."""
    values, lows, highs = [], [], []
    for report in reports:
        entry = ((report.report.get(section) or {}).get("metrics") or {}).get(name)
        value, low, high = _metric(entry)
        values.append(value)
        lows.append(low)
        highs.append(high)
    if all(v is None for v in values):
        return None
    banded = any(v is not None for v in lows + highs)
    return {
        "label": label,
        "values": values,
        "low": lows if banded else None,
        "high": highs if banded else None,
        "dash": dash,
    }


def _names(reports: list[WindowReport], section: str) -> list[str]:
    names: list[str] = []
    for report in reports:
        metrics = (report.report.get(section) or {}).get("metrics") or {}
        names += [n for n in metrics if n not in names]
    return names


def over_time(
    reports: list[WindowReport], window_seconds: int, *, rows: str = "Rows per window"
) -> dict[str, Any]:
    """The charts over the windows shown: each performance metric, measured on the rows
    labelled so far and estimated before labels (CBPE), each with its interval as a band;
    then drift share, rows (titled ``rows``), mean confidence and review share, the gateway's
    call figures and the contract's largest failing share (those any window has)."""
    charts = []
    measured, estimated = _names(reports, "performance"), _names(reports, "estimated_performance")
    for name in measured + [n for n in estimated if n not in measured]:
        series = [
            _performance_series(reports, "performance", name, "measured", False),
            _performance_series(reports, "estimated_performance", name, "estimated", True),
        ]
        charts.append(
            {
                "id": f"performance.{name}",
                "title": name.replace("_", " "),
                "format": "plain",
                "series": [s for s in series if s is not None],
            }
        )
    for metric, title, fmt in OVER_TIME:
        title = rows if metric == "volume.rows" else title
        values = [_float(r.metrics.get(metric)) for r in reports]
        if any(v is not None for v in values):
            line = {"label": title, "values": values, "low": None, "high": None, "dash": False}
            charts.append({"id": metric, "title": title, "format": fmt, "series": [line]})
    return json_safe(
        {
            "times": [r.start // 1000 for r in reports],  # uPlot's time axis counts seconds
            "window_s": window_seconds,
            "charts": charts,
        }
    )


@dataclass(frozen=True)
class GroupView:
    label: str
    count: int
    judged: bool
    rates: dict[str, tuple[float | None, float | None, float | None]]
    violates: bool  # selected at under four fifths of the highest rate


@dataclass(frozen=True)
class AttributeView:
    attribute: str
    groups: list[GroupView]
    rate_names: list[str]
    passes: bool | None
    parity_ratio: tuple[float | None, float | None, float | None]
    parity_difference: tuple[float | None, float | None, float | None]
    odds_difference: tuple[float | None, float | None, float | None]
    chart: dict[str, Any]


def _group_label(group: Any) -> str:
    if isinstance(group, list):
        return " & ".join(_group_label(g) for g in group)
    if isinstance(group, str):
        return group
    return (
        "null"
        if group is None
        else number(group)
        if not isinstance(group, bool)
        else str(group).lower()
    )


def fairness_views(report: dict[str, Any]) -> list[AttributeView]:
    """The bias audit of a window, per attribute: each group's rates with their intervals,
    the disparities, and the selection-rate bars with the four-fifths line."""
    audit = report.get("fairness")
    if not isinstance(audit, dict):
        return []
    views = []
    for attribute in audit.get("attributes") or []:
        violations = {_group_label(g) for g in attribute.get("four_fifths_violations") or []}
        groups = []
        names: list[str] = []
        for group in attribute.get("groups") or []:
            rates = {k: _metric(v) for k, v in (group.get("rates") or {}).items()}
            names += [n for n in rates if n not in names]
            label = _group_label(group.get("group"))
            groups.append(
                GroupView(
                    label,
                    int(group.get("count") or 0),
                    bool(group.get("judged")),
                    rates,
                    label in violations,
                )
            )
        judged = [g.rates.get("selection_rate", (None,) * 3)[0] for g in groups if g.judged]
        highest = max((v for v in judged if v is not None), default=None)
        chart = {
            "attribute": cut(str(attribute.get("attribute")), MAX_LABEL),
            "line": None if highest is None else 0.8 * highest,
            "bars": [
                {
                    "label": cut(g.label, MAX_LABEL),
                    "value": g.rates.get("selection_rate", (None,) * 3)[0],
                    "low": g.rates.get("selection_rate", (None,) * 3)[1],
                    "high": g.rates.get("selection_rate", (None,) * 3)[2],
                    "judged": g.judged,
                    "flagged": g.violates,
                }
                for g in groups
            ],
        }
        views.append(
            AttributeView(
                attribute=str(attribute.get("attribute")),
                groups=groups,
                rate_names=names,
                passes=attribute.get("passes_four_fifths"),
                parity_ratio=_metric(attribute.get("demographic_parity_ratio")),
                parity_difference=_metric(attribute.get("demographic_parity_difference")),
                odds_difference=_metric(attribute.get("equalized_odds_difference")),
                chart=json_safe(chart),
            )
        )
    return views


def outputs_json(report: dict[str, Any]) -> dict[str, Any]:
    """The window's confidence histogram (with the review threshold) and predicted labels."""
    found: dict[str, Any] = {"confidence": None, "predictions": None}
    confidence = report.get("confidence")
    if isinstance(confidence, dict):
        histogram = (confidence.get("distribution") or {}).get("histogram") or {}
        found["confidence"] = {
            "edges": histogram.get("edges") or [],
            "counts": histogram.get("counts") or [],
            "threshold": confidence.get("review_threshold"),
            "share_for_review": confidence.get("share_for_review"),
        }
    predictions = report.get("predictions")
    if isinstance(predictions, dict):
        found["predictions"] = [
            {
                "label": cut(_group_label(e.get("label")), MAX_LABEL),
                "count": e.get("count"),
                "share": e.get("share"),
            }
            for e in predictions.get("labels") or []
        ]
    return json_safe(found)


# -- what a gateway monitor watches, and its calls ------------------------------------------


@dataclass(frozen=True)
class ScopePart:
    """One thing a gateway monitor narrows the calls to, and its page (None: it has none)."""

    what: str  # route, prompt, model or project
    value: str
    url: str | None


def gateway_scope(target: GatewayTarget | None) -> list[ScopePart]:
    """The route, prompt, model and project a gateway monitor watches (none: every call):
    the route and the prompt link to their pages."""
    if target is None:
        return []
    parts = []
    if target.route is not None:
        parts.append(ScopePart("route", target.route, link_to("gateway_route", name=target.route)))
    if target.prompt is not None:
        parts.append(ScopePart("prompt", target.prompt, link_to("prompt", name=target.prompt)))
    if target.model is not None:
        parts.append(ScopePart("model", target.model, None))
    if target.project is not None:
        parts.append(ScopePart("project", target.project, None))
    return parts


def gateway_calls_url(target: GatewayTarget | None) -> str | None:
    """The call log filtered to the monitor's route and prompt, when it names one (the log
    has no filter for a served model or a project)."""
    if target is None or (target.route is None and target.prompt is None):
        return None
    return link_to("gateway_calls", route=target.route, prompt=target.prompt)


@dataclass(frozen=True)
class StatusCount:
    status: str
    count: int
    share: float | None


@dataclass(frozen=True)
class CallsView:
    """A gateway window's call statistics (``report["gateway"]``), read defensively."""

    calls: int
    statuses: list[StatusCount]
    error_rate: float | None
    blocked_rate: float | None
    p50: float | None
    p95: float | None
    p99: float | None
    cost_usd: float | None
    cost_per_call: float | None
    input_tokens: float | None
    output_tokens: float | None
    cache_hit_rate: float | None
    fallback_rate: float | None


def _count(value: Any) -> int:
    found = _float(value)
    return int(found) if found is not None and found >= 0 else 0


def calls_view(report: dict[str, Any]) -> CallsView | None:
    """The window's gateway section, or None when the window has none (an endpoint's or a
    dataset's window, or an empty one)."""
    gateway = report.get("gateway")
    if not isinstance(gateway, dict):
        return None
    calls = _count(gateway.get("calls"))
    raw = gateway.get("statuses")
    counts = (
        [(cut(str(k), MAX_LABEL), _count(v)) for k, v in (raw or {}).items()]
        if isinstance(raw, dict)
        else []
    )
    counts.sort(key=lambda kv: (-kv[1], kv[0]))
    latency = gateway.get("latency_ms")
    latency = latency if isinstance(latency, dict) else {}
    tokens = gateway.get("tokens")
    tokens = tokens if isinstance(tokens, dict) else {}
    return CallsView(
        calls=calls,
        statuses=[StatusCount(s, c, c / calls if calls else None) for s, c in counts][
            :MAX_STATUSES
        ],
        error_rate=_float(gateway.get("error_rate")),
        blocked_rate=_float(gateway.get("blocked_rate")),
        p50=_float(latency.get("p50")),
        p95=_float(latency.get("p95")),
        p99=_float(latency.get("p99")),
        cost_usd=_float(gateway.get("cost_usd")),
        cost_per_call=_float(gateway.get("cost_per_call")),
        input_tokens=_float(tokens.get("input")),
        output_tokens=_float(tokens.get("output")),
        cache_hit_rate=_float(gateway.get("cache_hit_rate")),
        fallback_rate=_float(gateway.get("fallback_rate")),
    )


# -- contract checks ---------------------------------------------------------------------------

_STATUSES = ("passed", "failed", "error", "skipped")
# Failed error-severity checks first, then checks that could not run, warnings, passes, skips.
_CHECK_ORDER = {"failed": 0, "error": 1, "warn": 2, "passed": 3, "skipped": 4, "unknown": 5}


@dataclass(frozen=True)
class CheckView:
    name: str
    kind: str
    columns: list[str]
    severity: str
    status: str
    shown_status: str  # a failed warn-severity check reads "warn"
    failing_count: int | None
    failing_share: float | None
    message: str
    example_columns: list[tuple[str, bool]]  # name, whether the check reads it
    examples: list[list[str]]


@dataclass(frozen=True)
class ContractView:
    """A window's contract section (``report["contract"]``)."""

    name: str
    version: str
    digest: str
    dataset: str | None
    rows: int
    failed_checks: int
    checks: list[CheckView]
    total: int  # checks in the report (``checks`` holds at most :data:`MAX_CHECKS`)


def _examples(raw: Any, checked: list[str]) -> tuple[list[tuple[str, bool]], list[list[str]]]:
    """Up to :data:`MAX_EXAMPLES` failing rows as a table, the checked columns first."""
    if not isinstance(raw, list):
        return [], []
    rows = [r for r in raw[:MAX_EXAMPLES] if isinstance(r, dict)]
    names: list[str] = [c for c in checked if any(c in r for r in rows)]
    for row in rows:
        names += [str(k) for k in row if str(k) not in names]
    names = names[:MAX_EXAMPLE_COLUMNS]
    table = [[label(r.get(n), 60) if n in r else "" for n in names] for r in rows]
    return [(cut(n, 80), n in checked) for n in names], table


def _check_view(raw: dict[str, Any]) -> CheckView:
    status = raw.get("status") if raw.get("status") in _STATUSES else "unknown"
    severity = raw.get("severity") if raw.get("severity") in ("error", "warn") else "error"
    columns = raw.get("columns")
    columns = [str(c) for c in columns] if isinstance(columns, list) else []
    failing = raw.get("failing_count")
    count = failing if isinstance(failing, int) and not isinstance(failing, bool) else None
    example_columns, examples = _examples(raw.get("examples"), columns)
    return CheckView(
        name=cut(str(raw.get("name", "")), 300),
        kind=cut(str(raw.get("kind", "")), 80),
        columns=[cut(c, MAX_LABEL) for c in columns[:10]],
        severity=str(severity),
        status=str(status),
        shown_status="warn" if status == "failed" and severity == "warn" else str(status),
        failing_count=count,
        failing_share=_float(raw.get("failing_share")),
        message=cut(str(raw.get("message") or ""), 2000),
        example_columns=example_columns,
        examples=examples,
    )


def contract_view(report: dict[str, Any]) -> ContractView | None:
    """The window's contract checks, most pressing first (failed, then by the share of rows
    breaking them), or None when the monitor checks no contract."""
    contract = report.get("contract")
    if not isinstance(contract, dict):
        return None
    raw = contract.get("checks")
    raw = [c for c in raw if isinstance(c, dict)] if isinstance(raw, list) else []
    checks = [_check_view(c) for c in raw]
    checks.sort(key=lambda c: (_CHECK_ORDER[c.shown_status], -(c.failing_share or 0.0)))
    dataset = contract.get("dataset")
    return ContractView(
        name=cut(str(contract.get("contract") or "contract"), 256),
        version=cut(str(contract.get("version") or ""), 256),
        digest=cut(str(contract.get("digest") or ""), 64),
        dataset=dataset if isinstance(dataset, str) else None,
        rows=_count(contract.get("rows")),
        failed_checks=sum(
            c.severity == "error" and c.status in ("failed", "error") for c in checks
        ),
        checks=checks[:MAX_CHECKS],
        total=len(checks),
    )
