"""Bias audits: per-group rates of a model's decisions and the disparities between groups.

- ``bias_audit``: for each sensitive attribute (and optionally their intersection), per
  group count, selection rate, accuracy, TPR, FPR and FNR; demographic parity difference
  and ratio with the four-fifths rule; equalized odds difference; stratified bootstrap
  intervals on request; small groups reported but not judged.
- ``compare_audits``: rates that moved against a reference audit, as ``Finding`` records
  (group, metric, reference value, current value, relative change).

Values equal fairlearn's on the same data; see ``docs/monitoring-performance-and-bias.md``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from mloop.core.lazy import lazy_exports

EXPORTS: dict[str, str] = {
    "AttributeAudit": "mloop.monitoring.fairness.report",
    "BiasAudit": "mloop.monitoring.fairness.report",
    "Finding": "mloop.monitoring.fairness.compare",
    "GroupMetrics": "mloop.monitoring.fairness.report",
    "RATES": "mloop.monitoring.fairness.rates",
    "bias_audit": "mloop.monitoring.fairness.audit",
    "compare_audits": "mloop.monitoring.fairness.compare",
}
__all__ = sorted(EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, EXPORTS)

if TYPE_CHECKING:
    from mloop.monitoring.fairness.audit import bias_audit
    from mloop.monitoring.fairness.compare import Finding, compare_audits
    from mloop.monitoring.fairness.rates import RATES
    from mloop.monitoring.fairness.report import AttributeAudit, BiasAudit, GroupMetrics
