"""How the contract classes are built: pydantic dataclasses whose errors are the
``ContractError`` their field validators raise.

Pydantic wraps an error a validator raises into its own ``ValidationError``; the
``ContractPart`` metaclass unwraps it, so that building a contract part in code raises the
same ``ContractError`` (naming the field) as reading it from YAML, and a call that does not
fit the signature raises the ``TypeError`` Python raises for any class.
"""

from __future__ import annotations

import dataclasses
from dataclasses import MISSING
from typing import Any

import pydantic
from pydantic import ConfigDict, ValidationInfo

from mloop.data.errors import ContractError, Path

# Every field has a plain validator (the whole of its validation, so that pydantic's own
# coercions, such as "no" to False, never apply); defaults go through them too. The schemas
# are built on first use, not on import (the metaclass survives that rebuild).
CONFIG = ConfigDict(extra="forbid", validate_default=True, defer_build=True)


class ContractPart(type):
    """Metaclass of the contract classes: a failed validation raises the ``ContractError`` a
    validator raised (pydantic wraps it), and a call that does not fit the signature the
    ``TypeError`` Python raises for any class."""

    def __call__(cls, *args: Any, **kwargs: Any) -> Any:
        try:
            return super().__call__(*args, **kwargs)
        except pydantic.ValidationError as exc:
            errors = exc.errors(include_url=False)
            wrong_call = _signature_error(cls, errors, len(args))
            if wrong_call is not None:
                raise wrong_call from None
            first = errors[0]
            error = first.get("ctx", {}).get("error")
            if isinstance(error, ContractError):
                raise error from None
            raise ContractError(first["msg"], tuple(first["loc"])) from None


def _signature_error(cls: type, errors: list[Any], given: int) -> TypeError | None:
    """The ``TypeError`` Python gives for a call that does not fit ``cls``'s ``__init__``."""
    where = f"{cls.__name__}.__init__()"
    by_type: dict[str, list[str]] = {}
    for error in errors:
        name = str(error["loc"][-1]) if error["loc"] else ""
        by_type.setdefault(error["type"], []).append(name)
    if "unexpected_keyword_argument" in by_type:
        name = by_type["unexpected_keyword_argument"][0]
        return TypeError(f"{where} got an unexpected keyword argument {name!r}")
    if "multiple_argument_values" in by_type:
        name = by_type["multiple_argument_values"][0]
        return TypeError(f"{where} got multiple values for argument {name!r}")
    if "unexpected_positional_argument" in by_type:
        fields = dataclasses.fields(cls)
        required = [f for f in fields if f.default is MISSING and f.default_factory is MISSING]
        low, high = len(required) + 1, len(fields) + 1  # counting self, as Python does
        takes = f"{low}" if low == high else f"from {low} to {high}"
        return TypeError(f"{where} takes {takes} positional arguments but {given + 1} were given")
    missing = by_type.get("missing_argument", []) + by_type.get("missing", [])
    if missing:
        names = [repr(name) for name in missing]
        listed = names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]
        plural = "argument" if len(names) == 1 else "arguments"
        return TypeError(f"{where} missing {len(names)} required positional {plural}: {listed}")
    return None


def field_path(info: ValidationInfo) -> Path:
    """The key path of the field being validated."""
    return (str(info.field_name),)
