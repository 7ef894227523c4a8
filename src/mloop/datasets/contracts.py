"""Contracts as the datasets domain stores them: a digest that identifies what a contract
checks, and the reading of policy YAML.

The digest covers the contract's name, version and its compiled checks (name, kind,
columns, severity and parameters; not descriptions), so the same contract written in YAML
or in Python has the same digest, and editing a bound changes it. ``mloop.data`` (the
``data`` extra) is imported only when these functions run.
"""

from __future__ import annotations

import datetime as dt
import decimal
import hashlib
import json
from typing import TYPE_CHECKING, Any

from mloop.core.errors import ValidationError

if TYPE_CHECKING:
    from mloop.data import Contract


def _canonical(value: Any) -> Any:
    from mloop.data.custom import CustomCheck

    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        return value if value == value else "NaN"
    if isinstance(value, dict):
        return {str(k): _canonical(v) for k, v in sorted(value.items(), key=lambda kv: str(kv[0]))}
    if isinstance(value, list | tuple | set | frozenset):
        items = [_canonical(v) for v in value]
        return sorted(items, key=repr) if isinstance(value, set | frozenset) else items
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, dt.timedelta):
        return {"seconds": value.total_seconds()}
    if isinstance(value, decimal.Decimal):
        return str(value)
    if isinstance(value, CustomCheck):  # pragma: no cover - custom checks are summarised
        return {"custom_check": value.name}
    if hasattr(value, "items"):
        return _canonical(dict(value.items()))
    return f"{type(value).__name__}:{value}"


def _check_entry(check: Any) -> dict[str, Any]:
    if check.kind == "custom":
        # Only what the contract itself says: the registered function (its columns and
        # default severity) may exist in the client's process and not in the server's.
        return {
            "name": check.name,
            "kind": "custom",
            "severity": check.params.get("explicit_severity"),
        }
    return {
        "name": check.name,
        "kind": check.kind,
        "columns": list(check.columns),
        "severity": check.severity,
        "params": _canonical(dict(check.params)),
    }


def contract_digest(contract: Contract) -> str:
    """The sha256 of what the contract checks (see the module docstring)."""
    checks = [_check_entry(c) for c in contract.checks()]
    body = {"contract": contract.name, "version": str(contract.version), "checks": checks}
    text = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return hashlib.sha256(text.encode()).hexdigest()


def parse_policy_contract(text: str, field: str = "contract_yaml") -> tuple[Contract, str]:
    """The contract in a policy's YAML text and its digest; ContractError when malformed."""
    try:
        from mloop.data import parse_contract
    except ImportError as exc:  # pragma: no cover - the data extra is part of `all`
        raise ValidationError(
            "reading contracts needs mloop's data extra (pyarrow, duckdb): "
            "pip install 'mloop[data]' where the server runs",
            field=field,
        ) from exc
    contract = parse_contract(text, "<policy contract>")
    return contract, contract_digest(contract)
