"""Health rules evaluated over sliding windows of the inference log.

:func:`read_window` reads the requests a rollout's rules need from the inference log (with
DuckDB, over the endpoint's segments in the time range only, and the labels joined by request
id when a rule needs them); :func:`check_rule` evaluates one rule on them. A rule looks at the
candidate's requests of the last ``window_seconds`` (never before the rollout started); a
``prediction_shift`` rule compares them with the stable variant's requests of the same window.

The log is the source rather than counters in each serving process, because the evaluator
acting for an endpoint must see every replica's requests; the price is the writer's flush lag
(``flush_seconds``, 10 s by default): the newest requests of other processes arrive late,
which delays advancing (fewer requests counted) and never advances early.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import orjson
import pyarrow as pa

from mloop.serving.rollouts import DEFAULT_QUANTILE
from mloop.serving.schemas import HealthRule, RuleCheck

_LABEL_KINDS = frozenset({"accuracy", "mae", "rmse"})
_PSI_BINS = 10
_PSI_EPSILON = 1e-4


@dataclass
class Side:
    """One variant's requests (one model version) in the period read, in time order."""

    time: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    status: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=object))
    latency_ms: np.ndarray = field(default_factory=lambda: np.zeros(0))
    confidence: np.ndarray = field(default_factory=lambda: np.zeros(0))  # NaN when none
    outputs: list[Any] | None = None  # parsed outputs JSON (None when the request failed)
    labels: list[Any] | None = None  # parsed label JSON (None when unlabelled)

    def since(self, start: int) -> np.ndarray:
        """A mask of the requests at or after ``start`` (ms)."""
        return self.time >= start


@dataclass
class Window:
    """What a rollout's rules read: the candidate's and the stable variant's requests."""

    now: int
    started_at: int
    candidate: Side
    stable: Side


def needs(rules: Sequence[HealthRule]) -> tuple[bool, bool]:
    """Whether the rules need outputs, and labels."""
    outputs = any(r.kind == "prediction_shift" or r.kind in _LABEL_KINDS for r in rules)
    labels = any(r.kind in _LABEL_KINDS for r in rules)
    return outputs, labels


def side_of(table: pa.Table, mask: np.ndarray, outputs: bool, labels: bool) -> Side:
    rows = np.flatnonzero(mask)
    side = Side(
        time=table.column("time").to_numpy()[rows],
        status=np.asarray(table.column("status").to_pylist(), dtype=object)[rows],
        latency_ms=table.column("latency_ms").to_numpy()[rows],
        confidence=np.asarray(
            table.column("confidence").to_numpy(zero_copy_only=False), dtype=float
        )[rows],
    )
    if outputs:
        texts = table.column("outputs").to_pylist()
        side.outputs = [None if texts[i] is None else orjson.loads(texts[i]) for i in rows]
    if labels:
        texts = table.column("label").to_pylist()
        side.labels = [None if texts[i] is None else orjson.loads(texts[i]) for i in rows]
    return side


def read_window(
    runtime: Any,
    endpoint: str,
    *,
    candidate: tuple[str, int],
    stable: tuple[str, int],
    rules: Sequence[HealthRule],
    since: int,
    now: int,
) -> Window:
    """The candidate's and stable variant's requests with ``since <= time <= now``.

    ``candidate`` and ``stable`` are (variant name, model version). ``runtime`` is a
    :class:`~mloop.store.runtime.Runtime` (or anything with its ``run`` and ``artifacts``).
    """
    from mloop.store.eventlog.inference import SOURCE
    from mloop.store.eventlog.labels import read_labeled_events
    from mloop.store.eventlog.reader import read_events

    want_outputs, want_labels = needs(rules)
    columns = ["time", "variant", "model_version", "status", "latency_ms", "confidence"]
    if want_outputs:
        columns.append("outputs")
    where = "variant IN ($candidate, $stable)"
    params = {"candidate": candidate[0], "stable": stable[0]}
    options: dict[str, Any] = {
        "keys": [endpoint],
        "since": since,
        "until": now + 1,
        "where": where,
        "params": params,
    }
    if want_labels:
        table = read_labeled_events(runtime, SOURCE, columns=columns, **options)
    else:
        table = read_events(runtime, SOURCE, columns=columns, **options)
    if table.num_rows == 0:
        return Window(now=now, started_at=since, candidate=Side(), stable=Side())
    variant = np.asarray(table.column("variant").to_pylist(), dtype=object)
    version = table.column("model_version").to_numpy()
    of_candidate = (variant == candidate[0]) & (version == candidate[1])
    of_stable = (variant == stable[0]) & (version == stable[1])
    return Window(
        now=now,
        started_at=since,
        candidate=side_of(table, of_candidate, want_outputs, want_labels),
        stable=side_of(table, of_stable, want_outputs, want_labels),
    )


