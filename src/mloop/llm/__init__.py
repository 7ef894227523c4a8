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

from mloop.llm.cost.pricing import Alias, Cost, Price, PriceTable, Usage, compute_cost
from mloop.llm.errors import GatewayError, ProviderError
from mloop.llm.guardrails.pii import (
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
    "Alias",
    "Cost",
    "GatewayError",
    "PiiMatch",
    "Price",
    "PriceTable",
    "ProviderError",
    "RedactionResult",
    "Usage",
    "compute_cost",
    "find_pii",
    "redact",
]
