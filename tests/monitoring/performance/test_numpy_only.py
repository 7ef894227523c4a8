"""Performance and bias statistics run on a core install: numpy only, no sklearn extra."""

from __future__ import annotations

import subprocess
import sys
import textwrap

_BLOCKED = ("sklearn", "scipy", "pandas", "pyarrow", "polars", "fairlearn")


def test_metrics_estimates_and_audits_run_without_the_optional_packages() -> None:
    # A package set to None in sys.modules cannot be imported: as if it were not installed.
    code = (
        f"import sys\nfor name in {_BLOCKED!r}:\n    sys.modules[name] = None\n"
        + textwrap.dedent(
            """
        import numpy as np
        from mloop.monitoring.fairness import bias_audit, compare_audits
        from mloop.monitoring.performance import (
            CBPE, calibration_report, classification_by_slice, classification_metrics,
            confidence_summary, regression_metrics,
        )

        y, p = np.array([0, 1, 1, 0, 1]), np.array([0.2, 0.7, 0.9, 0.4, 0.6])
        assert classification_metrics(y, (p >= 0.5).astype(int), p)["roc_auc"].value == 1.0
        assert regression_metrics([1.0, 2.0], [1.0, 3.0])["mae"].value == 0.5
        calibration_report(y, p)
        classification_by_slice(["a", "b", "a", "b", "a"], y, y)
        assert CBPE.fit(y, p, calibration="sigmoid").estimate(p)["accuracy"].value > 0.5
        confidence_summary(p, review_threshold=0.5)
        audit = bias_audit(y, {"g": ["a", "a", "b", "b", "b"]}, y_true=y, min_group_size=1)
        compare_audits(audit, audit)
        print("ok")
        """
        )
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "ok"
