"""Evaluation suites and gates: is a candidate model better than the champion?

A suite is a registered, versioned test: a pinned dataset version, metrics (built-in
classification, regression and ranking metrics, and ``@scorer`` functions), slices,
fairness constraints and budgets. ``run_suite`` evaluates one model as a tracked run;
``gate`` compares a candidate with the champion and stores the decision (see
:mod:`mloop.evals.gating` for the rule, ``docs/evals.md`` for the guide)::

    import mloop.evals as evals

    evals.register_suite("credit", dataset="credit-test@golden", target="default",
                         task="classification", primary="roc_auc", guards={"recall": 0.02})
    decision = evals.gate("models:/credit/7", "models:/credit@champion", "credit")
    decision.passed, decision.reasons
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from mloop.core.lazy import lazy_exports

_SDK = (
    "SuiteResult",
    "delete_suite",
    "gate",
    "get_gate_decision",
    "get_suite",
    "list_gate_decisions",
    "list_suites",
    "register_suite",
    "run_suite",
)
_SCHEMAS = ("GateDecision", "ModelRef", "SuiteVersion")
_BEHAVIOUR = ("Directional", "Invariance", "MinimumFunctionality", "test_model")
EXPORTS: dict[str, str] = {
    **dict.fromkeys(_SDK, "mloop.evals.sdk"),
    **dict.fromkeys(_SCHEMAS, "mloop.evals.schemas"),
    **dict.fromkeys(_BEHAVIOUR, "mloop.evals.behaviour"),
    "scorer": "mloop.evals.scorers",
    "gate_decisions_for_model": "mloop.evals.decisions",
}
__all__ = sorted(EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, EXPORTS)

if TYPE_CHECKING:
    from mloop.evals.behaviour import Directional, Invariance, MinimumFunctionality, test_model
    from mloop.evals.decisions import gate_decisions_for_model
    from mloop.evals.schemas import GateDecision, ModelRef, SuiteVersion
    from mloop.evals.scorers import scorer
    from mloop.evals.sdk import (
        SuiteResult,
        delete_suite,
        gate,
        get_gate_decision,
        get_suite,
        list_gate_decisions,
        list_suites,
        register_suite,
        run_suite,
    )
