"""Request field types that state, in the OpenAPI document, the rules the server checks.

The server checks names, keys, ids and lengths itself (``mloop.core.naming``,
``mloop.core.validation``, the domains' checks), with messages that name the field and say
what to do. These types carry the same rules into the JSON Schema of the request models,
built from the same expressions and limits, so that a request the document calls valid is
one the server accepts. They add nothing to pydantic's validation: a pydantic constraint
would answer first, with its own message instead of the server's.

Patterns are anchored and written so that Python and ECMA-262 read them alike; the checks
match them whole (``fullmatch``), as JSON Schema validators do.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BeforeValidator, Field, GetJsonSchemaHandler
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import CoreSchema, PydanticCustomError

from mloop.core.ids import ID_PATTERN
from mloop.core.naming import (
    ALIAS_CHARS,
    MAX_ALIAS_LENGTH,
    MAX_NAME_LENGTH,
    NAME_PATTERN,
    RESERVED_ALIASES,
    VERSION_LIKE,
)
from mloop.core.validation import CONTROL_CHARS, KEY_PATTERN, MAX_KEY_LENGTH, MAX_TAG_VALUE_LENGTH

INT64_MAX = 2**63 - 1
# The largest integer every JSON reader keeps exactly (I-JSON, RFC 7493); also the bound of
# times and steps, so that a bound in the document means the same as a float.
MAX_SAFE_INTEGER = 2**53 - 1

DIGEST_PATTERN = r"^[0-9a-f]{64}$"
"""A sha256 digest as the server writes it: 64 lowercase hexadecimal characters."""

MAX_EXPERIMENT_ID_DIGITS = 18
EXPERIMENT_ID_PATTERN = rf"^[0-9]{{1,{MAX_EXPERIMENT_ID_DIGITS}}}$"

PAGE_TOKEN_RULE = (
    "The next_page_token of the previous page, passed back unchanged; any other value is "
    "refused with 400 (a rule JSON Schema cannot state)."
)


class Rule:
    """JSON Schema keywords for a rule the server checks itself (with its own message)."""

    def __init__(self, **keywords: Any) -> None:
        self.keywords = keywords

    def __get_pydantic_json_schema__(
        self, core_schema: CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        schema = handler(core_schema)
        schema.update(self.keywords)
        return schema

    def __repr__(self) -> str:
        return f"Rule({self.keywords!r})"


def _case_insensitive(word: str) -> str:
    """``word`` as a pattern that matches it in any case (ECMA patterns have no ``(?i)``)."""
    return "".join(f"[{c.lower()}{c.upper()}]" if c.isalpha() else c for c in word)


# Not a number, not v<number> and not a reserved word: aliases must not read as versions.
_NOT_VERSION_LIKE = "".join(
    f"(?!(?:{word})$)"
    for word in ("[0-9]+", VERSION_LIKE, *map(_case_insensitive, sorted(RESERVED_ALIASES)))
)
ALIAS_PATTERN = rf"^{_NOT_VERSION_LIKE}{ALIAS_CHARS}+$"

# A key must not be an absolute path or have a ``..`` part (keys become artifact paths).
_NOT_A_PATH_ESCAPE = r"(?!/)(?!(?:.*/)?\.\.(?:/|$))"
TAG_KEY_PATTERN = "^" + _NOT_A_PATH_ESCAPE + KEY_PATTERN.removeprefix("^")

# No control characters, and no white space at either end.
_SHOWN = f"[^{CONTROL_CHARS}]"
_SHOWN_EDGE = rf"[^\s{CONTROL_CHARS}]"
DISPLAY_NAME_PATTERN = rf"^{_SHOWN_EDGE}(?:{_SHOWN}*{_SHOWN_EDGE})?$"

# A relative path inside a store (:func:`mloop.store.artifacts.clean_relative_path`): no NUL
# or backslash, not absolute (``/x``, ``c:x``), no ``..`` part. ``[\s\S]`` rather than ``.``
# so that a newline cannot hide a part from the lookaheads.
_RELATIVE = r"(?!/)(?![\s\S]:)(?!(?:[\s\S]*/)?\.\.(?:/|$))"
RELATIVE_PATH_PATTERN = rf"^{_RELATIVE}[^\x00\\]*$"
# ...and not empty once empty and ``.`` parts are dropped: something besides ``/`` and ``.``.
FILE_PATH_PATTERN = rf"^{_RELATIVE}(?=[\s\S]*[^/.])[^\x00\\]*$"
# ``runs:/<run_id>/<path>`` (:func:`mloop.models.uris.parse_runs_uri`); the path may be empty.
RUNS_URI_PATTERN = rf"^runs:/{ID_PATTERN[1:-1]}(?:/{_RELATIVE}[^\x00\\]*)?$"


# A prompt reference (:func:`mloop.prompts.checks.parse_prompt_ref`): ``name``, ``name:3``,
# ``name:latest`` or ``name@label``.
_NAME_BODY = NAME_PATTERN.removeprefix("^").removesuffix("*$") + f"{{0,{MAX_NAME_LENGTH - 1}}}"
_ALIAS_BODY = f"{_NOT_VERSION_LIKE}{ALIAS_CHARS}{{1,{MAX_ALIAS_LENGTH}}}"
_VERSION_NUMBER = "(?!0+$)[0-9]{1,9}"
PROMPT_REF_PATTERN = rf"^{_NAME_BODY}(?::(?:latest|{_VERSION_NUMBER})|@{_ALIAS_BODY})?$"


NO_NUL_PATTERN = r"^[^\x00]*$"


def text(max_length: int, description: str | None = None) -> Rule:
    """Free text of at most ``max_length`` characters, without NUL (:func:`check_text`)."""
    keywords: dict[str, Any] = {"maxLength": max_length, "pattern": NO_NUL_PATTERN}
    if description:
        keywords["description"] = description
    return Rule(**keywords)


AssetName = Annotated[
    str,
    Rule(
        pattern=NAME_PATTERN,
        minLength=1,
        maxLength=MAX_NAME_LENGTH,
        description="Letters, digits and _ . -, starting with a letter or digit",
    ),
]
"""The name of a model, dataset or prompt (:func:`mloop.core.naming.check_asset_name`)."""

AliasName = Annotated[
    str,
    Rule(
        pattern=ALIAS_PATTERN,
        minLength=1,
        maxLength=MAX_ALIAS_LENGTH,
        description="Letters, digits, _ and -; not a number, v<number> or 'latest'",
    ),
]
"""An alias or label (:func:`mloop.core.naming.check_alias_name`)."""

DisplayName = Annotated[
    str,
    Rule(
        pattern=DISPLAY_NAME_PATTERN,
        minLength=1,
        maxLength=MAX_NAME_LENGTH,
        description="Text without control characters or white space at either end",
    ),
]
"""An experiment or run name (:func:`mloop.core.validation.check_name`)."""

_KEY_RULE: dict[str, Any] = {
    "pattern": TAG_KEY_PATTERN,
    "minLength": 1,
    "maxLength": MAX_KEY_LENGTH,
    "description": "Letters, digits, spaces and _ - . / :, not an absolute or parent path",
}
Key = Annotated[str, Rule(**_KEY_RULE)]
"""A param, metric or tag key (:func:`mloop.core.validation.check_key`)."""

TagValue = Annotated[str, text(MAX_TAG_VALUE_LENGTH)]

# Keys are stated as propertyNames: a ``dict[Key, ...]`` would reach the schema as
# ``patternProperties``, which lets other keys through.
Tags = Annotated[dict[str, TagValue], Rule(propertyNames=_KEY_RULE)]
"""Tags: :data:`Key` to :data:`TagValue`."""

Id = Annotated[str, Rule(pattern=ID_PATTERN, description="32 lowercase hexadecimal digits")]
"""A run id or upload id: what :func:`mloop.core.ids.new_id` returns."""

Digest = Annotated[
    str, Rule(pattern=DIGEST_PATTERN, description="sha256: 64 lowercase hexadecimal digits")
]

ExperimentId = Annotated[
    str, Rule(pattern=EXPERIMENT_ID_PATTERN, description="An experiment id: a string of digits")
]
"""An experiment id (:func:`mloop.tracking.experiments.parse_experiment_id`)."""

RelativePath = Annotated[
    str,
    Rule(
        pattern=RELATIVE_PATH_PATTERN,
        description="A relative path: no '..' part, NUL or backslash; empty for the root",
    ),
]
FilePath = Annotated[
    str,
    Rule(
        pattern=FILE_PATH_PATTERN,
        minLength=1,
        description="A relative file path: no '..' part, NUL or backslash",
    ),
]


def _integer(value: object) -> object:
    """Integers, and floats without a fraction (JSON Schema's integer: 3.0 is 3); not
    ``true`` and not strings of digits, with pydantic's own message for a strict int."""
    if isinstance(value, bool | str):
        raise PydanticCustomError("int_type", "Input should be a valid integer")
    return value


# The bounds come before the validator so that they reach the schema as minimum and maximum.
Time = Annotated[int, Field(le=MAX_SAFE_INTEGER), BeforeValidator(_integer), Rule(minimum=0)]
"""Milliseconds since the epoch. Negative times are refused by the handlers, with their own
messages, so ``minimum`` is only stated."""

Step = Annotated[int, Rule(minimum=-MAX_SAFE_INTEGER, maximum=MAX_SAFE_INTEGER)]
"""A metric step. The server takes any 64-bit step (as MLflow does); the document states the
range JSON keeps exactly, so that no reader of it rounds a bound."""

RunsUri = Annotated[
    str,
    Rule(
        pattern=RUNS_URI_PATTERN,
        description="runs:/<run_id>/<path>, the run's artifact directory of a logged model",
    ),
]

PageToken = Annotated[str, Rule(description=PAGE_TOKEN_RULE)]
"""A page token (:func:`mloop.core.naming.decode_page_token`)."""
