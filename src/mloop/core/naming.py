"""Names, aliases and page tokens shared by the versioned assets (models, datasets).

Asset names become path segments (``models/<name>/<version>``) and reference parts
(``name@alias``, ``name/3``), so they are kept to characters that are safe in both; aliases
must never read as a version number.
"""

from __future__ import annotations

import base64
import binascii
import json
import re

from mloop.core.errors import ValidationError

MAX_NAME_LENGTH = 256
MAX_ALIAS_LENGTH = 256
RESERVED_ALIASES = frozenset({"latest"})

# The expressions are public so that the OpenAPI document states the same rules
# (mloop.core.fields): one source, so the schema and the check cannot drift apart.
NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.\-]*$"
ALIAS_CHARS = r"[A-Za-z0-9_\-]"
VERSION_LIKE = r"[vV]\d+"
_NAME_RE = re.compile(NAME_PATTERN)
_ALIAS_RE = re.compile(rf"^{ALIAS_CHARS}+$")
_VERSION_LIKE_RE = re.compile(rf"^{VERSION_LIKE}$")


def require_text(value: object, field: str) -> str:
    """A non-empty string, or a ValidationError naming ``field``."""
    if not isinstance(value, str):
        raise ValidationError(f"{field} must be a string, got {type(value).__name__}", field=field)
    if not value:
        raise ValidationError(f"{field} must not be empty", field=field)
    return value


def check_asset_name(value: object, field: str = "name", *, what: str = "name") -> str:
    """Letters, digits and ``_ . -``, starting with a letter or digit, at most 256 long."""
    name = require_text(value, field)
    if len(name) > MAX_NAME_LENGTH:
        raise ValidationError(
            f"{field} is {len(name)} characters long; the limit is {MAX_NAME_LENGTH}",
            field=field,
        )
    if not _NAME_RE.fullmatch(name):
        raise ValidationError(
            f"{what} {name[:80]!r} may only contain letters, digits and _ . - and must start "
            "with a letter or digit",
            field=field,
        )
    return name


def check_alias_name(value: object, field: str, *, example: str, reserved_hint: str) -> str:
    """Letters, digits, ``_`` and ``-``; not a number, ``v<number>`` or a reserved word.

    ``example`` is an alias to suggest; ``reserved_hint`` says what the reserved words mean.
    """
    alias = require_text(value, field)
    if len(alias) > MAX_ALIAS_LENGTH:
        raise ValidationError(
            f"{field} is {len(alias)} characters long; the limit is {MAX_ALIAS_LENGTH}",
            field=field,
        )
    if not _ALIAS_RE.fullmatch(alias):
        raise ValidationError(
            f"{field} {alias[:80]!r} may only contain letters, digits, _ and -", field=field
        )
    if alias.isdigit() or _VERSION_LIKE_RE.fullmatch(alias):
        raise ValidationError(
            f"{field} {alias!r} looks like a version number; aliases must be names such as "
            f"{example!r} so that name@alias cannot be mistaken for a version",
            field=field,
        )
    if alias.lower() in RESERVED_ALIASES:
        raise ValidationError(f"{field} {alias!r} is reserved ({reserved_hint})", field=field)
    return alias


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
    """The token of the page that starts at ``offset``."""
    return base64.urlsafe_b64encode(json.dumps({"offset": offset}).encode()).decode()
