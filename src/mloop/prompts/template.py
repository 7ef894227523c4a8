"""Rendering prompt templates: Jinja2 in a sandbox, with declared, typed variables.

Templates come from prompt files that many people edit and that the gateway renders with
user input, so they run in Jinja2's :class:`SandboxedEnvironment` (no attribute access to
internals such as ``__class__``, no unsafe callables), with :class:`StrictUndefined` (a
misspelt variable is an error, not an empty string) and with limits on what a template
may build: string and list repetition, powers and the size of the output.
"""

from __future__ import annotations

import functools
import math
import operator
from collections.abc import Mapping
from typing import Any

import jinja2
from jinja2 import meta
from jinja2.sandbox import SandboxedEnvironment

from mloop.core.errors import ValidationError
from mloop.prompts.schemas import PromptContent, PromptVariable

MAX_RENDERED_CHARS = 1024 * 1024
"""The most characters one rendered template may produce."""
MAX_REPEAT_CHARS = 100_000
MAX_EXPONENT = 1000

_TYPES: dict[str, tuple[type, ...]] = {
    "string": (str,),
    "integer": (int,),
    "number": (int, float),
    "boolean": (bool,),
    "array": (list, tuple),
    "object": (dict,),
}


class _Sandbox(SandboxedEnvironment):
    """The sandbox, with ``*`` and ``**`` checked so a template cannot exhaust memory."""

    intercepted_binops = frozenset({"*", "**"})

    def call_binop(self, context: Any, operator_: str, left: Any, right: Any) -> Any:
        if operator_ == "**":
            if isinstance(right, (int, float)) and abs(right) > MAX_EXPONENT:
                raise jinja2.sandbox.SecurityError(f"exponent {right} is over {MAX_EXPONENT}")
            return operator.pow(left, right)
        for seq, count in ((left, right), (right, left)):
            if (
                isinstance(seq, (str, list, tuple))
                and isinstance(count, int)
                and len(seq) * max(count, 0) > MAX_REPEAT_CHARS
            ):
                raise jinja2.sandbox.SecurityError(
                    f"repetition would build {len(seq) * count} items; "
                    f"the limit is {MAX_REPEAT_CHARS}"
                )
        return operator.mul(left, right)


_ENV = _Sandbox(undefined=jinja2.StrictUndefined, autoescape=False, keep_trailing_newline=True)


@functools.lru_cache(maxsize=1024)
def _compiled(source: str) -> jinja2.Template:
    # Compiling costs far more than rendering; a Template is safe to share between threads.
    return _ENV.from_string(source)


def _compile(source: str, field: str) -> jinja2.Template:
    try:
        return _compiled(source)
    except jinja2.TemplateSyntaxError as exc:
        raise ValidationError(
            f"{field} is not a valid template: {exc.message} (template line {exc.lineno})",
            field=field,
        ) from None


def template_sources(content: PromptContent) -> list[tuple[str, str]]:
    """Each template of a version with the field that names it."""
    if content.messages is not None:
        return [(f"messages[{i}].content", m.content) for i, m in enumerate(content.messages)]
    return [("text", content.text or "")]


def check_templates(content: PromptContent) -> None:
    """Every template compiles, and every variable it reads is declared."""
    declared = set(content.variables)
    for field, source in template_sources(content):
        _compile(source, field)
        used = meta.find_undeclared_variables(_ENV.parse(source))
        missing = sorted(used - declared)
        if missing:
            raise ValidationError(
                f"{field} uses variable {missing[0]!r}, which is not declared under variables; "
                "declare it (with its type) or remove it from the template",
                field=f"variables.{missing[0]}",
            )


def _type_ok(value: Any, kind: str) -> bool:
    if isinstance(value, bool) and kind != "boolean":
        return False  # True is an int in Python, never an integer or number here
    if kind == "number" and isinstance(value, float) and not math.isfinite(value):
        return False
    return isinstance(value, _TYPES[kind])


def check_default(name: str, spec: PromptVariable) -> None:
    if spec.default is not None and not _type_ok(spec.default, spec.type):
        raise ValidationError(
            f"the default of variable {name!r} is {type(spec.default).__name__}, "
            f"but the variable is declared {spec.type}",
            field=f"variables.{name}.default",
        )


def bind_variables(
    declared: Mapping[str, PromptVariable], given: Mapping[str, Any]
) -> dict[str, Any]:
    """The variables to render with: given values checked against their declared types,
    defaults filled in. Missing required, unknown and mistyped variables are errors."""
    unknown = sorted(set(given) - set(declared))
    if unknown:
        raise ValidationError(
            f"variable {unknown[0]!r} is not declared by this prompt; "
            f"it takes {sorted(declared) or 'no variables'}",
            field=f"variables.{unknown[0]}",
        )
    bound: dict[str, Any] = {}
    for name, spec in declared.items():
        if name in given and given[name] is not None:
            value = given[name]
            if not _type_ok(value, spec.type):
                raise ValidationError(
                    f"variable {name!r} must be {spec.type}, got {type(value).__name__}",
                    field=f"variables.{name}",
                )
            bound[name] = value
        elif spec.default is not None:
            bound[name] = spec.default
        elif spec.required:
            raise ValidationError(
                f"variable {name!r} is required and was not given", field=f"variables.{name}"
            )
        else:
            bound[name] = None
    return bound


def render_template(source: str, variables: Mapping[str, Any], field: str = "template") -> str:
    """Render one template in the sandbox; errors name ``field`` and what went wrong."""
    template = _compile(source, field)
    parts: list[str] = []
    size = 0
    try:
        for chunk in template.generate(**variables):
            size += len(chunk)
            if size > MAX_RENDERED_CHARS:
                raise ValidationError(
                    f"{field} renders to more than {MAX_RENDERED_CHARS} characters",
                    field=field,
                )
            parts.append(chunk)
    except jinja2.sandbox.SecurityError as exc:
        raise ValidationError(
            f"{field} tried an operation the template sandbox forbids: {exc}", field=field
        ) from None
    except jinja2.UndefinedError as exc:
        raise ValidationError(f"{field}: {exc.message}", field=field) from None
    except jinja2.TemplateError as exc:
        raise ValidationError(f"{field} failed to render: {exc}", field=field) from None
    except (TypeError, ValueError, ArithmeticError, LookupError, OverflowError) as exc:
        if isinstance(exc, ValidationError):
            raise
        raise ValidationError(
            f"{field} failed to render: {type(exc).__name__}: {exc}", field=field
        ) from None
    return "".join(parts)


def render_content(content: PromptContent, variables: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The chat messages a version renders to; a text template becomes one user message."""
    bound = bind_variables(content.variables, variables)
    if content.messages is not None:
        return [
            {"role": m.role, "content": render_template(m.content, bound, f"messages[{i}].content")}
            for i, m in enumerate(content.messages)
        ]
    return [{"role": "user", "content": render_template(content.text or "", bound, "text")}]
