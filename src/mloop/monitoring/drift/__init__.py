"""Data drift: compact reference summaries and drift tests, with no storage.

The whole API, in the order a monitor uses it::

    from mloop.monitoring import drift

    reference = drift.summarize("train.parquet")          # once; store reference.to_json()
    reference = drift.DataSummary.from_json(text)          # later, without the data
    report = drift.detect_drift(reference, window)         # a window: Arrow, pandas, path
    report.dataset_drift, report.drifted_columns           # the verdict
    report.column("age").effect                            # how much moved, which way
    report.to_dict()                                       # JSON to store per window

Summaries (``DataSummary``, one ``NumericSummary`` or ``CategoricalSummary`` per column):

- ``summarize(data, columns=, kinds=, like=, max_buckets=, max_categories=, sample_rows=,
  seed=, batch_rows=, threads=, progress=)`` reads ``data`` once, batch by batch, with flat
  memory, columns in parallel. ``progress(rows_done, rows_total_or_None)`` is called after
  each batch. ``like=reference`` summarises a window the way the reference was.
- ``merge(a, b, ...)``/``a.merge(b)``: the summary of the union (hourly windows into a day,
  daily references into a month); associative and commutative.
- ``from_profile(profile)``: a registered dataset version's stored ``DatasetProfile`` as a
  reference, without reading the data (coarser: see ``profile_reference``).
- ``to_dict``/``from_dict``/``to_json``/``from_json``: plain JSON, tens of kilobytes per
  column at most; ``select(names)`` keeps some columns.

Numbers are kept in a ``QuantileSketch`` (``sketch``): exact up to ``max_buckets`` (4,096)
distinct values, so small references are tested exactly; beyond, buckets of the float's
leading bits, exactly mergeable. Categories are counted exactly up to ``max_categories``
(1,000); beyond, a fixed hash-chosen subset is kept and the rest counted as ``other``
(``categories``). A summary may carry a uniform row ``sample`` (1,000 rows by default) for
the domain classifier.

Tests:

- ``compare(reference, current, columns=, methods=, thresholds=, numeric_method=,
  categorical_method=, method_thresholds=, drift_share=0.5, fdr=True)`` tests two summaries;
  ``detect_drift(reference, data, ...)`` summarises ``data`` first. Both return a
  ``DriftReport``: per column a ``ColumnDrift`` (method, statistic, p-value and adjusted
  p-value, threshold, drifted, ``Effect`` with size and direction, sample sizes, whether it
  was exact), ``drifted_share`` and ``dataset_drift``.
- Methods (``METHODS``): ``ks``, ``wasserstein`` (normed by the reference std), ``psi``,
  ``chisquare`` (two-sample homogeneity), ``chisquare_gof`` (Evidently's goodness of fit),
  ``jensenshannon``, ``z``; chosen per column by ``choose_method`` after
  Evidently's defaults (``selection``), each overridable per column. P-values are adjusted
  for multiple tests (Benjamini-Hochberg) before the verdict.
- ``domain_classifier(reference, current)``: the multivariate test, a classifier telling the
  two samples apart (cross-validated ROC AUC, with the columns it relied on most).

Predictions and confidences are ordinary columns: a model's output column (a class, a
score) drifts like any input, and is summarised and tested the same way.

Bad input raises ``mloop.core.errors.ValidationError`` (or ``NotFoundError`` for a missing
column) with a message that names the column and says what to do. The statistics are
described in ``docs/monitoring-statistics.md``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from mloop.core.lazy import lazy_exports

EXPORTS: dict[str, str] = {
    "BinnedCounts": "mloop.monitoring.drift.binned",
    "CategoricalSummary": "mloop.monitoring.drift.summary",
    "CategoryCounts": "mloop.monitoring.drift.categories",
    "ColumnDrift": "mloop.monitoring.drift.report",
    "ColumnSummary": "mloop.monitoring.drift.summary",
    "DataSummary": "mloop.monitoring.drift.summary",
    "DomainClassifierResult": "mloop.monitoring.drift.multivariate",
    "DriftReport": "mloop.monitoring.drift.report",
    "Effect": "mloop.monitoring.drift.effects",
    "METHODS": "mloop.monitoring.drift.methods",
    "Method": "mloop.monitoring.drift.methods",
    "NumericSummary": "mloop.monitoring.drift.summary",
    "Outcome": "mloop.monitoring.drift.outcome",
    "Progress": "mloop.monitoring.drift.streaming",
    "QuantileSketch": "mloop.monitoring.drift.sketch",
    "RowSample": "mloop.monitoring.drift.sample",
    "choose_method": "mloop.monitoring.drift.selection",
    "compare": "mloop.monitoring.drift.report",
    "detect_drift": "mloop.monitoring.drift.report",
    "domain_classifier": "mloop.monitoring.drift.multivariate",
    "from_profile": "mloop.monitoring.drift.profile_reference",
    "merge": "mloop.monitoring.drift.summary",
    "summarize": "mloop.monitoring.drift.streaming",
}
__all__ = sorted(EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, EXPORTS)

if TYPE_CHECKING:
    from mloop.monitoring.drift.binned import BinnedCounts
    from mloop.monitoring.drift.categories import CategoryCounts
    from mloop.monitoring.drift.effects import Effect
    from mloop.monitoring.drift.methods import METHODS, Method
    from mloop.monitoring.drift.multivariate import DomainClassifierResult, domain_classifier
    from mloop.monitoring.drift.outcome import Outcome
    from mloop.monitoring.drift.profile_reference import from_profile
    from mloop.monitoring.drift.report import ColumnDrift, DriftReport, compare, detect_drift
    from mloop.monitoring.drift.sample import RowSample
    from mloop.monitoring.drift.selection import choose_method
    from mloop.monitoring.drift.sketch import QuantileSketch
    from mloop.monitoring.drift.streaming import Progress, summarize
    from mloop.monitoring.drift.summary import (
        CategoricalSummary,
        ColumnSummary,
        DataSummary,
        NumericSummary,
        merge,
    )
