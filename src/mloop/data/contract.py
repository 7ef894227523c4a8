"""Data contracts: what a dataset must satisfy, declared in Python or YAML.

The same classes back both: ``Contract.from_dict`` reads the parsed YAML (see
``contract_yaml``), and building the classes in code runs the same checks on every field,
so a mistake gets the same message either way. Every error is a ``ContractError`` naming
the key path (``columns.amount.min: expected a number, got 'abc'``). Unknown keys and check
names are refused with the closest known name as a suggestion.

``Contract.checks()`` compiles a contract into the flat list of ``Check`` objects that
``validate`` executes. The YAML format and each check's meaning are described in
``docs/data.md``.
"""

from __future__ import annotations

import datetime as dt
import difflib
import math
import re
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Literal

from mloop.data.checks import Check, Severity
from mloop.data.custom import CustomCheck
from mloop.data.dtypes import TYPE_NAMES
from mloop.data.errors import ContractError, format_path
from mloop.data.sql_rules import RuleSyntaxError, check_rule_sql, regex_problem

ExtraColumns = Literal["allow", "warn", "error"]

MAX_NAME_LENGTH = 256
MAX_ALLOWED_VALUES = 100_000

COLUMN_CHECKS: tuple[str, ...] = (
    "type",
    "required",
    "nullable",
    "unique",
    "min",
    "max",
    "allowed",
    "regex",
)
"""The check keys of a column; each may also be written ``{value: ..., severity: warn}``."""

_COLUMN_META = ("severity", "description")
_CONTRACT_KEYS = (
    "contract",
    "version",
    "description",
    "columns",
    "unique",
    "rows",
    "freshness",
    "rules",
    "distribution",
    "custom",
    "extra_columns",
)
_INT_TYPES = frozenset({"int", "int8", "int16", "int32", "int64"}) | frozenset(
    {"uint8", "uint16", "uint32", "uint64"}
)
_NUMERIC_TYPES = _INT_TYPES | frozenset(
    {"float", "number", "decimal", "float16", "float32", "float64"}
)
_TEMPORAL_TYPES = frozenset({"date", "timestamp", "date32", "date64"})
_STRING_TYPES = frozenset({"string", "large_string"})
_DURATION_RE = re.compile(r"(\d+(?:\.\d+)?)\s*(ms|w|d|h|m|s)")
_DURATION_UNITS = {
    "ms": 0.001,
    "s": 1.0,
    "m": 60.0,
    "h": 3600.0,
    "d": 86400.0,
    "w": 604800.0,
}


# -- the model ------------------------------------------------------------------------


@dataclass(frozen=True)
class Column:
    """What one column must satisfy. Unset checks are not run.

    ``required``: the column must exist (a missing optional column skips its checks).
    ``nullable=False``: no nulls. ``min``/``max``: inclusive bounds (numbers for numeric
    columns, dates or timestamps for temporal ones). ``allowed``: the only values permitted.
    ``regex``: a RE2 pattern every non-null value must contain a match of (anchor it with
    ``^...$`` to match whole values). ``severity`` applies to all of the column's checks;
    ``severities`` overrides it per check key (``{"regex": "warn"}``).
    """

    type: str | None = None
    required: bool = True
    nullable: bool = True
    unique: bool = False
    min: Any = None
    max: Any = None
    allowed: Sequence[Any] | None = None
    regex: str | None = None
    severity: Severity = "error"
    severities: Mapping[str, Severity] = field(default_factory=dict)
    description: str = ""

    def __post_init__(self) -> None:
        if self.type is not None:
            _set(self, "type", _choice(self.type, TYPE_NAMES, ("type",), "type"))
        _set(self, "required", _bool(self.required, ("required",)))
        _set(self, "nullable", _bool(self.nullable, ("nullable",)))
        _set(self, "unique", _bool(self.unique, ("unique",)))
        if self.min is not None:
            _set(self, "min", _bound(self.min, ("min",), self.type))
        if self.max is not None:
            _set(self, "max", _bound(self.max, ("max",), self.type))
        if self.min is not None and self.max is not None:
            try:
                inverted = self.max < self.min
            except TypeError:
                raise ContractError(
                    f"max ({self.max!r}) and min ({self.min!r}) are of different kinds", ("max",)
                ) from None
            if inverted:
                raise ContractError(f"max ({self.max!r}) is below min ({self.min!r})", ("max",))
        if self.allowed is not None:
            _set(self, "allowed", _allowed(self.allowed, ("allowed",), self.type))
        if self.regex is not None:
            _set(self, "regex", _regex(self.regex, ("regex",)))
        _set(self, "severity", _severity(self.severity, ("severity",)))
        if not isinstance(self.severities, Mapping):
            raise ContractError("expected a mapping of check key to severity", ("severities",))
        checked: dict[str, Severity] = {}
        for key, value in self.severities.items():
            _known(key, COLUMN_CHECKS, ("severities",), "check")
            checked[key] = _severity(value, (key, "severity"))
        _set(self, "severities", checked)
        _set(self, "description", _text(self.description, ("description",)))

    def severity_of(self, key: str) -> Severity:
        return self.severities.get(key, self.severity)


