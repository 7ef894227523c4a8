"""Errors of LLM providers, classified so the router knows whether to retry or fall back.

A provider adapter turns every failure into a :class:`ProviderError` with a ``kind``. The
router retries the retryable kinds on the same model, falls back to the route's next model on
the kinds in ``FALLBACK_KINDS``, and gives up at once on the rest (a bad request is bad on
every model). Messages never contain provider keys: adapters build them from status codes and
the provider's error text only.
"""

from __future__ import annotations

from typing import Literal

from mloop.core.errors import MloopError

ErrorKind = Literal[
    "rate_limit",  # 429 or a provider's overloaded signal; honours retry_after
    "timeout",  # the attempt ran past its timeout
    "connection",  # could not connect, or the connection dropped
    "server",  # 5xx
    "malformed",  # the provider answered something that is not its documented shape
    "context_length",  # the request is longer than the model's context window
    "content_policy",  # the provider refused the content
    "bad_request",  # 400 for any other reason: the caller must fix the request
    "auth",  # 401/403: the provider key is missing, wrong or not allowed
    "not_found",  # unknown model or deployment
]

RETRYABLE_KINDS: frozenset[str] = frozenset(
    {"rate_limit", "timeout", "connection", "server", "malformed"}
)
FALLBACK_KINDS: frozenset[str] = RETRYABLE_KINDS | {
    "context_length",
    "content_policy",
    "auth",
    "not_found",
}

# How each kind reaches the gateway's caller when no fallback is left.
_STATUS: dict[str, int] = {
    "rate_limit": 429,
    "timeout": 504,
    "connection": 502,
    "server": 502,
    "malformed": 502,
    "context_length": 400,
    "content_policy": 400,
    "bad_request": 400,
    "auth": 502,  # the caller's own token was fine; the gateway's provider key was not
    "not_found": 404,
}


class ProviderError(MloopError):
    """One failed attempt at one provider model."""

    code = "PROVIDER_ERROR"

    def __init__(
        self,
        kind: ErrorKind,
        message: str,
        *,
        provider: str = "",
        model: str = "",
        status: int | None = None,
        retry_after: float | None = None,
    ) -> None:
        where = f"{provider}/{model}: " if provider or model else ""
        super().__init__(f"{where}{message}")
        self.kind: ErrorKind = kind
        self.provider = provider
        self.model = model
        self.provider_status = status
        self.retry_after = retry_after

    @property
    def status_code(self) -> int:
        """The HTTP status the gateway answers with when this is the final error."""
        return _STATUS[self.kind]

    @property
    def retryable(self) -> bool:
        return self.kind in RETRYABLE_KINDS

    @property
    def allows_fallback(self) -> bool:
        return self.kind in FALLBACK_KINDS


class GatewayError(MloopError):
    """The gateway refused or could not serve a request; each subclass names why with its
    ``code`` and answers with its ``http_status``, as every MloopError does."""

    code = "GATEWAY_ERROR"
    http_status = 500

    def __init__(
        self, message: str, *, field: str | None = None, retry_after: float | None = None
    ) -> None:
        super().__init__(message, field=field)
        self.retry_after = retry_after


class BudgetExceededError(GatewayError):
    """A ``block`` budget of the caller's token or project is spent for its window."""

    code = "BUDGET_EXCEEDED"
    http_status = 429


class RateLimitedError(GatewayError):
    """The caller's token sent more requests or tokens than its per-minute limit."""

    code = "RATE_LIMITED"
    http_status = 429


class GuardrailBlockedError(GatewayError):
    """A guardrail blocked the request or every answer to it."""

    code = "GUARDRAIL_BLOCKED"
    http_status = 400
