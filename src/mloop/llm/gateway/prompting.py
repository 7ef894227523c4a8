"""Requests that name a registered prompt (``prompt: "support-reply@production"``).

The gateway fetches the version a reference names from the prompt registry, keeps it for a
few seconds (a label that moves takes effect within ``ttl`` seconds, and a busy route does not
read the database per request), renders it with the request's ``variables`` and merges it into
the request: the prompt's messages come first, then any messages the request sent (a
conversation continuing under the prompt's system message); the prompt's parameters apply
where the request set none.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from mloop.llm.types import ChatMessage, ChatRequest
from mloop.store.runtime import Runtime

# Parameters a prompt may set on the request; ``model`` is not one: the request's model
# names the route.
_PROMPT_PARAMS = frozenset(
    {
        "temperature",
        "top_p",
        "max_tokens",
        "max_completion_tokens",
        "stop",
        "seed",
        "presence_penalty",
        "frequency_penalty",
        "response_format",
        "tools",
        "tool_choice",
    }
)


class PromptResolver:
    """Resolves and renders prompt references against the registry, with a short cache."""

    def __init__(self, runtime: Runtime, *, ttl: float = 5.0) -> None:
        self._runtime = runtime
        self._ttl = ttl
        self._versions: dict[str, tuple[Any, float]] = {}

    async def version(self, ref: str) -> Any:
        from mloop.prompts.render import resolve_prompt

        now = time.monotonic()
        hit = self._versions.get(ref)
        if hit is not None and hit[1] > now:
            return hit[0]
        version = await asyncio.to_thread(
            self._runtime.run, lambda ctx: resolve_prompt(ctx, ref), write=False
        )
        if len(self._versions) > 10_000:
            self._versions.clear()
        self._versions[ref] = (version, now + self._ttl)
        return version

    async def apply(self, request: ChatRequest) -> tuple[ChatRequest, str, int]:
        """The request with the prompt rendered in, and the prompt's name and version."""
        from mloop.prompts.render import render_version

        assert request.prompt is not None
        version = await self.version(request.prompt)
        rendered = render_version(version, dict(request.variables or {}))
        messages = [ChatMessage.model_validate(m) for m in rendered.messages]
        update: dict[str, Any] = {"messages": [*messages, *(request.messages or [])]}
        for key, value in rendered.params.items():
            if key in _PROMPT_PARAMS and getattr(request, key, None) is None:
                update[key] = value
        merged = request.model_copy(update=update)
        # model_copy skips validation; run it so a prompt's parameters are checked too.
        return ChatRequest.model_validate(merged.model_dump()), rendered.name, rendered.version