@dataclass(frozen=True)
class UniqueKey:
    """Rows must not repeat a combination of these columns' values (rows with a null in
    the key are not compared, as with SQL ``UNIQUE``)."""

    columns: tuple[str, ...]
    severity: Severity = "error"

    def __post_init__(self) -> None:
        cols = [self.columns] if isinstance(self.columns, str) else self.columns
        if not isinstance(cols, Sequence) or not cols:
            raise ContractError("expected a column name or a non-empty list of them", ("columns",))
        names = tuple(_column_name(c, ("columns", i)) for i, c in enumerate(cols))
        if len(set(names)) != len(names):
            raise ContractError("a column appears twice in the key", ("columns",))
        _set(self, "columns", names)
        _set(self, "severity", _severity(self.severity, ("severity",)))


@dataclass(frozen=True)
class RowCount:
    """Bounds on the number of rows (inclusive)."""

    min: int | None = None
    max: int | None = None
    severity: Severity = "error"

    def __post_init__(self) -> None:
        if self.min is None and self.max is None:
            raise ContractError("give min, max or both", ())
        if self.min is not None:
            _set(self, "min", _int(self.min, ("min",), minimum=0))
        if self.max is not None:
            _set(self, "max", _int(self.max, ("max",), minimum=0))
        if self.min is not None and self.max is not None and self.max < self.min:
            raise ContractError(f"max ({self.max}) is below min ({self.min})", ("max",))
        _set(self, "severity", _severity(self.severity, ("severity",)))


@dataclass(frozen=True)
class Freshness:
    """The newest value of a date or timestamp column must be at most ``max_age`` old.

    ``max_age`` is a ``timedelta``, a number of seconds, or text such as ``2d``, ``12h``,
    ``1d12h``, ``30m``, ``45s`` (units: w, d, h, m, s, ms). Timestamps without a time zone
    are taken as UTC; a date counts from its midnight UTC.
    """

    column: str
    max_age: dt.timedelta
    severity: Severity = "error"

    def __post_init__(self) -> None:
        _set(self, "column", _column_name(self.column, ("column",)))
        _set(self, "max_age", _duration(self.max_age, ("max_age",)))
        _set(self, "severity", _severity(self.severity, ("severity",)))


@dataclass(frozen=True)
class Rule:
    """A cross-column condition every row must meet, as one SQL expression (DuckDB
    dialect) over the columns, such as ``discount <= amount``. Like an SQL ``CHECK``
    constraint, a row fails only when the expression is false; null passes."""

    name: str
    sql: str
    severity: Severity = "error"
    description: str = ""

    def __post_init__(self) -> None:
        _set(self, "name", _check_name(self.name, ("name",)))
        if not isinstance(self.sql, str):
            raise ContractError(f"expected SQL text, got {_show(self.sql)}", ("sql",))
        try:
            check_rule_sql(self.sql)
        except RuleSyntaxError as exc:
            raise ContractError(str(exc), ("sql",)) from None
        _set(self, "severity", _severity(self.severity, ("severity",)))
        _set(self, "description", _text(self.description, ("description",)))

    @property
    def columns(self) -> list[str]:
        """The columns the expression refers to."""
        return check_rule_sql(self.sql)


