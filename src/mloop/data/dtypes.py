"""Logical column types: the names contracts use, and how Arrow types map onto them.

A contract names a *family* (``int``, ``float``, ``number``, ``string``, ...) or an exact
width (``int32``, ``float64``, ...). Families accept every Arrow type of the kind: ``int``
accepts ``int8`` to ``uint64``; ``string`` accepts ``string``, ``large_string``,
``string_view`` and dictionary-encoded strings (pandas categoricals).

The same classification decides which statistics a profile computes for a column.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal

import pyarrow as pa
import pyarrow.types as pat

Kind = Literal["numeric", "temporal", "categorical", "other"]


def _is_string(t: pa.DataType) -> bool:
    return bool(pat.is_string(t) or pat.is_large_string(t) or _is_string_view(t))


def _is_string_view(t: pa.DataType) -> bool:
    check = getattr(pat, "is_string_view", None)
    return bool(check(t)) if check is not None else False


def _is_dict_string(t: pa.DataType) -> bool:
    return bool(pat.is_dictionary(t) and _is_string(t.value_type))


def _is_binary(t: pa.DataType) -> bool:
    return bool(pat.is_binary(t) or pat.is_large_binary(t) or pat.is_fixed_size_binary(t))


def _exact(name: str) -> Callable[[pa.DataType], bool]:
    return lambda t: str(t) == name


TYPE_FAMILIES: dict[str, Callable[[pa.DataType], bool]] = {
    "int": lambda t: bool(pat.is_integer(t)),
    "float": lambda t: bool(pat.is_floating(t)),
    "number": lambda t: bool(pat.is_integer(t) or pat.is_floating(t) or pat.is_decimal(t)),
    "decimal": lambda t: bool(pat.is_decimal(t)),
    "string": lambda t: _is_string(t) or _is_dict_string(t),
    "category": lambda t: bool(pat.is_dictionary(t)),
    "bool": lambda t: bool(pat.is_boolean(t)),
    "date": lambda t: bool(pat.is_date(t)),
    "timestamp": lambda t: bool(pat.is_timestamp(t)),
    "time": lambda t: bool(pat.is_time(t)),
    "duration": lambda t: bool(pat.is_duration(t)),
    "binary": _is_binary,
    "list": lambda t: bool(pat.is_list(t) or pat.is_large_list(t) or pat.is_fixed_size_list(t)),
    "struct": lambda t: bool(pat.is_struct(t)),
    "map": lambda t: bool(pat.is_map(t)),
}
_EXACT: dict[str, str] = {
    **{n: n for n in ["int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64"]},
    "float16": "halffloat",
    "float32": "float",
    "float64": "double",
    "date32": "date32[day]",
    "date64": "date64[ms]",
    "large_string": "large_string",
}
for _name, _arrow in _EXACT.items():
    TYPE_FAMILIES[_name] = _exact(_arrow)

TYPE_NAMES: tuple[str, ...] = tuple(TYPE_FAMILIES)


def type_matches(declared: str, actual: pa.DataType) -> bool:
    """Whether an Arrow type satisfies a contract's type name."""
    return TYPE_FAMILIES[declared](actual)


def type_name(t: pa.DataType) -> str:
    """The Arrow type as the text profiles and reports show (``int64``, ``timestamp[us]``)."""
    return str(t)


def kind_of(t: pa.DataType) -> Kind:
    """Which statistics apply: numeric, temporal, categorical (top values), or other."""
    if pat.is_integer(t) or pat.is_floating(t) or pat.is_decimal(t):
        return "numeric"
    if pat.is_date(t) or pat.is_timestamp(t):
        return "temporal"
    if _is_string(t) or pat.is_boolean(t) or _is_dict_string(t) or pat.is_dictionary(t):
        return "categorical"
    return "other"


def is_string(t: pa.DataType) -> bool:
    """Plain or dictionary-encoded strings."""
    return _is_string(t) or _is_dict_string(t)


def is_float(t: pa.DataType) -> bool:
    return bool(pat.is_floating(t))


def is_bool(t: pa.DataType) -> bool:
    return bool(pat.is_boolean(t))


def epoch_us_sql(value: str, t: pa.DataType) -> str:
    """SQL giving ``value`` (a temporal column of Arrow type ``t``, or an aggregate of it) as
    microseconds since the epoch, naive values read as UTC.

    DuckDB's ``epoch_us`` takes microsecond timestamps only: dates and the nanosecond
    timestamps pandas makes by default (``datetime64[ns, tz]``) are cast first.
    """
    if pat.is_date(t):
        return f"epoch_us(CAST({value} AS TIMESTAMP))"
    if pat.is_timestamp(t) and t.unit == "ns":
        target = "TIMESTAMPTZ" if t.tz else "TIMESTAMP"
        return f"epoch_us(CAST({value} AS {target}))"
    return f"epoch_us({value})"
