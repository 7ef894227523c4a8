"""The LLM domain: the OpenAI-compatible gateway and what it is built from.

- ``providers``: adapters for OpenAI, Anthropic, Azure OpenAI, OpenAI-compatible servers and
  local embeddings, all speaking OpenAI's wire format (``types``) and raising classified
  ``errors``;
- ``guardrails``: input and output checks (``guardrails.pii`` finds and redacts personal data);
- ``cost``: the price table (``cost.pricing``), budgets and rate limits;
- ``cache``: the response cache;
- ``calls``: the call log;
- ``config``: the gateway configuration file.

See docs/gateway.md.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from mloop.core.lazy import lazy_exports

EXPORTS: dict[str, str] = {
    "Alias": "mloop.llm.cost.pricing",
    "Cost": "mloop.llm.cost.pricing",
    "Price": "mloop.llm.cost.pricing",
    "PriceTable": "mloop.llm.cost.pricing",
    "compute_cost": "mloop.llm.cost.pricing",
    "Usage": "mloop.llm.usage",
    "GatewayError": "mloop.llm.errors",
    "ProviderError": "mloop.llm.errors",
    "MAX_TEXT_CHARS": "mloop.llm.guardrails.pii",
    "PII_KINDS": "mloop.llm.guardrails.pii",
    "PiiMatch": "mloop.llm.guardrails.pii",
    "RedactionResult": "mloop.llm.guardrails.pii",
    "find_pii": "mloop.llm.guardrails.pii",
    "redact": "mloop.llm.guardrails.pii",
}
__all__ = sorted(EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, EXPORTS)

if TYPE_CHECKING:
    from mloop.llm.cost.pricing import Alias, Cost, Price, PriceTable, compute_cost
    from mloop.llm.errors import GatewayError, ProviderError
    from mloop.llm.guardrails.pii import (
        MAX_TEXT_CHARS,
        PII_KINDS,
        PiiMatch,
        RedactionResult,
        find_pii,
        redact,
    )
    from mloop.llm.usage import Usage
