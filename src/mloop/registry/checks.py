"""Input checks of the registry: model names, aliases, descriptions, tags and page tokens."""

from __future__ import annotations

from collections.abc import Mapping

from mloop.core.naming import (
    MAX_NAME_LENGTH,
    check_alias_name,
    check_asset_name,
    decode_page_token,
    encode_page_token,
)
from mloop.core.validation import MAX_TAG_VALUE_LENGTH, check_key, check_text

MAX_MODEL_NAME_LENGTH = MAX_NAME_LENGTH
MAX_DESCRIPTION_LENGTH = 65_536


def check_model_name(value: object, field: str = "name") -> str:
    """A registered model name: letters, digits and ``_ . -``, starting with a letter or digit."""
    return check_asset_name(value, field, what=field)


def check_alias(value: object, field: str = "alias") -> str:
    """An alias: letters, digits, ``_`` and ``-``; not a number, ``v<number>`` or ``latest``."""
    return check_alias_name(
        value,
        field,
        example="champion",
        reserved_hint="models:/<name>/latest means the newest version",
    )


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


__all__ = ["check_alias", "check_model_name", "decode_page_token", "encode_page_token"]


def no_files_message(name: str, version: int, source: str) -> str:
    """Why a version registered from a source outside mloop's store cannot be loaded."""
    return (
        f"version {version} of model {name!r} has no files in mloop: it was registered "
        f"through MLflow's API from {source!r}, which mloop cannot read, so only its source "
        "was recorded. Load the model from that source, or register it again from a run "
        "logged to mloop"
    )
