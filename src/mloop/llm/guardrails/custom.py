"""The ``custom`` check: guardrails written as plain Python functions.

A function takes the text (and optionally the stage, ``"input"`` or ``"output"``) and returns
``True`` (fired), ``False`` or ``None`` (passed), or a ``GuardrailResult`` (or a mapping with
the same keys) for a reason, details, or the redacted text of action ``redact``. ``async def``
functions are awaited. Register one by name with the decorator::

    from mloop.llm.guardrails import GuardrailResult, guardrail

    @guardrail("no-competitors")
    def no_competitors(text: str, stage: str) -> GuardrailResult | None:
        if "acme corp" in text.lower():
            return GuardrailResult(True, reason="mentions a competitor")
        return None

and name it in a route, by registered name or by import path (the module is imported when the
pipeline is built)::

    guardrails:
      output:
        - {check: custom, function: no-competitors, action: block}
        - {check: custom, function: "mypkg.checks:no_refunds", action: warn}

At the input stage the function is called once per message text. An exception, or a result of
another type, is recorded as an error decision and the entry's action applies (an entry that
blocks fails closed; an entry that redacts blocks, because nothing was redacted). The reason of
an error names the exception type only, since its message may quote the text; the traceback is
logged at WARNING level.
"""

from __future__ import annotations

import importlib
import inspect
import logging
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar, TypeVar

from mloop.llm.guardrails.base import (
    ALL_ACTIONS,
    PASSED,
    Check,
    CheckContext,
    CheckFailed,
    CheckResult,
    OptionError,
    Options,
    Stage,
    short_reason,
)
from mloop.llm.guardrails.config import Action

logger = logging.getLogger(__name__)

F = TypeVar("F", bound=Callable[..., Any])

_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")
_REGISTRY: dict[str, Callable[..., Any]] = {}


@dataclass(frozen=True)
class GuardrailResult:
    """What a custom check may return: whether it fired, a short reason (no sensitive values),
    JSON-safe details, and for action ``redact`` the text to use instead."""

    triggered: bool
    reason: str = ""
    details: Mapping[str, Any] = field(default_factory=dict)
    text: str | None = None


def guardrail(name: str) -> Callable[[F], F]:
    """Register a function as the custom check ``name``."""
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise ValueError(
            f"guardrail name {name!r}: use letters, digits, '.', '_' and '-' (at most 128)"
        )

    def register(fn: F) -> F:
        if not callable(fn):
            raise TypeError(f"@guardrail({name!r}) decorates a function, not {type(fn).__name__}")
        _arity(fn, name)
        existing = _REGISTRY.get(name)
        if existing is not None and _qualified(existing) != _qualified(fn):
            raise ValueError(
                f"guardrail {name!r} is already registered by {_qualified(existing)}; "
                "choose another name"
            )
        _REGISTRY[name] = fn  # the same function again (a module reload) replaces itself
        return fn

    return register


def registered_guardrails() -> dict[str, Callable[..., Any]]:
    """The registered custom checks by name."""
    return dict(_REGISTRY)


def unregister_guardrail(name: str) -> None:
    """Remove a registered custom check (tests, plugin reloads)."""
    _REGISTRY.pop(name, None)


def _qualified(fn: Callable[..., Any]) -> str:
    return f"{getattr(fn, '__module__', '?')}:{getattr(fn, '__qualname__', repr(fn))}"


def _arity(fn: Callable[..., Any], name: str) -> bool:
    """Whether ``fn`` takes the stage as well as the text; raises when it takes neither form."""
    try:
        signature = inspect.signature(fn)
    except (TypeError, ValueError):
        return False
    for args, with_stage in ((("text", "input"), True), (("text",), False)):
        try:
            signature.bind(*args)
            return with_stage
        except TypeError:
            continue
    raise TypeError(f"guardrail {name!r}: the function must accept (text) or (text, stage)")


def resolve_function(reference: str) -> Callable[..., Any]:
    """A registered name, or ``module.path:attribute``, as the function it names."""
    if ":" in reference:
        module_name, _, attribute = reference.partition(":")
        try:
            target: Any = importlib.import_module(module_name)
        except ImportError as exc:
            raise OptionError("function", f"cannot import {module_name!r}: {exc}") from None
        for part in attribute.split("."):
            if not hasattr(target, part):
                raise OptionError("function", f"{module_name!r} has no attribute {attribute!r}")
            target = getattr(target, part)
        if not callable(target):
            raise OptionError("function", f"{reference!r} is not callable")
        return target
    fn = _REGISTRY.get(reference)
    if fn is None:
        import difflib

        close = difflib.get_close_matches(reference, list(_REGISTRY), n=1)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        known = ", ".join(sorted(_REGISTRY)) or "none registered"
        raise OptionError(
            "function",
            f"no custom guardrail named {reference!r}{hint} (registered: {known}); register one "
            "with @guardrail(name) in a module the server imports, or give 'module:function'",
        )
    return fn


