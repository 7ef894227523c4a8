"""The gate's rule: how a candidate's evaluation against the champion's becomes a decision.

A candidate passes when every check passes:

1. the primary metric improves on the champion's by more than ``margin``, with
   ``confidence`` (:mod:`mloop.evals.comparison`); an equal metric is a tie and fails;
2. no guarded metric regresses by more than its tolerance (absolute, in the metric's units);
3. no non-empty slice regresses on its metric by more than its tolerance;
4. every fairness constraint holds for the candidate;
5. the candidate's p95 one-row latency and size are within the budgets.

Defined cases: without a champion only checks 4 and 5 apply and a candidate meeting them
has outcome ``no_champion`` (passed); a candidate that is the champion has outcome
``same_version`` (not passed: there is nothing to promote). Comparisons are absolute
differences, so a champion scoring 0 is compared like any other score (no relative change
is formed). A metric undefined for either model (ROC AUC of one class) fails the primary
check and leaves a guard unjudged (reported, not failed); an empty slice and a fairness
metric with fewer than two judged groups are reported and not judged.
"""

from __future__ import annotations

from typing import Any

from mloop.evals.comparison import (
    Improvement,
    histogram,
    mcnemar,
    paired_bootstrap,
    paired_bootstrap_rows,
)
from mloop.evals.evaluation import Evaluation, MetricDef, _units
from mloop.evals.metrics import metric_function
from mloop.evals.schemas import (
    BudgetCheck,
    FairnessCheck,
    HistogramBin,
    MetricComparison,
    PrimaryComparison,
    SliceComparison,
    StoredSpec,
)


def _improvement(value: float | None, base: float | None, higher: bool) -> float | None:
    if value is None or base is None:
        return None
    return value - base if higher else base - value


def test_primary(spec: StoredSpec, cand: Evaluation, champ: Evaluation) -> Improvement:
    """Compare the primary metric by the suite's method."""
    metric: MetricDef = cand.defs[spec.primary]
    if spec.method == "mcnemar":
        return mcnemar(cand.outputs.correct, champ.outputs.correct, spec.margin)
    options: dict[str, Any] = {
        "higher_is_better": metric.higher_is_better,
        "resamples": spec.resamples,
        "confidence": spec.confidence,
        "seed": spec.seed,
    }
    units = _units(cand.outputs)
    if metric.scorer is not None:
        from mloop.evals.metrics import call_scorer

        return paired_bootstrap_rows(
            lambda rows: call_scorer(metric.scorer, cand.outputs, rows),
            lambda rows: call_scorer(metric.scorer, champ.outputs, rows),
            units,
            **options,
        )
    return paired_bootstrap(
        metric_function(metric.name, cand.outputs),
        metric_function(metric.name, champ.outputs),
        units,
        **options,
    )


def _primary(
    spec: StoredSpec, cand: Evaluation, champ: Evaluation | None, test: Improvement | None
) -> PrimaryComparison:
    metric = cand.defs[spec.primary]
    result = PrimaryComparison(
        metric=spec.primary,
        higher_is_better=metric.higher_is_better,
        candidate=cand.metrics[spec.primary],
        champion=champ.metrics[spec.primary] if champ is not None else None,
        method=spec.method,
        margin=spec.margin,
        confidence=spec.confidence,
        resamples=spec.resamples if spec.method == "bootstrap" else 0,
    )
    if test is not None:
        result.difference = test.difference
        result.ci_low, result.ci_high, result.p_value = test.low, test.high, test.p_value
        result.discordant = list(test.discordant) if test.discordant else None
        result.histogram = [
            HistogramBin(low=a, high=b, count=c) for a, b, c in histogram(test.samples)
        ]
    return result


def _fmt(value: float | None) -> str:
    return "undefined" if value is None else f"{value:.6g}"


def decide(
    spec: StoredSpec, cand: Evaluation, champ: Evaluation | None, *, same_version: bool
) -> dict[str, Any]:
    """The decision's fields (outcome, passed, reasons and every comparison)."""
    reasons: list[str] = []
    failed = False
    test = None
    if champ is not None and not same_version:
        test = test_primary(spec, cand, champ)
    primary = _primary(spec, cand, champ, test)
    if test is not None:
        if test.beats(spec.margin, spec.confidence):
            reasons.append(
                f"{spec.primary} improves by {_fmt(test.difference)} (> margin {spec.margin:g})"
                + _evidence(primary)
            )
        else:
            failed = True
            reasons.append(_primary_failure(spec, primary, test))
    metrics = _metrics(spec, cand, champ if not same_version else None, reasons)
    failed |= any(m.passed is False for m in metrics)
    slices = _slices(cand, champ if not same_version else None, reasons)
    failed |= any(s.passed is False for s in slices)
    fairness = _fairness(cand, champ, reasons)
    failed |= any(f.passed is False for f in fairness)
    budgets = _budgets(spec, cand, champ, reasons)
    failed |= any(not b.passed for b in budgets)
    if same_version:
        outcome, passed = "same_version", False
        reasons.insert(0, "the candidate is the champion's version: there is nothing to promote")
    elif champ is None:
        outcome = "failed" if failed else "no_champion"
        passed = not failed
        reasons.insert(0, "no champion: judged on fairness and budgets only")
    else:
        outcome, passed = ("failed", False) if failed else ("passed", True)
    return {
        "outcome": outcome,
        "passed": passed,
        "reasons": reasons,
        "primary": primary,
        "metrics": metrics,
        "slices": slices,
        "fairness": fairness,
        "budgets": budgets,
    }


