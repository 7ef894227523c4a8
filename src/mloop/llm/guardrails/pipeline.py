"""A route's guardrail pipeline: the input checks before a provider call, the output checks
after it, and what the gateway should do next.

Build it once per route when the configuration loads (``GuardrailPipeline.from_config``
validates every entry then), and call ``check_input`` / ``check_output`` per request. Checks
run in order; text checks are synchronous CPU work and only the classifier (and async custom
functions) await. When several checks fire the strongest action wins:
block > fallback > reask > redact > warn. A check that blocks stops the stage; redactions
apply at once, so later checks see the redacted text.
"""

from __future__ import annotations

import difflib
import logging
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import ValidationError as PydanticValidationError

from mloop.core.errors import ValidationError
from mloop.llm.errors import GuardrailBlockedError
from mloop.llm.guardrails.base import (
    OUTPUT_ONLY_ACTIONS,
    REASK_MESSAGE_BYTES,
    ROLES,
    Check,
    CheckContext,
    CheckFailed,
    CheckResult,
    Decision,
    OptionError,
    Stage,
    json_safe,
    short_reason,
)
from mloop.llm.guardrails.classifier import ClassifierCheck, Classify
from mloop.llm.guardrails.config import (
    DEFAULT_MAX_TEXT_CHARS,
    DEFAULT_MAX_TOTAL_CHARS,
    GuardrailConfig,
    GuardrailsConfig,
)
from mloop.llm.guardrails.custom import CustomCheck
from mloop.llm.guardrails.injection import InjectionCheck
from mloop.llm.guardrails.json_schema import JsonSchemaCheck
from mloop.llm.guardrails.length import LengthCheck
from mloop.llm.guardrails.lists import BlocklistCheck, RegexCheck
from mloop.llm.guardrails.pii_check import PiiCheck
from mloop.llm.types import ChatMessage, ChatRequest

logger = logging.getLogger(__name__)

CHECKS: dict[str, type[Check]] = {
    cls.name: cls
    for cls in (
        PiiCheck,
        InjectionCheck,
        BlocklistCheck,
        RegexCheck,
        JsonSchemaCheck,
        LengthCheck,
        ClassifierCheck,
        CustomCheck,
    )
}
"""The check names a route may use, and their classes."""

PRECEDENCE: dict[str, int] = {"warn": 1, "redact": 2, "reask": 3, "fallback": 4, "block": 5}
"""Which action wins when several checks fire (higher wins)."""

SIZE_LIMIT_CHECK = "size_limit"
"""The ``check`` of the decision recorded when a text is too large to scan."""


@dataclass(frozen=True)
class _Entry:
    stage: Stage
    index: int
    config: GuardrailConfig
    check: Check
    label: str


@dataclass(frozen=True)
class _Segment:
    """A text of the request the input checks read: a message's string content, or one of its
    text content parts."""

    message: int
    part: int | None
    role: str
    text: str


def _blocking(decisions: Sequence[Decision]) -> Decision | None:
    return next((d for d in decisions if d.triggered and d.action == "block"), None)


def _block_error(decision: Decision) -> GuardrailBlockedError:
    return GuardrailBlockedError(
        f"blocked by guardrail {decision.name!r} on the {decision.stage}: {decision.reason}"
    )


@dataclass(frozen=True)
class InputOutcome:
    """The input stage's result. ``request`` is the request to send on (a redacted copy when a
    check redacted, else the same object); ``action`` is ``pass`` or ``block``."""

    request: ChatRequest
    decisions: list[Decision]
    action: Literal["pass", "block"]

    @property
    def blocked(self) -> bool:
        return self.action == "block"

    @property
    def fallback(self) -> bool:
        """Always false: ``fallback`` is an output action and is refused on the input stage
        when the pipeline is built. Kept so both outcomes answer the same questions."""
        return False

    def error(self) -> GuardrailBlockedError | None:
        """The ``GUARDRAIL_BLOCKED`` (HTTP 400) error to answer with, when blocked."""
        decision = _blocking(self.decisions)
        return _block_error(decision) if decision is not None and self.blocked else None