def _result(value: Any, label: str) -> GuardrailResult:
    """A function's return value as a GuardrailResult; CheckFailed for other types."""
    if value is None or value is False:
        return GuardrailResult(False)
    if value is True:
        return GuardrailResult(True, f"{label} fired")
    if isinstance(value, GuardrailResult):
        return value
    if isinstance(value, Mapping):
        get: Callable[[str, Any], Any] = value.get
    elif hasattr(value, "triggered"):

        def get(key: str, default: Any) -> Any:
            return getattr(value, key, default)

    else:
        raise CheckFailed(
            f"custom check {label} returned {type(value).__name__}; return a bool, None or "
            "a GuardrailResult"
        )
    triggered = get("triggered", None)
    if not isinstance(triggered, bool):
        raise CheckFailed(f"custom check {label} returned a result whose triggered is not a bool")
    reason = get("reason", "") or ""
    details = get("details", None) or {}
    text = get("text", None)
    if not isinstance(reason, str) or not isinstance(details, Mapping):
        raise CheckFailed(f"custom check {label}: reason must be a str and details a mapping")
    if text is not None and not isinstance(text, str):
        raise CheckFailed(f"custom check {label}: text must be a str")
    return GuardrailResult(triggered, reason, details, text)


class CustomCheck(Check):
    """Runs a registered or imported function on each text."""

    name: ClassVar[str] = "custom"
    actions: ClassVar[frozenset[str]] = ALL_ACTIONS

    def __init__(self, options: Mapping[str, Any], *, stage: Stage, action: Action) -> None:
        super().__init__(options, stage=stage, action=action)
        opts = Options(options)
        reference = opts.string("function", required=True)
        opts.finish()
        self.function = resolve_function(reference)
        self.label = reference
        try:
            self._with_stage = _arity(self.function, reference)
        except TypeError as exc:
            raise OptionError("function", str(exc)) from None
        self.is_async = inspect.iscoroutinefunction(self.function)

    def _call(self, text: str) -> Any:
        try:
            if self._with_stage:
                return self.function(text, self.stage)
            return self.function(text)
        except Exception as exc:
            raise self._failure(exc) from exc

    def _failure(self, exc: Exception) -> CheckFailed:
        logger.warning("custom guardrail %s raised", self.label, exc_info=exc)
        return CheckFailed(f"custom check {self.label} raised {type(exc).__name__}")

    def evaluate(self, texts: Sequence[str], ctx: CheckContext) -> CheckResult:
        results = []
        for text in texts:
            value = self._call(text)
            if inspect.isawaitable(value):
                close = getattr(value, "close", None)
                if close is not None:
                    close()  # never awaited: close it so Python does not warn
                raise CheckFailed(
                    f"custom check {self.label} returned an awaitable; declare it async def"
                )
            results.append(_result(value, self.label))
        return self._combine(texts, results)

    async def aevaluate(self, texts: Sequence[str], ctx: CheckContext) -> CheckResult:
        if not self.is_async:
            return self.evaluate(texts, ctx)
        results = []
        for text in texts:
            try:
                value = await self._call(text)
            except CheckFailed:
                raise
            except Exception as exc:
                raise self._failure(exc) from exc
            results.append(_result(value, self.label))
        return self._combine(texts, results)

    def _combine(self, texts: Sequence[str], results: list[GuardrailResult]) -> CheckResult:
        fired = [i for i, r in enumerate(results) if r.triggered]
        if not fired:
            return PASSED
        first = results[fired[0]]
        redacted: tuple[str, ...] | None = None
        if self.action == "redact":
            replaced = list(texts)
            for i in fired:
                text = results[i].text
                if text is None:
                    raise CheckFailed(
                        f"custom check {self.label} has action redact but returned no text; "
                        "return GuardrailResult(True, text=...)"
                    )
                replaced[i] = text
            redacted = tuple(replaced)
        return CheckResult(
            True,
            short_reason(first.reason or f"{self.label} fired"),
            {"texts": len(fired), "details": dict(first.details)},
            redacted=redacted,
        )
