"""Data contracts: what a dataset must satisfy, declared in Python or YAML.

The same classes back both: ``Contract.from_dict`` reads the parsed YAML (see
``contract_yaml`` and ``contract_dict``), and building the classes in code runs the same
field validators, so a mistake gets the same message either way. The classes are pydantic
dataclasses whose validators check each field's value as written (``contract_fields``);
every error is a ``ContractError`` naming the key path (``columns.amount.min: expected a
number, got 'abc'``). Unknown keys and check names are refused with the closest known name
as a suggestion.

``Contract.checks()`` compiles a contract into the flat list of ``Check`` objects that
``validate`` executes (``contract_checks``). The YAML format and each check's meaning are
described in ``docs/data.md``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import field
from typing import Any, Literal, Self, TypeVar

from pydantic import ValidationInfo, field_validator, model_validator
from pydantic.dataclasses import dataclass

from mloop.data import contract_fields as checked
from mloop.data.checks import Check, Severity
from mloop.data.contract_checks import compile_checks
from mloop.data.contract_part import CONFIG, ContractPart, field_path
from mloop.data.custom import CustomCheck
from mloop.data.dtypes import TYPE_NAMES
from mloop.data.errors import ContractError, Path, format_path
from mloop.data.sql_rules import RuleSyntaxError, check_rule_sql

ExtraColumns = Literal["allow", "warn", "error"]
_T = TypeVar("_T")

MAX_NAME_LENGTH = checked.MAX_NAME_LENGTH
MAX_ALLOWED_VALUES = checked.MAX_ALLOWED_VALUES

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

# -- the model ------------------------------------------------------------------------


@dataclass(frozen=True, config=CONFIG)
class Column(metaclass=ContractPart):
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

    @field_validator("type", mode="plain")
    @classmethod
    def _type(cls, value: Any, info: ValidationInfo) -> str | None:
        return (
            None if value is None else checked.choice(value, TYPE_NAMES, field_path(info), "type")
        )

    @field_validator("required", "nullable", "unique", mode="plain")
    @classmethod
    def _flag(cls, value: Any, info: ValidationInfo) -> bool:
        return checked.flag(value, field_path(info))

    @field_validator("min", mode="plain")
    @classmethod
    def _min(cls, value: Any, info: ValidationInfo) -> Any:
        if value is None:
            return None
        return checked.bound(value, field_path(info), info.data.get("type"))

    @field_validator("max", mode="plain")
    @classmethod
    def _max(cls, value: Any, info: ValidationInfo) -> Any:
        if value is None:
            return None
        high = checked.bound(value, field_path(info), info.data.get("type"))
        low = info.data.get("min")
        if low is None:
            return high
        try:
            inverted = high < low
        except TypeError:
            raise ContractError(
                f"max ({high!r}) and min ({low!r}) are of different kinds", field_path(info)
            ) from None
        if inverted:
            raise ContractError(f"max ({high!r}) is below min ({low!r})", field_path(info))
        return high

    @field_validator("allowed", mode="plain")
    @classmethod
    def _allowed(cls, value: Any, info: ValidationInfo) -> tuple[Any, ...] | None:
        if value is None:
            return None
        return checked.allowed_values(value, field_path(info), info.data.get("type"))

    @field_validator("regex", mode="plain")
    @classmethod
    def _regex(cls, value: Any, info: ValidationInfo) -> str | None:
        return None if value is None else checked.regex(value, field_path(info))

    @field_validator("severity", mode="plain")
    @classmethod
    def _severity(cls, value: Any, info: ValidationInfo) -> Severity:
        return checked.severity(value, field_path(info))

    @field_validator("severities", mode="plain")
    @classmethod
    def _severities(cls, value: Any, info: ValidationInfo) -> dict[str, Severity]:
        if not isinstance(value, Mapping):
            raise ContractError("expected a mapping of check key to severity", field_path(info))
        out: dict[str, Severity] = {}
        for key, severity in value.items():
            checked.known(key, COLUMN_CHECKS, field_path(info), "check")
            # Named as the YAML long form writes it: ``min: {value: 1, severity: warn}``.
            out[key] = checked.severity(severity, (key, "severity"))
        return out

    @field_validator("description", mode="plain")
    @classmethod
    def _description(cls, value: Any, info: ValidationInfo) -> str:
        return checked.text(value, field_path(info))

    def severity_of(self, key: str) -> Severity:
        return self.severities.get(key, self.severity)


@dataclass(frozen=True, config=CONFIG)
class UniqueKey(metaclass=ContractPart):
    """Rows must not repeat a combination of these columns' values (rows with a null in
    the key are not compared, as with SQL ``UNIQUE``)."""

    columns: tuple[str, ...]
    severity: Severity = "error"

    @field_validator("columns", mode="plain")
    @classmethod
    def _columns(cls, value: Any, info: ValidationInfo) -> tuple[str, ...]:
        cols = [value] if isinstance(value, str) else value
        if not isinstance(cols, Sequence) or not cols:
            raise ContractError(
                "expected a column name or a non-empty list of them", field_path(info)
            )
        names = tuple(checked.column_name(c, (*field_path(info), i)) for i, c in enumerate(cols))
        if len(set(names)) != len(names):
            raise ContractError("a column appears twice in the key", field_path(info))
        return names

    @field_validator("severity", mode="plain")
    @classmethod
    def _severity(cls, value: Any, info: ValidationInfo) -> Severity:
        return checked.severity(value, field_path(info))


@dataclass(frozen=True, config=CONFIG)
class RowCount(metaclass=ContractPart):
    """Bounds on the number of rows (inclusive)."""

    min: int | None = None
    max: int | None = None
    severity: Severity = "error"

    @field_validator("min", mode="plain")
    @classmethod
    def _min(cls, value: Any, info: ValidationInfo) -> int | None:
        return None if value is None else checked.integer(value, field_path(info), minimum=0)

    @field_validator("max", mode="plain")
    @classmethod
    def _max(cls, value: Any, info: ValidationInfo) -> int | None:
        if value is None:
            return None
        high = checked.integer(value, field_path(info), minimum=0)
        low = info.data.get("min")
        if low is not None and high < low:
            raise ContractError(f"max ({high}) is below min ({low})", field_path(info))
        return high

    @field_validator("severity", mode="plain")
    @classmethod
    def _severity(cls, value: Any, info: ValidationInfo) -> Severity:
        return checked.severity(value, field_path(info))

    @model_validator(mode="after")
    def _bounded(self) -> Self:
        if self.min is None and self.max is None:
            raise ContractError("give min, max or both", ())
        return self


@dataclass(frozen=True, config=CONFIG)
class Freshness(metaclass=ContractPart):
    """The newest value of a date or timestamp column must be at most ``max_age`` old.

    ``max_age`` is a ``timedelta``, a number of seconds, or text such as ``2d``, ``12h``,
    ``1d12h``, ``30m``, ``45s`` (units: w, d, h, m, s, ms). Timestamps without a time zone
    are taken as UTC; a date counts from its midnight UTC.
    """

    column: str
    max_age: dt.timedelta
    severity: Severity = "error"

    @field_validator("column", mode="plain")
    @classmethod
    def _column(cls, value: Any, info: ValidationInfo) -> str:
        return checked.column_name(value, field_path(info))

    @field_validator("max_age", mode="plain")
    @classmethod
    def _max_age(cls, value: Any, info: ValidationInfo) -> dt.timedelta:
        return checked.duration(value, field_path(info))

    @field_validator("severity", mode="plain")
    @classmethod
    def _severity(cls, value: Any, info: ValidationInfo) -> Severity:
        return checked.severity(value, field_path(info))


@dataclass(frozen=True, config=CONFIG)
class Rule(metaclass=ContractPart):
    """A cross-column condition every row must meet, as one SQL expression (DuckDB
    dialect) over the columns, such as ``discount <= amount``. Like an SQL ``CHECK``
    constraint, a row fails only when the expression is false; null passes."""

    name: str
    sql: str
    severity: Severity = "error"
    description: str = ""

    @field_validator("name", mode="plain")
    @classmethod
    def _name(cls, value: Any, info: ValidationInfo) -> str:
        return checked.check_name(value, field_path(info))

    @field_validator("sql", mode="plain")
    @classmethod
    def _sql(cls, value: Any, info: ValidationInfo) -> str:
        if not isinstance(value, str):
            raise ContractError(f"expected SQL text, got {checked.show(value)}", field_path(info))
        try:
            check_rule_sql(value)
        except RuleSyntaxError as exc:
            raise ContractError(str(exc), field_path(info)) from None
        return value

    @field_validator("severity", mode="plain")
    @classmethod
    def _severity(cls, value: Any, info: ValidationInfo) -> Severity:
        return checked.severity(value, field_path(info))

    @field_validator("description", mode="plain")
    @classmethod
    def _description(cls, value: Any, info: ValidationInfo) -> str:
        return checked.text(value, field_path(info))

    @property
    def columns(self) -> list[str]:
        """The columns the expression refers to."""
        return check_rule_sql(self.sql)


@dataclass(frozen=True, config=CONFIG)
class Distribution(metaclass=ContractPart):
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

    @field_validator("column", mode="plain")
    @classmethod
    def _column(cls, value: Any, info: ValidationInfo) -> str:
        return checked.column_name(value, field_path(info))

    @field_validator("mean_within", "std_within", "psi_max", mode="plain")
    @classmethod
    def _tolerance(cls, value: Any, info: ValidationInfo) -> float | None:
        if value is None:
            return None
        return float(checked.number(value, field_path(info), minimum=0.0))

    @field_validator("severity", mode="plain")
    @classmethod
    def _severity(cls, value: Any, info: ValidationInfo) -> Severity:
        return checked.severity(value, field_path(info))

    @model_validator(mode="after")
    def _expects_something(self) -> Self:
        if self.mean_within is None and self.std_within is None and self.psi_max is None:
            raise ContractError(
                "give at least one of mean_within, std_within, psi_max", ("column",)
            )
        return self


@dataclass(frozen=True, config=CONFIG)
class CustomRef(metaclass=ContractPart):
    """A custom check in a contract: a registered name, or the ``CustomCheck`` itself, with
    an optional severity that overrides the check's own."""

    name: str
    severity: Severity | None = None
    check: CustomCheck | None = None

    @field_validator("name", mode="plain")
    @classmethod
    def _name(cls, value: Any, info: ValidationInfo) -> str:
        return checked.check_name(value, field_path(info))

    @field_validator("severity", mode="plain")
    @classmethod
    def _severity(cls, value: Any, info: ValidationInfo) -> Severity | None:
        return None if value is None else checked.severity(value, field_path(info))

    @field_validator("check", mode="plain")
    @classmethod
    def _check(cls, value: Any, info: ValidationInfo) -> CustomCheck | None:
        if value is not None and not isinstance(value, CustomCheck):
            raise ContractError(
                f"expected an @check function, got {checked.show(value)}", field_path(info)
            )
        return value