# -- the rules ------------------------------------------------------------------------------


def _result(
    index: int,
    rule: HealthRule,
    observed: float | None,
    samples: int,
    breached: bool,
    detail: str,
) -> RuleCheck:
    waiting = samples < rule.min_samples or observed is None
    if waiting:
        detail = f"{samples} of the {rule.min_samples} samples needed" + (
            f"; {detail}" if detail else ""
        )
    return RuleCheck(
        index=index,
        kind=rule.kind,
        status="waiting" if waiting else ("breached" if breached else "ok"),
        observed=None if observed is None or not math.isfinite(observed) else observed,
        threshold=rule.threshold,
        window_seconds=rule.window_seconds,
        samples=samples,
        detail=detail,
    )


def served_mask(side: Side, start: int) -> np.ndarray:
    """Requests the variant answered or failed on: a request refused as invalid is the
    caller's fault, and one refused as overloaded never reached the model."""
    return side.since(start) & ~np.isin(side.status, ("invalid", "overloaded"))


def predictions_of(outputs: Any) -> list[Any]:
    """The predictions of one logged request's outputs (one per row)."""
    if isinstance(outputs, dict):
        found = outputs.get("predictions")
        if isinstance(found, list):
            return found
        return [] if found is None else [found]
    return []


def are_classes(outputs: Sequence[Any], values: Sequence[Any]) -> bool:
    """Whether predictions are classes: a classifier (probabilities logged), or values that
    are not numbers, or whole numbers only."""
    if any(isinstance(o, dict) and o.get("probabilities") is not None for o in outputs):
        return True
    for v in values:
        if isinstance(v, bool) or not isinstance(v, int | float):
            return True
        if isinstance(v, float) and not v.is_integer():
            return False
    return True


def _psi(candidate: np.ndarray, stable: np.ndarray) -> float:
    """The population stability index of two numeric samples, on the stable one's deciles."""
    edges = np.unique(np.quantile(stable, np.linspace(0, 1, _PSI_BINS + 1)))
    if edges.size < 2:
        edges = np.array([edges[0] - 0.5, edges[0] + 0.5])
    edges[0], edges[-1] = -np.inf, np.inf
    expected = np.histogram(stable, edges)[0] / stable.size
    actual = np.histogram(candidate, edges)[0] / candidate.size
    return _psi_shares(actual, expected)


def _psi_shares(actual: np.ndarray, expected: np.ndarray) -> float:
    actual = np.clip(actual, _PSI_EPSILON, None)
    expected = np.clip(expected, _PSI_EPSILON, None)
    return float(np.sum((actual - expected) * np.log(actual / expected)))


def _category_counts(candidate: list[Any], stable: list[Any]) -> np.ndarray:
    keys = sorted({orjson.dumps(v) for v in (*candidate, *stable)})
    index = {k: i for i, k in enumerate(keys)}
    table = np.zeros((2, len(keys)))
    for row, values in enumerate((candidate, stable)):
        for v in values:
            table[row, index[orjson.dumps(v)]] += 1
    return table


