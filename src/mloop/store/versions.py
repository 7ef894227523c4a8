"""The version number of a versioned asset (model, dataset, prompt) as the messages of every
versioned-asset domain accept it."""

from __future__ import annotations

from typing import Annotated

from pydantic import BeforeValidator, Field

MAX_VERSION = 999_999_999
"""The highest version number: nine digits, so it fits every database's INTEGER."""


def _version(value: object) -> object:
    """Versions are positive integers; digit strings (from query strings, and as MLflow sends
    them) are accepted."""
    if isinstance(value, bool):
        raise ValueError("version must be a positive integer, not a boolean")
    if isinstance(value, str):
        if not value.isdigit() or len(value) > 9:
            raise ValueError(f"version must be a positive integer, got {value!r}")
        return int(value)
    if not isinstance(value, int):
        raise ValueError(f"version must be a positive integer, got {value!r}")
    return value


Version = Annotated[int, BeforeValidator(_version), Field(ge=1, le=MAX_VERSION)]
"""A version number field: a positive integer, or its digits as a string."""
