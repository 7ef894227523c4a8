"""Boundary checks shared by every domain. Messages say what is wrong and what to do."""

from __future__ import annotations

import math
import re
from typing import Any

from mloop.core.errors import ValidationError

MAX_NAME_LENGTH = 256
MAX_KEY_LENGTH = 250
MAX_PARAM_VALUE_LENGTH = 6000
MAX_TAG_VALUE_LENGTH = 8000

# Keys (params, metrics, tags) may contain letters, digits and ``_ - . / : space``,
# the set MLflow accepts, so keys copied from MLflow code keep working.
# Public for the OpenAPI document (mloop.core.fields), which states the same rules.
KEY_PATTERN = r"^[\w\-./: ]+$"
CONTROL_CHARS = r"\x00-\x1f\x7f"
_KEY_RE = re.compile(KEY_PATTERN)
_CONTROL_RE = re.compile(f"[{CONTROL_CHARS}]")


def check_name(value: object, field: str, *, max_length: int = MAX_NAME_LENGTH) -> str:
    """A display name: non-empty text without control characters or outer whitespace."""
    if not isinstance(value, str):
        raise ValidationError(f"{field} must be a string, got {type(value).__name__}", field=field)
    if not value:
        raise ValidationError(f"{field} must not be empty", field=field)
    if len(value) > max_length:
        raise ValidationError(
            f"{field} is {len(value)} characters long; the limit is {max_length}", field=field
        )
    if _CONTROL_RE.search(value):
        raise ValidationError(f"{field} must not contain control characters", field=field)
    if value != value.strip():
        raise ValidationError(f"{field} must not start or end with whitespace", field=field)
    return value


def check_key(value: object, field: str) -> str:
    """A param, metric or tag key."""
    if not isinstance(value, str):
        raise ValidationError(f"{field} must be a string, got {type(value).__name__}", field=field)
    if not value:
        raise ValidationError(f"{field} must not be empty", field=field)
    if len(value) > MAX_KEY_LENGTH:
        raise ValidationError(
            f"{field} {value[:40]!r}... is longer than {MAX_KEY_LENGTH} characters", field=field
        )
    if not _KEY_RE.fullmatch(value):
        raise ValidationError(
            f"{field} {value!r} may only contain letters, digits, spaces and _ - . / :",
            field=field,
        )
    if any(part == ".." for part in value.split("/")) or value.startswith("/"):
        raise ValidationError(
            f"{field} {value!r} must not be an absolute or parent path", field=field
        )
    return value


def check_text(value: object, field: str, *, max_length: int) -> str:
    """A free-text value with a length limit."""
    if not isinstance(value, str):
        raise ValidationError(f"{field} must be a string, got {type(value).__name__}", field=field)
    if len(value) > max_length:
        raise ValidationError(
            f"{field} is {len(value)} characters long; the limit is {max_length}", field=field
        )
    return check_no_nul(value, field)


def check_no_nul(value: str, field: str) -> str:
    """Text without NUL characters, which PostgreSQL cannot store in a text column."""
    if "\x00" in value:
        raise ValidationError(f"{field} must not contain NUL characters", field=field)
    return value


def check_metric_value(value: object, field: str) -> float:
    """A metric value: any real number; NaN and infinities are kept as they are."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValidationError(
            f"{field} must be a number, got {type(value).__name__} {value!r}", field=field
        )
    return float(value)


def check_int(value: object, field: str, *, minimum: int | None = None) -> int:
    """An integer (bools are refused: ``True`` is not a step)."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValidationError(f"{field} must be an integer, got {value!r}", field=field)
    if minimum is not None and value < minimum:
        raise ValidationError(f"{field} must be at least {minimum}, got {value}", field=field)
    return value


def is_nan(value: float) -> bool:
    return math.isnan(value)


def from_pydantic(exc: Any) -> ValidationError:
    """The first problem of a ``pydantic.ValidationError``, as an error naming the field."""
    errors = exc.errors()
    first = errors[0] if errors else {}
    if first.get("type") == "json_invalid":
        return ValidationError(
            f"the request body is not valid JSON: {first.get('msg')}", field="body"
        )
    field = ""
    for part in first.get("loc", ()):
        field += f"[{part}]" if isinstance(part, int) else (f".{part}" if field else str(part))
    field = field or "body"
    message = f"{field}: {first.get('msg', 'invalid value')}"
    if len(errors) > 1:
        message += f" (and {len(errors) - 1} more problems)"
    return ValidationError(message, field=field)
