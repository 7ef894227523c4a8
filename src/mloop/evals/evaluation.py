"""Evaluating one model on a suite's rows: predictions, metrics, slices, fairness, budgets.

Storage-free: it takes a loaded model and a DataFrame, so the SDK runs it embedded or
against a server, and tests run it on plain data.
"""

from __future__ import annotations

import itertools
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from mloop.core.errors import ValidationError
from mloop.evals.metrics import Outputs, call_scorer, weighted
from mloop.evals.names import MetricName, parse_metric
from mloop.evals.scorers import load_scorer

if TYPE_CHECKING:
    import pandas as pd

    from mloop.evals.schemas import SliceSpec, StoredSpec
    from mloop.models.loading import LoadedModel

LATENCY_ROWS = 50  # one-row predictions timed for the latency budget


@dataclass(frozen=True)
class MetricDef:
    """A suite metric ready to compute: built in, or a loaded custom scorer."""

    name: MetricName
    scorer: Any = None

    @property
    def higher_is_better(self) -> bool:
        if self.scorer is not None:
            return bool(self.scorer.greater_is_better)
        return self.name.higher_is_better

    def value(self, out: Outputs, mask: np.ndarray | None = None) -> float | None:
        """The metric on every row, or on the rows of ``mask``."""
        if self.scorer is not None:
            rows = None if mask is None else np.flatnonzero(mask)
            return _finite(call_scorer(self.scorer, out, rows))
        if out.task == "ranking" and mask is not None:
            out = _ranking_subset(out, mask)
            mask = None
        weights = np.ones((1, _units(out))) if mask is None else mask[None, :].astype(float)
        return _finite(weighted(self.name, out, weights)[0])


def _finite(value: float) -> float | None:
    number = float(value)
    return number if np.isfinite(number) else None


def _units(out: Outputs) -> int:
    """What the bootstrap resamples: queries for ranking, rows otherwise."""
    if out.task == "ranking" and out.group is not None:
        return int(out.group.max()) + 1 if len(out.group) else 0
    return out.n_rows


def _ranking_subset(out: Outputs, mask: np.ndarray) -> Outputs:
    assert out.group is not None
    _, codes = np.unique(out.group[mask], return_inverse=True)
    return Outputs(
        task="ranking", truth=out.truth[mask], predicted=out.predicted[mask], group=codes
    )


def metric_defs(spec: StoredSpec) -> dict[str, MetricDef]:
    """Every metric the suite names (primary, metrics, guards, slices), by name."""
    scorers = {ref: load_scorer(ref, f"scorers[{i}]") for i, ref in enumerate(spec.scorers)}
    names = [
        spec.primary,
        *spec.metrics,
        *spec.guards,
        *(s.metric for s in spec.slices if s.metric),
    ]
    defs: dict[str, MetricDef] = {}
    for text in names:
        if text not in defs:
            parsed = parse_metric(text, spec.task, spec.scorers, "metrics")
            defs[text] = MetricDef(parsed, scorers.get(text))
    return defs


# -- predictions -----------------------------------------------------------------------------


def _labels_of(values: Any) -> list[Any]:
    try:
        return sorted({v.item() if hasattr(v, "item") else v for v in values})
    except TypeError as exc:
        raise ValidationError(
            f"the labels mix types ({exc}): the target and the predictions must have one type",
            field="target",
        ) from None


def predict(
    model: LoadedModel, frame: pd.DataFrame, spec: StoredSpec, features: list[str]
) -> Outputs:
    """Run the model over the suite's rows and line its outputs up with the truth."""
    inputs = frame[features]
    raw_truth = frame[spec.target].to_numpy()
    if spec.task == "regression":
        predicted = np.asarray(model.predict(inputs), dtype=np.float64).reshape(-1)
        return Outputs("regression", raw_truth.astype(np.float64), predicted)
    if spec.task == "ranking":
        assert spec.group is not None
        scores = np.asarray(model.predict(inputs), dtype=np.float64).reshape(-1)
        _, groups = np.unique(frame[spec.group].to_numpy(), return_inverse=True)
        return Outputs("ranking", raw_truth.astype(np.float64), scores, group=groups)
    raw_predicted = np.asarray(model.predict(inputs)).reshape(-1)
    proba, classes = _probabilities(model, inputs, spec)
    truth_codes, truth_values = _factorize(raw_truth)
    predicted_codes, predicted_values = _factorize(raw_predicted)
    labels = _labels_of([*truth_values, *predicted_values, *(classes or [])])
    index = {label: i for i, label in enumerate(labels)}
    truth = _coded(truth_codes, truth_values, index)
    predicted = _coded(predicted_codes, predicted_values, index)
    full = None
    if proba is not None and classes is not None:
        full = np.zeros((len(truth), len(labels)))
        for column, label in enumerate(classes):
            full[:, index[label]] = proba[:, column]
    return Outputs(
        "classification",
        truth,
        predicted,
        labels=np.array(labels, dtype=object),
        proba=full,
        positive=_positive(labels, spec.positive_label, index),
        raw_truth=raw_truth,
        raw_predicted=raw_predicted,
    )