@dataclass(frozen=True)
class Distribution:
    """Expectations on a column compared with a reference profile.

    ``mean_within``: ``|mean - reference mean| <= mean_within * |reference mean|`` (a
    relative tolerance; absolute when the reference mean is 0). ``std_within``: the same
    for the standard deviation. ``psi_max``: the population stability index against the
    reference must not exceed this bound (numeric columns: the reference's histogram bins;
    categorical columns: the reference's categories plus one bin for all others).
    """

    column: str
    mean_within: float | None = None
    std_within: float | None = None
    psi_max: float | None = None
    severity: Severity = "error"

    def __post_init__(self) -> None:
        _set(self, "column", _column_name(self.column, ("column",)))
        if self.mean_within is None and self.std_within is None and self.psi_max is None:
            raise ContractError(
                "give at least one of mean_within, std_within, psi_max", ("column",)
            )
        for key in ("mean_within", "std_within", "psi_max"):
            value = getattr(self, key)
            if value is not None:
                _set(self, key, float(_number(value, (key,), minimum=0.0)))
        _set(self, "severity", _severity(self.severity, ("severity",)))


@dataclass(frozen=True)
class CustomRef:
    """A custom check in a contract: a registered name, or the ``CustomCheck`` itself, with
    an optional severity that overrides the check's own."""

    name: str
    severity: Severity | None = None
    check: CustomCheck | None = None

    def __post_init__(self) -> None:
        _set(self, "name", _check_name(self.name, ("name",)))
        if self.severity is not None:
            _set(self, "severity", _severity(self.severity, ("severity",)))


