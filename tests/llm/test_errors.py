"""Gateway refusals are MloopErrors like any other: one ``code`` and one ``http_status`` per
kind of refusal, and the call record takes both from there."""

from __future__ import annotations

import pytest

from mloop.core.errors import MloopError
from mloop.llm.errors import (
    BudgetExceededError,
    GatewayError,
    GuardrailBlockedError,
    RateLimitedError,
)
from mloop.llm.gateway.record import Caller, CallState


@pytest.mark.parametrize(
    ("kind", "code", "status"),
    [
        (BudgetExceededError, "BUDGET_EXCEEDED", 429),
        (RateLimitedError, "RATE_LIMITED", 429),
        (GuardrailBlockedError, "GUARDRAIL_BLOCKED", 400),
    ],
)
def test_each_refusal_has_one_code_and_one_status(
    kind: type[GatewayError], code: str, status: int
) -> None:
    err = kind("no", field="route", retry_after=2.5)
    assert isinstance(err, GatewayError) and isinstance(err, MloopError)
    assert (err.code, err.http_status, err.field, err.retry_after) == (code, status, "route", 2.5)
    assert err.to_dict() == {"code": code, "message": "no", "field": "route"}
    # the pair MloopError defines is the only one: no second spelling to drift apart
    assert not hasattr(err, "error_code") and not hasattr(err, "status_code")


def test_a_refusal_becomes_a_blocked_call_record() -> None:
    call = CallState.start("chat", "r", Caller(), stream=False)
    call.finish_error(RateLimitedError("slow down", retry_after=1.0))
    assert (call.record.status, call.record.http_status, call.record.error_code) == (
        "blocked",
        429,
        "RATE_LIMITED",
    )
