"""Performance of a model on a window: metrics on labels, estimates before them, outputs.

Storage-free statistics over numpy arrays, pandas Series, pyarrow arrays or Polars Series;
a monitor computes one window at a time and stores each result's ``to_dict()``.

- ``classification_metrics``, ``regression_metrics``: metrics on labelled rows (rows without a
  label are left out and counted), with ``Bootstrap`` intervals on request.
- ``classification_by_slice``, ``regression_by_slice``: the same per value of a slice column.
- ``calibration_report``: reliability bins and expected calibration error.
- ``CBPE``: estimated classifier performance from calibrated confidence, before labels.
- ``label_distribution``, ``value_distribution``, ``confidence_summary``: what the model
  returned, and the share under a review threshold.

An undefined metric is ``Metric(value=None, reason=...)``; bad input raises
``mloop.core.errors.ValidationError`` naming the argument. See
``docs/monitoring-performance-and-bias.md``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from mloop.core.lazy import lazy_exports

EXPORTS: dict[str, str] = {
    "Bootstrap": "mloop.monitoring.performance.bootstrap",
    "CBPE": "mloop.monitoring.performance.estimation",
    "CalibrationReport": "mloop.monitoring.performance.calibration",
    "ClassMetrics": "mloop.monitoring.performance.classification",
    "ClassificationReport": "mloop.monitoring.performance.classification",
    "ConfidenceSummary": "mloop.monitoring.performance.outputs",
    "Histogram": "mloop.monitoring.performance.outputs",
    "LabelDistribution": "mloop.monitoring.performance.outputs",
    "Metric": "mloop.monitoring.performance.results",
    "PerformanceEstimate": "mloop.monitoring.performance.estimation",
    "RegressionReport": "mloop.monitoring.performance.regression",
    "ReliabilityBin": "mloop.monitoring.performance.calibration",
    "SliceReport": "mloop.monitoring.performance.slices",
    "ValueDistribution": "mloop.monitoring.performance.outputs",
    "calibration_report": "mloop.monitoring.performance.calibration",
    "classification_by_slice": "mloop.monitoring.performance.slices",
    "classification_metrics": "mloop.monitoring.performance.classification",
    "confidence_summary": "mloop.monitoring.performance.outputs",
    "label_distribution": "mloop.monitoring.performance.outputs",
    "regression_by_slice": "mloop.monitoring.performance.slices",
    "regression_metrics": "mloop.monitoring.performance.regression",
    "value_distribution": "mloop.monitoring.performance.outputs",
}
__all__ = sorted(EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, EXPORTS)

if TYPE_CHECKING:
    from mloop.monitoring.performance.bootstrap import Bootstrap
    from mloop.monitoring.performance.calibration import (
        CalibrationReport,
        ReliabilityBin,
        calibration_report,
    )
    from mloop.monitoring.performance.classification import (
        ClassificationReport,
        ClassMetrics,
        classification_metrics,
    )
    from mloop.monitoring.performance.estimation import CBPE, PerformanceEstimate
    from mloop.monitoring.performance.outputs import (
        ConfidenceSummary,
        Histogram,
        LabelDistribution,
        ValueDistribution,
        confidence_summary,
        label_distribution,
        value_distribution,
    )
    from mloop.monitoring.performance.regression import RegressionReport, regression_metrics
    from mloop.monitoring.performance.results import Metric
    from mloop.monitoring.performance.slices import (
        SliceReport,
        classification_by_slice,
        regression_by_slice,
    )