@dataclass(frozen=True)
class Contract:
    """A data contract. Build it in code or load it from YAML with ``load_contract``.

    ``columns`` maps column names to ``Column``; ``unique`` takes column names, lists of
    them (composite keys) or ``UniqueKey``; ``freshness`` one ``Freshness`` or a list;
    ``custom`` registered check names, ``@check`` functions or ``CustomRef``.
    ``extra_columns`` says what a column the contract does not name is: allowed (default),
    a warning or an error.
    """

    name: str
    version: int | str = 1
    columns: Mapping[str, Column] = field(default_factory=dict)
    unique: Sequence[UniqueKey | str | Sequence[str]] = ()
    rows: RowCount | None = None
    freshness: Freshness | Sequence[Freshness] | None = None
    rules: Sequence[Rule] = ()
    distribution: Sequence[Distribution] = ()
    custom: Sequence[CustomRef | CustomCheck | str] = ()
    extra_columns: ExtraColumns = "allow"
    description: str = ""

    def __post_init__(self) -> None:
        _set(self, "name", _check_name(self.name, ("contract",)))
        if isinstance(self.version, bool) or not isinstance(self.version, int | str):
            raise ContractError(
                f"expected an integer or text, got {_show(self.version)}", ("version",)
            )
        _set(self, "description", _text(self.description, ("description",)))
        _set(self, "columns", self._checked_columns())
        _set(self, "unique", self._checked_unique())
        if self.rows is not None and not isinstance(self.rows, RowCount):
            raise ContractError("expected a RowCount", ("rows",))
        _set(self, "freshness", self._checked_list("freshness", Freshness, self.freshness))
        _set(self, "rules", self._checked_list("rules", Rule, self.rules))
        _set(
            self,
            "distribution",
            self._checked_list("distribution", Distribution, self.distribution),
        )
        _set(self, "custom", self._checked_custom())
        _set(
            self,
            "extra_columns",
            _choice(self.extra_columns, ("allow", "warn", "error"), ("extra_columns",), "value"),
        )
        self._check_names_unique()

    # normalisation of the Python-API conveniences
    def _checked_columns(self) -> dict[str, Column]:
        if not isinstance(self.columns, Mapping):
            raise ContractError("expected a mapping of column name to Column", ("columns",))
        out: dict[str, Column] = {}
        for name, spec in self.columns.items():
            _column_name(name, ("columns", str(name)))
            if not isinstance(spec, Column):
                raise ContractError(f"expected a Column, got {_show(spec)}", ("columns", name))
            out[name] = spec
        return out

    def _checked_unique(self) -> list[UniqueKey]:
        items = self.unique
        if isinstance(items, str | UniqueKey) or not isinstance(items, Sequence):
            raise ContractError("expected a list of keys", ("unique",))
        out = []
        for i, item in enumerate(items):
            if isinstance(item, UniqueKey):
                out.append(item)
            else:
                with _at("unique", i):
                    cols = (item,) if isinstance(item, str) else tuple(item)
                    out.append(UniqueKey(cols))
        return out

    def _checked_list(self, key: str, cls: type, value: Any) -> list[Any]:
        if value is None:
            return []
        items = [value] if isinstance(value, cls) else value
        if not isinstance(items, Sequence) or isinstance(items, str):
            raise ContractError(f"expected a list of {cls.__name__}", (key,))
        for i, item in enumerate(items):
            if not isinstance(item, cls):
                raise ContractError(f"expected a {cls.__name__}, got {_show(item)}", (key, i))
        return list(items)

    def _checked_custom(self) -> list[CustomRef]:
        if isinstance(self.custom, str) or not isinstance(self.custom, Sequence):
            raise ContractError("expected a list of custom checks", ("custom",))
        out = []
        for i, item in enumerate(self.custom):
            with _at("custom", i):
                if isinstance(item, CustomRef):
                    out.append(item)
                elif isinstance(item, CustomCheck):
                    out.append(CustomRef(item.name, check=item))
                elif isinstance(item, str):
                    out.append(CustomRef(item))
                else:
                    raise ContractError(
                        f"expected a check name or an @check function, got {_show(item)}"
                    )
        return out

    def _check_names_unique(self) -> None:
        seen: dict[str, tuple[str | int, ...]] = {}
        for check, path in self._compiled():
            if check.name in seen:
                raise ContractError(
                    f"the check name {check.name!r} is used twice (also at "
                    f"{format_path(seen[check.name])})",
                    path,
                )
            seen[check.name] = path

    def _freshness_list(self) -> list[Freshness]:
        value = self.freshness
        if value is None:
            return []
        return [value] if isinstance(value, Freshness) else list(value)

    # -- compilation -----------------------------------------------------------------

    def checks(self) -> list[Check]:
        """The contract as a flat list of checks, in a stable order."""
        return [c for c, _ in self._compiled()]

    def _compiled(self) -> Iterator[tuple[Check, tuple[str | int, ...]]]:
        for name, col in self.columns.items():
            yield from _column_checks(name, col)
        if self.extra_columns != "allow":
            yield (
                Check(
                    "extra_columns",
                    "extra_columns",
                    (),
                    "error" if self.extra_columns == "error" else "warn",
                    "no columns other than those the contract names",
                    {"known": tuple(self.columns)},
                ),
                ("extra_columns",),
            )
        for i, key in enumerate(self.unique):
            assert isinstance(key, UniqueKey)
            label = ", ".join(key.columns)
            yield (
                Check(
                    f"unique({label})",
                    "unique",
                    key.columns,
                    key.severity,
                    f"({label}) is unique",
                ),
                ("unique", i),
            )
        if self.rows is not None:
            yield (
                Check(
                    "row_count",
                    "row_count",
                    (),
                    self.rows.severity,
                    _range_text("row count", self.rows.min, self.rows.max),
                    {"min": self.rows.min, "max": self.rows.max},
                ),
                ("rows",),
            )
        for i, fresh in enumerate(self._freshness_list()):
            yield (
                Check(
                    f"{fresh.column}.freshness",
                    "freshness",
                    (fresh.column,),
                    fresh.severity,
                    f"newest {fresh.column} at most {_duration_text(fresh.max_age)} old",
                    {"max_age": fresh.max_age},
                ),
                ("freshness", i),
            )
        for i, rule in enumerate(self.rules):
            yield (
                Check(
                    rule.name,
                    "sql_rule",
                    tuple(rule.columns),
                    rule.severity,
                    rule.description or rule.sql,
                    {"sql": rule.sql},
                ),
                ("rules", i, "name"),
            )
        for i, dist in enumerate(self.distribution):
            yield from _distribution_checks(dist, ("distribution", i))
        for i, ref in enumerate(self.custom):
            assert isinstance(ref, CustomRef)
            default = ref.check.severity if ref.check is not None else "error"
            description = ref.check.description if ref.check is not None else ""
            columns = ref.check.columns if ref.check is not None and ref.check.columns else ()
            yield (
                Check(
                    ref.name,
                    "custom",
                    tuple(columns),
                    ref.severity or default,
                    description or f"custom check {ref.name}",
                    {"check": ref.check, "explicit_severity": ref.severity},
                ),
                ("custom", i),
            )

    # -- reading dicts (parsed YAML) --------------------------------------------------

    @classmethod
    def from_dict(cls, data: Any) -> Contract:
        """Build a contract from plain data (parsed YAML or JSON); see ``docs/data.md``."""
        if not isinstance(data, Mapping):
            raise ContractError(f"a contract is a mapping of keys, got {_show(data)}")
        _known_keys(data, _CONTRACT_KEYS, ())
        if "contract" not in data:
            raise ContractError("the contract needs a name: add 'contract: <name>'", ())
        kwargs: dict[str, Any] = {
            "name": data["contract"],
            "version": data.get("version", 1),
            "description": data.get("description", ""),
            "extra_columns": data.get("extra_columns", "allow"),
        }
        kwargs["columns"] = _columns_from(data.get("columns"))
        kwargs["unique"] = _unique_from(data.get("unique"))
        if data.get("rows") is not None:
            kwargs["rows"] = _object_from(
                RowCount, data["rows"], ("rows",), ("min", "max", "severity")
            )
        fresh = data.get("freshness")
        if fresh is not None:
            entries = [fresh] if isinstance(fresh, Mapping) else _list(fresh, ("freshness",))
            single = isinstance(fresh, Mapping)
            kwargs["freshness"] = [
                _object_from(
                    Freshness,
                    e,
                    ("freshness",) if single else ("freshness", i),
                    ("column", "max_age", "severity"),
                )
                for i, e in enumerate(entries)
            ]
        kwargs["rules"] = [
            _object_from(Rule, e, ("rules", i), ("name", "sql", "severity", "description"))
            for i, e in enumerate(_list(data.get("rules"), ("rules",)))
        ]
        kwargs["distribution"] = [
            _object_from(
                Distribution,
                e,
                ("distribution", i),
                ("column", "mean_within", "std_within", "psi_max", "severity"),
            )
            for i, e in enumerate(_list(data.get("distribution"), ("distribution",)))
        ]
        kwargs["custom"] = [
            _custom_from(e, ("custom", i))
            for i, e in enumerate(_list(data.get("custom"), ("custom",)))
        ]
        return cls(**kwargs)


