"""A scriptable fake LLM provider: an HTTP server on loopback for tests and benchmarks.

It speaks OpenAI's API (``/v1/chat/completions`` with SSE streaming, ``/v1/embeddings``,
``/v1/models``), Azure OpenAI's deployment paths and Anthropic's Messages API
(``/v1/messages`` with its SSE events). Each request takes the next scripted behaviour from a
FIFO queue (optionally only for one model); with the queue empty it answers deterministically,
echoing the last user message, with usage numbers counted the way the real APIs roughly do::

    with FakeProvider() as fake:
        fake.script(rate_limited(retry_after=2), answer("Hello!", chunks=["Hel", "lo!"]))
        client = openai.OpenAI(base_url=fake.openai_base_url, api_key="sk-test")
        ...
        assert fake.requests[0].headers["authorization"] == "Bearer sk-test"

The server is a bare ASGI app under uvicorn with no access log, so a benchmark that measures
a gateway against it measures the gateway.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import math
import socket
import threading
import time
from collections import deque
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass, field
from typing import Any, Literal
from urllib.parse import parse_qs

import orjson

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

Api = Literal["openai", "anthropic"]
Action = Literal["answer", "error", "hang", "malformed", "stream_error"]

DEFAULT_MODELS = ("gpt-4o-mini", "gpt-4o", "text-embedding-3-small", "claude-3-5-haiku-latest")


@dataclass(frozen=True)
class Behaviour:
    """What the fake does with one request. Build it with the functions below."""

    action: Action = "answer"
    text: str | None = None  # None: echo the last user message
    chunks: list[str] | None = None  # stream pieces; None: the text split into words
    latency: float = 0.0  # seconds before the answer (before the first chunk of a stream)
    chunk_latency: float = 0.0  # seconds between stream chunks
    status: int = 200
    error_type: str = ""  # the error's ``type`` (OpenAI) or ``error.type`` (Anthropic)
    error_code: str | None = None  # OpenAI's ``error.code``
    message: str = ""
    headers: dict[str, str] = field(default_factory=dict)
    raw_body: bytes | None = None  # malformed: the exact bytes to answer with
    after_chunks: int = 1  # stream_error: content chunks sent before the error
    drop: bool = False  # stream_error: close the connection instead of sending an error event
    hang_seconds: float = 30.0
    finish_reason: str = "stop"  # in OpenAI's terms; mapped to Anthropic's stop_reason
    tool_calls: list[dict[str, Any]] | None = None  # [{"name": ..., "arguments": {...}}]
    usage: dict[str, int] | None = None  # {"prompt_tokens": .., "completion_tokens": ..}


def answer(
    text: str | None = None,
    *,
    chunks: list[str] | None = None,
    latency: float = 0.0,
    chunk_latency: float = 0.0,
    finish_reason: str = "stop",
    tool_calls: list[dict[str, Any]] | None = None,
    usage: dict[str, int] | None = None,
) -> Behaviour:
    """A successful answer (``text`` defaults to an echo; ``chunks`` shape a stream)."""
    if chunks is not None and text is None:
        text = "".join(chunks)
    return Behaviour(
        text=text,
        chunks=chunks,
        latency=latency,
        chunk_latency=chunk_latency,
        finish_reason=finish_reason,
        tool_calls=tool_calls,
        usage=usage,
    )


def rate_limited(
    retry_after: float | None = 1.0, *, retry_after_ms: int | None = None, status: int = 429
) -> Behaviour:
    """429 with ``Retry-After`` (seconds) and/or ``retry-after-ms``; 529 is Anthropic's
    overloaded signal."""
    headers: dict[str, str] = {}
    if retry_after is not None:
        headers["retry-after"] = _number(retry_after)
    if retry_after_ms is not None:
        headers["retry-after-ms"] = str(retry_after_ms)
    kind = "overloaded_error" if status == 529 else "rate_limit_error"
    return Behaviour(
        action="error",
        status=status,
        error_type=kind,
        error_code="rate_limit_exceeded",
        message="Rate limit reached for requests. Please try again later.",
        headers=headers,
    )


def server_error(status: int = 500, message: str = "The server had an error") -> Behaviour:
    """A 5xx answer (500, 502, 503, 529 ...)."""
    return Behaviour(
        action="error",
        status=status,
        error_type="overloaded_error" if status == 529 else "server_error",
        message=message,
    )


def hang(seconds: float = 30.0) -> Behaviour:
    """Accept the request and answer nothing for ``seconds`` (ends when the client leaves)."""
    return Behaviour(action="hang", hang_seconds=seconds)


def context_length() -> Behaviour:
    """The prompt is longer than the model's context window (as each API reports it)."""
    return Behaviour(
        action="error",
        status=400,
        error_type="invalid_request_error",
        error_code="context_length_exceeded",
        message="",  # filled per API: the wording is part of how each reports it
    )


