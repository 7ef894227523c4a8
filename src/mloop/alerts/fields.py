"""Field types of the alerts messages: each checks its value and states the same rule in the
OpenAPI document, so a request the document calls valid is one the server takes.

The checks raise pydantic errors with messages that say what a valid value looks like; the
server turns them into a 400 naming the field (``config.url``, ``subject.endpoint``...).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Annotated, Any

from pydantic import AfterValidator, BeforeValidator, StrictFloat
from pydantic_core import PydanticCustomError

from mloop.core.fields import Rule

# Text shown in tables and messages: no control characters (NUL, newlines, escapes).
PRINTABLE = r"^[^\x00-\x1f\x7f]*$"
NON_EMPTY_PRINTABLE = r"^[^\x00-\x1f\x7f]+$"
SUBJECT_KEY_PATTERN = r"^[A-Za-z][A-Za-z0-9_.-]{0,63}$"
# A link to a page of this server (a path, not "//host") or an http(s) URL; never
# "javascript:" or any other scheme, since templates put it in an href.
LINK_PATTERN = r"^(?:/(?!/)|https?://)[^\x00-\x20\x7f]*$"
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
# Host names and IPv4 addresses (bracketed IPv6 literals are left out: a pattern cannot
# tell a valid one, and URL parsers refuse the others).
HOST_PATTERN = rf"^{_LABEL}(?:\.{_LABEL})*$"
_PORT = r"(?:[1-9][0-9]{0,3}|[1-5][0-9]{4}|6[0-4][0-9]{3}|65[0-4][0-9]{2}|655[0-2][0-9]|6553[0-5])"
_HOST = HOST_PATTERN.removeprefix("^").removesuffix("$")
URL_PATTERN = rf"^https?://{_HOST}(?::{_PORT})?(?:[/?#][^\x00-\x20\x7f]*)?$"
EMAIL_PATTERN = rf"^[A-Za-z0-9.!#$%&'*+/=?^_`{{|}}~-]{{1,64}}@{_HOST}$"
HEADER_NAME_PATTERN = r"^[A-Za-z0-9!#$%&'*+.^_`|~-]{1,128}$"
HEADER_VALUE_PATTERN = r"^[ -~]*$"  # printable ASCII: what every HTTP stack sends as is

MAX_METRIC_LENGTH = 250
MAX_SOURCE_LENGTH = 128
MAX_SUBJECT_ITEMS = 16
MAX_SUBJECT_VALUE = 256
MAX_LINK_LENGTH = 2000
MAX_URL_LENGTH = 2000
MAX_METRICS = 10_000


def _whole(value: object) -> object:
    """Integers, and floats without a fraction (JSON Schema's integer: 3.0 is 3); not
    ``true`` and not strings of digits, which the document does not call integers."""
    if isinstance(value, bool | str):
        raise PydanticCustomError("int_type", "Input should be a valid integer")
    return value


Whole = Annotated[int, BeforeValidator(_whole)]
"""An integer of a JSON body, as strict as the document: no booleans, no strings."""

Number = StrictFloat
"""A number of a JSON body: integers and floats, no booleans or strings."""


def _fail(what: str, value: str, rule: str) -> PydanticCustomError:
    shown = value if len(value) <= 60 else value[:60] + "..."
    return PydanticCustomError("invalid_alerts_value", f"{what} {shown!r} {rule}")


def _checked_text(pattern: str, max_length: int, what: str, rule: str) -> Callable[[str], str]:
    compiled = re.compile(pattern)

    def check(value: str) -> str:
        if len(value) > max_length:
            raise PydanticCustomError(
                "too_long",
                f"{what} is {len(value)} characters long; the limit is {max_length}",
            )
        if not compiled.fullmatch(value):
            raise _fail(what, value, rule)
        return value

    return check


def checked(pattern: str, max_length: int, what: str, rule: str, *, min_length: int = 0) -> Any:
    """A string type checked against ``pattern`` and ``max_length``, documented as such."""
    keywords: dict[str, Any] = {"pattern": pattern, "maxLength": max_length}
    if min_length:
        keywords["minLength"] = min_length
    return Annotated[
        str, AfterValidator(_checked_text(pattern, max_length, what, rule)), Rule(**keywords)
    ]


MetricPattern = checked(
    NON_EMPTY_PRINTABLE,
    MAX_METRIC_LENGTH,
    "metric",
    "must be a metric name or glob pattern (drift.share, drift.column.*.score) without "
    "control characters",
    min_length=1,
)
SourcePattern = checked(
    NON_EMPTY_PRINTABLE,
    MAX_SOURCE_LENGTH,
    "source",
    "must be a source name or glob pattern (monitor, gateway, *) without control characters",
    min_length=1,
)
MetricName = checked(
    NON_EMPTY_PRINTABLE,
    MAX_METRIC_LENGTH,
    "metric name",
    "must be text without control characters",
    min_length=1,
)
Source = checked(
    NON_EMPTY_PRINTABLE,
    MAX_SOURCE_LENGTH,
    "source",
    "must be text without control characters (monitor, gateway...)",
    min_length=1,
)
SubjectValue = checked(
    PRINTABLE, MAX_SUBJECT_VALUE, "subject value", "must be text without control characters"
)
Link = checked(
    LINK_PATTERN,
    MAX_LINK_LENGTH,
    "link",
    "must be a path on this server (/monitors/...) or an http(s):// URL",
)
HttpUrl = checked(
    URL_PATTERN,
    MAX_URL_LENGTH,
    "url",
    "must be an http:// or https:// URL with a host name, like https://hooks.example.com/abc",
    min_length=1,
)
Email = checked(
    EMAIL_PATTERN, 254, "address", "must be an e-mail address like ops@example.com", min_length=3
)
Host = checked(
    HOST_PATTERN, 253, "host", "must be a host name or address like smtp.example.com", min_length=1
)
NO_NUL = r"^[^\x00]*$"
Username = checked(NO_NUL, 256, "username", "must not contain NUL characters")
Password = checked(NO_NUL, 1024, "password", "must not contain NUL characters")
HeaderValue = checked(HEADER_VALUE_PATTERN, 4096, "header value", "must be printable ASCII text")


def _check_keys(
    pattern: re.Pattern[str], max_items: int, what: str, rule: str, max_key: int
) -> Callable[[dict[str, Any]], dict[str, Any]]:
    def check(value: dict[str, Any]) -> dict[str, Any]:
        if len(value) > max_items:
            raise PydanticCustomError(
                "too_many", f"at most {max_items} {what}s are allowed, got {len(value)}"
            )
        for key in value:
            if len(key) > max_key or not pattern.fullmatch(key):
                raise _fail(what, key, rule)
        return value

    return check


def keyed(
    value_type: Any, pattern: str, max_items: int, what: str, rule: str, max_key: int = 64
) -> Any:
    """A JSON object whose keys match ``pattern``, at most ``max_items`` of them. The keys'
    rule reaches the document as ``propertyNames`` (a constrained key type would become
    ``patternProperties``, which lets other keys through)."""
    name_rule: dict[str, Any] = {"pattern": pattern, "maxLength": max_key}
    return Annotated[
        dict[str, value_type],
        AfterValidator(_check_keys(re.compile(pattern), max_items, what, rule, max_key)),
        Rule(propertyNames=name_rule, maxProperties=max_items),
    ]


SUBJECT_KEY_RULE = (
    "must start with a letter and hold only letters, digits and _ . - (at most 64): "
    "endpoint, monitor, route, model"
)
Subject = keyed(
    SubjectValue, SUBJECT_KEY_PATTERN, MAX_SUBJECT_ITEMS, "subject key", SUBJECT_KEY_RULE
)
Links = keyed(Link, SUBJECT_KEY_PATTERN, MAX_SUBJECT_ITEMS, "link name", SUBJECT_KEY_RULE)
Headers = keyed(
    HeaderValue, HEADER_NAME_PATTERN, 20, "header name", "must be an HTTP header name", 128
)
Metrics = keyed(
    Number | None,
    NON_EMPTY_PRINTABLE,
    MAX_METRICS,
    "metric name",
    "must be text without control characters",
    MAX_METRIC_LENGTH,
)
References = keyed(
    Number | None,
    NON_EMPTY_PRINTABLE,
    MAX_METRICS,
    "metric name",
    "must be text without control characters",
    MAX_METRIC_LENGTH,
)
