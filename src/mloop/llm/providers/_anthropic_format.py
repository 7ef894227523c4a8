"""Translation between OpenAI's chat format and Anthropic's Messages API.

Requests: system and developer messages become ``system``; tool results become user
``tool_result`` blocks; assistant tool calls become ``tool_use`` blocks; consecutive messages of
one role are merged (the Messages API wants user and assistant to alternate). Responses come
back as OpenAI ``chat.completion`` objects with an OpenAI-shaped ``usage``.
"""

from __future__ import annotations

import time
from typing import Any

import orjson

from mloop.llm.types import ChatMessage, ChatRequest
from mloop.llm.usage import Usage

# The Messages API requires max_tokens; OpenAI's does not. This is the default when the
# caller gives neither max_tokens nor max_completion_tokens.
DEFAULT_MAX_TOKENS = 4096

FINISH_REASONS = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "pause_turn": "stop",
    "max_tokens": "length",
    "model_context_window_exceeded": "length",
    "tool_use": "tool_calls",
    "refusal": "content_filter",
}


class TranslationError(ValueError):
    """The request uses something the Messages API cannot express."""

    def __init__(self, message: str, field: str) -> None:
        super().__init__(message)
        self.field = field


def to_messages_body(request: ChatRequest, model: str, *, stream: bool) -> dict[str, Any]:
    """The Messages API body for an OpenAI chat request."""
    if request.n is not None and request.n > 1:
        raise TranslationError("Anthropic models answer one choice per request: use n=1", "n")
    system: list[str] = []
    messages: list[dict[str, Any]] = []
    for i, message in enumerate(request.messages or []):
        if message.role in ("system", "developer"):
            system.append(message.text())
            continue
        role, blocks = _blocks(message, i)
        if not blocks:
            continue
        if messages and messages[-1]["role"] == role:
            messages[-1]["content"].extend(blocks)
        else:
            messages.append({"role": role, "content": blocks})
    if not messages:
        raise TranslationError(
            "Anthropic needs at least one user message besides the system prompt", "messages"
        )
    body: dict[str, Any] = {
        "model": model,
        "messages": messages,
        "max_tokens": request.max_completion_tokens or request.max_tokens or DEFAULT_MAX_TOKENS,
    }
    if system:
        body["system"] = "\n\n".join(system)
    if request.temperature is not None:
        body["temperature"] = min(request.temperature, 1.0)  # Anthropic's range is 0..1
    if request.top_p is not None:
        body["top_p"] = request.top_p
    if request.stop:
        body["stop_sequences"] = [request.stop] if isinstance(request.stop, str) else request.stop
    if request.tools:
        body["tools"] = [_tool(t, i) for i, t in enumerate(request.tools)]
        choice = _tool_choice(request.tool_choice, request.parallel_tool_calls)
        if choice is not None:
            body["tool_choice"] = choice
    if request.user:
        body["metadata"] = {"user_id": request.user}
    if stream:
        body["stream"] = True
    return body


def _blocks(message: ChatMessage, index: int) -> tuple[str, list[dict[str, Any]]]:
    where = f"messages[{index}]"
    if message.role == "tool":
        if not message.tool_call_id:
            raise TranslationError("a tool message needs tool_call_id", f"{where}.tool_call_id")
        result = {
            "type": "tool_result",
            "tool_use_id": message.tool_call_id,
            "content": message.text(),
        }
        return "user", [result]
    if message.role == "function":
        raise TranslationError(
            "role 'function' is OpenAI's deprecated form: send tool messages", f"{where}.role"
        )
    blocks = _content_blocks(message.content, where)
    if message.role == "assistant":
        for j, call in enumerate(message.tool_calls or []):
            blocks.append(_tool_use(call, f"{where}.tool_calls[{j}]"))
        return "assistant", blocks
    return "user", blocks


def _content_blocks(content: str | list[dict[str, Any]] | None, where: str) -> list[dict[str, Any]]:
    if content is None or content == "":
        return []
    if isinstance(content, str):
        return [{"type": "text", "text": content}]
    blocks: list[dict[str, Any]] = []
    for j, part in enumerate(content):
        kind = part.get("type")
        if kind == "text":
            blocks.append({"type": "text", "text": str(part.get("text", ""))})
        elif kind == "image_url":
            blocks.append(_image(part.get("image_url"), f"{where}.content[{j}]"))
        else:
            raise TranslationError(
                f"content part type {kind!r} has no Anthropic equivalent (use text or image_url)",
                f"{where}.content[{j}].type",
            )
    return blocks