@dataclass(frozen=True)
class OutputOutcome:
    """The output stage's result.

    ``action``: ``pass`` (send ``text``, redacted when a check redacted), ``block`` (answer
    ``error()``), ``reask`` (ask again with ``GuardrailPipeline.reask_request``) or
    ``fallback`` (try the route's next target).
    """

    text: str
    decisions: list[Decision]
    action: Literal["pass", "block", "reask", "fallback"]
    reask_message: str | None = None

    @property
    def blocked(self) -> bool:
        return self.action == "block"

    @property
    def fallback(self) -> bool:
        return self.action == "fallback"

    def error(self) -> GuardrailBlockedError | None:
        """The ``GUARDRAIL_BLOCKED`` (HTTP 400) error to answer with, when blocked."""
        decision = _blocking(self.decisions)
        return _block_error(decision) if decision is not None and self.blocked else None


class GuardrailPipeline:
    """The input and output checks of one route."""

    def __init__(
        self,
        entries: Sequence[_Entry] = (),
        *,
        max_text_chars: int = DEFAULT_MAX_TEXT_CHARS,
        max_total_chars: int = DEFAULT_MAX_TOTAL_CHARS,
    ) -> None:
        self._input = [e for e in entries if e.stage == "input"]
        self._output = [e for e in entries if e.stage == "output"]
        self.max_text_chars = max_text_chars
        self.max_total_chars = max_total_chars

    # ------------------------------------------------------------------------------------------
    # building

    @classmethod
    def from_config(
        cls,
        cfg: GuardrailsConfig | Mapping[str, Any] | None,
        *,
        classify: Classify | None = None,
        route: str | None = None,
    ) -> GuardrailPipeline:
        """Build and validate a pipeline. ``classify`` is the gateway's coroutine that sends
        messages to a route and returns the answer's text (needed by ``classifier`` checks);
        ``route`` names the route in error messages. Raises ``ValidationError`` naming the
        entry and option at fault."""
        prefix = f"routes.{route}.guardrails" if route else "guardrails"
        if cfg is None:
            cfg = GuardrailsConfig()
        elif not isinstance(cfg, GuardrailsConfig):
            try:
                cfg = GuardrailsConfig.model_validate(cfg)
            except PydanticValidationError as exc:
                first = exc.errors()[0]
                where = ".".join([prefix, *(str(p) for p in first["loc"])])
                raise ValidationError(f"{where}: {first['msg']}", field=where) from None
        entries: list[_Entry] = []
        stages: tuple[tuple[Stage, list[GuardrailConfig]], ...] = (
            ("input", cfg.input),
            ("output", cfg.output),
        )
        for stage, configs in stages:
            for index, entry in enumerate(configs):
                where = f"{prefix}.{stage}[{index}]"
                entries.append(_build_entry(stage, index, entry, where, classify))
        return cls(entries, max_text_chars=cfg.max_text_chars, max_total_chars=cfg.max_total_chars)

    @property
    def is_empty(self) -> bool:
        return not self._input and not self._output

    @property
    def has_input_checks(self) -> bool:
        return bool(self._input)

    @property
    def has_output_checks(self) -> bool:
        return bool(self._output)

    @property
    def output_needs_buffering(self) -> bool:
        """Whether a streamed answer must be held back until the output checks ran: true when
        an output entry may block, redact, re-ask or fall back (warn-only checks can run on the
        assembled text after the stream was sent)."""
        return any(e.config.action != "warn" for e in self._output)

    # ------------------------------------------------------------------------------------------
    # input

    async def check_input(self, request: ChatRequest) -> InputOutcome:
        """Run the input checks on the request's message texts (string contents and ``text``
        content parts; images, audio, files and tool-call arguments are not read)."""
        if not self._input:
            return InputOutcome(request, [], "pass")
        if request.messages is None:
            raise ValidationError(
                "guardrails read messages: render the request's prompt before check_input",
                field="messages",
            )
        segments = _segments(request.messages)
        oversized = self._size_decision("input", [s.text for s in segments])
        if oversized is not None:
            return InputOutcome(request, [oversized], "block")
        decisions: list[Decision] = []
        current = request
        for entry in self._input:
            chosen = [i for i, s in enumerate(segments) if s.role in entry.check.roles]
            texts = [segments[i].text for i in chosen]
            ctx = CheckContext("input", current)
            decision, result = await _run(entry, texts, ctx, reasks_done=0)
            decisions.append(decision)
            if not decision.triggered:
                continue
            if decision.action == "block":
                return InputOutcome(current, decisions, "block")
            if decision.action == "redact" and result.redacted is not None:
                for i, text in zip(chosen, result.redacted, strict=True):
                    segments[i] = _Segment(
                        segments[i].message, segments[i].part, segments[i].role, text
                    )
                current = _with_segments(request, segments)
        return InputOutcome(current, decisions, "pass")

    # ------------------------------------------------------------------------------------------
    # output

    async def check_output(
        self, request: ChatRequest, text: str, *, reasks_done: int = 0
    ) -> OutputOutcome:
        """Run the output checks on an answer's text. ``reasks_done`` is how many times the
        gateway already asked again for this request; an entry with action ``reask`` whose
        ``max_reasks`` are used up applies its ``reask_exhausted`` action instead."""
        if not self._output:
            return OutputOutcome(text, [], "pass")
        if not isinstance(text, str):
            raise ValidationError(
                f"the answer text must be a str, got {type(text).__name__}", field="text"
            )
        oversized = self._size_decision("output", [text])
        if oversized is not None:
            return OutputOutcome(text, [oversized], "block")
        decisions: list[Decision] = []
        messages: list[str] = []
        for entry in self._output:
            ctx = CheckContext("output", request, reasks_done)
            decision, result = await _run(entry, [text], ctx, reasks_done=reasks_done)
            decisions.append(decision)
            if not decision.triggered:
                continue
            if decision.action == "block":
                return OutputOutcome(text, decisions, "block")
            if decision.action == "redact" and result.redacted is not None:
                text = result.redacted[0]
            if decision.action == "reask":
                messages.append(
                    result.reask_message
                    or f"Your previous answer was rejected ({decision.name}: {decision.reason})."
                    " Answer again without this problem."
                )
        fired = [PRECEDENCE[d.action] for d in decisions if d.triggered]
        top = max(fired, default=0)
        action: Literal["pass", "block", "reask", "fallback"] = "pass"
        if top == PRECEDENCE["fallback"]:
            action = "fallback"
        elif top == PRECEDENCE["reask"]:
            action = "reask"
        return OutputOutcome(
            text, decisions, action, "\n\n".join(messages) if action == "reask" else None
        )

    @staticmethod
    def reask_request(request: ChatRequest, answer: str, outcome: OutputOutcome) -> ChatRequest:
        """The request to send when ``outcome.action == "reask"``: the original messages, the
        rejected answer as an assistant message, and ``outcome.reask_message`` as a user
        message."""
        if outcome.action != "reask" or not outcome.reask_message:
            raise ValueError(f"the outcome's action is {outcome.action!r}, not 'reask'")
        # Cut so that a budget's estimate of the call bounds what a re-ask sends.
        cut = outcome.reask_message.encode()[:REASK_MESSAGE_BYTES].decode(errors="ignore")
        messages = [
            *(request.messages or []),
            ChatMessage(role="assistant", content=answer),
            ChatMessage(role="user", content=cut),
        ]
        return request.model_copy(update={"messages": messages})

    # ------------------------------------------------------------------------------------------

    def _size_decision(self, stage: Stage, texts: Sequence[str]) -> Decision | None:
        """A block decision when a text is too large to scan (fail closed), else None."""
        longest = max((len(t) for t in texts), default=0)
        total = sum(len(t) for t in texts)
        if longest > self.max_text_chars:
            reason = (
                f"a text of {longest:,} characters is over max_text_chars "
                f"({self.max_text_chars:,}) and was not scanned"
            )
        elif total > self.max_total_chars:
            reason = (
                f"{total:,} characters in all are over max_total_chars "
                f"({self.max_total_chars:,}) and were not scanned"
            )
        else:
            return None
        return Decision(
            stage=stage,
            check=SIZE_LIMIT_CHECK,
            name=SIZE_LIMIT_CHECK,
            action="block",
            triggered=True,
            reason=reason,
            details={"longest_chars": longest, "total_chars": total},
            duration_ms=0.0,
        )


