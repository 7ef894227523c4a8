"""Bias audits: per-group rates of a yes/no decision and the disparities between groups.

``bias_audit(y_pred, sensitive, y_true=...)`` audits each sensitive attribute (a column such
as region or age band; with ``intersections=True`` also their combination). For each group
it reports the count, labelled count and the rates of ``rates`` (selection rate, accuracy,
TPR, FPR, FNR); for the attribute:

- demographic parity difference: highest minus lowest selection rate;
- demographic parity ratio: lowest over highest selection rate. The four-fifths rule (US
  EEOC's rule of thumb for adverse impact) flags a ratio below 0.8; ``four_fifths_violations``
  lists the groups selected at less than 0.8 times the most-selected group's rate;
- equalized odds difference: the larger of the TPR difference and the FPR difference
  (highest minus lowest over groups).

Small groups are reported but not judged: disparities use only groups with at least
``min_group_size`` rows (and, for the error rates, that many labelled rows), because a rate
of 3 rows says little. Rows with no value for an attribute form its group ``None``.

With ``bootstrap`` every rate and disparity gets a percentile interval from resamples drawn
within each group (stratified), so each resample keeps the group sizes.

Values equal fairlearn's ``MetricFrame``, ``demographic_parity_difference/ratio`` and
``equalized_odds_difference`` on the same data (``tests/monitoring/fairness`` checks it),
except where fairlearn returns 0 for a rate with no rows to divide by (a group without
positives has no TPR): here such a rate is undefined and left out of the disparities.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping
from typing import Any

import numpy as np

from mloop.core.errors import ValidationError
from mloop.monitoring.fairness.rates import (
    RATES,
    GroupedRows,
    Outcomes,
    group_rates,
    min_over_max,
    spread,
)
from mloop.monitoring.fairness.report import AttributeAudit, BiasAudit, GroupMetrics
from mloop.monitoring.performance.bootstrap import Bootstrap, point_weights, resampled
from mloop.monitoring.performance.groups import Groups, combine, group_rows
from mloop.monitoring.performance.inputs import (
    as_array,
    check_lengths,
    missing_mask,
    python_scalar,
    resolve_classes,
)
from mloop.monitoring.performance.results import Metric, make_metric

FOUR_FIFTHS = 0.8
DEFAULT_MIN_GROUP_SIZE = 30


def bias_audit(
    y_pred: Any,
    sensitive: Mapping[str, Any] | Any,
    *,
    y_true: Any = None,
    positive_label: Hashable | None = None,
    min_group_size: int = DEFAULT_MIN_GROUP_SIZE,
    intersections: bool = False,
    bootstrap: Bootstrap | None = None,
) -> BiasAudit:
    """Audit the decisions ``y_pred`` across the groups of each ``sensitive`` column.

    ``sensitive`` maps attribute names to columns (a pandas DataFrame works too).
    ``positive_label`` is the favourable decision (default 1 or True when the labels are
    0/1 or booleans). Without ``y_true`` only selection rates are audited (decisions are
    known before outcomes); rows whose ``y_true`` is missing count for selection rates only.
    """
    decisions = as_array(y_pred, "y_pred")
    columns = _columns(sensitive)
    truths = None if y_true is None else as_array(y_true, "y_true")
    named = {f"sensitive.{name}": values for name, values in columns.items()}
    n_rows = check_lengths(y_pred=decisions, y_true=truths, **named)
    _check_min_group_size(min_group_size)
    if missing_mask(decisions).any():
        raise ValidationError(
            "y_pred has missing values: every row needs a decision", field="y_pred"
        )
    labelled = np.zeros(n_rows, dtype=bool) if truths is None else ~missing_mask(truths)
    positive = _positive_label(decisions, truths, labelled, positive_label)
    outcomes = Outcomes(
        selected=_equals(decisions, positive),
        labelled=labelled,
        positive=labelled & _equals(truths, positive) if truths is not None else labelled,
    )
    groupings = {name: group_rows(values, name) for name, values in columns.items()}
    if intersections and len(groupings) > 1:
        groupings[" & ".join(groupings)] = combine(list(groupings.values()))
    indicators = outcomes.indicators()
    overall = _overall(indicators, min_group_size, bootstrap)
    audits = tuple(
        _audit_attribute(name, grouping, indicators, min_group_size, bootstrap)
        for name, grouping in groupings.items()
    )
    return BiasAudit(
        positive_label=positive,
        min_group_size=min_group_size,
        n_rows=n_rows,
        n_labelled=int(labelled.sum()),
        overall=overall,
        attributes=audits,
    )


def _columns(sensitive: Mapping[str, Any] | Any) -> dict[str, np.ndarray]:
    if hasattr(sensitive, "columns") and not isinstance(sensitive, Mapping):
        sensitive = {str(c): sensitive[c] for c in sensitive.columns}
    if not isinstance(sensitive, Mapping) or not sensitive:
        raise ValidationError(
            "sensitive must map each attribute name to a column, e.g. {'region': regions}",
            field="sensitive",
        )
    return {str(name): as_array(values, f"sensitive.{name}") for name, values in sensitive.items()}


def _check_min_group_size(min_group_size: int) -> None:
    if (
        isinstance(min_group_size, bool)
        or not isinstance(min_group_size, int)
        or min_group_size < 0
    ):
        raise ValidationError(
            f"min_group_size must be a non-negative integer, got {min_group_size!r}",
            field="min_group_size",
        )


def _equals(values: np.ndarray, label: Any) -> np.ndarray:
    if values.dtype.kind == "O":
        return np.frompyfunc(lambda v: v == label, 1, 1)(values).astype(bool)
    return np.asarray(values == label, dtype=bool)


def _positive_label(
    decisions: np.ndarray,
    truths: np.ndarray | None,
    labelled: np.ndarray,
    positive_label: Hashable | None,
) -> Any:
    observed = {"y_pred": decisions}
    if truths is not None:
        observed["y_true"] = truths[labelled]
    values = resolve_classes(None, observed)  # raises on mixed label types
    if positive_label is not None:
        positive = python_scalar(positive_label)
        try:
            sorted([*values, positive])
        except TypeError as exc:
            raise ValidationError(
                f"positive_label {positive!r} is a {type(positive).__name__} but the decisions "
                f"are {list(values)[:10]}: use the same type",
                field="positive_label",
            ) from exc
        return positive
    if set(values) <= {0, 1}:  # 0/1 or False/True (True == 1)
        return True if values and all(isinstance(v, bool) for v in values) else 1
    raise ValidationError(
        f"positive_label is required: the decisions are {list(values)[:10]}; name the "
        "favourable one (e.g. positive_label='approved')",
        field="positive_label",
    )


def _overall(
    indicators: np.ndarray, min_group_size: int, bootstrap: Bootstrap | None
) -> GroupMetrics:
    everyone = Groups(codes=np.zeros(len(indicators), dtype=np.int64), labels=(None,))
    counts, rates, samples = _group_values(indicators, everyone, bootstrap, stratified=False)
    return _group_metrics(0, None, counts, rates, samples, min_group_size, bootstrap)


def _audit_attribute(
    name: str,
    grouping: Groups,
    indicators: np.ndarray,
    min_group_size: int,
    bootstrap: Bootstrap | None,
) -> AttributeAudit:
    counts, rates, samples = _group_values(indicators, grouping, bootstrap, stratified=True)
    judged = counts["rows"][0] >= min_group_size
    judged_labels = judged & (counts["labelled"][0] >= min_group_size)
    level = bootstrap.confidence if bootstrap is not None else 0.95

    def disparities(values: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        return {
            "dp_difference": spread(values["selection_rate"], judged),
            "dp_ratio": min_over_max(values["selection_rate"], judged),
            "eo_difference": np.fmax(
                spread(values["true_positive_rate"], judged_labels),
                spread(values["false_positive_rate"], judged_labels),
            ),
        }

    point = disparities(rates)
    spread_samples = disparities(samples) if samples is not None else None
    few = f"fewer than two groups have at least {min_group_size} rows"

    def metric(key: str, reason: str) -> Metric:
        drawn = None if spread_samples is None else spread_samples[key]
        return make_metric(point[key][0], reason, drawn, level)

    selection = rates["selection_rate"][0]
    highest = np.nanmax(np.where(judged, selection, np.nan)) if judged.any() else np.nan
    violations = tuple(
        label
        for code, label in enumerate(grouping.labels)
        if judged[code] and highest > 0 and selection[code] < FOUR_FIFTHS * highest
    )
    return AttributeAudit(
        attribute=name,
        groups=tuple(
            _group_metrics(code, label, counts, rates, samples, min_group_size, bootstrap)
            for code, label in enumerate(grouping.labels)
        ),
        demographic_parity_difference=metric("dp_difference", few),
        demographic_parity_ratio=metric(
            "dp_ratio", few if judged.sum() < 2 else "no judged group was selected"
        ),
        equalized_odds_difference=metric(
            "eo_difference",
            f"fewer than two groups have at least {min_group_size} labelled rows with both "
            "outcomes",
        ),
        four_fifths_violations=violations,
    )


def _group_values(
    indicators: np.ndarray, grouping: Groups, bootstrap: Bootstrap | None, stratified: bool
) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray], dict[str, np.ndarray] | None]:
    """Counts and rates per group of the data, and the rates of every resample."""
    rows = GroupedRows(indicators, grouping)
    counts = rows.counts(point_weights(len(indicators)))
    rates = group_rates(counts)
    if bootstrap is None:
        return counts, rates, None
    samples = resampled(
        lambda w: group_rates(rows.counts(w)),
        len(indicators),
        bootstrap,
        strata=rows.codes if stratified else None,
    )
    return counts, rates, samples


_RATE_REASONS = {
    "selection_rate": "the group has no rows",
    "accuracy": "the group has no labelled rows",
    "true_positive_rate": "the group has no labelled positives",
    "false_positive_rate": "the group has no labelled negatives",
    "false_negative_rate": "the group has no labelled positives",
}


def _group_metrics(
    code: int,
    label: Any,
    counts: dict[str, np.ndarray],
    rates: dict[str, np.ndarray],
    samples: dict[str, np.ndarray] | None,
    min_group_size: int,
    bootstrap: Bootstrap | None,
) -> GroupMetrics:
    level = bootstrap.confidence if bootstrap is not None else 0.95
    count = int(counts["rows"][0, code])
    return GroupMetrics(
        group=label,
        count=count,
        n_labelled=int(counts["labelled"][0, code]),
        judged=count >= min_group_size,
        rates={
            name: make_metric(
                rates[name][0, code],
                _RATE_REASONS[name],
                None if samples is None else samples[name][:, code],
                level,
            )
            for name in RATES
        },
    )
