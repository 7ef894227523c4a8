"""Input checks of the registry: model names, aliases, descriptions, tags and page tokens."""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Mapping

from mloop.core.errors import ValidationError
from mloop.core.validation import MAX_TAG_VALUE_LENGTH, check_key, check_text

MAX_MODEL_NAME_LENGTH = 256
MAX_ALIAS_LENGTH = 256
MAX_DESCRIPTION_LENGTH = 65_536
RESERVED_ALIASES = frozenset({"latest"})

# Names become path segments (models/<name>/<version>) and URI parts (models:/<name>@<alias>),
# so they are kept to characters that are safe in both.
_MODEL_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]*$")
_ALIAS_RE = re.compile(r"^[A-Za-z0-9_\-]+$")
_VERSION_LIKE_RE = re.compile(r"^[vV]\d+$")


def _require_text(value: object, field: str) -> str:
    if not isinstance(value, str):
        raise ValidationError(f"{field} must be a string, got {type(value).__name__}", field=field)
    if not value:
        raise ValidationError(f"{field} must not be empty", field=field)
    return value


def check_model_name(value: object, field: str = "name") -> str:
    """A registered model name: letters, digits and ``_ . -``, starting with a letter or digit."""
    name = _require_text(value, field)
    if len(name) > MAX_MODEL_NAME_LENGTH:
        raise ValidationError(
            f"{field} is {len(name)} characters long; the limit is {MAX_MODEL_NAME_LENGTH}",
            field=field,
        )
    if not _MODEL_NAME_RE.match(name):
        raise ValidationError(
            f"{field} {name[:80]!r} may only contain letters, digits and _ . - and must start "
            "with a letter or digit",
            field=field,
        )
    return name


def check_alias(value: object, field: str = "alias") -> str:
    """An alias: letters, digits, ``_`` and ``-``; not a number, ``v<number>`` or ``latest``."""
    alias = _require_text(value, field)
    if len(alias) > MAX_ALIAS_LENGTH:
        raise ValidationError(
            f"{field} is {len(alias)} characters long; the limit is {MAX_ALIAS_LENGTH}",
            field=field,
        )
    if not _ALIAS_RE.match(alias):
        raise ValidationError(
            f"{field} {alias[:80]!r} may only contain letters, digits, _ and -", field=field
        )
    if alias.isdigit() or _VERSION_LIKE_RE.match(alias):
        raise ValidationError(
            f"{field} {alias!r} looks like a version number; aliases must be names such as "
            "'champion' so that models:/<name>@<alias> cannot be mistaken for a version",
            field=field,
        )
    if alias.lower() in RESERVED_ALIASES:
        raise ValidationError(
            f"{field} {alias!r} is reserved (models:/<name>/latest means the newest version)",
            field=field,
        )
    return alias


def check_description(value: str | None, field: str = "description") -> str:
    if value is None:
        return ""
    return check_text(value, field, max_length=MAX_DESCRIPTION_LENGTH)


def check_tag(
    key: object, value: object, *, key_field: str = "key", value_field: str = "value"
) -> tuple[str, str]:
    """A tag key and value, each checked under its own field name."""
    return check_key(key, key_field), check_text(
        value, value_field, max_length=MAX_TAG_VALUE_LENGTH
    )


def check_tags(tags: Mapping[str, str]) -> dict[str, str]:
    return dict(check_tag(k, v, key_field="tags", value_field=f"tags.{k}") for k, v in tags.items())


def decode_page_token(token: str | None) -> int:
    """The offset a page token stands for (0 without a token)."""
    if not token:
        return 0
    try:
        offset = json.loads(base64.urlsafe_b64decode(token.encode()).decode())["offset"]
    except (binascii.Error, ValueError, KeyError, TypeError, UnicodeDecodeError):
        offset = None
    if isinstance(offset, bool) or not isinstance(offset, int) or offset < 0:
        raise ValidationError(
            "page_token is malformed; pass the next_page_token a listing returned",
            field="page_token",
        )
    return offset


def encode_page_token(offset: int) -> str:
    return base64.urlsafe_b64encode(json.dumps({"offset": offset}).encode()).decode()
