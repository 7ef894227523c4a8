"""One window's whole report as tables: the gateway's call statistics, drift per column,
data quality, the contract's checks, outputs, performance and the bias audit (``mloop
monitors window``)."""

from __future__ import annotations

import math
import re
from typing import TYPE_CHECKING, Any

from mloop.cli._output import cell, console, print_mapping, print_table
from mloop.cli.monitors._parse import fmt_utc

if TYPE_CHECKING:
    from mloop.monitoring.schemas import WindowReport

# Report sections printed here; any other is named at the end (``--json`` has it).
_SHOWN = frozenset(
    {"volume", "drift", "quality", "task", "confidence", "predictions", "performance"}
    | {"estimated_performance", "fairness", "reference", "gateway", "contract"}
)
# The model outputs a window's drift also tests; a window without outputs lists them
# untested, which is noise for a gateway's calls or a dataset without predictions.
_OUTPUTS = frozenset({"prediction", "confidence"})
# Contract checks, worst first: broken checks, then those that could not run, then the rest.
_CHECK_ORDER = {"failed": 0, "error": 1, "passed": 2, "skipped": 3}
_EPOCH_MS = re.compile(r"\b1\d{12}\b")
_RATES = (
    ("selection_rate", "selection rate"),
    ("accuracy", "accuracy"),
    ("true_positive_rate", "TPR"),
    ("false_positive_rate", "FPR"),
    ("false_negative_rate", "FNR"),
)


def _number(value: Any, digits: int = 4) -> str:
    """A figure to ``digits`` significant digits; ``-`` for None."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return cell(value)
    return f"{value:.{digits}g}" if math.isfinite(value) else cell(float(value))


def _times(text: str) -> str:
    """``text`` with the epoch milliseconds it holds written as UTC times."""
    return _EPOCH_MS.sub(lambda m: fmt_utc(int(m.group())), text)


def _metric(metric: dict[str, Any] | None, *, reason: bool = True) -> str:
    """A metric's value with its interval when it has one (``0.91 [0.88, 0.94]``), and why
    it is missing when it is (unless ``reason`` is False: a table cell)."""
    if not metric:
        return "-"
    text = _number(metric.get("value"))
    if metric.get("low") is not None and metric.get("high") is not None:
        text += f" [{_number(metric['low'])}, {_number(metric['high'])}]"
    if reason and metric.get("value") is None and metric.get("reason"):
        text += f" ({metric['reason']})"
    return text


def _share(value: Any) -> str:
    return "-" if value is None else f"{float(value):.1%}"


def _effect(effect: dict[str, Any] | None) -> str:
    if not effect:
        return "-"
    size = float(effect["size"])
    if effect["measure"] == "mean_shift":
        return f"{size:+.3g} sd (mean)"
    return f"{size * 100:+.3g} pts ({effect.get('category')!s})"


def _print_header(window: WindowReport) -> None:
    report = window.report
    volume = report.get("volume") or {}
    reference = report.get("reference") or {}
    details: dict[str, Any] = {
        "window": f"{fmt_utc(window.start)} to {fmt_utc(window.end)}",
        "status": window.status,
        "rows": window.rows,
        "expected rows": volume.get("expected_rows"),
        "reference": (
            f"{_times(reference['source'])} ({reference.get('rows')} rows)" if reference else "-"
        ),
        "alerts raised": window.alerts,
        "computed": fmt_utc(window.computed_at),
    }
    if window.error:
        details["error"] = window.error
    print_mapping(f"Monitor {window.monitor}", details, key="field", sort=False)


def _print_gateway(calls: dict[str, Any]) -> None:
    """The call statistics of a gateway monitor's window."""
    statuses = sorted((calls.get("statuses") or {}).items(), key=lambda item: -item[1])
    latency = calls.get("latency_ms") or {}
    tokens = calls.get("tokens") or {}
    details: dict[str, Any] = {
        "calls": calls.get("calls"),
        "statuses": ", ".join(f"{status} {count}" for status, count in statuses) or "-",
        "error rate": _share(calls.get("error_rate")),
        "blocked rate": _share(calls.get("blocked_rate")),
        "latency p50 / p95 / p99 (ms)": " / ".join(
            _number(latency.get(q)) for q in ("p50", "p95", "p99")
        ),
        "cost (USD)": _number(calls.get("cost_usd")),
        "cost per call (USD)": _number(calls.get("cost_per_call")),
        "tokens in / out": f"{_number(tokens.get('input'), 12)} / "
        f"{_number(tokens.get('output'), 12)}",
        "cache hit rate": _share(calls.get("cache_hit_rate")),
        "fallback rate": _share(calls.get("fallback_rate")),
    }
    print_mapping("Calls", details, key="figure", sort=False)


