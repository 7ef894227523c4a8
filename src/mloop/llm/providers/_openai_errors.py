"""How an OpenAI-style error answer (OpenAI, Azure, vLLM, Ollama ...) becomes a ProviderError."""

from __future__ import annotations

import re
from collections.abc import Mapping

import orjson

from mloop.llm.errors import ErrorKind, ProviderError
from mloop.llm.providers._http import json_error_fields, parse_retry_after, scrub

# Servers word the context overflow differently: OpenAI "maximum context length", vLLM
# "maximum context length is ... tokens", Ollama/llama.cpp "exceeds the context size",
# Azure "context_length_exceeded".
_CONTEXT = re.compile(
    r"maximum context length|context[ _]length|context (size|window)|too many tokens"
    r"|prompt is too long|reduce the length",
    re.IGNORECASE,
)
_POLICY_CODES = frozenset(
    {"content_policy_violation", "content_filter", "ResponsibleAIPolicyViolation"}
)


def classify_openai_error(
    status: int,
    headers: Mapping[str, str],
    content: bytes,
    *,
    provider: str,
    model: str,
    secret: str | None,
) -> ProviderError:
    """The ProviderError for a non-2xx answer of an OpenAI-compatible API."""
    try:
        body = orjson.loads(content) if content else None
    except orjson.JSONDecodeError:
        body = None
    message, etype, code = json_error_fields(body)
    if not message:
        message = content[:200].decode("utf-8", "replace").strip() or "no error text"
    kind = _kind(status, message, etype, code)
    text = f"HTTP {status}" + (f" {code}" if code else "") + f": {scrub(message, secret)}"
    retry_after = parse_retry_after(headers) if kind in ("rate_limit", "server") else None
    return ProviderError(
        kind, text, provider=provider, model=model, status=status, retry_after=retry_after
    )


def _kind(status: int, message: str, etype: str, code: str) -> ErrorKind:
    if status == 429:
        # An exhausted quota does not come back by waiting: a billing problem, like a bad key.
        return "auth" if code == "insufficient_quota" else "rate_limit"
    if status in (401, 403):
        return "auth"
    if status == 404:
        return "not_found"
    if status == 408:
        return "timeout"
    if status >= 500:
        return "server"
    if code in _POLICY_CODES or "content management policy" in message.lower():
        return "content_policy"
    if code == "context_length_exceeded" or (
        status in (400, 413, 422) and _CONTEXT.search(message)
    ):
        return "context_length"
    return "bad_request"


def classify_stream_error(
    error: object, *, provider: str, model: str, secret: str | None
) -> ProviderError:
    """The ProviderError for an ``{"error": ...}`` event inside an OpenAI-style stream."""
    message, etype, code = json_error_fields({"error": error})
    lowered = f"{etype} {code}".lower()
    kind: ErrorKind
    if "rate_limit" in lowered:
        kind = "rate_limit"
    elif code in _POLICY_CODES:
        kind = "content_policy"
    elif code == "context_length_exceeded" or _CONTEXT.search(message):
        kind = "context_length"
    elif "invalid_request" in lowered:
        kind = "bad_request"
    else:
        kind = "server"  # server_error and anything unknown: the provider failed mid-answer
    text = "error during the stream: " + scrub(message or etype or "no error text", secret)
    return ProviderError(kind, text, provider=provider, model=model)