@dataclass(frozen=True, config=CONFIG)
class Contract(metaclass=ContractPart):
    """A data contract. Build it in code or load it from YAML with ``load_contract``.

    ``columns`` maps column names to ``Column``; ``unique`` takes column names, lists of
    them (composite keys) or ``UniqueKey``; ``freshness`` one ``Freshness`` or a list;
    ``custom`` registered check names, ``@check`` functions or ``CustomRef``.
    ``extra_columns`` says what a column the contract does not name is: allowed (default),
    a warning or an error. Once built, ``unique``, ``freshness``, ``rules``,
    ``distribution`` and ``custom`` are lists of ``UniqueKey``, ``Freshness``, ``Rule``,
    ``Distribution`` and ``CustomRef``.
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

    @field_validator("name", mode="plain")
    @classmethod
    def _name(cls, value: Any) -> str:
        return checked.check_name(value, ("contract",))  # the YAML key of the name

    @field_validator("version", mode="plain")
    @classmethod
    def _version(cls, value: Any, info: ValidationInfo) -> int | str:
        if isinstance(value, bool) or not isinstance(value, int | str):
            raise ContractError(
                f"expected an integer or text, got {checked.show(value)}", field_path(info)
            )
        return value

    @field_validator("description", mode="plain")
    @classmethod
    def _description(cls, value: Any, info: ValidationInfo) -> str:
        return checked.text(value, field_path(info))

    @field_validator("columns", mode="plain")
    @classmethod
    def _columns(cls, value: Any, info: ValidationInfo) -> dict[str, Column]:
        if not isinstance(value, Mapping):
            raise ContractError("expected a mapping of column name to Column", field_path(info))
        out: dict[str, Column] = {}
        for name, spec in value.items():
            checked.column_name(name, (*field_path(info), str(name)))
            if not isinstance(spec, Column):
                raise ContractError(
                    f"expected a Column, got {checked.show(spec)}", (*field_path(info), name)
                )
            out[name] = spec
        return out

    @field_validator("unique", mode="plain")
    @classmethod
    def _unique(cls, value: Any, info: ValidationInfo) -> list[UniqueKey]:
        if isinstance(value, str | UniqueKey) or not isinstance(value, Sequence):
            raise ContractError("expected a list of keys", field_path(info))
        out = []
        for i, item in enumerate(value):
            if isinstance(item, UniqueKey):
                out.append(item)
            else:
                with checked.at(*field_path(info), i):
                    out.append(UniqueKey((item,) if isinstance(item, str) else tuple(item)))
        return out

    @field_validator("rows", mode="plain")
    @classmethod
    def _rows(cls, value: Any, info: ValidationInfo) -> RowCount | None:
        if value is not None and not isinstance(value, RowCount):
            raise ContractError("expected a RowCount", field_path(info))
        return value

    @field_validator("freshness", mode="plain")
    @classmethod
    def _freshness(cls, value: Any, info: ValidationInfo) -> list[Freshness]:
        return _instances(value, Freshness, field_path(info))

    @field_validator("rules", mode="plain")
    @classmethod
    def _rules(cls, value: Any, info: ValidationInfo) -> list[Rule]:
        return _instances(value, Rule, field_path(info))

    @field_validator("distribution", mode="plain")
    @classmethod
    def _distribution(cls, value: Any, info: ValidationInfo) -> list[Distribution]:
        return _instances(value, Distribution, field_path(info))

    @field_validator("custom", mode="plain")
    @classmethod
    def _custom(cls, value: Any, info: ValidationInfo) -> list[CustomRef]:
        if isinstance(value, str) or not isinstance(value, Sequence):
            raise ContractError("expected a list of custom checks", field_path(info))
        out = []
        for i, item in enumerate(value):
            with checked.at(*field_path(info), i):
                if isinstance(item, CustomRef):
                    out.append(item)
                elif isinstance(item, CustomCheck):
                    out.append(CustomRef(item.name, check=item))
                elif isinstance(item, str):
                    out.append(CustomRef(item))
                else:
                    raise ContractError(
                        f"expected a check name or an @check function, got {checked.show(item)}"
                    )
        return out

    @field_validator("extra_columns", mode="plain")
    @classmethod
    def _extra_columns(cls, value: Any, info: ValidationInfo) -> str:
        return checked.choice(value, ("allow", "warn", "error"), field_path(info), "value")

    @model_validator(mode="after")
    def _check_names_unique(self) -> Self:
        seen: dict[str, Path] = {}
        for check, path in compile_checks(self):
            if check.name in seen:
                raise ContractError(
                    f"the check name {check.name!r} is used twice (also at "
                    f"{format_path(seen[check.name])})",
                    path,
                )
            seen[check.name] = path
        return self

    def checks(self) -> list[Check]:
        """The contract as a flat list of checks, in a stable order."""
        return [c for c, _ in compile_checks(self)]

    @classmethod
    def from_dict(cls, data: Any) -> Contract:
        """Build a contract from plain data (parsed YAML or JSON); see ``docs/data.md``."""
        # contract_dict builds the classes of this module, so it is imported when used.
        from mloop.data.contract_dict import contract_from_dict

        return contract_from_dict(data)


def _instances(value: Any, cls: type[_T], path: Path) -> list[_T]:
    """``value`` as a list of ``cls`` (one instance or a list of them; None for none)."""
    if value is None:
        return []
    items = [value] if isinstance(value, cls) else value
    if not isinstance(items, Sequence) or isinstance(items, str):
        raise ContractError(f"expected a list of {cls.__name__}", path)
    for i, item in enumerate(items):
        if not isinstance(item, cls):
            raise ContractError(f"expected a {cls.__name__}, got {checked.show(item)}", (*path, i))
    return list(items)
