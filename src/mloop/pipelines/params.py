"""Checking a pipeline's params against its function's signature and type hints."""

from __future__ import annotations

import inspect
import json
import typing
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import pydantic
from pydantic_core import PydanticSerializationError

from mloop.core.errors import ValidationError

if TYPE_CHECKING:
    from mloop.pipelines.decorators import Pipeline


def _hints(pipeline: Pipeline) -> dict[str, Any]:
    try:
        return typing.get_type_hints(pipeline.fn)
    except Exception as exc:  # a hint naming something its module cannot resolve
        raise ValidationError(
            f"the type hints of pipeline {pipeline.name!r} cannot be resolved: {exc}",
            field="pipeline",
        ) from None


def validate_params(
    pipeline: Pipeline, params: Mapping[str, Any] | None
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The params as the function receives them (converted by their type hints, defaults
    filled in) and as JSON (for the tracking run); raises naming ``params.<name>``.

    Values are converted the way pydantic's lax mode does, so ``-p epochs=3`` from the
    command line becomes the int a hint ``epochs: int`` asks for.
    """
    if params is not None and not isinstance(params, Mapping):
        raise ValidationError("params must be a mapping of names to values", field="params")
    given = dict(params or {})
    signature = inspect.signature(pipeline.fn)
    hints = _hints(pipeline)
    values: dict[str, Any] = {}
    for name, parameter in signature.parameters.items():
        if parameter.kind in (parameter.VAR_POSITIONAL, parameter.VAR_KEYWORD):
            raise ValidationError(
                f"pipeline {pipeline.name!r} takes *{name}; pipeline params must be named",
                field="pipeline",
            )
        if name in given:
            raw = given.pop(name)
        elif parameter.default is not inspect.Parameter.empty:
            raw = parameter.default
        else:
            raise ValidationError(f"params.{name} is required", field=f"params.{name}")
        hint = hints.get(name, Any)
        try:
            values[name] = pydantic.TypeAdapter(hint).validate_python(raw)
        except pydantic.ValidationError as exc:
            problem = exc.errors()[0]["msg"]
            raise ValidationError(
                f"params.{name}: {problem} (got {raw!r:.80})", field=f"params.{name}"
            ) from None
    if given:
        unknown = sorted(given)[0]
        raise ValidationError(
            f"params.{unknown} is not a parameter of pipeline {pipeline.name!r} "
            f"(it takes: {', '.join(signature.parameters) or 'none'})",
            field=f"params.{unknown}",
        )
    as_json: dict[str, Any] = {}
    for name, value in values.items():
        try:
            dumped = pydantic.TypeAdapter(hints.get(name, Any)).dump_python(value, mode="json")
            json.dumps(dumped, allow_nan=False)
        except (PydanticSerializationError, TypeError, ValueError):
            raise ValidationError(
                f"params.{name} must be a value that can be written as JSON "
                f"(got {type(value).__name__})",
                field=f"params.{name}",
            ) from None
        as_json[name] = dumped
    return values, as_json