def _example(value: Any) -> str:
    """A failing row's value: text quoted (a blank or a digit is seen), figures shortened."""
    return repr(value) if isinstance(value, str) else _number(value)


def _print_contract(contract: dict[str, Any]) -> None:
    """The contract's checks on the window, the failed ones first, with a failing row each."""
    name = f"{contract.get('contract')} v{contract.get('version')}"
    if contract.get("dataset"):
        name += f" (dataset {contract['dataset']}'s policy)"
    checks = sorted(
        contract.get("checks") or [],
        key=lambda c: (
            _CHECK_ORDER.get(c["status"], 1),
            c.get("severity") != "error",
            -(c.get("failing_share") or 0.0),
        ),
    )
    if not checks:
        console().print(f"Contract {name}: no row to check in this window.", markup=False)
        return
    failed = sum(1 for c in checks if c["status"] in ("failed", "error"))
    print_table(
        f"Contract {name}: {failed} of {len(checks)} checks failed ({contract.get('rows')} rows)",
        ["check", "status", "severity", "failing share", "failing rows", "message"],
        [
            (
                c["name"],
                c["status"].upper() if c["status"] in ("failed", "error") else c["status"],
                c.get("severity"),
                _share(c.get("failing_share")),
                c.get("failing_count"),
                c.get("message"),
            )
            for c in checks
        ],
    )
    for c in checks:
        examples = c.get("examples") or []
        if c["status"] == "failed" and examples:
            row = ", ".join(f"{k}={_example(v)}" for k, v in examples[0].items())
            console().print(f"  {c['name']}: e.g. {row}", markup=False)


def _print_drift(drift: dict[str, Any], *, outputs: bool) -> None:
    columns = [c for c in drift["columns"] if outputs or c["tested"] or c["column"] not in _OUTPUTS]
    tested = [c for c in columns if c["tested"]]
    verdict = "DRIFT" if drift["dataset_drift"] else "no drift"
    title = (
        f"Drift: {verdict}, {len(drift['drifted_columns'])} of {len(tested)} columns drifted "
        f"(share {_number(drift['drifted_share'])}, dataset drift from "
        f"{_number(drift['drift_share'])})"
    )
    rows = []
    for c in columns:
        if not c["tested"]:
            rows.append([c["column"], c["kind"], *["-"] * 7, c["reason"]])
            continue
        effect = c.get("effect") or {}
        p_value = c["adjusted_p_value"] if c["adjusted_p_value"] is not None else c["p_value"]
        rows.append(
            [
                c["column"],
                c["kind"],
                c["method"] + ("" if c.get("chosen") == "auto" else " (set)"),
                _number(c["statistic"]),
                _number(p_value, 3),
                _number(c["threshold"]),
                _effect(effect),
                effect.get("direction", "-"),
                "DRIFT" if c["drifted"] else "no",
                "" if c.get("exact", True) else "from sketches",
            ]
        )
    headers = ["column", "kind", "method", "statistic", "p-value", "threshold", "effect"]
    headers += ["direction", "drifted", "note"]
    if not any(row[-1] for row in rows):  # no untested or sketched column: no note
        headers.pop()
        rows = [row[:-1] for row in rows]
    print_table(title, headers, rows)
    for note in drift.get("notes") or []:
        console().print(f"  {note}", markup=False)
    multivariate = drift.get("multivariate")
    if multivariate:
        top = ", ".join(f"{name} {share:.0%}" for name, share in multivariate["top_columns"][:3])
        verdict = "DRIFT" if multivariate["drifted"] else "no drift"
        console().print(
            f"  Multivariate ({multivariate['method']}): {verdict}, AUC "
            f"{_number(multivariate['auc'])} (p-value {_number(multivariate['p_value'], 3)})"
            + (f"; most telling: {top}" if top else ""),
            markup=False,
        )


def _print_quality(quality: dict[str, Any]) -> None:
    rows = []
    for name, entry in quality.items():
        new = entry.get("new_categories")
        out = entry.get("out_of_range")
        new_text = "-"
        if new is not None:
            new_text = _share(new["share"])
            if new["examples"]:
                new_text += f" ({', '.join(map(str, new['examples'][:3]))})"
        out_text = "-"
        if out is not None:
            out_text = f"{_share(out['share'])} ({out['below']} below, {out['above']} above)"
        rows.append((name, _share(entry.get("missing")), new_text, out_text))
    print_table("Data quality", ["column", "missing", "new categories", "out of range"], rows)


