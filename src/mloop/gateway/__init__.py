"""The LLM gateway package: the libraries the gateway's routes are built from.

``mloop.gateway.pii`` detects and redacts personal data for guardrails;
``mloop.gateway.pricing`` holds the price table and computes a call's cost from its usage.
See ``docs/gateway.md``. The gateway service itself is not built yet.
"""

from mloop.gateway.pii import (
    MAX_TEXT_CHARS,
    PII_KINDS,
    PiiMatch,
    RedactionResult,
    find_pii,
    redact,
)
from mloop.gateway.pricing import Alias, Cost, Price, PriceTable, Usage, compute_cost

__all__ = [
    "MAX_TEXT_CHARS",
    "PII_KINDS",
    "Alias",
    "Cost",
    "PiiMatch",
    "Price",
    "PriceTable",
    "RedactionResult",
    "Usage",
    "compute_cost",
    "find_pii",
    "redact",
]