def content_policy(code: str = "content_policy_violation") -> Behaviour:
    """The provider refuses the content (OpenAI ``content_policy_violation``, Azure
    ``content_filter``)."""
    return Behaviour(
        action="error",
        status=400,
        error_type="invalid_request_error",
        error_code=code,
        message="Your request was rejected as a result of our safety system.",
    )


def unauthorized() -> Behaviour:
    """401: the key is wrong."""
    return Behaviour(
        action="error",
        status=401,
        error_type="authentication_error",
        error_code="invalid_api_key",
        message="Incorrect API key provided.",
    )


def error(
    status: int, message: str = "error", *, error_type: str = "", code: str | None = None
) -> Behaviour:
    """Any other error answer."""
    return Behaviour(
        action="error", status=status, error_type=error_type, error_code=code, message=message
    )


def raw(body: bytes, *, status: int = 200, headers: dict[str, str] | None = None) -> Behaviour:
    """Answer exactly ``body`` with ``status`` (a hand-written answer of any shape)."""
    return Behaviour(action="malformed", raw_body=body, status=status, headers=headers or {})


def malformed(body: bytes = b"{this is not json", *, status: int = 200) -> Behaviour:
    """A broken answer: invalid JSON by default, or ``body`` (JSON of the wrong shape)."""
    return raw(body, status=status)


def stream_error(
    after_chunks: int = 1, *, drop: bool = False, error_type: str = "server_error"
) -> Behaviour:
    """Stream ``after_chunks`` content chunks, then an error event (or a dropped connection)."""
    return Behaviour(
        action="stream_error",
        after_chunks=after_chunks,
        drop=drop,
        error_type=error_type,
        message="The server had an error while processing your request.",
    )


@dataclass
class ReceivedRequest:
    """One request the fake received; header names are lower case."""

    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return orjson.loads(self.body) if self.body else None


def approx_tokens(text: str) -> int:
    """A token estimate: a token is about four characters of English."""
    return max(1, math.ceil(len(text) / 4)) if text else 0


