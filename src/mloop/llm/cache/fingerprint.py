"""Cache keys: a SHA-256 over a canonical JSON form of everything that changes an answer.

Rules (docs/gateway-cache-and-cost.md repeats them for users):

- Included: the ``target`` (the route name or ``provider/model`` the request named), the
  namespace, every message (role, content, name, tool calls, tool call id and any extra
  message field), every output parameter of :data:`mloop.llm.types.OUTPUT_PARAMS` that is set
  (temperature, seed, tools, tool_choice, response_format, stop, ...), ``prompt`` and
  ``variables`` if the request still names a prompt, and any unknown top-level field a client
  sent (new provider parameters can change the answer, so they must split the cache).
- Excluded: ``stream``, ``stream_options``, ``user``, ``metadata`` and ``model`` (the target
  stands for it): they change how an answer is delivered or billed, not what it says.
- Normalised: key order (sorted), fields set to null (dropped), numbers (``1.0`` and ``1`` are
  the same), and trailing whitespace of text content (a trailing newline from a template
  should not miss the cache). Leading and inner whitespace, case and Unicode are kept exact:
  they can change the answer.

The gateway must fingerprint the request *after* rendering a named prompt into messages, so a
moved ``production`` label cannot serve the answer of the previous version.
"""

from __future__ import annotations

import hashlib
from typing import Any

import orjson

from mloop.llm.types import ChatMessage, ChatRequest, EmbeddingRequest

# Bump when the canonical form changes: old entries then simply stop matching.
FINGERPRINT_VERSION = 1

_NOT_OUTPUT_FIELDS = frozenset({"model", "stream", "stream_options", "user", "metadata"})
_DUMPS_OPTIONS = orjson.OPT_SORT_KEYS | orjson.OPT_NON_STR_KEYS


def _canonical(value: Any) -> Any:
    """Drop nulls from mappings, make integral floats ints, recurse into containers."""
    if isinstance(value, dict):
        return {str(k): _canonical(v) for k, v in value.items() if v is not None}
    if isinstance(value, list | tuple):
        return [_canonical(v) for v in value]
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def _message(message: ChatMessage) -> dict[str, Any]:
    data = message.model_dump(exclude_none=True)
    data["role"] = message.role.strip().lower()
    content = data.get("content")
    if isinstance(content, str):
        data["content"] = content.rstrip()
    elif isinstance(content, list):
        data["content"] = [
            {**part, "text": part["text"].rstrip()}
            if part.get("type") == "text" and isinstance(part.get("text"), str)
            else part
            for part in content
        ]
    return data


def _without_text(message: ChatMessage) -> dict[str, Any]:
    data = _message(message)
    content = data.pop("content", None)
    if isinstance(content, list):
        data["parts"] = [part for part in content if part.get("type") != "text"]
    return data


def _output_fields(request: ChatRequest) -> dict[str, Any]:
    """Output parameters plus unknown top-level fields the client sent."""
    params = request.output_params()
    for name, value in (request.model_extra or {}).items():
        if name not in _NOT_OUTPUT_FIELDS and value is not None:
            params[name] = value
    return params


def _digest(document: dict[str, Any]) -> str:
    return hashlib.sha256(orjson.dumps(_canonical(document), option=_DUMPS_OPTIONS)).hexdigest()


def canonical_chat(request: ChatRequest, *, target: str, namespace: str) -> bytes:
    """The canonical JSON that :func:`fingerprint` hashes (for debugging a cache miss)."""
    return orjson.dumps(
        _canonical(_chat_document(request, target, namespace)), option=_DUMPS_OPTIONS
    )


def _chat_document(request: ChatRequest, target: str, namespace: str) -> dict[str, Any]:
    return {
        "v": FINGERPRINT_VERSION,
        "kind": "chat",
        "target": target,
        "namespace": namespace,
        "messages": [_message(m) for m in request.messages or []],
        "params": _output_fields(request),
        "prompt": request.prompt,
        "variables": request.variables,
    }


def fingerprint(request: ChatRequest, *, target: str, namespace: str) -> str:
    """The cache key of a chat request: 64 hex characters."""
    return _digest(_chat_document(request, target, namespace))


def embedding_fingerprint(request: EmbeddingRequest, *, target: str, namespace: str) -> str:
    """The cache key of an embeddings request.

    Inputs are kept exact (no whitespace trimming): the answer is a vector of exactly that
    text. A single string and a one-item list give the same key (and the same answer).
    """
    extra = {
        name: value
        for name, value in (request.model_extra or {}).items()
        if name not in _NOT_OUTPUT_FIELDS and value is not None
    }
    document = {
        "v": FINGERPRINT_VERSION,
        "kind": "embeddings",
        "target": target,
        "namespace": namespace,
        "input": request.inputs(),
        "params": {
            "encoding_format": request.encoding_format or "float",
            "dimensions": request.dimensions,
            **extra,
        },
    }
    return _digest(document)


def semantic_scope(request: ChatRequest, *, target: str) -> str:
    """What must match exactly before two requests may share an answer semantically: the
    target, every output parameter (tools, response_format, temperature, ...) and everything
    of the messages but their text: roles, names, tool calls and non-text parts such as
    images. Only the text is compared by similarity."""
    document = {
        "v": FINGERPRINT_VERSION,
        "kind": "semantic-scope",
        "target": target,
        "params": _output_fields(request),
        "messages": [_without_text(m) for m in request.messages or []],
        "prompt": request.prompt,
    }
    return _digest(document)[:32]
