"""What the gateway learns about one call while serving it, and how it becomes a call record."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from mloop.core.errors import MloopError
from mloop.core.ids import new_id
from mloop.llm.calls.log import CallRecord
from mloop.llm.errors import GatewayError, ProviderError
from mloop.llm.router import Attempts
from mloop.llm.types import ChatRequest
from mloop.llm.usage import Usage


@dataclass(frozen=True)
class Caller:
    """Who sent the request, and its ``x-mloop-*`` headers (lower-case names)."""

    token_name: str = "anonymous"
    project: str = "default"
    headers: dict[str, str] = field(default_factory=dict)


class CallState:
    """The call record being built, the attempts, and the usage of every answer received
    (a re-asked or fallen-back answer was paid for too)."""

    def __init__(self, record: CallRecord, started: float) -> None:
        self.record = record
        self.started = started
        self.attempts = Attempts()
        self.capture = "none"
        self.submitted = False
        self.usage = Usage()
        self.cost = Decimal(0)
        self.unpriced = False

    @classmethod
    def start(cls, endpoint: str, model: str, caller: Caller, *, stream: bool) -> CallState:
        record = CallRecord(
            id=new_id(),
            time=int(time.time() * 1000),
            endpoint=endpoint,
            requested_model=model,
            status="ok",
            http_status=200,
            latency_ms=0.0,
            token_name=caller.token_name,
            project=caller.project,
            stream=stream,
            # Until the cache is consulted: a call refused before it (a guardrail, a bad
            # request) or an embeddings call is no cache miss, and must not lower the hit rate.
            cache="off",
        )
        return cls(record, time.perf_counter())

    def first_token(self) -> None:
        if self.record.ttft_ms is None:
            self.record.ttft_ms = (time.perf_counter() - self.started) * 1000

    def add_usage(self, usage: Usage, cost: Decimal | None) -> None:
        self.usage = Usage(
            input_tokens=self.usage.input_tokens + usage.input_tokens,
            output_tokens=self.usage.output_tokens + usage.output_tokens,
            cached_input_tokens=self.usage.cached_input_tokens + usage.cached_input_tokens,
            cache_write_tokens=self.usage.cache_write_tokens + usage.cache_write_tokens,
        )
        if cost is None:
            self.unpriced = True
        else:
            self.cost += cost

    def add_guardrails(self, decisions: list[Any]) -> None:
        self.record.guardrails.extend(d.to_dict() for d in decisions)

    def capture_request(self, request: ChatRequest) -> None:
        self.record.capture = self.capture
        if self.capture == "none":
            return
        # Redaction ("redacted" capture) happens in the call log's writer thread, off the
        # request's path.
        self.record.request = request.model_dump(exclude_none=True)

    def capture_response(self, body: dict[str, Any]) -> None:
        if self.capture == "none":
            return
        self.record.response = body

    def finish_ok(self) -> None:
        rec = self.record
        rec.status, rec.http_status = "ok", 200
        self._totals()

    def finish_error(self, exc: BaseException) -> None:
        rec = self.record
        if isinstance(exc, ProviderError):
            rec.status, rec.http_status, rec.error_code = "error", exc.status_code, exc.kind
        elif isinstance(exc, GatewayError):
            rec.status, rec.http_status, rec.error_code = "blocked", exc.http_status, exc.code
        elif isinstance(exc, MloopError):
            rec.status, rec.http_status, rec.error_code = "error", exc.http_status, exc.code
        else:
            rec.status = "error"
            rec.http_status = (
                499 if isinstance(exc, asyncio.CancelledError | GeneratorExit) else 500
            )
            rec.error_code = type(exc).__name__
        rec.error_message = str(exc)[:2000]
        # The HTTP layer answers with the call's id (x-mloop-call-id) on errors too.
        exc.mloop_call_id = rec.id  # type: ignore[attr-defined]
        self._totals()

    def _totals(self) -> None:
        rec = self.record
        rec.input_tokens = self.usage.input_tokens
        rec.output_tokens = self.usage.output_tokens
        rec.cached_input_tokens = self.usage.cached_input_tokens
        rec.cache_write_tokens = self.usage.cache_write_tokens
        rec.cost_exact = str(self.cost)
        rec.cost_usd = float(self.cost)
        if self.unpriced:
            rec.metadata["unpriced"] = True
        rec.latency_ms = (time.perf_counter() - self.started) * 1000
        rec.attempts = self.attempts.to_list()
        rec.retries, rec.fallbacks = self.attempts.retries, self.attempts.fallbacks

    def headers(self) -> dict[str, str]:
        rec = self.record
        out = {"x-mloop-call-id": rec.id, "x-mloop-cache": rec.cache}
        if rec.route:
            out["x-mloop-route"] = rec.route
        if rec.provider:
            out["x-mloop-provider"] = rec.provider
        if rec.model:
            out["x-mloop-model"] = rec.model
        if rec.prompt_name:
            out["x-mloop-prompt"] = f"{rec.prompt_name}:{rec.prompt_version}"
        return out
