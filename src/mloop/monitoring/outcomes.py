"""What a window's predictions did: their distribution and confidence, performance on the
rows labelled so far, and the bias audit.

The window's predictions and labels are JSON text (a model may predict numbers or class
names); they are decoded once here. The task is the monitor's ``performance.task``, or
classification when the log has class probabilities or the predictions are not all
numbers, else regression.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import orjson
import pyarrow as pa

from mloop.monitoring.schemas import CreateMonitor, Task


def _decoded(column: pa.ChunkedArray) -> list[Any]:
    """The JSON texts of ``column`` decoded, each distinct text once (a window of a million
    rows has a handful of distinct predictions and labels)."""
    import pyarrow.compute as pc

    encoded = pc.dictionary_encode(column).combine_chunks()
    values = [orjson.loads(text) for text in encoded.dictionary.to_pylist()]
    decoded = np.empty(len(values) + 1, dtype=object)
    decoded[: len(values)] = values  # the last slot, None, is where nulls point
    decoded[len(values)] = None
    indices = encoded.indices.fill_null(len(values)).to_numpy(zero_copy_only=False)
    return list(decoded[indices])


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _task(spec: CreateMonitor, predictions: list[Any], classes: list[Any] | None) -> Task:
    if spec.performance.task is not None:
        return spec.performance.task
    if classes is not None:
        return "classification"
    present = [p for p in predictions if p is not None]
    if present and all(_is_number(p) for p in present):
        # Whole numbers with few distinct values are class codes of a model without
        # probabilities; anything else is a regressor's output.
        whole = all(float(p).is_integer() for p in present)
        return "classification" if whole and len(set(present)) <= 20 else "regression"
    return "classification"


def _classes(window: pa.Table) -> list[Any] | None:
    """The class order of the window's probabilities, when every row that has them agrees."""
    import pyarrow.compute as pc

    found = {text for text in pc.unique(window.column("classes")).to_pylist() if text is not None}
    if len(found) != 1:
        return None
    classes = orjson.loads(found.pop())
    return classes if isinstance(classes, list) and classes else None


def _probabilities(window: pa.Table, classes: list[Any]) -> np.ndarray | None:
    """The rows' class probabilities as an (n, classes) array; None unless every row has
    one per class. Read from the list column's flat values, not row by row."""
    import pyarrow.compute as pc

    column = window.column("probabilities")
    if column.null_count:
        return None
    lengths = pc.list_value_length(column)
    if len(column) and (
        pc.min(lengths).as_py() != len(classes) or pc.max(lengths).as_py() != len(classes)
    ):
        return None
    flat = pc.list_flatten(column).to_numpy(zero_copy_only=False).astype(float, copy=False)
    return flat.reshape(len(column), len(classes))


MIN_ESTIMATOR_ROWS = 100  # labelled reference rows a CBPE estimator is fitted on, at least


def fit_estimator(spec: CreateMonitor, window: pa.Table) -> dict[str, Any] | None:
    """A CBPE estimator fitted on the labelled rows of a classifier's reference window (as
    ``CBPE.to_dict``), or None when there are too few or no class probabilities."""
    from mloop.monitoring.performance import CBPE

    classes = _classes(window)
    if classes is None or "label" not in window.column_names:
        return None
    labelled = window.filter(window.column("label").is_valid())
    if labelled.num_rows < MIN_ESTIMATOR_ROWS:
        return None
    proba = _probabilities(labelled, classes)
    if proba is None:
        return None
    labels = np.asarray(_decoded(labelled.column("label")), dtype=object)
    estimator = CBPE.fit(
        labels, proba, classes=classes, positive_label=spec.performance.positive_label
    )
    return estimator.to_dict()


def estimate(estimator: dict[str, Any], window: pa.Table) -> dict[str, Any] | None:
    """The window's performance as the reference's CBPE estimator expects it (None when the
    window's probabilities are not of the estimator's classes)."""
    from mloop.monitoring.performance import CBPE

    fitted = CBPE.from_dict(estimator)
    classes = _classes(window)
    if classes is None or list(fitted.classes) != classes:
        return None
    proba = _probabilities(window, classes)
    if proba is None:
        return None
    decisions = np.asarray(_decoded(window.column("prediction")), dtype=object)
    return fitted.estimate(proba, decisions, n_simulations=200).to_dict()


def outcome_report(
    spec: CreateMonitor, window: pa.Table, estimator: dict[str, Any] | None = None
) -> dict[str, Any]:
    """The outputs, performance and bias sections of a window's report; with ``estimator``
    (a fitted CBPE), the performance it expects before labels arrive."""
    from mloop.monitoring import fairness, performance

    prediction, confidence = window.column("prediction"), window.column("confidence")
    if prediction.null_count == len(prediction) and confidence.null_count == len(confidence):
        return {}  # nothing was predicted: gateway calls, a dataset without predictions
    predictions = _decoded(prediction)
    classes = _classes(window)
    task = _task(spec, predictions, classes)
    report: dict[str, Any] = {"task": task}
    confidence = window.column("confidence")
    if confidence.null_count < len(confidence):
        report["confidence"] = performance.confidence_summary(
            confidence.to_numpy(zero_copy_only=False),
            review_threshold=spec.review_threshold,
        ).to_dict()
    if task == "classification":
        report["predictions"] = performance.label_distribution(
            np.asarray(predictions, dtype=object), classes=classes
        ).to_dict()
    labels = _decoded(window.column("label")) if "label" in window.column_names else None
    labelled = labels is not None and any(label is not None for label in labels)
    if labelled:
        assert labels is not None
        report["performance"] = _performance(spec, task, predictions, labels, classes, window)
        if spec.performance.slices:
            report["performance_by_slice"] = _by_slice(
                spec, task, predictions, labels, classes, window
            )
    if estimator is not None and task == "classification":
        estimated = estimate(estimator, window)
        if estimated is not None:
            report["estimated_performance"] = estimated
    if spec.fairness is not None and task == "classification":
        sensitive = {
            name: window.column(name).to_numpy(zero_copy_only=False)
            for name in spec.fairness.sensitive
        }
        audit = fairness.bias_audit(
            np.asarray(predictions, dtype=object),
            sensitive,
            y_true=np.asarray(labels, dtype=object) if labelled and labels is not None else None,
            positive_label=spec.fairness.positive_label,
            min_group_size=spec.fairness.min_group_size,
            bootstrap=_bootstrap(spec),
        )
        report["fairness"] = audit.to_dict()
    return report


