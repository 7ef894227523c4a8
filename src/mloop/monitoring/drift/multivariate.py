"""Multivariate drift: a domain classifier tells reference rows from current rows.

A random forest learns to say whether a row comes from the reference or the current sample;
its cross-validated ROC AUC is the drift score. 0.5 means the samples cannot be told apart;
1.0 means they never overlap. Unlike per-column tests it sees changes in how columns go
together (a correlation that flips while every column keeps its distribution).

Verdict: the out-of-fold AUC is compared with its distribution when both samples come from
the same distribution, approximately normal with mean 0.5 and variance
``(n1 + n2 + 1) / (12 n1 n2)`` (the Mann-Whitney statistic's); the samples drift when that
p-value is below ``alpha`` (0.05) *and* the AUC reaches ``min_auc`` (0.55), so a tiny but
significant separation on large samples does not alarm.

Assumptions, to keep in mind when reading the result:

- the rows of each sample are independent draws from their window (the summaries' samples
  are uniform samples; see ``sample``);
- the columns carry no identity of the window: ids, timestamps, counters and anything
  derived from time separate any two windows perfectly; leave them out with ``columns=``;
- the classifier can express the change: a forest sees thresholds and interactions, not
  arbitrary functions, and the samples are small (1,000 rows a side by default), so small
  shifts go unseen here and are left to the per-column tests;
- ``top_columns`` ranks columns by the forest's impurity importance (the share of splits'
  gain), which favours columns with many distinct values; it says where to look, not how
  much each column moved.

Categories are encoded as integers (their order in the sorted labels); missing values stay
missing (scikit-learn's forests route them).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt
from scipy import stats

from mloop.core.errors import ValidationError
from mloop.monitoring.drift.inputs import DataLike, Kind, column_kind, open_batches
from mloop.monitoring.drift.sample import DEFAULT_SAMPLE_ROWS, RowSampler, Value
from mloop.monitoring.drift.summary import DataSummary

DEFAULT_FOLDS = 5
DEFAULT_MIN_AUC = 0.55
DEFAULT_ALPHA = 0.05
TOP_COLUMNS = 5


@dataclass(frozen=True)
class DomainClassifierResult:
    """``auc`` (cross-validated), its ``p_value`` against 0.5, the verdict ``drifted``, and
    the columns the classifier relied on most (``top_columns``: name and importance share)."""

    auc: float
    p_value: float
    drifted: bool
    min_auc: float
    alpha: float
    top_columns: list[tuple[str, float]]
    reference_rows: int
    current_rows: int
    folds: int
    columns: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "method": "domain_classifier",
            "auc": self.auc,
            "p_value": self.p_value,
            "drifted": self.drifted,
            "min_auc": self.min_auc,
            "alpha": self.alpha,
            "top_columns": [[name, share] for name, share in self.top_columns],
            "reference_rows": self.reference_rows,
            "current_rows": self.current_rows,
            "folds": self.folds,
            "columns": list(self.columns),
        }


@dataclass
class _Rows:
    columns: dict[str, list[Value]]
    kinds: dict[str, Kind]

    @property
    def size(self) -> int:
        return len(next(iter(self.columns.values()), []))


def _rows(
    source: DataSummary | DataLike, columns: Sequence[str] | None, n: int, seed: Any
) -> _Rows:
    if isinstance(source, DataSummary):
        if source.sample is None or source.sample.rows == 0:
            raise ValidationError(
                "the summary has no row sample: summarise with sample_rows > 0, or pass the "
                "data itself",
                field="reference",
            )
        kinds = {name: source.columns[name].kind for name in source.sample.columns}
        return _Rows(dict(source.sample.columns), kinds)
    batches = open_batches(source, columns)
    kinds = {}
    for f in batches.schema:
        kind = column_kind(f.type)
        if kind is not None:
            kinds[f.name] = kind
    sampler = RowSampler(list(kinds), list(kinds.values()), n, seed)
    for batch in batches.batches:
        sampler.add(batch)
    sample = sampler.result()
    assert sample is not None
    return _Rows(sample.columns, kinds)


def _encode(reference: _Rows, current: _Rows, names: list[str]) -> npt.NDArray[np.float64]:
    blocks = []
    for name in names:
        values = reference.columns[name] + current.columns[name]
        if reference.kinds[name] == "numeric":
            blocks.append(np.array([np.nan if v is None else v for v in values], dtype=float))
        else:
            labels = sorted({str(v) for v in values if v is not None})
            code = {label: float(i) for i, label in enumerate(labels)}
            blocks.append(np.array([np.nan if v is None else code[str(v)] for v in values]))
    return np.column_stack(blocks)


def domain_classifier(
    reference: DataSummary | DataLike,
    current: DataSummary | DataLike,
    *,
    columns: Sequence[str] | None = None,
    sample_rows: int = DEFAULT_SAMPLE_ROWS,
    folds: int = DEFAULT_FOLDS,
    min_auc: float = DEFAULT_MIN_AUC,
    alpha: float = DEFAULT_ALPHA,
    seed: int = 0,
) -> DomainClassifierResult:
    """Train a classifier to tell ``reference`` rows from ``current`` rows (see the module
    docstring). Each side is a ``DataSummary`` with a row sample, or data from which
    ``sample_rows`` rows are drawn. ``columns`` limits the features (default: the columns
    both sides have)."""
    try:
        from sklearn.ensemble import RandomForestClassifier
        from sklearn.metrics import roc_auc_score
        from sklearn.model_selection import StratifiedKFold, cross_val_predict
    except ImportError as exc:  # pragma: no cover - the sklearn extra is missing
        raise ValidationError(
            "the domain classifier needs scikit-learn: pip install 'mloop[sklearn]'",
            field="domain_classifier",
        ) from exc
    if folds < 2:
        raise ValidationError("folds must be at least 2", field="folds")
    if not 0.5 <= min_auc < 1.0 or not 0.0 < alpha < 1.0:
        raise ValidationError("min_auc must be in [0.5, 1) and alpha in (0, 1)", field="min_auc")
    # Samples drawn here use seeds of their own ([seed, side]), never a plain integer a
    # summary may have used: the same seed would pick the same rows of identical data.
    ref = _rows(reference, columns, sample_rows, [seed, 0])
    cur = _rows(current, columns, sample_rows, [seed, 1])
    names = [n for n in (columns or list(ref.columns)) if n in ref.columns and n in cur.columns]
    if columns is not None:
        missing = [n for n in columns if n not in names]
        if missing:
            raise ValidationError(f"column {missing[0]!r} is not in both samples", field="columns")
    if not names:
        raise ValidationError("the two samples share no columns", field="columns")
    for name in names:
        if ref.kinds[name] != cur.kinds.get(name, ref.kinds[name]):
            raise ValidationError(
                f"column {name!r} is {ref.kinds[name]} in the reference but "
                f"{cur.kinds[name]} in the current sample",
                field="columns",
            )
    n1, n2 = ref.size, cur.size
    if min(n1, n2) < 2 * folds:
        raise ValidationError(
            f"each sample needs at least {2 * folds} rows for {folds}-fold cross-validation "
            f"(reference {n1}, current {n2})",
            field="sample_rows",
        )
    features = _encode(ref, cur, names)
    target = np.r_[np.zeros(n1), np.ones(n2)]
    forest = RandomForestClassifier(
        n_estimators=100, min_samples_leaf=3, n_jobs=1, random_state=seed
    )
    splitter = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
    scores = cross_val_predict(forest, features, target, cv=splitter, method="predict_proba")
    auc = float(roc_auc_score(target, scores[:, 1]))
    spread = np.sqrt((n1 + n2 + 1) / (12.0 * n1 * n2))
    p_value = float(stats.norm.sf((auc - 0.5) / spread))
    forest.fit(features, target)
    importances = np.asarray(forest.feature_importances_, dtype=float)
    order = np.argsort(-importances, kind="stable")[:TOP_COLUMNS]
    return DomainClassifierResult(
        auc=auc,
        p_value=p_value,
        drifted=p_value < alpha and auc >= min_auc,
        min_auc=min_auc,
        alpha=alpha,
        top_columns=[(names[i], float(importances[i])) for i in order],
        reference_rows=n1,
        current_rows=n2,
        folds=folds,
        columns=names,
    )
