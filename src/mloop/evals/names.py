"""Metric names a suite may use, by task, and which way each one improves.

Storage-free and numpy-free, so the server checks a suite's names at registration without
importing the statistics. Ranking metrics take a cut-off: ``ndcg@10``, ``map@5``,
``precision@3`` (``ndcg`` and ``map`` alone use every row of a query; ``mrr`` takes none).
A custom scorer is named by its ``module:function`` reference and must be listed in the
suite's ``scorers``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from mloop.core.errors import ValidationError

CLASSIFICATION = (
    "accuracy",
    "balanced_accuracy",
    "precision",
    "recall",
    "f1",
    "roc_auc",
    "log_loss",
)
REGRESSION = ("rmse", "mae", "r2")
RANKING = ("ndcg", "map", "mrr", "precision")
TASK_METRICS: dict[str, tuple[str, ...]] = {
    "classification": CLASSIFICATION,
    "regression": REGRESSION,
    "ranking": RANKING,
}
LOWER_IS_BETTER = frozenset({"log_loss", "rmse", "mae"})
# Metrics that need the model's class probabilities, not only its labels.
NEEDS_PROBABILITIES = frozenset({"roc_auc", "log_loss"})
MAX_K = 10_000

SCORER_PATTERN = re.compile(r"^[A-Za-z_][\w.]*:[A-Za-z_]\w*$")
_RANKING_NAME = re.compile(r"^(ndcg|map|mrr|precision)(?:@([0-9]{1,5}))?$")


@dataclass(frozen=True)
class MetricName:
    """A parsed metric name: its base, its cut-off (ranking) and whether it is a scorer."""

    text: str
    base: str
    k: int | None = None
    scorer: bool = False

    @property
    def higher_is_better(self) -> bool:
        """Custom scorers are "higher is better", as scikit-learn's scorers are."""
        return self.base not in LOWER_IS_BETTER


def parse_metric(text: str, task: str, scorers: list[str], field: str) -> MetricName:
    """Check that ``text`` names a metric of ``task`` or one of ``scorers``."""
    if not isinstance(text, str) or not text:
        raise ValidationError(f"{field} must be a metric name", field=field)
    if ":" in text:
        if text not in scorers:
            raise ValidationError(
                f"{field} {text!r} is a custom scorer; list it in scorers too", field=field
            )
        return MetricName(text, text, scorer=True)
    known = TASK_METRICS.get(task, ())
    if task == "ranking":
        match = _RANKING_NAME.match(text)
        if match is None:
            raise ValidationError(
                f"{field} {text!r} is not a ranking metric: use ndcg@k, map@k, mrr or precision@k",
                field=field,
            )
        base, k = match.group(1), match.group(2)
        if base == "mrr" and k is not None:
            raise ValidationError(f"{field}: mrr takes no cut-off", field=field)
        if base == "precision" and k is None:
            raise ValidationError(f"{field}: precision needs a cut-off (precision@5)", field=field)
        number = int(k) if k is not None else None
        if number is not None and not 1 <= number <= MAX_K:
            raise ValidationError(f"{field}: the cut-off must be 1 to {MAX_K}", field=field)
        return MetricName(text, base, k=number)
    if text not in known:
        raise ValidationError(
            f"{field} {text!r} is not a {task} metric: use one of {', '.join(known)} "
            "or a custom scorer (module:function)",
            field=field,
        )
    return MetricName(text, text)


def check_scorer_ref(text: str, field: str) -> str:
    """A ``module:function`` reference (importing happens where the suite runs)."""
    if not isinstance(text, str) or not SCORER_PATTERN.match(text) or len(text) > 512:
        raise ValidationError(
            f"{field} {text!r} must be module:function, e.g. my_pkg.metrics:profit",
            field=field,
        )
    return text