# -- compilation helpers --------------------------------------------------------------


def _column_checks(name: str, col: Column) -> Iterator[tuple[Check, tuple[str | int, ...]]]:
    cols = (name,)
    base: tuple[str | int, ...] = ("columns", name)
    if col.required:
        yield (
            Check(
                f"{name}.present",
                "column_present",
                cols,
                col.severity_of("required"),
                f"{name} is present",
            ),
            base,
        )
    if col.type is not None:
        yield (
            Check(
                f"{name}.type",
                "type",
                cols,
                col.severity_of("type"),
                f"{name} is {col.type}",
                {"type": col.type},
            ),
            (*base, "type"),
        )
    if not col.nullable:
        yield (
            Check(
                f"{name}.not_null",
                "not_null",
                cols,
                col.severity_of("nullable"),
                f"{name} is not null",
            ),
            (*base, "nullable"),
        )
    if col.unique:
        yield (
            Check(f"{name}.unique", "unique", cols, col.severity_of("unique"), f"{name} is unique"),
            (*base, "unique"),
        )
    if col.min is not None:
        yield (
            Check(
                f"{name}.min",
                "min",
                cols,
                col.severity_of("min"),
                f"{name} >= {col.min}",
                {"value": col.min},
            ),
            (*base, "min"),
        )
    if col.max is not None:
        yield (
            Check(
                f"{name}.max",
                "max",
                cols,
                col.severity_of("max"),
                f"{name} <= {col.max}",
                {"value": col.max},
            ),
            (*base, "max"),
        )
    if col.allowed is not None:
        shown = ", ".join(repr(v) for v in list(col.allowed)[:10])
        more = ", ..." if len(col.allowed) > 10 else ""
        yield (
            Check(
                f"{name}.allowed",
                "allowed_values",
                cols,
                col.severity_of("allowed"),
                f"{name} in [{shown}{more}]",
                {"values": tuple(col.allowed)},
            ),
            (*base, "allowed"),
        )
    if col.regex is not None:
        yield (
            Check(
                f"{name}.regex",
                "regex",
                cols,
                col.severity_of("regex"),
                f"{name} matches {col.regex!r}",
                {"pattern": col.regex},
            ),
            (*base, "regex"),
        )