# ----------------------------------------------------------------------------------------------
# helpers


def _build_entry(
    stage: Stage,
    index: int,
    entry: GuardrailConfig,
    where: str,
    classify: Classify | None,
) -> _Entry:
    cls = CHECKS.get(entry.check)
    if cls is None:
        close = difflib.get_close_matches(entry.check, list(CHECKS), n=1)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        raise ValidationError(
            f"{where}.check: unknown check {entry.check!r}{hint} "
            f"(known checks: {', '.join(CHECKS)})",
            field=f"{where}.check",
        )

    def fail(option: str, message: str) -> ValidationError:
        return ValidationError(f"{where}.{option}: {message}", field=f"{where}.{option}")

    if stage not in cls.stages:
        raise fail("check", f"the {cls.name} check runs on the output only; move it to output")
    if stage == "input" and entry.action in OUTPUT_ONLY_ACTIONS:
        raise fail(
            "action",
            f"{entry.action} is an output action (it needs an answer to act on); "
            "on the input use block, redact or warn",
        )
    if entry.action not in cls.actions:
        usable = ", ".join(a for a in PRECEDENCE if a in cls.actions)
        raise fail("action", f"the {cls.name} check cannot {entry.action}; use one of {usable}")
    if entry.roles is not None and stage == "output":
        raise fail("roles", "applies to the input stage only (the output is one answer)")
    for field in ("max_reasks", "reask_exhausted"):
        if field in entry.model_fields_set and entry.action != "reask":
            raise fail(field, "applies to action reask only")
    try:
        if cls is ClassifierCheck:
            check: Check = ClassifierCheck(
                entry.options(), stage=stage, action=entry.action, classify=classify
            )
        else:
            check = cls(entry.options(), stage=stage, action=entry.action)
    except OptionError as exc:
        raise fail(exc.option, exc.message) from None
    if entry.roles is not None:
        if not entry.roles:
            raise fail("roles", f"is empty; give some of {', '.join(ROLES)}")
        check.roles = frozenset(entry.roles)
    return _Entry(stage, index, entry, check, entry.name or cls.name)