def _evidence(primary: PrimaryComparison) -> str:
    if primary.p_value is not None:
        return f", McNemar p = {primary.p_value:.3g}"
    return f", {primary.confidence:.0%} interval [{_fmt(primary.ci_low)}, {_fmt(primary.ci_high)}]"


def _primary_failure(spec: StoredSpec, primary: PrimaryComparison, test: Improvement) -> str:
    name = spec.primary
    if primary.candidate is None or primary.champion is None or test.difference is None:
        which = "the candidate" if primary.candidate is None else "the champion"
        return f"{name} is undefined for {which}"
    if test.difference == 0:
        return f"{name} ties the champion's ({_fmt(primary.champion)}): a candidate must beat it"
    if test.difference <= spec.margin:
        return (
            f"{name} improves by {_fmt(test.difference)}, not more than the margin {spec.margin:g}"
        )
    if test.p_value is not None:
        return (
            f"{name} improves by {_fmt(test.difference)} but McNemar p = {test.p_value:.3g} is "
            f"not below {1 - spec.confidence:.3g}"
        )
    return (
        f"{name} improves by {_fmt(test.difference)} but the {spec.confidence:.0%} interval "
        f"reaches down to {_fmt(test.low)} (not above the margin {spec.margin:g})"
    )


def _metrics(
    spec: StoredSpec, cand: Evaluation, champ: Evaluation | None, reasons: list[str]
) -> list[MetricComparison]:
    rows = []
    for name, metric in cand.defs.items():
        if name == spec.primary:
            continue
        value = cand.metrics[name]
        base = champ.metrics[name] if champ is not None else None
        diff = _improvement(value, base, metric.higher_is_better)
        tolerance = spec.guards.get(name)
        passed = None
        if tolerance is not None and champ is not None:
            if diff is None:
                reasons.append(f"guard {name} not judged: undefined for one of the models")
            else:
                passed = diff >= -tolerance
                if not passed:
                    reasons.append(
                        f"guard {name} regresses by {_fmt(-diff)} ({_fmt(base)} -> "
                        f"{_fmt(value)}), more than its tolerance {tolerance:g}"
                    )
        rows.append(
            MetricComparison(
                metric=name,
                higher_is_better=metric.higher_is_better,
                candidate=value,
                champion=base,
                difference=diff,
                tolerance=tolerance,
                passed=passed,
            )
        )
    return rows


def _slices(
    cand: Evaluation, champ: Evaluation | None, reasons: list[str]
) -> list[SliceComparison]:
    rows = []
    for i, piece in enumerate(cand.slices):
        base = champ.slices[i].value if champ is not None else None
        higher = cand.defs[piece.metric].higher_is_better
        diff = _improvement(piece.value, base, higher)
        passed, note = None, ""
        if piece.rows == 0:
            note = "empty: no rows of the suite fall in this slice"
        elif champ is None:
            note = "no champion to compare with"
        elif diff is None:
            note = f"{piece.metric} undefined on this slice for one of the models"
        else:
            passed = diff >= -piece.tolerance
            if not passed:
                reasons.append(
                    f"slice {piece.name}: {piece.metric} regresses by {_fmt(-diff)} "
                    f"({_fmt(base)} -> {_fmt(piece.value)}), more than its tolerance "
                    f"{piece.tolerance:g}"
                )
        rows.append(
            SliceComparison(
                name=piece.name,
                column=piece.column,
                rows=piece.rows,
                metric=piece.metric,
                candidate=piece.value,
                champion=base,
                difference=diff,
                tolerance=piece.tolerance,
                passed=passed,
                note=note,
            )
        )
    return rows


def _fairness(
    cand: Evaluation, champ: Evaluation | None, reasons: list[str]
) -> list[FairnessCheck]:
    rows = []
    for i, rule in enumerate(cand.fairness):
        if rule.passed is False:
            relation = "below" if rule.metric.endswith("ratio") else "above"
            reasons.append(
                f"fairness: {rule.metric} by {rule.column} is {_fmt(rule.value)}, "
                f"{relation} its bound {rule.bound:g}"
            )
        rows.append(
            FairnessCheck(
                column=rule.column,
                metric=rule.metric,
                bound=rule.bound,
                candidate=rule.value,
                champion=champ.fairness[i].value if champ is not None else None,
                passed=rule.passed,
                note=rule.note,
            )
        )
    return rows


def _budgets(
    spec: StoredSpec, cand: Evaluation, champ: Evaluation | None, reasons: list[str]
) -> list[BudgetCheck]:
    checks = []
    pairs = [
        ("latency_p95_ms", spec.max_latency_ms, cand.latency_p95_ms, "ms"),
        ("size_mb", spec.max_size_mb, cand.size_mb, "MB"),
    ]
    for name, limit, value, unit in pairs:
        if limit is None:
            continue
        passed = value is not None and value <= limit
        if not passed:
            reasons.append(f"{name} is {_fmt(value)} {unit}, over the budget of {limit:g} {unit}")
        base = getattr(champ, name) if champ is not None else None
        checks.append(
            BudgetCheck(
                name=name,
                limit=limit,
                candidate=value,
                champion=base,
                passed=passed,
            )
        )
    return checks