def _scalar(value: Any) -> Any:
    return value.item() if hasattr(value, "item") else value


def _factorize(values: np.ndarray) -> tuple[np.ndarray, list[Any]]:
    """Each value's code and the distinct values, by hashing once (a label set is small;
    looking every row up in Python cost more than the whole bootstrap)."""
    import pandas as pd

    codes, distinct = pd.factorize(values, use_na_sentinel=False)
    return codes, list(distinct)


def _coded(codes: np.ndarray, distinct: list[Any], index: dict[Any, int]) -> np.ndarray:
    """The label index of each row, from its code among ``distinct``."""
    lookup = np.array([index[_scalar(v)] for v in distinct], dtype=np.int64)
    return lookup[codes]


def _probabilities(
    model: LoadedModel, inputs: pd.DataFrame, spec: StoredSpec
) -> tuple[np.ndarray | None, list[Any] | None]:
    from mloop.evals.suites import needs_probabilities

    if not needs_probabilities(spec):
        return None, None
    try:
        method = model.predict_proba
    except AttributeError:
        return None, None
    proba = np.asarray(method(inputs), dtype=np.float64)
    classes = getattr(model.unwrap(), "classes_", None)
    if classes is None or len(classes) != proba.shape[1]:
        raise ValidationError(
            "the model's predict_proba has no classes_ naming its columns", field="metrics"
        )
    return proba, [_scalar(c) for c in classes]


def _positive(labels: list[Any], given: Any, index: dict[Any, int]) -> int | None:
    if given is not None:
        if given not in index:
            raise ValidationError(
                f"positive_label {given!r} is none of the labels {labels[:10]}",
                field="positive_label",
            )
        return index[given]
    if len(labels) <= 2 and set(labels) <= {0, 1}:
        return index.get(True if all(isinstance(v, bool) for v in labels) else 1)
    return None


# -- slices, fairness, budgets -----------------------------------------------------------------


@dataclass(frozen=True)
class Slice:
    name: str
    column: str
    mask: np.ndarray
    metric: str
    tolerance: float


def slices(frame: pd.DataFrame, spec: StoredSpec) -> list[Slice]:
    """Every slice of the suite as a row mask (a binned slice gives one per bin)."""
    found: list[Slice] = []
    for i, piece in enumerate(spec.slices):
        if piece.column not in frame.columns:
            raise ValidationError(
                f"slices[{i}].column {piece.column!r} is not a column of {spec.dataset}",
                field=f"slices[{i}].column",
            )
        found += _masks(frame[piece.column], piece, spec.primary)
    return found


def _masks(column: pd.Series, piece: SliceSpec, primary: str) -> list[Slice]:
    metric, tol = piece.metric or primary, float(piece.tolerance)
    name = piece.column
    if piece.bins is not None:
        values = column.to_numpy(dtype=np.float64, na_value=np.nan)
        edges = piece.bins
        out = []
        for j, (low, high) in enumerate(itertools.pairwise(edges)):
            last = j == len(edges) - 2
            mask = (values >= low) & ((values <= high) if last else (values < high))
            bracket = "]" if last else ")"
            out.append(Slice(f"{name} in [{low:g}, {high:g}{bracket}", name, mask, metric, tol))
        return out
    if piece.values is not None:
        mask = column.isin(piece.values).to_numpy()
        label = piece.name or f"{name} in {piece.values}"
        return [Slice(label, name, mask, metric, tol)]
    mask = (column == piece.value).to_numpy(dtype=bool, na_value=False)
    return [Slice(piece.name or f"{name} = {piece.value}", name, mask, metric, tol)]


