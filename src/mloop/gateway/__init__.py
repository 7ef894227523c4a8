"""The LLM gateway package: the libraries the gateway's routes are built from.

``mloop.gateway.pii`` detects and redacts personal data for guardrails; see
``docs/gateway.md``. The gateway service itself is not built yet.
"""

from mloop.gateway.pii import (
    MAX_TEXT_CHARS,
    PII_KINDS,
    PiiMatch,
    RedactionResult,
    find_pii,
    redact,
)

__all__ = [
    "MAX_TEXT_CHARS",
    "PII_KINDS",
    "PiiMatch",
    "RedactionResult",
    "find_pii",
    "redact",
]
