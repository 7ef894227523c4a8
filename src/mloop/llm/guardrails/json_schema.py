"""The ``json_schema`` check (output stage): the answer must be JSON that fits a schema.

The schema is the check's ``schema`` option or, without one, the request's
``response_format: {type: json_schema, json_schema: {schema: ...}}``. A request with
``response_format: {type: json_object}`` and no schema must get a JSON object; a request with
neither passes (recorded as skipped). ``strip_code_fence: true`` accepts an answer wrapped in
a Markdown code fence (```json ... ```), which some models add.

Validation uses ``jsonschema`` (the ``llm`` extra), imported when a pipeline with this check is
built. Error messages name the place in the answer and the rule it broke, never the answer's
values. With action ``reask`` the gateway asks again with these messages (``max_reasks``,
default 1).
"""

from __future__ import annotations

import functools
import itertools
import json
import re
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

from mloop.llm.guardrails.base import (
    PASSED,
    Check,
    CheckContext,
    CheckFailed,
    CheckResult,
    OptionError,
    Options,
    Stage,
)
from mloop.llm.guardrails.config import Action

_MAX_ERRORS = 10
_FENCE = re.compile(r"\A\s*```[A-Za-z0-9_-]{0,20}[ \t]*\n(.*)\n[ \t]*```\s*\Z", re.DOTALL)


def _jsonschema() -> Any:
    import jsonschema  # a core dependency, imported on first use to keep imports light

    return jsonschema


@functools.lru_cache(maxsize=128)
def _validator_for(schema_json: str) -> Any:
    """A validator for a schema given as canonical JSON (cached: requests repeat schemas)."""
    jsonschema = _jsonschema()
    schema = json.loads(schema_json)
    cls = jsonschema.validators.validator_for(schema)
    cls.check_schema(schema)
    return cls(schema)


def _validator(schema: Any) -> Any:
    if not isinstance(schema, dict):
        raise ValueError(f"a schema must be a mapping, got {type(schema).__name__}")
    try:
        return _validator_for(json.dumps(schema, sort_keys=True))
    except (TypeError, RecursionError) as exc:
        raise ValueError(f"the schema is not plain JSON: {exc}") from None
    except Exception as exc:
        if type(exc).__name__ == "SchemaError":
            raise ValueError(f"the schema is invalid: {getattr(exc, 'message', exc)}") from None
        raise


def _path(parts: Sequence[Any]) -> str:
    return "$" + "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in parts)


def _brief(value: Any, limit: int = 120) -> str:
    text = json.dumps(value, default=str)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def describe_error(error: Any) -> str:
    """A jsonschema error as ``"$.items[0].price: must be of type number"``: where and which
    rule, from the schema only, never the offending value."""
    where = _path(list(error.absolute_path))
    rule, expected, instance = error.validator, error.validator_value, error.instance
    if rule == "required" and isinstance(instance, dict):
        missing = [k for k in expected if k not in instance]
        return (
            f"{where}: missing required propert{'y' if len(missing) == 1 else 'ies'} "
            + ", ".join(repr(k) for k in missing)
        )
    if rule == "type":
        return f"{where}: must be of type {_brief(expected)}"
    if rule in ("enum", "const"):
        return f"{where}: must be {'one of ' if rule == 'enum' else ''}{_brief(expected)}"
    if rule == "additionalProperties" and isinstance(instance, dict):
        return f"{where}: has properties the schema does not allow"
    return f"{where}: does not satisfy {rule} {_brief(expected)}"


class JsonSchemaCheck(Check):
    """Fires when the answer is not JSON or does not fit the schema."""

    name: ClassVar[str] = "json_schema"
    stages: ClassVar[frozenset[Stage]] = frozenset({"output"})

    def __init__(self, options: Mapping[str, Any], *, stage: Stage, action: Action) -> None:
        super().__init__(options, stage=stage, action=action)
        _jsonschema()
        opts = Options(options)
        schema = opts.get("schema")
        self.strip_code_fence = opts.boolean("strip_code_fence", False)
        opts.finish()
        self.validator: Any = None
        if schema is not None:
            try:
                self.validator = _validator(schema)
            except ValueError as exc:
                raise OptionError("schema", str(exc)) from None

    def _request_validator(self, ctx: CheckContext) -> tuple[Any, bool]:
        """The validator from the request's response_format, and whether JSON is expected."""
        fmt = ctx.request.response_format or {}
        kind = fmt.get("type")
        if kind == "json_schema":
            spec = fmt.get("json_schema")
            schema = spec.get("schema") if isinstance(spec, dict) else None
            if schema is None:
                return None, True
            try:
                return _validator(schema), True
            except ValueError as exc:
                raise CheckFailed(f"the request's response_format schema: {exc}") from None
        return None, kind == "json_object"

    def evaluate(self, texts: Sequence[str], ctx: CheckContext) -> CheckResult:
        validator, expects_json = self.validator, True
        if validator is None:
            validator, expects_json = self._request_validator(ctx)
        if validator is None and not expects_json:
            return CheckResult(False, details={"skipped": "no schema for this request"})
        text = texts[0] if texts else ""
        if self.strip_code_fence:
            fenced = _FENCE.match(text)
            if fenced:
                text = fenced.group(1)
        try:
            document = json.loads(text)
        except json.JSONDecodeError as exc:
            return self._failed(
                [f"not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}"]
            )
        except (ValueError, RecursionError):
            return self._failed(["not valid JSON: too deeply nested or a number too long"])
        if validator is None:  # json_object without a schema
            if isinstance(document, dict):
                return PASSED
            return self._failed([f"$: must be a JSON object, got {type(document).__name__}"])
        try:
            errors = sorted(
                itertools.islice(validator.iter_errors(document), _MAX_ERRORS),
                key=lambda e: list(map(str, e.absolute_path)),
            )
        except RecursionError:
            return self._failed(["$: too deeply nested to validate"])
        if not errors:
            return PASSED
        # one message per problem: jsonschema reports each missing property separately
        return self._failed(list(dict.fromkeys(describe_error(e) for e in errors)))

    @staticmethod
    def _failed(errors: list[str]) -> CheckResult:
        listing = "\n".join(f"- {e}" for e in errors)
        return CheckResult(
            True,
            f"{len(errors)} schema error{'s' if len(errors) != 1 else ''}: {errors[0]}",
            {"errors": errors},
            reask_message=(
                "Your previous answer did not match the required JSON format:\n"
                f"{listing}\n"
                "Answer again with only the corrected JSON, no other text."
            ),
        )