class FakeProvider:
    """The fake server, running in a background thread on ``127.0.0.1`` and a free port.

    ``record=False`` keeps no request log (for long benchmarks).
    """

    def __init__(
        self,
        *,
        models: tuple[str, ...] | list[str] = DEFAULT_MODELS,
        record: bool = True,
        embedding_dimensions: int = 16,
        default: Behaviour | None = None,
        port: int = 0,
    ) -> None:
        self.models = list(models)
        # What a request gets when the script is empty (the echo answer unless given).
        self.default = default or Behaviour()
        self._wanted_port = port
        self.record = record
        self.embedding_dimensions = embedding_dimensions
        self.requests: list[ReceivedRequest] = []
        self._queue: deque[tuple[str | None, Behaviour]] = deque()
        self._lock = threading.Lock()
        self._server: Any = None
        self._thread: threading.Thread | None = None
        self.port = 0

    # -- lifecycle ---------------------------------------------------------------------

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def openai_base_url(self) -> str:
        """For OpenAI clients and ``kind: openai`` / ``openai_compatible`` providers."""
        return f"{self.url}/v1"

    @property
    def anthropic_base_url(self) -> str:
        """For Anthropic clients and ``kind: anthropic`` providers (they add ``/v1``)."""
        return self.url

    @property
    def azure_base_url(self) -> str:
        """For ``kind: azure`` providers (the resource endpoint)."""
        return self.url

    def start(self) -> FakeProvider:
        import uvicorn

        if self._wanted_port:
            self.port = self._wanted_port
        else:
            with socket.socket() as sock:
                sock.bind(("127.0.0.1", 0))
                self.port = int(sock.getsockname()[1])
        config = uvicorn.Config(
            self._app,
            host="127.0.0.1",
            port=self.port,
            log_level="critical",  # a scripted dropped stream is no error worth a traceback
            interface="asgi3",
            access_log=False,
            lifespan="off",
            timeout_graceful_shutdown=1,
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, name="fake-llm", daemon=True)
        self._thread.start()
        deadline = time.monotonic() + 20
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError(f"the fake provider did not start on port {self.port}")
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=10)
        self._server = None
        self._thread = None

    def __enter__(self) -> FakeProvider:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- scripting ---------------------------------------------------------------------

    def script(self, *behaviours: Behaviour, model: str | None = None) -> None:
        """Queue behaviours for the next requests (only requests for ``model`` if given)."""
        with self._lock:
            self._queue.extend((model, b) for b in behaviours)

    def reset(self) -> None:
        """Forget the queue and the request log."""
        with self._lock:
            self._queue.clear()
            self.requests.clear()

    @property
    def pending(self) -> int:
        """Scripted behaviours not used yet."""
        with self._lock:
            return len(self._queue)

    def _next(self, model: str) -> Behaviour | None:
        with self._lock:
            for i, (only, behaviour) in enumerate(self._queue):
                if only is None or only == model:
                    del self._queue[i]
                    return behaviour
        return None

    # -- the ASGI app ------------------------------------------------------------------

    async def _app(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        body = await _read_body(receive)
        path: str = scope["path"]
        method: str = scope["method"]
        query = {k: v[0] for k, v in parse_qs(scope.get("query_string", b"").decode()).items()}
        if self.record:
            headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}
            with self._lock:
                self.requests.append(ReceivedRequest(method, path, query, headers, body))
        if method == "GET" and path == "/v1/models":
            data = [
                {"id": m, "object": "model", "created": 0, "owned_by": "fake"} for m in self.models
            ]
            await _send_json(send, 200, {"object": "list", "data": data})
            return
        endpoint, api, model = _endpoint(method, path)
        if endpoint is None:
            await _send_json(send, 404, {"error": {"message": f"no route {method} {path}"}})
            return
        try:
            payload = orjson.loads(body)
            if not isinstance(payload, dict):
                raise ValueError("not an object")
        except ValueError:
            await _send_error(
                send,
                api,
                Behaviour(
                    action="error",
                    status=400,
                    error_type="invalid_request_error",
                    message="the body is not a JSON object",
                ),
            )
            return
        model = model or str(payload.get("model", ""))
        behaviour = self._next(model) or self.default
        if behaviour.latency:
            await asyncio.sleep(behaviour.latency)
        if behaviour.action == "hang":
            await _hang(receive, behaviour.hang_seconds)
            return
        if behaviour.action == "error":
            await _send_error(send, api, behaviour)
            return
        if behaviour.action == "malformed":
            await _send_raw(send, behaviour.status, behaviour.raw_body or b"", behaviour.headers)
            return
        if endpoint == "embeddings":
            await _send_json(send, 200, self._embeddings(payload, model))
            return
        if payload.get("stream"):
            if api == "anthropic":
                await _stream_anthropic(send, payload, model, behaviour)
            else:
                await _stream_openai(send, payload, model, behaviour)
            return
        if api == "anthropic":
            await _send_json(send, 200, _anthropic_message(payload, model, behaviour))
        else:
            await _send_json(send, 200, _openai_completion(payload, model, behaviour))

    def _embeddings(self, payload: dict[str, Any], model: str) -> dict[str, Any]:
        raw = payload.get("input", "")
        inputs = [raw] if isinstance(raw, str) else [str(x) for x in raw]
        dims = int(payload.get("dimensions") or self.embedding_dimensions)
        data = [
            {"object": "embedding", "index": i, "embedding": _hashed_vector(text, dims)}
            for i, text in enumerate(inputs)
        ]
        tokens = sum(approx_tokens(t) for t in inputs)
        return {
            "object": "list",
            "data": data,
            "model": model,
            "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
        }


