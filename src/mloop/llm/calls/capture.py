"""Content capture in the call log: what ``capture: redacted`` stores."""

from __future__ import annotations

import re
from typing import Any

from mloop.llm.guardrails.pii import MAX_TEXT_CHARS, redact

# Every kind of personal data found (emails, phone numbers, cards, IBANs, national ids) has an
# "@" or a digit; a string with neither is returned without a scan.
_MAYBE_PII = re.compile(r"[@0-9]")


def redacted(value: Any) -> Any:
    """``value`` with personal data in every string replaced by its kind."""
    if isinstance(value, str):
        if not _MAYBE_PII.search(value):
            return value
        if len(value) > MAX_TEXT_CHARS:
            return "[TEXT TOO LONG TO SCAN: NOT CAPTURED]"
        return redact(value).text
    if isinstance(value, dict):
        return {k: redacted(v) for k, v in value.items()}
    if isinstance(value, list):
        return [redacted(v) for v in value]
    return value
