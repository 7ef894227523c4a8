"""Input checks of the prompts domain: names, labels and references.

Names and labels follow the model registry's rules (``mloop.core.naming``); a reference is
``name`` (the newest version), ``name:3`` (a version) or ``name@label``.
"""

from __future__ import annotations

from dataclasses import dataclass

from mloop.core.errors import ValidationError
from mloop.core.naming import check_alias_name, check_asset_name, require_text

# Checked by mloop.prompts.content and .versions, and stated in the OpenAPI document.
ROLE_PATTERN = r"^[a-z][a-z_]{0,63}$"
VARIABLE_PATTERN = r"^[A-Za-z_][A-Za-z0-9_]{0,127}$"
COMMIT_PATTERN = r"^[0-9a-f]{7,64}$"


def check_prompt_name(value: object, field: str = "name") -> str:
    """A prompt name: letters, digits and ``_ . -``, starting with a letter or digit."""
    return check_asset_name(value, field, what=f"prompt {field}")


def check_label(value: object, field: str = "label") -> str:
    """A label: letters, digits, ``_`` and ``-``; not a number, ``v<number>`` or ``latest``."""
    return check_alias_name(
        value,
        field,
        example="production",
        reserved_hint="a prompt name alone means its newest version",
    )


@dataclass(frozen=True)
class PromptRef:
    """A parsed reference: ``name``, ``name:3`` or ``name@label``."""

    name: str
    version: int | None = None
    label: str | None = None

    def __str__(self) -> str:
        if self.label is not None:
            return f"{self.name}@{self.label}"
        if self.version is not None:
            return f"{self.name}:{self.version}"
        return self.name


def parse_prompt_ref(value: object, field: str = "ref") -> PromptRef:
    """``name`` (the newest version), ``name:3``, ``name:latest`` or ``name@label``."""
    text = require_text(value, field).strip()
    if "@" in text:
        name, _, label = text.partition("@")
        return PromptRef(check_prompt_name(name, field), label=check_label(label, field))
    if ":" in text:
        name, _, version = text.partition(":")
        name = check_prompt_name(name, field)
        if version == "latest":
            return PromptRef(name)
        if not version.isdigit() or len(version) > 9 or int(version) < 1:
            raise ValidationError(
                f"{field} {text[:80]!r}: the part after ':' must be a version number "
                "(name:3) or 'latest'; use name@label for a label",
                field=field,
            )
        return PromptRef(name, version=int(version))
    return PromptRef(check_prompt_name(text, field))