# -- request helpers -------------------------------------------------------------------


def _endpoint(method: str, path: str) -> tuple[str | None, Api, str | None]:
    """(endpoint, api style, model named by the path) for a POST path."""
    if method != "POST":
        return None, "openai", None
    if path == "/v1/chat/completions":
        return "chat", "openai", None
    if path == "/v1/embeddings":
        return "embeddings", "openai", None
    if path == "/v1/messages":
        return "chat", "anthropic", None
    parts = path.strip("/").split("/")
    # /openai/deployments/{deployment}/chat/completions | /embeddings
    if len(parts) >= 4 and parts[0] == "openai" and parts[1] == "deployments":
        rest = "/".join(parts[3:])
        if rest == "chat/completions":
            return "chat", "openai", parts[2]
        if rest == "embeddings":
            return "embeddings", "openai", parts[2]
    return None, "openai", None


def _messages_text(payload: dict[str, Any]) -> tuple[str, str]:
    """(all message text, last user text) of an OpenAI or Anthropic request."""
    texts: list[str] = []
    last_user = ""
    system = payload.get("system")
    if isinstance(system, str):
        texts.append(system)
    for message in payload.get("messages") or []:
        if not isinstance(message, dict):
            continue
        content = message.get("content")
        if isinstance(content, list):
            content = " ".join(
                str(p.get("text", ""))
                for p in content
                if isinstance(p, dict) and p.get("type") == "text"
            )
        text = content if isinstance(content, str) else ""
        texts.append(text)
        if message.get("role") == "user":
            last_user = text
    return "\n".join(texts), last_user


def _answer_text(payload: dict[str, Any], behaviour: Behaviour) -> str:
    if behaviour.text is not None:
        return behaviour.text
    _, last_user = _messages_text(payload)
    return f"Echo: {last_user[:200]}"


def _usage_numbers(payload: dict[str, Any], text: str, behaviour: Behaviour) -> tuple[int, int]:
    # A real model stops at the request's output cap, whatever it would have said.
    cap = payload.get("max_completion_tokens") or payload.get("max_tokens")
    limit = cap if isinstance(cap, int) and cap > 0 else None
    if behaviour.usage is not None:
        completion = behaviour.usage.get("completion_tokens", 0)
        return behaviour.usage.get("prompt_tokens", 0), min(completion, limit or completion)
    all_text, _ = _messages_text(payload)
    messages = len(payload.get("messages") or [])
    # Chat formats add a few tokens of framing per message.
    completion = approx_tokens(text)
    return approx_tokens(all_text) + 3 * messages + 3, min(completion, limit or completion)


def _pieces(text: str, behaviour: Behaviour) -> list[str]:
    if behaviour.chunks is not None:
        return list(behaviour.chunks)
    words = text.split(" ")
    return [w if i == 0 else " " + w for i, w in enumerate(words)] if text else []


def _hashed_vector(text: str, dims: int) -> list[float]:
    digest = hashlib.sha256(text.encode()).digest()
    values = [(digest[i % len(digest)] - 127.5) / 127.5 for i in range(dims)]
    norm = math.sqrt(sum(v * v for v in values)) or 1.0
    return [v / norm for v in values]


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else str(value)