def _distribution_checks(
    dist: Distribution, path: tuple[str | int, ...]
) -> Iterator[tuple[Check, tuple[str | int, ...]]]:
    c = dist.column
    if dist.mean_within is not None:
        yield (
            Check(
                f"{c}.mean",
                "mean",
                (c,),
                dist.severity,
                f"mean of {c} within {dist.mean_within:g} (relative) of the reference",
                {"tolerance": dist.mean_within},
            ),
            (*path, "mean_within"),
        )
    if dist.std_within is not None:
        yield (
            Check(
                f"{c}.std",
                "std",
                (c,),
                dist.severity,
                f"standard deviation of {c} within {dist.std_within:g} (relative) of the reference",
                {"tolerance": dist.std_within},
            ),
            (*path, "std_within"),
        )
    if dist.psi_max is not None:
        yield (
            Check(
                f"{c}.psi",
                "psi",
                (c,),
                dist.severity,
                f"PSI of {c} against the reference at most {dist.psi_max:g}",
                {"max": dist.psi_max},
            ),
            (*path, "psi_max"),
        )


def _range_text(what: str, lo: Any, hi: Any) -> str:
    if lo is not None and hi is not None:
        return f"{what} between {lo} and {hi}"
    return f"{what} >= {lo}" if lo is not None else f"{what} <= {hi}"


def _duration_text(value: dt.timedelta) -> str:
    seconds = value.total_seconds()
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size and seconds % size == 0:
            return f"{int(seconds // size)}{unit}"
    return f"{seconds:g}s"


# -- dict readers ---------------------------------------------------------------------


def _columns_from(data: Any) -> dict[str, Column]:
    if data is None:
        return {}
    if not isinstance(data, Mapping):
        raise ContractError(
            f"expected a mapping of column name to checks, got {_show(data)}", ("columns",)
        )
    out: dict[str, Column] = {}
    for name, spec in data.items():
        path: tuple[str | int, ...] = ("columns", str(name))
        _column_name(name, path)
        if spec is None:
            spec = {}
        if not isinstance(spec, Mapping):
            raise ContractError(f"expected a mapping of checks, got {_show(spec)}", path)
        _known_keys(spec, COLUMN_CHECKS + _COLUMN_META, path, what="check")
        kwargs: dict[str, Any] = {}
        severities: dict[str, Any] = {}
        for key, value in spec.items():
            if key in COLUMN_CHECKS and isinstance(value, Mapping):
                _known_keys(value, ("value", "severity"), (*path, key))
                if "value" not in value:
                    raise ContractError("the long form needs 'value'", (*path, key))
                if "severity" in value:
                    severities[key] = value["severity"]
                value = value["value"]
            kwargs[key] = value
        with _at(*path):
            out[str(name)] = Column(**kwargs, severities=severities)
    return out


def _unique_from(data: Any) -> list[UniqueKey]:
    out = []
    for i, item in enumerate(_list(data, ("unique",))):
        path: tuple[str | int, ...] = ("unique", i)
        if isinstance(item, Mapping):
            out.append(_object_from(UniqueKey, item, path, ("columns", "severity")))
            continue
        if not isinstance(item, str | list):
            raise ContractError(
                f"expected a column name or a list of them, got {_show(item)}", path
            )
        with _at(*path):
            out.append(UniqueKey(tuple(item) if isinstance(item, list) else (item,)))
    return out


def _custom_from(item: Any, path: tuple[str | int, ...]) -> CustomRef:
    if isinstance(item, str):
        with _at(*path):
            return CustomRef(item)
    return _object_from(CustomRef, item, path, ("name", "severity"))


