"""Input checks of the datasets domain: names, aliases, references, digests, page tokens.

Names and aliases follow the model registry's rules (they become paths and reference
parts: ``datasets/<name>/<version>/``, ``name@alias``, ``name/3``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from mloop.core.errors import ValidationError
from mloop.core.fields import DIGEST_PATTERN
from mloop.core.ids import ID_PATTERN
from mloop.core.naming import (
    MAX_ALIAS_LENGTH,
    MAX_NAME_LENGTH,
    check_alias_name,
    check_asset_name,
    decode_page_token,
    encode_page_token,
    require_text,
)
from mloop.core.validation import check_text

MAX_DESCRIPTION_LENGTH = 65_536
MAX_SOURCE_LENGTH = 4096

_DIGEST_RE = re.compile(DIGEST_PATTERN)
_UPLOAD_ID_RE = re.compile(ID_PATTERN)


def check_dataset_name(value: object, field: str = "name") -> str:
    """A dataset name: letters, digits and ``_ . -``, starting with a letter or digit."""
    return check_asset_name(value, field, what=f"dataset {field}")


def check_alias(value: object, field: str = "alias") -> str:
    """An alias: letters, digits, ``_`` and ``-``; not a number, ``v<number>`` or ``latest``."""
    return check_alias_name(
        value,
        field,
        example="golden-test",
        reserved_hint="a dataset name alone means its newest version",
    )


def check_digest(value: object, field: str = "digest") -> str:
    """A sha256 digest: 64 lowercase hexadecimal characters."""
    if not isinstance(value, str) or not _DIGEST_RE.fullmatch(value):
        raise ValidationError(
            f"{field} must be a sha256 digest (64 lowercase hexadecimal characters), "
            f"got {str(value)[:80]!r}",
            field=field,
        )
    return value


def check_upload_id(value: object, field: str = "upload_id") -> str:
    if not isinstance(value, str) or not _UPLOAD_ID_RE.fullmatch(value):
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
    text = require_text(value, field)
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


__all__ = [
    "MAX_ALIAS_LENGTH",
    "MAX_NAME_LENGTH",
    "check_alias",
    "check_dataset_name",
    "decode_page_token",
    "encode_page_token",
]
