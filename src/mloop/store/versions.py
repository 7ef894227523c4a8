"""What the messages of every versioned-asset domain (models, datasets, prompts) share: the
version number field, and the alias history request and entry."""

from __future__ import annotations

from typing import Annotated

from pydantic import BeforeValidator, Field

from mloop.core import fields as f
from mloop.core.operations import Message

MAX_VERSION = 999_999_999
"""The highest version number: nine digits, so it fits every database's INTEGER."""


def _version(value: object) -> object:
    """Versions are positive integers; digit strings (from query strings, and as MLflow sends
    them) are accepted."""
    if isinstance(value, bool):
        raise ValueError("version must be a positive integer, not a boolean")
    if isinstance(value, float) and value.is_integer():
        return int(value)  # JSON Schema's integer: 3.0 is 3
    if isinstance(value, str):
        whole, dot, fraction = value.partition(".")
        if dot and not fraction.strip("0"):
            value = whole  # "3.0" in a query string: JSON Schema's integer 3.0, as above
        if not value.isdigit() or len(value) > 9:
            raise ValueError(f"version must be a positive integer, got {value!r}")
        return int(value)
    if not isinstance(value, int):
        raise ValueError(f"version must be a positive integer, got {value!r}")
    return value


# The bounds come before the validator so that they reach the JSON schema as minimum and
# maximum (after it, pydantic writes them as non-standard "ge"/"le" keys).
Version = Annotated[int, Field(ge=1, le=MAX_VERSION), BeforeValidator(_version)]
"""A version number field: a positive integer, or its digits as a string."""


class AliasHistoryQuery(Message):
    """Alias moves of one asset (or one of its aliases), oldest first."""

    name: f.AssetName
    alias: f.AliasName | None = None
    max_results: int = Field(default=1000, ge=1, le=100_000)


class AliasMove(Message):
    """One alias move: set (from None), moved, or deleted (to None)."""

    name: str
    alias: str
    from_version: int | None = None
    to_version: int | None = None
    actor: str
    timestamp: int
