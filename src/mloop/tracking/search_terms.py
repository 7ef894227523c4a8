"""The vocabulary of the run-search language (see ``search``): what can be named, which
operators each kind of identifier allows, and the parsed form the SQL side compiles."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

Kind = Literal["metric", "param", "tag", "attribute"]

# Prefix, lower-cased -> the kind of identifier it introduces.
PREFIXES: dict[str, Kind] = {
    "metrics": "metric",
    "metric": "metric",
    "params": "param",
    "param": "param",
    "parameters": "param",
    "parameter": "param",
    "tags": "tag",
    "tag": "tag",
    "attributes": "attribute",
    "attribute": "attribute",
    "attr": "attribute",
    "run": "attribute",
}

# Accepted attribute name -> canonical name (the runs column).
ATTRIBUTES: dict[str, str] = {
    "status": "status",
    "run_name": "run_name",
    "name": "run_name",
    "run_id": "run_id",
    "user_id": "user_id",
    "start_time": "start_time",
    "created": "start_time",
    "end_time": "end_time",
    "parent_run_id": "parent_run_id",
    "experiment_id": "experiment_id",
}
CANONICAL_ATTRIBUTES = sorted(set(ATTRIBUTES.values()))
# Attributes compared as numbers (epoch ms), allowing IS [NOT] NULL, compared as integer ids.
NUMERIC_ATTRIBUTES = frozenset({"start_time", "end_time"})
NULLABLE_ATTRIBUTES = frozenset({"end_time", "parent_run_id"})
INTEGER_ATTRIBUTES = frozenset({"experiment_id"})

NUMERIC_OPS = ("=", "!=", "<", "<=", ">", ">=")
STRING_OPS = ("=", "!=", "LIKE", "ILIKE", "IN", "NOT IN")
NULL_OPS = ("IS NULL", "IS NOT NULL")
TUPLE_OPS = ("IN", "NOT IN")

# A key that needs no quotes after its prefix.
BARE_KEY = re.compile(r"[\w.\-/:]+")
KIND_PLURAL = {"metric": "metrics", "param": "params", "tag": "tags", "attribute": "attributes"}


@dataclass(frozen=True)
class Clause:
    """One comparison of a filter.

    ``value`` is a float for numeric comparisons, a string for string comparisons, a tuple
    of strings for IN / NOT IN, and None for IS NULL / IS NOT NULL. Attribute keys are
    canonical (``name`` becomes ``run_name``, ``created`` becomes ``start_time``).
    """

    kind: Kind
    key: str
    op: str
    value: float | str | tuple[str, ...] | None


@dataclass(frozen=True)
class OrderKey:
    """One order-by item."""

    kind: Kind
    key: str
    ascending: bool = True


def display(kind: Kind, key: str) -> str:
    """An identifier as a user would write it, quoting the key where needed."""
    if kind == "attribute":
        return key
    shown = key if BARE_KEY.fullmatch(key) else '"' + key.replace('"', '""') + '"'
    return f"{KIND_PLURAL[kind]}.{shown}"


def allowed_ops(kind: Kind, key: str) -> tuple[str, ...]:
    """The operators an identifier of this kind and key may be compared with."""
    if kind == "metric":
        return NUMERIC_OPS + NULL_OPS
    if kind in ("param", "tag"):
        return STRING_OPS + NULL_OPS
    if key in INTEGER_ATTRIBUTES:
        base: tuple[str, ...] = ("=", "!=", "IN", "NOT IN")
    elif key in NUMERIC_ATTRIBUTES:
        base = NUMERIC_OPS
    else:
        base = STRING_OPS
    return base + NULL_OPS if key in NULLABLE_ATTRIBUTES else base


def is_numeric(kind: Kind, key: str) -> bool:
    """Whether the identifier compares with numbers (the other kinds compare strings)."""
    return kind == "metric" or (kind == "attribute" and key in NUMERIC_ATTRIBUTES)