def _shift(index: int, rule: HealthRule, window: Window, start: int) -> RuleCheck:
    from scipy import stats

    cand, stab = window.candidate, window.stable
    cmask, smask = (
        served_mask(cand, start) & (cand.status == "ok"),
        served_mask(stab, start) & (stab.status == "ok"),
    )
    test = rule.test or "auto"
    if rule.on == "confidence":
        a, b = cand.confidence[cmask], stab.confidence[smask]
        a, b = a[~np.isnan(a)], b[~np.isnan(b)]
        classes = False
        values_a: list[Any] = list(a)
        values_b: list[Any] = list(b)
    else:
        outs_a = [cand.outputs[i] for i in np.flatnonzero(cmask)] if cand.outputs else []
        outs_b = [stab.outputs[i] for i in np.flatnonzero(smask)] if stab.outputs else []
        values_a = [p for o in outs_a for p in predictions_of(o)]
        values_b = [p for o in outs_b for p in predictions_of(o)]
        classes = are_classes([*outs_a, *outs_b], [*values_a, *values_b])
    samples = min(len(values_a), len(values_b))
    if samples == 0:
        return _result(index, rule, None, 0, False, "no predictions of both variants yet")
    if test == "auto":
        test = "chi2" if classes else "ks"
    if test == "psi":
        if classes:
            table = _category_counts(values_a, values_b)
            psi = _psi_shares(table[0] / table[0].sum(), table[1] / table[1].sum())
        else:
            psi = _psi(np.asarray(values_a, float), np.asarray(values_b, float))
        return _result(index, rule, psi, samples, psi > rule.threshold, "PSI vs stable")
    if test == "chi2" or classes:
        table = _category_counts(values_a, values_b)
        if table.shape[1] < 2:
            p_value = 1.0  # both predict the same single class
        else:
            p_value = float(stats.chi2_contingency(table, correction=False).pvalue)
        return _result(
            index, rule, p_value, samples, p_value < rule.threshold, "chi-square p-value vs stable"
        )
    p_value = float(stats.ks_2samp(np.asarray(values_a, float), np.asarray(values_b, float)).pvalue)
    return _result(index, rule, p_value, samples, p_value < rule.threshold, "KS p-value vs stable")


def labelled_pairs(side: Side, mask: np.ndarray) -> list[tuple[Any, Any]]:
    """(prediction, label) pairs of the labelled requests in ``mask``: a request's label is
    its one row's value, or a list with one value per row."""
    pairs: list[tuple[Any, Any]] = []
    if side.labels is None or side.outputs is None:
        return pairs
    for i in np.flatnonzero(mask):
        label, outputs = side.labels[i], side.outputs[i]
        if label is None or outputs is None:
            continue
        predicted = predictions_of(outputs)
        if isinstance(label, list) and len(label) == len(predicted):
            pairs.extend(zip(predicted, label, strict=True))
        elif len(predicted) == 1 and not isinstance(label, list):
            pairs.append((predicted[0], label))
    return pairs


def numeric_errors(pairs: Sequence[tuple[Any, Any]]) -> np.ndarray:
    errors = [
        float(p) - float(y)
        for p, y in pairs
        if isinstance(p, int | float) and isinstance(y, int | float)
    ]
    return np.asarray(errors, dtype=float)


def _outcome(index: int, rule: HealthRule, window: Window, start: int) -> RuleCheck:
    cand = window.candidate
    pairs = labelled_pairs(cand, served_mask(cand, start) & (cand.status == "ok"))
    if rule.kind == "accuracy":
        correct = sum(1 for p, y in pairs if p == y)
        observed = correct / len(pairs) if pairs else None
        breached = observed is not None and observed < rule.threshold
        return _result(index, rule, observed, len(pairs), breached, "on labelled requests")
    errors = numeric_errors(pairs)
    if errors.size == 0:
        return _result(index, rule, None, 0, False, "no numeric labels yet")
    if rule.kind == "mae":
        observed = float(np.mean(np.abs(errors)))
    else:
        observed = float(np.sqrt(np.mean(errors**2)))
    return _result(
        index, rule, observed, int(errors.size), observed > rule.threshold, "on labelled requests"
    )


def check_rule(index: int, rule: HealthRule, window: Window) -> RuleCheck:
    """Evaluate one rule on the window's requests of the last ``rule.window_seconds``."""
    start = max(window.started_at, window.now - rule.window_seconds * 1000)
    cand = window.candidate
    if rule.kind == "error_rate":
        served = served_mask(cand, start)
        n = int(served.sum())
        errors = int((served & (cand.status == "error")).sum())
        observed = errors / n if n else None
        breached = observed is not None and observed > rule.threshold
        return _result(index, rule, observed, n, breached, f"{errors} of {n} requests failed")
    if rule.kind == "latency":
        q = rule.quantile or DEFAULT_QUANTILE
        latencies = cand.latency_ms[served_mask(cand, start)]
        observed = float(np.quantile(latencies, q)) if latencies.size else None
        breached = observed is not None and observed > rule.threshold
        return _result(index, rule, observed, int(latencies.size), breached, f"p{q * 100:g} in ms")
    if rule.kind == "prediction_shift":
        return _shift(index, rule, window, start)
    return _outcome(index, rule, window, start)