def _image(spec: Any, where: str) -> dict[str, Any]:
    url = spec.get("url") if isinstance(spec, dict) else spec
    if not isinstance(url, str) or not url:
        raise TranslationError("image_url needs a url", f"{where}.image_url.url")
    if url.startswith("data:"):
        header, _, data = url.partition(",")
        media_type = header[5:].split(";")[0]
        if ";base64" not in header or not media_type.startswith("image/"):
            raise TranslationError(
                "a data: image URL must be base64 image data (data:image/png;base64,...)",
                f"{where}.image_url.url",
            )
        return {
            "type": "image",
            "source": {"type": "base64", "media_type": media_type, "data": data},
        }
    return {"type": "image", "source": {"type": "url", "url": url}}


def _tool_use(call: dict[str, Any], where: str) -> dict[str, Any]:
    function = call.get("function") or {}
    arguments = function.get("arguments") or "{}"
    try:
        parsed = orjson.loads(arguments) if isinstance(arguments, str) else arguments
    except orjson.JSONDecodeError:
        raise TranslationError(
            "tool call arguments must be a JSON object", f"{where}.function.arguments"
        ) from None
    if not isinstance(parsed, dict):
        raise TranslationError(
            "tool call arguments must be a JSON object", f"{where}.function.arguments"
        )
    return {
        "type": "tool_use",
        "id": str(call.get("id") or ""),
        "name": str(function.get("name") or ""),
        "input": parsed,
    }


def _tool(tool: dict[str, Any], index: int) -> dict[str, Any]:
    function = tool.get("function") if tool.get("type") == "function" else None
    if not isinstance(function, dict) or not function.get("name"):
        raise TranslationError(
            "only function tools with a name can be sent to Anthropic", f"tools[{index}]"
        )
    out: dict[str, Any] = {
        "name": function["name"],
        "input_schema": function.get("parameters") or {"type": "object", "properties": {}},
    }
    if function.get("description"):
        out["description"] = function["description"]
    return out


def _tool_choice(
    choice: str | dict[str, Any] | None, parallel: bool | None
) -> dict[str, Any] | None:
    out: dict[str, Any]
    if choice is None:
        if parallel is not False:
            return None
        out = {"type": "auto"}
    elif choice == "auto":
        out = {"type": "auto"}
    elif choice == "required":
        out = {"type": "any"}
    elif choice == "none":
        return {"type": "none"}
    elif isinstance(choice, dict) and isinstance(choice.get("function"), dict):
        out = {"type": "tool", "name": str(choice["function"].get("name", ""))}
    else:
        raise TranslationError(f"tool_choice {choice!r} is not understood", "tool_choice")
    if parallel is False:
        out["disable_parallel_tool_use"] = True
    return out


# -- responses -------------------------------------------------------------------------


def openai_usage(usage: Usage) -> dict[str, Any]:
    """An OpenAI ``usage`` object for a Usage (cached reads inside ``prompt_tokens`` as
    OpenAI counts them; cache writes in ``prompt_tokens_details.cache_write_tokens``)."""
    prompt = usage.total_input_tokens
    return {
        "prompt_tokens": prompt,
        "completion_tokens": usage.output_tokens,
        "total_tokens": prompt + usage.output_tokens,
        "prompt_tokens_details": {
            "cached_tokens": usage.cached_input_tokens,
            "cache_write_tokens": usage.cache_write_tokens,
        },
    }


def tool_call(block: dict[str, Any], index: int) -> dict[str, Any]:
    """An OpenAI tool call for a ``tool_use`` block."""
    return {
        "id": str(block.get("id", "")),
        "type": "function",
        "function": {
            "name": str(block.get("name", "")),
            "arguments": orjson.dumps(block.get("input") or {}).decode(),
        },
    }


def to_chat_completion(message: dict[str, Any], usage: Usage, model: str) -> dict[str, Any]:
    """An OpenAI ``chat.completion`` for a Messages API answer (already shape-checked)."""
    texts: list[str] = []
    calls: list[dict[str, Any]] = []
    for block in message["content"]:
        if block.get("type") == "text":
            texts.append(str(block.get("text", "")))
        elif block.get("type") == "tool_use":
            calls.append(tool_call(block, len(calls)))
    out_message: dict[str, Any] = {
        "role": "assistant",
        "content": "".join(texts) if texts or not calls else None,
    }
    if calls:
        out_message["tool_calls"] = calls
    return {
        "id": str(message.get("id", "")),
        "object": "chat.completion",
        "created": int(time.time()),
        "model": str(message.get("model") or model),
        "choices": [
            {
                "index": 0,
                "message": out_message,
                "logprobs": None,
                "finish_reason": FINISH_REASONS.get(str(message.get("stop_reason")), "stop"),
            }
        ],
        "usage": openai_usage(usage),
    }