def _object_from(cls: Any, data: Any, path: tuple[str | int, ...], keys: Sequence[str]) -> Any:
    if not isinstance(data, Mapping):
        raise ContractError(f"expected a mapping with {', '.join(keys)}; got {_show(data)}", path)
    _known_keys(data, keys, path)
    required = [k for k, f in cls.__dataclass_fields__.items() if _is_required(f) and k in keys]
    for key in required:
        if key not in data:
            raise ContractError(f"'{key}' is required", path)
    with _at(*path):
        obj = cls(**{k: data[k] for k in keys if k in data})
    return obj


def _is_required(f: Any) -> bool:
    from dataclasses import MISSING

    return bool(f.default is MISSING and f.default_factory is MISSING)


def _list(value: Any, path: tuple[str | int, ...]) -> list[Any]:
    if value is None:
        return []
    if not isinstance(value, list | tuple):
        raise ContractError(f"expected a list, got {_show(value)}", path)
    return list(value)


def _known_keys(
    data: Mapping[str, Any], known: Sequence[str], path: tuple[str | int, ...], what: str = "key"
) -> None:
    for key in data:
        _known(key, known, path, what)


def _known(key: Any, known: Sequence[str], path: tuple[str | int, ...], what: str) -> None:
    if key in known:
        return
    hint = difflib.get_close_matches(str(key), list(known), n=1)
    suggestion = f" (did you mean {hint[0]!r}?)" if hint else ""
    raise ContractError(
        f"unknown {what} {str(key)!r}{suggestion}; expected one of: {', '.join(known)}",
        (*path, str(key)),
    )


# -- field validators ---------------------------------------------------------------


@contextmanager
def _at(*prefix: str | int) -> Iterator[None]:
    """Errors raised inside are placed under ``prefix``."""
    try:
        yield
    except ContractError as exc:
        raise exc.prefixed(prefix) from None


def _set(obj: object, name: str, value: Any) -> None:
    object.__setattr__(obj, name, value)


def _show(value: Any) -> str:
    if isinstance(value, str):
        text = value if len(value) <= 60 else value[:57] + "..."
        return repr(text)
    if isinstance(value, Mapping):
        return "a mapping"
    if isinstance(value, list | tuple):
        return "a list"
    return f"{type(value).__name__} {value!r}"[:80]


def _bool(value: Any, path: tuple[str | int, ...]) -> bool:
    if not isinstance(value, bool):
        raise ContractError(f"expected true or false, got {_show(value)}", path)
    return value


def _text(value: Any, path: tuple[str | int, ...]) -> str:
    if not isinstance(value, str):
        raise ContractError(f"expected text, got {_show(value)}", path)
    if len(value) > 10_000:
        raise ContractError("is longer than 10000 characters", path)
    return value


def _check_name(value: Any, path: tuple[str | int, ...]) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ContractError(f"expected a non-empty name, got {_show(value)}", path)
    if len(value) > MAX_NAME_LENGTH:
        raise ContractError(f"is longer than {MAX_NAME_LENGTH} characters", path)
    if any(ord(ch) < 32 or ord(ch) == 127 for ch in value):
        raise ContractError("must not contain control characters", path)
    return value


def _column_name(value: Any, path: tuple[str | int, ...]) -> str:
    if not isinstance(value, str) or not value:
        raise ContractError(f"expected a column name, got {_show(value)}", path)
    if len(value) > MAX_NAME_LENGTH:
        raise ContractError(f"column name is longer than {MAX_NAME_LENGTH} characters", path)
    if "\x00" in value:
        raise ContractError("column name contains a NUL character", path)
    return value


def _choice(value: Any, options: Sequence[str], path: tuple[str | int, ...], what: str) -> str:
    if not isinstance(value, str):
        raise ContractError(f"expected one of {', '.join(options)}; got {_show(value)}", path)
    if value not in options:
        hint = difflib.get_close_matches(value, list(options), n=1)
        suggestion = f" (did you mean {hint[0]!r}?)" if hint else ""
        raise ContractError(
            f"unknown {what} {value!r}{suggestion}; expected one of: {', '.join(options)}", path
        )
    return value


def _severity(value: Any, path: tuple[str | int, ...]) -> Severity:
    return _choice(value, ("error", "warn"), path, "severity")  # type: ignore[return-value]


