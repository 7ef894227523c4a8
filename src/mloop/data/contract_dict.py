"""Contracts from plain data (parsed YAML or JSON): the keys each part accepts, the long
form of a column check (``{value: ..., severity: warn}``), and the key path of every part,
so that the model's errors name where in the document they are."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import MISSING, fields
from typing import Any

from mloop.data import contract_fields as checked
from mloop.data.contract import (
    COLUMN_CHECKS,
    Column,
    Contract,
    CustomRef,
    Distribution,
    Freshness,
    RowCount,
    Rule,
    UniqueKey,
)
from mloop.data.errors import ContractError, Path

CONTRACT_KEYS = (
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
_COLUMN_META = ("severity", "description")


def contract_from_dict(data: Any) -> Contract:
    """Build a contract from plain data; see ``docs/data.md``."""
    if not isinstance(data, Mapping):
        raise ContractError(f"a contract is a mapping of keys, got {checked.show(data)}")
    checked.known_keys(data, CONTRACT_KEYS, ())
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
        kwargs["rows"] = _object_from(RowCount, data["rows"], ("rows",), ("min", "max", "severity"))
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
        _custom_from(e, ("custom", i)) for i, e in enumerate(_list(data.get("custom"), ("custom",)))
    ]
    return Contract(**kwargs)


def _columns_from(data: Any) -> dict[str, Column]:
    if data is None:
        return {}
    if not isinstance(data, Mapping):
        raise ContractError(
            f"expected a mapping of column name to checks, got {checked.show(data)}",
            ("columns",),
        )
    out: dict[str, Column] = {}
    for name, spec in data.items():
        path: Path = ("columns", str(name))
        checked.column_name(name, path)
        if spec is None:
            spec = {}
        if not isinstance(spec, Mapping):
            raise ContractError(f"expected a mapping of checks, got {checked.show(spec)}", path)
        checked.known_keys(spec, COLUMN_CHECKS + _COLUMN_META, path, what="check")
        kwargs: dict[str, Any] = {}
        severities: dict[str, Any] = {}
        for key, value in spec.items():
            if key in COLUMN_CHECKS and isinstance(value, Mapping):
                checked.known_keys(value, ("value", "severity"), (*path, key))
                if "value" not in value:
                    raise ContractError("the long form needs 'value'", (*path, key))
                if "severity" in value:
                    severities[key] = value["severity"]
                value = value["value"]
            kwargs[key] = value
        with checked.at(*path):
            out[str(name)] = Column(**kwargs, severities=severities)
    return out


def _unique_from(data: Any) -> list[UniqueKey]:
    out = []
    for i, item in enumerate(_list(data, ("unique",))):
        path: Path = ("unique", i)
        if isinstance(item, Mapping):
            out.append(_object_from(UniqueKey, item, path, ("columns", "severity")))
            continue
        if not isinstance(item, str | list):
            raise ContractError(
                f"expected a column name or a list of them, got {checked.show(item)}", path
            )
        with checked.at(*path):
            out.append(UniqueKey(tuple(item) if isinstance(item, list) else (item,)))
    return out


def _custom_from(item: Any, path: Path) -> CustomRef:
    if isinstance(item, str):
        with checked.at(*path):
            return CustomRef(item)
    return _object_from(CustomRef, item, path, ("name", "severity"))


def _object_from(cls: Any, data: Any, path: Path, keys: Sequence[str]) -> Any:
    """``cls`` from a mapping that may hold ``keys``, those without a default required."""
    if not isinstance(data, Mapping):
        raise ContractError(
            f"expected a mapping with {', '.join(keys)}; got {checked.show(data)}", path
        )
    checked.known_keys(data, keys, path)
    for f in fields(cls):
        required = f.default is MISSING and f.default_factory is MISSING
        if required and f.name in keys and f.name not in data:
            raise ContractError(f"'{f.name}' is required", path)
    with checked.at(*path):
        return cls(**{k: data[k] for k in keys if k in data})


def _list(value: Any, path: Path) -> list[Any]:
    if value is None:
        return []
    if not isinstance(value, list | tuple):
        raise ContractError(f"expected a list, got {checked.show(value)}", path)
    return list(value)
