"""Configuration of budgets and rate limits (``budgets:`` and ``rate_limits:`` in the gateway
file)."""

from __future__ import annotations

from decimal import Decimal
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator


class BudgetConfig(BaseModel):
    """A spending limit in USD over a calendar day or month (UTC) for one scope.

    ``scope: route`` with ``key: support-reply``; ``scope: token`` with a token name;
    ``scope: project`` with the project a request names (header ``X-Mloop-Project``);
    ``key: "*"`` applies the limit to each key of the scope separately. ``action: block``
    refuses requests once spent (HTTP 429, code BUDGET_EXCEEDED); ``alert`` lets them
    through and records an alert.
    """

    model_config = ConfigDict(extra="forbid")

    scope: Literal["project", "token", "route"]
    key: str = Field(default="*", min_length=1, max_length=256)
    limit_usd: Decimal = Field(gt=0)
    period: Literal["daily", "monthly"] = "daily"
    action: Literal["block", "alert"] = "block"


class RateLimitConfig(BaseModel):
    """Requests and tokens per minute for a token (``token: "*"``: each token separately).

    A limit naming a token replaces the ``"*"`` limit for that token entirely (a token with
    its own ``requests_per_minute`` only has no tokens-per-minute limit even if ``"*"`` has
    one). Both count over any 60-second window, at one-second granularity.
    """

    model_config = ConfigDict(extra="forbid")

    token: str = Field(default="*", min_length=1, max_length=256)
    requests_per_minute: int | None = Field(default=None, ge=1)
    tokens_per_minute: int | None = Field(default=None, ge=1)

    @model_validator(mode="after")
    def _some_limit(self) -> RateLimitConfig:
        if self.requests_per_minute is None and self.tokens_per_minute is None:
            raise ValueError(
                f"rate limit for token {self.token!r} sets neither requests_per_minute "
                "nor tokens_per_minute"
            )
        return self