def _number(
    value: Any, path: tuple[str | int, ...], *, minimum: float | None = None
) -> int | float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ContractError(f"expected a number, got {_show(value)}", path)
    if isinstance(value, float) and not math.isfinite(value):
        raise ContractError(f"expected a finite number, got {value!r}", path)
    if minimum is not None and value < minimum:
        raise ContractError(f"must be at least {minimum:g}, got {value!r}", path)
    return value


def _int(value: Any, path: tuple[str | int, ...], *, minimum: int | None = None) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ContractError(f"expected an integer, got {_show(value)}", path)
    if minimum is not None and value < minimum:
        raise ContractError(f"must be at least {minimum}, got {value}", path)
    return value


def _temporal(value: Any) -> dt.date | None:
    if isinstance(value, dt.date):
        return value
    if isinstance(value, str):
        for parse in (dt.date.fromisoformat, dt.datetime.fromisoformat):
            try:
                return parse(value)
            except ValueError:
                continue
    return None


def _bound(value: Any, path: tuple[str | int, ...], declared: str | None) -> Any:
    if declared in _TEMPORAL_TYPES or (declared is None and not isinstance(value, int | float)):
        moment = _temporal(value)
        if moment is not None and not isinstance(value, bool):
            return moment
        if declared in _TEMPORAL_TYPES:
            raise ContractError(
                f"expected a date or timestamp (such as 2024-01-31), got {_show(value)}", path
            )
        raise ContractError(f"expected a number, date or timestamp, got {_show(value)}", path)
    if declared is not None and declared not in _NUMERIC_TYPES:
        raise ContractError(
            f"min and max apply to numeric and temporal columns, not {declared}", path
        )
    return _number(value, path)


def _allowed(value: Any, path: tuple[str | int, ...], declared: str | None) -> tuple[Any, ...]:
    if isinstance(value, str) or not isinstance(value, Sequence) or not value:
        raise ContractError("expected a non-empty list of values", path)
    if len(value) > MAX_ALLOWED_VALUES:
        raise ContractError(f"more than {MAX_ALLOWED_VALUES} allowed values", path)
    expect: tuple[type, ...] | None = None
    label = ""
    if declared in _STRING_TYPES:
        expect, label = (str,), "text"
    elif declared in _INT_TYPES:
        expect, label = (int,), "integers"
    elif declared in _NUMERIC_TYPES:
        expect, label = (int, float), "numbers"
    elif declared == "bool":
        expect, label = (bool,), "true or false"
    out = []
    for i, item in enumerate(value):
        if item is None or isinstance(item, Mapping | list | tuple):
            raise ContractError(f"expected a single value, got {_show(item)}", (*path, i))
        if expect is not None:
            ok = isinstance(item, expect) and (bool in expect or not isinstance(item, bool))
            if not ok:
                raise ContractError(
                    f"a {declared} column needs {label} here, got {_show(item)}", (*path, i)
                )
        out.append(item)
    return tuple(out)


def _regex(value: Any, path: tuple[str | int, ...]) -> str:
    if not isinstance(value, str) or not value:
        raise ContractError(f"expected a regular expression, got {_show(value)}", path)
    problem = regex_problem(value)
    if problem:
        raise ContractError(f"invalid regular expression (RE2 syntax): {problem}", path)
    return value


def _duration(value: Any, path: tuple[str | int, ...]) -> dt.timedelta:
    if isinstance(value, dt.timedelta):
        seconds = value.total_seconds()
    elif isinstance(value, int | float) and not isinstance(value, bool):
        seconds = float(value)
    elif isinstance(value, str):
        text = value.replace(" ", "")
        parts = _DURATION_RE.findall(text)
        if not parts or "".join(n + u for n, u in parts) != text:
            raise ContractError(
                f"expected a duration such as 2d, 12h, 1d12h, 30m or 45s; got {_show(value)}",
                path,
            )
        seconds = sum(float(n) * _DURATION_UNITS[u] for n, u in parts)
    else:
        raise ContractError(f"expected a duration such as 2d; got {_show(value)}", path)
    if not math.isfinite(seconds) or seconds <= 0:
        raise ContractError("the duration must be positive", path)
    return dt.timedelta(seconds=seconds)