def _performance(
    spec: CreateMonitor,
    task: Task,
    predictions: list[Any],
    labels: list[Any],
    classes: list[Any] | None,
    window: pa.Table,
) -> dict[str, Any]:
    from mloop.monitoring import performance

    if task == "regression":
        return performance.regression_metrics(
            np.asarray([np.nan if v is None else v for v in labels], dtype=float),
            np.asarray(predictions, dtype=float),
            bootstrap=_bootstrap(spec),
        ).to_dict()
    proba = None if classes is None else _probabilities(window, classes)
    return performance.classification_metrics(
        np.asarray(labels, dtype=object),
        np.asarray(predictions, dtype=object),
        proba,
        classes=classes,
        positive_label=spec.performance.positive_label,
        bootstrap=_bootstrap(spec),
    ).to_dict()


def _by_slice(
    spec: CreateMonitor,
    task: Task,
    predictions: list[Any],
    labels: list[Any],
    classes: list[Any] | None,
    window: pa.Table,
) -> dict[str, Any]:
    """Performance per value of each slice column (no intervals: a slice is small), the
    ``MAX_SLICE_VALUES`` largest values of a column."""
    from mloop.monitoring import performance
    from mloop.monitoring.performance.slices import SliceReport
    from mloop.monitoring.schemas import MAX_SLICE_VALUES

    found: dict[str, Any] = {}
    for column in spec.performance.slices:
        if column not in window.column_names:
            found[column] = {"slices": [], "note": f"no column {column!r} in the window"}
            continue
        values = window.column(column).to_numpy(zero_copy_only=False)
        reports: Sequence[SliceReport[Any]]
        if task == "regression":
            reports = performance.regression_by_slice(
                values,
                np.asarray([np.nan if v is None else v for v in labels], dtype=float),
                np.asarray(predictions, dtype=float),
            )
        else:
            proba = None if classes is None else _probabilities(window, classes)
            reports = performance.classification_by_slice(
                values,
                np.asarray(labels, dtype=object),
                np.asarray(predictions, dtype=object),
                proba,
                classes=classes,
                positive_label=spec.performance.positive_label,
            )
        ranked: list[SliceReport[Any]] = sorted(reports, key=lambda r: -r.report.n_rows)
        found[column] = {
            "slices": [r.to_dict() for r in ranked[:MAX_SLICE_VALUES]],
            "left_out": max(0, len(ranked) - MAX_SLICE_VALUES),
        }
    return found


def _bootstrap(spec: CreateMonitor) -> Any:
    """The intervals a monitor asks for (seeded: a window computed again gets the same)."""
    from mloop.monitoring.performance import Bootstrap

    return Bootstrap(n_resamples=spec.intervals, seed=0) if spec.intervals >= 2 else None


def outcome_metrics(report: dict[str, Any]) -> dict[str, float | None]:
    """The report's figures as flat metrics (``performance.accuracy``,
    ``fairness.region.north.selection_rate``, ``output.review_share``...)."""
    metrics: dict[str, float | None] = {}
    confidence = report.get("confidence")
    if confidence is not None:
        metrics["output.confidence.mean"] = confidence["distribution"]["mean"]
        metrics["output.review_share"] = confidence["share_for_review"]
    for entry in (report.get("predictions") or {}).get("labels", []):
        metrics[f"output.prediction.{_label(entry['label'])}.share"] = entry["share"]
    for name, metric in (report.get("estimated_performance") or {}).get("metrics", {}).items():
        metrics[f"estimated.{name}"] = metric["value"]
    perf = report.get("performance")
    if perf is not None:
        metrics["performance.labelled"] = float(perf.get("n_labelled", 0))
        for name, metric in perf["metrics"].items():
            metrics[f"performance.{name}"] = metric["value"]
    for column, sliced in (report.get("performance_by_slice") or {}).items():
        for entry in sliced["slices"]:
            prefix = f"performance.slice.{column}.{_label(entry['value'])}"
            metrics[f"{prefix}.labelled"] = float(entry.get("n_labelled", 0))
            for name, metric in entry["metrics"].items():
                metrics[f"{prefix}.{name}"] = metric["value"]
    audit = report.get("fairness")
    if audit is not None:
        for attribute in audit["attributes"]:
            prefix = f"fairness.{attribute['attribute']}"
            for name in (
                "demographic_parity_difference",
                "demographic_parity_ratio",
                "equalized_odds_difference",
            ):
                metrics[f"{prefix}.{name}"] = attribute[name]["value"]
            for group in attribute["groups"]:
                if not group["judged"]:
                    continue
                for rate, metric in group["rates"].items():
                    metrics[f"{prefix}.{_label(group['group'])}.{rate}"] = metric["value"]
    return metrics


def _label(value: Any) -> str:
    return value if isinstance(value, str) else orjson.dumps(value).decode()
