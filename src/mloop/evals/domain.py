"""The evals domain's declaration."""

from mloop.core.domain import Domain

DOMAIN = Domain(
    name="evals",
    summary="Evaluation suites and gates: a candidate model against the champion on a fixed "
    "test set, with statistical confidence, guards, slices, fairness and budgets",
    operations="mloop.evals.ops:operations",
    handlers=("mloop.evals.suites", "mloop.evals.decisions"),
    tables=("mloop.evals.tables",),
    pages=("mloop.server.ui.evals",),
)