def _completion_id(payload: dict[str, Any]) -> str:
    return "chatcmpl-fake" + hashlib.sha1(orjson.dumps(payload.get("messages"))).hexdigest()[:12]


# -- OpenAI answers --------------------------------------------------------------------


def _openai_tool_calls(behaviour: Behaviour) -> list[dict[str, Any]]:
    return [
        {
            "id": f"call_{i}",
            "type": "function",
            "function": {
                "name": c["name"],
                "arguments": orjson.dumps(c.get("arguments", {})).decode(),
            },
        }
        for i, c in enumerate(behaviour.tool_calls or [])
    ]


def _openai_completion(payload: dict[str, Any], model: str, behaviour: Behaviour) -> dict[str, Any]:
    text = _answer_text(payload, behaviour)
    prompt, completion = _usage_numbers(payload, text, behaviour)
    message: dict[str, Any] = {"role": "assistant", "content": text}
    finish = behaviour.finish_reason
    if behaviour.tool_calls:
        message["tool_calls"] = _openai_tool_calls(behaviour)
        finish = "tool_calls"
    return {
        "id": _completion_id(payload),
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "system_fingerprint": "fp_fake",
        "choices": [{"index": 0, "message": message, "logprobs": None, "finish_reason": finish}],
        "usage": {
            "prompt_tokens": prompt,
            "completion_tokens": completion,
            "total_tokens": prompt + completion,
            "prompt_tokens_details": {"cached_tokens": 0},
        },
    }


async def _stream_openai(
    send: Send, payload: dict[str, Any], model: str, behaviour: Behaviour
) -> None:
    await _start_sse(send)
    text = _answer_text(payload, behaviour)
    base = {
        "id": _completion_id(payload),
        "object": "chat.completion.chunk",
        "created": int(time.time()),
        "model": model,
        "system_fingerprint": "fp_fake",
    }

    def chunk(delta: dict[str, Any], finish: str | None = None) -> bytes:
        body = {
            **base,
            "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}],
        }
        return b"data: " + orjson.dumps(body) + b"\n\n"

    await _send_part(send, chunk({"role": "assistant", "content": ""}))
    for i, piece in enumerate(_pieces(text, behaviour)):
        if behaviour.action == "stream_error" and i >= behaviour.after_chunks:
            await _fail_stream(send, behaviour, api="openai")
            return
        if behaviour.chunk_latency:
            await asyncio.sleep(behaviour.chunk_latency)
        await _send_part(send, chunk({"content": piece}))
    if behaviour.action == "stream_error":
        await _fail_stream(send, behaviour, api="openai")
        return
    finish = behaviour.finish_reason
    if behaviour.tool_calls:
        finish = "tool_calls"
        for i, call in enumerate(_openai_tool_calls(behaviour)):
            await _send_part(send, chunk({"tool_calls": [{"index": i, **call}]}))
    await _send_part(send, chunk({}, finish))
    if (payload.get("stream_options") or {}).get("include_usage"):
        prompt, completion = _usage_numbers(payload, text, behaviour)
        usage = {
            "prompt_tokens": prompt,
            "completion_tokens": completion,
            "total_tokens": prompt + completion,
        }
        await _send_part(
            send, b"data: " + orjson.dumps({**base, "choices": [], "usage": usage}) + b"\n\n"
        )
    await send({"type": "http.response.body", "body": b"data: [DONE]\n\n", "more_body": False})


# -- Anthropic answers -----------------------------------------------------------------

_STOP_REASONS = {
    "stop": "end_turn",
    "length": "max_tokens",
    "tool_calls": "tool_use",
    "content_filter": "refusal",
}


