"""Anthropic's streaming events, translated into OpenAI ``chat.completion.chunk`` dicts.

``message_start`` gives the role chunk, text deltas give content chunks, ``tool_use`` blocks
give tool-call chunks (name first, then argument fragments), ``message_delta`` holds the stop
reason and the output tokens, and ``message_stop`` gives the final chunk with
``finish_reason`` followed by a usage chunk (``choices: []``), as OpenAI sends with
``include_usage``.
"""

from __future__ import annotations

import time
from typing import Any

from mloop.llm.providers._anthropic_format import FINISH_REASONS, openai_usage
from mloop.llm.usage import Usage


class StreamShapeError(ValueError):
    """An event that is not what the Messages API documents."""


class StreamTranslator:
    """Feeds on parsed events; ``feed`` returns the OpenAI chunks each one produces."""

    def __init__(self, model: str) -> None:
        self.model = model
        self.id = ""
        self.created = int(time.time())
        self.usage_fields: dict[str, Any] = {}
        self.stop_reason: str | None = None
        self.finished = False
        # Anthropic block index -> OpenAI tool_calls index
        self._tools: dict[int, int] = {}

    def _chunk(self, delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
        return {
            "id": self.id,
            "object": "chat.completion.chunk",
            "created": self.created,
            "model": self.model,
            "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}],
        }

    def usage(self) -> Usage:
        return Usage.from_anthropic(self.usage_fields)

    def feed(self, event: dict[str, Any]) -> list[dict[str, Any]]:
        kind = event.get("type")
        if kind == "message_start":
            message = event.get("message")
            if not isinstance(message, dict):
                raise StreamShapeError("message_start without a message")
            self.id = str(message.get("id", ""))
            self.model = str(message.get("model") or self.model)
            self._add_usage(message.get("usage"))
            return [self._chunk({"role": "assistant", "content": ""})]
        if kind == "content_block_start":
            block = event.get("content_block")
            if not isinstance(block, dict):
                raise StreamShapeError("content_block_start without a content_block")
            if block.get("type") == "tool_use":
                index = len(self._tools)
                self._tools[int(event.get("index", 0))] = index
                call = {
                    "index": index,
                    "id": str(block.get("id", "")),
                    "type": "function",
                    "function": {"name": str(block.get("name", "")), "arguments": ""},
                }
                return [self._chunk({"tool_calls": [call]})]
            if block.get("type") == "text" and block.get("text"):
                return [self._chunk({"content": str(block["text"])})]
            return []
        if kind == "content_block_delta":
            delta = event.get("delta")
            if not isinstance(delta, dict):
                raise StreamShapeError("content_block_delta without a delta")
            if delta.get("type") == "text_delta":
                return [self._chunk({"content": str(delta.get("text", ""))})]
            if delta.get("type") == "input_json_delta":
                tool = self._tools.get(int(event.get("index", 0)))
                if tool is None:
                    raise StreamShapeError("input_json_delta for a block that is not a tool_use")
                fragment = {
                    "index": tool,
                    "function": {"arguments": str(delta.get("partial_json", ""))},
                }
                return [self._chunk({"tool_calls": [fragment]})]
            return []  # thinking and signature deltas have no OpenAI equivalent
        if kind == "message_delta":
            delta = event.get("delta") or {}
            if isinstance(delta, dict) and delta.get("stop_reason"):
                self.stop_reason = str(delta["stop_reason"])
            self._add_usage(event.get("usage"))
            return []
        if kind == "message_stop":
            self.finished = True
            finish = FINISH_REASONS.get(self.stop_reason or "end_turn", "stop")
            usage_chunk = {**self._chunk({}), "choices": [], "usage": openai_usage(self.usage())}
            return [self._chunk({}, finish), usage_chunk]
        return []  # ping, content_block_stop, and event types added later

    def _add_usage(self, usage: Any) -> None:
        # message_delta's counts are cumulative: the latest value of a field wins.
        if isinstance(usage, dict):
            self.usage_fields.update({k: v for k, v in usage.items() if v is not None})
