"""Input checks of the datasets domain: names, aliases, references, digests, page tokens.

Names and aliases follow the model registry's rules (they become paths and reference
parts: ``datasets/<name>/<version>/``, ``name@alias``, ``name/3``).
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from dataclasses import dataclass

from mloop.core.errors import ValidationError
from mloop.core.validation import check_text

MAX_NAME_LENGTH = 256
MAX_ALIAS_LENGTH = 256
MAX_DESCRIPTION_LENGTH = 65_536
MAX_SOURCE_LENGTH = 4096
RESERVED_ALIASES = frozenset({"latest"})

_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]*$")
_ALIAS_RE = re.compile(r"^[A-Za-z0-9_\-]+$")
_VERSION_LIKE_RE = re.compile(r"^[vV]\d+$")
_DIGEST_RE = re.compile(r"^[0-9a-f]{64}$")
_UPLOAD_ID_RE = re.compile(r"^[0-9a-f]{32}$")


def _require_text(value: object, field: str) -> str:
    if not isinstance(value, str):
        raise ValidationError(f"{field} must be a string, got {type(value).__name__}", field=field)
    if not value:
        raise ValidationError(f"{field} must not be empty", field=field)
    return value


def check_dataset_name(value: object, field: str = "name") -> str:
    """A dataset name: letters, digits and ``_ . -``, starting with a letter or digit."""
    name = _require_text(value, field)
    if len(name) > MAX_NAME_LENGTH:
        raise ValidationError(
            f"{field} is {len(name)} characters long; the limit is {MAX_NAME_LENGTH}",
            field=field,
        )
    if not _NAME_RE.match(name):
        raise ValidationError(
            f"dataset {field} {name[:80]!r} may only contain letters, digits and _ . - and must "
            "start with a letter or digit",
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
            "'golden-test' so that name@alias cannot be mistaken for a version",
            field=field,
        )
    if alias.lower() in RESERVED_ALIASES:
        raise ValidationError(
            f"{field} {alias!r} is reserved (a dataset name alone means its newest version)",
            field=field,
        )
    return alias


def check_digest(value: object, field: str = "digest") -> str:
    """A sha256 digest: 64 lowercase hexadecimal characters."""
    if not isinstance(value, str) or not _DIGEST_RE.match(value):
        raise ValidationError(
            f"{field} must be a sha256 digest (64 lowercase hexadecimal characters), "
            f"got {str(value)[:80]!r}",
            field=field,
        )
    return value


def check_upload_id(value: object, field: str = "upload_id") -> str:
    if not isinstance(value, str) or not _UPLOAD_ID_RE.match(value):
        raise ValidationError(
            f"{field} must be the id the upload returned, got {str(value)[:80]!r}", field=field
        )
    return value


def check_description(value: str | None, field: str = "description") -> str:
    if value is None:
        return ""
    return check_text(value, field, max_length=MAX_DESCRIPTION_LENGTH)


def check_source(value: str | None, field: str = "source") -> str:
    if value is None:
        return ""
    return check_text(value, field, max_length=MAX_SOURCE_LENGTH)


@dataclass(frozen=True)
class DatasetRef:
    """A parsed reference: ``name``, ``name/3`` or ``name@alias``."""

    name: str
    version: int | None = None
    alias: str | None = None

    def __str__(self) -> str:
        if self.alias is not None:
            return f"{self.name}@{self.alias}"
        if self.version is not None:
            return f"{self.name}/{self.version}"
        return self.name


def parse_dataset_ref(value: object, field: str = "dataset") -> DatasetRef:
    """``name`` (the newest version), ``name/3``, ``name/latest`` or ``name@alias``."""
    text = _require_text(value, field)
    if "@" in text:
        name, _, alias = text.partition("@")
        return DatasetRef(check_dataset_name(name, field), alias=check_alias(alias, field))
    if "/" in text:
        name, _, version = text.partition("/")
        name = check_dataset_name(name, field)
        if version == "latest":
            return DatasetRef(name)
        if not version.isdigit() or len(version) > 9 or int(version) < 1:
            raise ValidationError(
                f"{field} {text[:80]!r}: the part after '/' must be a version number "
                "(name/3) or 'latest'; use name@alias for an alias",
                field=field,
            )
        return DatasetRef(name, version=int(version))
    return DatasetRef(check_dataset_name(text, field))


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
