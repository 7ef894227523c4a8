"""A/B analysis: an endpoint's model versions compared on outcomes, latency and errors.

Requests of a period are read from the inference log (labels joined by request id) and
grouped by model version. Each version gets its error rate and, on labelled requests, its
accuracy (classes) or mean absolute error (numbers), with intervals: Wilson score intervals
for proportions, Student's t for means. Each version is compared with the baseline (the live
deployment's stable version): proportions by the two-proportion z-test (a chi-square test on
the 2x2 table, without continuity correction) with Newcombe's hybrid score interval for the
difference; means (latency, absolute errors) by Welch's t-test and its interval.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from mloop.core.timeutil import now_ms
from mloop.serving.deployments import current_deployment
from mloop.serving.endpoints import load_endpoint_row
from mloop.serving.ops import operations
from mloop.serving.schemas import (
    CompareVariants,
    Comparison,
    Difference,
    Interval,
    VariantComparison,
    VariantStats,
)
from mloop.store.context import Context
from mloop.store.eventlog.transaction import InTransaction

DAY_MS = 86_400_000


def wilson(successes: int, n: int, confidence_level: float = 0.95) -> Interval | None:
    """The Wilson score interval of a proportion (None without trials)."""
    from scipy import stats

    if n == 0:
        return None
    ci = stats.binomtest(successes, n).proportion_ci(
        confidence_level=confidence_level, method="wilson"
    )
    return Interval(low=float(ci.low), high=float(ci.high))


def newcombe(k1: int, n1: int, k2: int, n2: int, confidence_level: float = 0.95) -> Interval | None:
    """Newcombe's hybrid score interval for p1 - p2 (method 10 of Newcombe 1998)."""
    a, b = wilson(k1, n1, confidence_level), wilson(k2, n2, confidence_level)
    if a is None or b is None:
        return None
    p1, p2 = k1 / n1, k2 / n2
    d = p1 - p2
    return Interval(
        low=d - math.sqrt((p1 - a.low) ** 2 + (b.high - p2) ** 2),
        high=d + math.sqrt((a.high - p1) ** 2 + (p2 - b.low) ** 2),
    )


def two_proportion_p(k1: int, n1: int, k2: int, n2: int) -> float | None:
    """The two-sided p-value of the two-proportion z-test (pooled), as chi-square on 2x2."""
    from scipy import stats

    if n1 == 0 or n2 == 0:
        return None
    if k1 + k2 in (0, n1 + n2):
        return 1.0  # both all successes or all failures: no evidence of a difference
    table = [[k1, n1 - k1], [k2, n2 - k2]]
    return float(stats.chi2_contingency(table, correction=False).pvalue)


def proportion_difference(
    measure: str, k1: int, n1: int, k2: int, n2: int, confidence_level: float
) -> Difference:
    p = two_proportion_p(k1, n1, k2, n2)
    return Difference(
        measure=measure,
        test="two-proportion z-test, Newcombe interval",
        difference=None if not n1 or not n2 else k1 / n1 - k2 / n2,
        ci=newcombe(k1, n1, k2, n2, confidence_level),
        p_value=p,
        significant=p is not None and p < 1 - confidence_level,
    )


def mean_difference(measure: str, a: Any, b: Any, confidence_level: float) -> Difference:
    """Welch's t-test of mean(a) - mean(b) (sequences or arrays of numbers), with its
    interval."""
    import numpy as np
    from scipy import stats

    x, y = np.asarray(a, float), np.asarray(b, float)
    test = "Welch t-test"
    if x.size < 2 or y.size < 2:
        return Difference(measure=measure, test=test)
    diff = float(x.mean() - y.mean())
    if x.var() == 0 and y.var() == 0:
        p = 1.0 if diff == 0 else 0.0
        return Difference(
            measure=measure,
            test=test,
            difference=diff,
            ci=Interval(low=diff, high=diff),
            p_value=p,
            significant=p < 1 - confidence_level,
        )
    result = stats.ttest_ind(x, y, equal_var=False)
    ci = result.confidence_interval(confidence_level=confidence_level)
    p = float(result.pvalue)
    return Difference(
        measure=measure,
        test=test,
        difference=diff,
        ci=Interval(low=float(ci.low), high=float(ci.high)),
        p_value=p,
        significant=p < 1 - confidence_level,
    )


def _mean_ci(values: Any, confidence_level: float) -> Interval | None:
    from scipy import stats

    if values.size < 2:
        return None
    sem = float(stats.sem(values))
    if sem == 0:
        return Interval(low=float(values.mean()), high=float(values.mean()))
    low, high = stats.t.interval(
        confidence_level, values.size - 1, loc=float(values.mean()), scale=sem
    )
    return Interval(low=float(low), high=float(high))


@dataclass
class _Group:
    """One model version's requests: stats and the samples the tests need."""

    stats: VariantStats
    latencies: Any  # numpy array, ms of answered requests
    correct: int
    abs_errors: Any  # numpy array