async def _run(
    entry: _Entry, texts: Sequence[str], ctx: CheckContext, *, reasks_done: int
) -> tuple[Decision, CheckResult]:
    """Run one check and turn its result into a decision, applying the failure and re-ask
    rules."""
    check = entry.check
    error = False
    started = time.perf_counter()
    try:
        if check.is_async:
            result = await check.aevaluate(texts, ctx)
        else:
            result = check.evaluate(texts, ctx)
    except CheckFailed as exc:
        result, error = CheckResult(True, short_reason(str(exc))), True
    except Exception as exc:  # a bug in a check must not let content through unchecked
        logger.warning("guardrail %s failed", entry.label, exc_info=exc)
        result, error = CheckResult(True, f"the check failed: {type(exc).__name__}"), True
    duration_ms = (time.perf_counter() - started) * 1000
    action = entry.config.action
    details = json_safe(result.details) if result.details else {}
    if result.triggered:
        if error and action == "redact":
            action = "block"  # nothing was redacted: fail closed
        if action == "reask":
            details["reasks_done"] = reasks_done
            details["max_reasks"] = entry.config.max_reasks
            if reasks_done >= entry.config.max_reasks:
                action = entry.config.reask_exhausted
                details["reasks_exhausted"] = True
    decision = Decision(
        stage=entry.stage,
        check=check.name,
        name=entry.label,
        action=action,
        triggered=result.triggered,
        reason=short_reason(result.reason) if result.reason else "",
        details=details,
        duration_ms=duration_ms,
        error=error,
    )
    return decision, result


def _part_text(value: Any) -> str:
    if isinstance(value, str):
        return value
    import json

    return json.dumps(value, default=str)


def _segments(messages: Sequence[ChatMessage]) -> list[_Segment]:
    segments: list[_Segment] = []
    for i, message in enumerate(messages):
        content = message.content
        if isinstance(content, str):
            segments.append(_Segment(i, None, message.role, content))
        elif isinstance(content, list):
            for j, part in enumerate(content):
                value = part.get("text") if isinstance(part, dict) else None
                if value is not None and part.get("type") == "text":
                    segments.append(_Segment(i, j, message.role, _part_text(value)))
    return segments


def _with_segments(request: ChatRequest, segments: Sequence[_Segment]) -> ChatRequest:
    """A copy of ``request`` whose message texts are ``segments`` (the original is kept)."""
    assert request.messages is not None
    messages = list(request.messages)
    by_message: dict[int, list[_Segment]] = {}
    for s in segments:
        by_message.setdefault(s.message, []).append(s)
    for i, parts in by_message.items():
        original = messages[i]
        if original.content is None:
            continue
        if isinstance(original.content, str):
            if parts[0].text != original.content:
                messages[i] = original.model_copy(update={"content": parts[0].text})
            continue
        content = list(original.content)
        changed = False
        for s in parts:
            assert s.part is not None
            old = content[s.part].get("text")
            if _part_text(old) != s.text:
                content[s.part] = {**content[s.part], "text": s.text}
                changed = True
        if changed:
            messages[i] = original.model_copy(update={"content": content})
    return request.model_copy(update={"messages": messages})