def _anthropic_message(payload: dict[str, Any], model: str, behaviour: Behaviour) -> dict[str, Any]:
    text = _answer_text(payload, behaviour)
    prompt, completion = _usage_numbers(payload, text, behaviour)
    content: list[dict[str, Any]] = [{"type": "text", "text": text}] if text else []
    stop = _STOP_REASONS.get(behaviour.finish_reason, "end_turn")
    for i, call in enumerate(behaviour.tool_calls or []):
        content.append(
            {
                "type": "tool_use",
                "id": f"toolu_{i}",
                "name": call["name"],
                "input": call.get("arguments", {}),
            }
        )
        stop = "tool_use"
    return {
        "id": "msg_fake" + _completion_id(payload)[-12:],
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": content,
        "stop_reason": stop,
        "stop_sequence": None,
        "usage": {
            "input_tokens": prompt,
            "output_tokens": completion,
            "cache_read_input_tokens": 0,
            "cache_creation_input_tokens": 0,
        },
    }


def _event(name: str, data: dict[str, Any]) -> bytes:
    return b"event: " + name.encode() + b"\ndata: " + orjson.dumps(data) + b"\n\n"


async def _stream_anthropic(
    send: Send, payload: dict[str, Any], model: str, behaviour: Behaviour
) -> None:
    await _start_sse(send)
    message = _anthropic_message(payload, model, behaviour)
    start = {
        **message,
        "content": [],
        "stop_reason": None,
        "usage": {**message["usage"], "output_tokens": 1},
    }
    await _send_part(send, _event("message_start", {"type": "message_start", "message": start}))
    await _send_part(send, _event("ping", {"type": "ping"}))
    text = _answer_text(payload, behaviour)
    await _send_part(
        send,
        _event(
            "content_block_start",
            {
                "type": "content_block_start",
                "index": 0,
                "content_block": {"type": "text", "text": ""},
            },
        ),
    )
    for i, piece in enumerate(_pieces(text, behaviour)):
        if behaviour.action == "stream_error" and i >= behaviour.after_chunks:
            await _fail_stream(send, behaviour, api="anthropic")
            return
        if behaviour.chunk_latency:
            await asyncio.sleep(behaviour.chunk_latency)
        delta = {
            "type": "content_block_delta",
            "index": 0,
            "delta": {"type": "text_delta", "text": piece},
        }
        await _send_part(send, _event("content_block_delta", delta))
    if behaviour.action == "stream_error":
        await _fail_stream(send, behaviour, api="anthropic")
        return
    await _send_part(send, _event("content_block_stop", {"type": "content_block_stop", "index": 0}))
    for i, block in enumerate(message["content"][1:] if text else message["content"], start=1):
        if block["type"] != "tool_use":
            continue
        opening = {**block, "input": {}}
        await _send_part(
            send,
            _event(
                "content_block_start",
                {"type": "content_block_start", "index": i, "content_block": opening},
            ),
        )
        args = orjson.dumps(block["input"]).decode()
        for part in (args[: len(args) // 2], args[len(args) // 2 :]):
            delta = {
                "type": "content_block_delta",
                "index": i,
                "delta": {"type": "input_json_delta", "partial_json": part},
            }
            await _send_part(send, _event("content_block_delta", delta))
        await _send_part(
            send, _event("content_block_stop", {"type": "content_block_stop", "index": i})
        )
    end = {
        "type": "message_delta",
        "delta": {"stop_reason": message["stop_reason"], "stop_sequence": None},
        "usage": {"output_tokens": message["usage"]["output_tokens"]},
    }
    await _send_part(send, _event("message_delta", end))
    await send(
        {
            "type": "http.response.body",
            "body": _event("message_stop", {"type": "message_stop"}),
            "more_body": False,
        }
    )


# -- errors ----------------------------------------------------------------------------


def _error_message(api: Api, behaviour: Behaviour) -> str:
    if behaviour.message:
        return behaviour.message
    if behaviour.error_code == "context_length_exceeded":
        if api == "anthropic":
            return "prompt is too long: 210000 tokens > 200000 maximum"
        return (
            "This model's maximum context length is 128000 tokens. However, your messages "
            "resulted in 210000 tokens. Please reduce the length of the messages."
        )
    return "error"


async def _send_error(send: Send, api: Api, behaviour: Behaviour) -> None:
    message = _error_message(api, behaviour)
    body: dict[str, Any]
    if api == "anthropic":
        kind = behaviour.error_type or "api_error"
        if kind == "server_error":
            kind = "api_error"
        body = {"type": "error", "error": {"type": kind, "message": message}}
    else:
        body = {
            "error": {
                "message": message,
                "type": behaviour.error_type or "server_error",
                "param": None,
                "code": behaviour.error_code,
            }
        }
    await _send_json(send, behaviour.status, body, behaviour.headers)


async def _fail_stream(send: Send, behaviour: Behaviour, *, api: Api) -> None:
    if behaviour.drop:
        # Raising out of the app makes uvicorn close the connection mid-body.
        raise ConnectionAbortedError("fake provider: scripted dropped stream")
    if api == "anthropic":
        kind = (
            "overloaded_error"
            if behaviour.error_type == "overloaded_error"
            else ("api_error" if behaviour.error_type == "server_error" else behaviour.error_type)
        )
        data = _event(
            "error", {"type": "error", "error": {"type": kind, "message": behaviour.message}}
        )
    else:
        err = {
            "message": behaviour.message,
            "type": behaviour.error_type,
            "param": None,
            "code": None,
        }
        data = b"data: " + orjson.dumps({"error": err}) + b"\n\n"
    await send({"type": "http.response.body", "body": data, "more_body": False})


# -- ASGI plumbing ---------------------------------------------------------------------


async def _read_body(receive: Receive) -> bytes:
    parts: list[bytes] = []
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            break
        parts.append(message.get("body", b""))
        if not message.get("more_body"):
            break
    return b"".join(parts)


async def _hang(receive: Receive, seconds: float) -> None:
    """Wait ``seconds`` or until the client disconnects, answering nothing."""

    async def disconnected() -> None:
        while (await receive())["type"] != "http.disconnect":
            pass

    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(disconnected(), timeout=seconds)


async def _send_raw(
    send: Send,
    status: int,
    body: bytes,
    headers: dict[str, str] | None = None,
    content_type: bytes = b"application/json",
) -> None:
    raw_headers = [(b"content-type", content_type), (b"content-length", str(len(body)).encode())]
    raw_headers += [(k.encode(), v.encode()) for k, v in (headers or {}).items()]
    await send({"type": "http.response.start", "status": status, "headers": raw_headers})
    await send({"type": "http.response.body", "body": body, "more_body": False})


async def _send_json(
    send: Send, status: int, data: Any, headers: dict[str, str] | None = None
) -> None:
    await _send_raw(send, status, orjson.dumps(data), headers)


async def _start_sse(send: Send) -> None:
    headers = [
        (b"content-type", b"text/event-stream; charset=utf-8"),
        (b"cache-control", b"no-cache"),
    ]
    await send({"type": "http.response.start", "status": 200, "headers": headers})


async def _send_part(send: Send, data: bytes) -> None:
    await send({"type": "http.response.body", "body": data, "more_body": True})


def main(argv: list[str] | None = None) -> None:
    """Run the fake in its own process (``python -m mloop.llm.testing.fake_provider``), so a
    benchmark's client and server do not share one interpreter. Scripts are for in-process
    use; here every request gets the default answer after ``--latency`` seconds."""
    import argparse

    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("--port", type=int, default=0, help="port on 127.0.0.1 (0: a free one)")
    parser.add_argument("--latency", type=float, default=0.0, help="seconds before each answer")
    args = parser.parse_args(argv)
    fake = FakeProvider(record=False, default=Behaviour(latency=args.latency), port=args.port)
    fake.start()
    print(f"fake provider at {fake.url} (OpenAI base URL {fake.openai_base_url})", flush=True)
    try:
        while fake._thread is not None and fake._thread.is_alive():
            fake._thread.join(timeout=1)
    except KeyboardInterrupt:
        pass
    finally:
        fake.stop()


if __name__ == "__main__":
    main()