def _group(
    model: str,
    version: int,
    side: Any,
    names: list[str],
    metric: str,
    confidence_level: float,
) -> _Group:
    import numpy as np

    from mloop.serving import health

    everything = np.ones(side.time.size, dtype=bool)
    served = health.served_mask(side, 0)
    requests = int(served.sum())
    errors = int((served & (side.status == "error")).sum())
    ok = side.status == "ok"
    latencies = side.latency_ms[ok]
    pairs = health.labelled_pairs(side, everything & ok)
    stats = VariantStats(
        model=model,
        version=version,
        variants=names,
        requests=requests,
        errors=errors,
        error_rate=errors / requests if requests else None,
        error_rate_ci=wilson(errors, requests, confidence_level),
        latency_mean_ms=float(latencies.mean()) if latencies.size else None,
        latency_p50_ms=float(np.quantile(latencies, 0.5)) if latencies.size else None,
        latency_p99_ms=float(np.quantile(latencies, 0.99)) if latencies.size else None,
        labelled=len(pairs),
        metric=metric,
    )
    correct = sum(1 for p, y in pairs if p == y)
    abs_errors = np.abs(health.numeric_errors(pairs))
    if metric == "accuracy" and pairs:
        stats.metric_value = correct / len(pairs)
        stats.metric_ci = wilson(correct, len(pairs), confidence_level)
    elif metric == "mae" and abs_errors.size:
        stats.labelled = int(abs_errors.size)
        stats.metric_value = float(abs_errors.mean())
        stats.metric_ci = _mean_ci(abs_errors, confidence_level)
    return _Group(stats=stats, latencies=latencies, correct=correct, abs_errors=abs_errors)


def _metric(requested: str, sides: Sequence[Any]) -> str:
    from mloop.serving import health

    if requested != "auto":
        return requested
    outputs = [o for side in sides for o in (side.outputs or []) if o is not None]
    values = [p for o in outputs for p in health.predictions_of(o)]
    return "accuracy" if health.are_classes(outputs, values) else "mae"


def compare(
    store: Any,
    endpoint: str,
    *,
    since: int,
    until: int,
    baseline: tuple[str, int] | None = None,
    metric: str = "auto",
    confidence_level: float = 0.95,
) -> Comparison:
    """Compare the endpoint's model versions over ``since <= time < until`` (ms).

    ``baseline`` is the (model, version) others are compared with (default: the version
    with the most requests). ``store`` is a Runtime or anything with its ``run`` and
    ``artifacts``.
    """
    import numpy as np

    from mloop.serving import health
    from mloop.store.eventlog.inference import SOURCE
    from mloop.store.eventlog.labels import read_labeled_events

    table = read_labeled_events(
        store,
        SOURCE,
        keys=[endpoint],
        since=since,
        until=until,
        columns=[
            "time",
            "variant",
            "model_name",
            "model_version",
            "status",
            "latency_ms",
            "confidence",
            "outputs",
        ],
    )
    empty = Comparison(
        endpoint=endpoint, since=since, until=until, confidence_level=confidence_level
    )
    if table.num_rows == 0:
        return empty
    models = np.asarray(table.column("model_name").to_pylist(), dtype=object)
    versions = table.column("model_version").to_numpy()
    variants = np.asarray(table.column("variant").to_pylist(), dtype=object)
    keys = sorted({(str(m), int(v)) for m, v in zip(models, versions, strict=True)})
    sides = {
        key: health.side_of(table, (models == key[0]) & (versions == key[1]), True, True)
        for key in keys
    }
    chosen = _metric(metric, list(sides.values()))
    groups = {
        key: _group(
            key[0],
            key[1],
            sides[key],
            sorted(set(variants[(models == key[0]) & (versions == key[1])])),
            chosen,
            confidence_level,
        )
        for key in keys
    }
    if baseline not in groups:
        baseline = max(keys, key=lambda k: groups[k].stats.requests)
    base = groups[baseline]
    others = []
    for key in keys:
        if key == baseline:
            continue
        g = groups[key]
        differences = [
            proportion_difference(
                "error_rate",
                g.stats.errors,
                g.stats.requests,
                base.stats.errors,
                base.stats.requests,
                confidence_level,
            ),
            mean_difference("latency_mean_ms", g.latencies, base.latencies, confidence_level),
        ]
        if chosen == "accuracy":
            differences.append(
                proportion_difference(
                    "accuracy",
                    g.correct,
                    g.stats.labelled,
                    base.correct,
                    base.stats.labelled,
                    confidence_level,
                )
            )
        else:
            differences.append(
                mean_difference("mae", g.abs_errors, base.abs_errors, confidence_level)
            )
        others.append(VariantComparison(version=g.stats, differences=differences))
    return empty.model_copy(update={"metric": chosen, "baseline": base.stats, "others": others})


@operations.get("/compare", CompareVariants, Comparison)
def compare_variants(ctx: Context, req: CompareVariants) -> Comparison:
    """Compare an endpoint's model versions: outcomes, latency and errors, with tests."""
    row = load_endpoint_row(ctx, req.endpoint)
    until = now_ms() if req.until is None else req.until
    since = until - DAY_MS if req.since is None else req.since
    if since >= until:
        from mloop.core.errors import ValidationError

        raise ValidationError("since must be before until", field="since")
    live = current_deployment(ctx, row.name)
    baseline = None
    if live is not None:
        stable = next(v for v in live.variants if v.role == "stable")
        baseline = (stable.model, stable.version)
    return compare(
        InTransaction(ctx),
        row.name,
        since=since,
        until=until,
        baseline=baseline,
        metric=req.metric,
        confidence_level=req.confidence_level,
    )