@dataclass
class FairnessValue:
    column: str
    metric: str
    bound: float
    value: float | None
    passed: bool | None
    note: str = ""


def fairness(out: Outputs, frame: pd.DataFrame, spec: StoredSpec) -> list[FairnessValue]:
    """Each fairness constraint on the model's decisions (monitoring's bias audit)."""
    from mloop.monitoring.fairness.audit import bias_audit

    results = []
    for i, rule in enumerate(spec.fairness):
        if rule.column not in frame.columns:
            raise ValidationError(
                f"fairness[{i}].column {rule.column!r} is not a column of {spec.dataset}",
                field=f"fairness[{i}].column",
            )
        given = rule.positive_label if rule.positive_label is not None else spec.positive_label
        positive = given if isinstance(given, str | int | float | bool) else None
        audit = bias_audit(
            out.raw_predicted,
            {rule.column: frame[rule.column].to_numpy()},
            y_true=out.raw_truth,
            positive_label=positive,
            min_group_size=rule.min_group_size,
        )
        metric = getattr(audit.attributes[0], rule.metric)
        value = metric.value
        if value is None:
            results.append(
                FairnessValue(rule.column, rule.metric, rule.bound, None, None, metric.reason or "")
            )
            continue
        ok = value >= rule.bound if rule.metric.endswith("ratio") else value <= rule.bound
        results.append(FairnessValue(rule.column, rule.metric, rule.bound, float(value), ok))
    return results


def latency_p95_ms(model: LoadedModel, inputs: pd.DataFrame) -> float | None:
    """The 95th percentile of one-row prediction times over the first rows, in ms."""
    rows = min(LATENCY_ROWS, len(inputs))
    if rows == 0:
        return None
    model.predict(inputs.iloc[:1])  # the first call may load or compile
    times = []
    for i in range(rows):
        start = time.perf_counter()
        model.predict(inputs.iloc[i : i + 1])
        times.append((time.perf_counter() - start) * 1000.0)
    return float(np.percentile(times, 95))


# -- one model on a suite ----------------------------------------------------------------------


@dataclass
class SliceValue:
    name: str
    column: str
    rows: int
    metric: str
    value: float | None
    tolerance: float


@dataclass
class Evaluation:
    """One model's results on a suite, with its predictions (kept for a gate)."""

    outputs: Outputs
    metrics: dict[str, float | None]
    slices: list[SliceValue]
    fairness: list[FairnessValue]
    latency_p95_ms: float | None
    size_mb: float
    defs: dict[str, MetricDef] = field(default_factory=dict)
    masks: list[np.ndarray] = field(default_factory=list)


def evaluate(
    model: LoadedModel, size_mb: float, frame: pd.DataFrame, spec: StoredSpec, features: list[str]
) -> Evaluation:
    """Every metric, slice, fairness constraint and budget measure of ``model``."""
    missing = [
        c
        for c in [spec.target, *features, *([spec.group] if spec.group else [])]
        if c not in frame.columns
    ]
    if missing:
        raise ValidationError(
            f"{spec.dataset} has no column {missing[0]!r} (the suite's target, group or "
            "the model's features)",
            field="target" if missing[0] == spec.target else "features",
        )
    if len(frame) == 0:
        raise ValidationError(f"{spec.dataset} has no rows to evaluate on", field="dataset")
    defs = metric_defs(spec)
    out = predict(model, frame, spec, features)
    metrics = {name: d.value(out) for name, d in defs.items()}
    pieces = slices(frame, spec)
    values = [
        SliceValue(
            s.name,
            s.column,
            int(s.mask.sum()),
            s.metric,
            defs[s.metric].value(out, s.mask) if s.mask.any() else None,
            s.tolerance,
        )
        for s in pieces
    ]
    return Evaluation(
        outputs=out,
        metrics=metrics,
        slices=values,
        fairness=fairness(out, frame, spec),
        latency_p95_ms=latency_p95_ms(model, frame[features]),
        size_mb=size_mb,
        defs=defs,
        masks=[s.mask for s in pieces],
    )
