"""Checks on what goes into and comes out of a model.

``GuardrailPipeline.from_config(route.guardrails, classify=...)`` builds a route's pipeline;
``check_input`` and ``check_output`` run it. ``pii`` finds and redacts personal data, and the
other modules hold one check each. See docs/gateway-guardrails.md.
"""

from mloop.llm.guardrails.base import (
    Check,
    CheckContext,
    CheckFailed,
    CheckResult,
    Decision,
    OptionError,
    Stage,
)
from mloop.llm.guardrails.classifier import Classify, Verdict, parse_verdict
from mloop.llm.guardrails.config import GuardrailConfig, GuardrailsConfig
from mloop.llm.guardrails.custom import (
    GuardrailResult,
    guardrail,
    registered_guardrails,
    unregister_guardrail,
)
from mloop.llm.guardrails.injection import normalise
from mloop.llm.guardrails.lists import compile_safe
from mloop.llm.guardrails.pii import (
    MAX_TEXT_CHARS,
    PII_KINDS,
    PiiMatch,
    RedactionResult,
    find_pii,
    redact,
)
from mloop.llm.guardrails.pipeline import (
    CHECKS,
    PRECEDENCE,
    GuardrailPipeline,
    InputOutcome,
    OutputOutcome,
)

__all__ = [
    "CHECKS",
    "MAX_TEXT_CHARS",
    "PII_KINDS",
    "PRECEDENCE",
    "Check",
    "CheckContext",
    "CheckFailed",
    "CheckResult",
    "Classify",
    "Decision",
    "GuardrailConfig",
    "GuardrailPipeline",
    "GuardrailResult",
    "GuardrailsConfig",
    "InputOutcome",
    "OptionError",
    "OutputOutcome",
    "PiiMatch",
    "RedactionResult",
    "Stage",
    "Verdict",
    "compile_safe",
    "find_pii",
    "guardrail",
    "normalise",
    "parse_verdict",
    "redact",
    "registered_guardrails",
    "unregister_guardrail",
]