def _print_outputs(report: dict[str, Any]) -> None:
    details: dict[str, Any] = {"task": report.get("task")}
    confidence = report.get("confidence")
    if confidence is not None:
        dist = confidence["distribution"]
        quantiles = dist.get("quantiles") or {}
        details["confidence mean"] = _number(dist.get("mean"))
        details["confidence p5 / p50"] = (
            f"{_number(quantiles.get('p5'))} / {_number(quantiles.get('p50'))}"
        )
        if confidence.get("review_threshold") is not None:
            details[f"for review (< {confidence['review_threshold']})"] = (
                f"{_share(confidence['share_for_review'])} ({confidence['n_for_review']} rows)"
            )
    predictions = report.get("predictions")
    if predictions is not None:
        details["predictions"] = ", ".join(
            f"{entry['label']}: {_share(entry['share'])}" for entry in predictions["labels"]
        )
    print_mapping("Outputs", details, key="field", sort=False)


def _print_performance(performance: dict[str, Any]) -> None:
    labelled = f"{performance.get('n_labelled')} of {performance.get('n_rows')} rows"
    print_table(
        "Performance",
        ["metric", "value"],
        [
            ("labelled", labelled),
            *((name, _metric(metric)) for name, metric in performance["metrics"].items()),
        ],
    )


def _print_estimate(estimate: dict[str, Any]) -> None:
    """CBPE's expected performance of an unlabelled window, with the band it should fall in."""
    band = f"{float(estimate.get('confidence') or 0):.0%}"
    print_table(
        f"Performance estimated from confidence (CBPE, {band} band)",
        ["metric", "expected"],
        [(name, _metric(metric)) for name, metric in estimate["metrics"].items()],
    )


def _print_fairness(audit: dict[str, Any]) -> None:
    for attribute in audit["attributes"]:
        print_table(
            f"Fairness by {attribute['attribute']} (positive label {audit.get('positive_label')})",
            ["group", "rows", "labelled", *(label for _, label in _RATES)],
            [
                (
                    group["group"],
                    group["count"],
                    group["n_labelled"],
                    *(
                        _metric(group["rates"].get(rate), reason=False)
                        if group["judged"]
                        else "too few"
                        for rate, _ in _RATES
                    ),
                )
                for group in attribute["groups"]
            ],
        )
        four_fifths = "passes" if attribute.get("passes_four_fifths") else "FAILS"
        console().print(
            f"  demographic parity difference {_metric(attribute['demographic_parity_difference'])}"
            f", ratio {_metric(attribute['demographic_parity_ratio'])} "
            f"(four-fifths rule: {four_fifths}); equalized odds difference "
            f"{_metric(attribute['equalized_odds_difference'])}",
            markup=False,
        )


def _has_outputs(report: dict[str, Any]) -> bool:
    """Whether the window holds a model's outputs. A gateway's calls and a dataset without a
    prediction column have none, though the report still names a task: every prediction
    is missing. (A regressor's window has no prediction counts: its outputs are assumed.)"""
    if "task" not in report:
        return False
    predictions = report.get("predictions")
    missing = predictions is not None and predictions.get("n_missing") == predictions.get("n_rows")
    return not missing or bool(report.get("confidence") or report.get("performance"))


def print_report(window: WindowReport) -> None:
    """The window's report, section by section."""
    _print_header(window)
    report = window.report
    if window.status == "empty":
        console().print("No rows fell in this window: nothing to report.", markup=False)
        return
    if report.get("gateway"):
        _print_gateway(report["gateway"])
    outputs = _has_outputs(report)
    if report.get("drift"):
        _print_drift(report["drift"], outputs=outputs)
    elif window.status == "ok":
        console().print(
            "No drift test: no reference yet (the first window of a rolling reference).",
            markup=False,
        )
    if report.get("quality"):
        _print_quality(report["quality"])
    if report.get("contract"):
        _print_contract(report["contract"])
    if outputs:
        _print_outputs(report)
    if report.get("performance"):
        _print_performance(report["performance"])
    elif outputs:
        console().print("Performance: no labelled row in this window yet.", markup=False)
    if report.get("estimated_performance"):
        _print_estimate(report["estimated_performance"])
    if report.get("fairness"):
        _print_fairness(report["fairness"])
    others = sorted(set(report) - _SHOWN)
    if others:
        console().print(f"More in --json: {', '.join(others)}.", markup=False)
