"""Datasets: streaming sources, profiles, data contracts and their validation.

Everything runs on DuckDB over Arrow data, in streaming scans with a memory limit, so
inputs larger than memory work. See ``docs/data.md``.

The names below are imported on first use (PEP 562): ``import mloop.data`` and
``mloop.data.population_stability_index`` need neither DuckDB nor pyarrow (the ``data``
extra), so the server and its UI can use them without it.
"""

from __future__ import annotations

import importlib
import sys
from types import ModuleType
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mloop.data.checks import Check
    from mloop.data.contract import (
        Column,
        Contract,
        CustomRef,
        Distribution,
        Freshness,
        RowCount,
        Rule,
        UniqueKey,
    )
    from mloop.data.contract_yaml import load_contract, parse_contract
    from mloop.data.custom import CustomCheck, check, registered_checks
    from mloop.data.errors import ContractError
    from mloop.data.profile import ColumnProfile, DatasetProfile, Histogram, profile_dataset
    from mloop.data.report import CheckResult, ValidationReport
    from mloop.data.sources import DataSource, open_source
    from mloop.data.stats import population_stability_index
    from mloop.data.validate import validate

# Public name -> the module defining it.
_EXPORTS: dict[str, str] = {
    "Check": "checks",
    "CheckResult": "report",
    "Column": "contract",
    "ColumnProfile": "profile",
    "Contract": "contract",
    "ContractError": "errors",
    "CustomCheck": "custom",
    "CustomRef": "contract",
    "DataSource": "sources",
    "DatasetProfile": "profile",
    "Distribution": "contract",
    "Freshness": "contract",
    "Histogram": "profile",
    "RowCount": "contract",
    "Rule": "contract",
    "UniqueKey": "contract",
    "ValidationReport": "report",
    "check": "custom",
    "load_contract": "contract_yaml",
    "open_source": "sources",
    "parse_contract": "contract_yaml",
    "population_stability_index": "stats",
    "profile_dataset": "profile",
    "registered_checks": "custom",
    "validate": "validate",
}

__all__ = [
    "Check",
    "CheckResult",
    "Column",
    "ColumnProfile",
    "Contract",
    "ContractError",
    "CustomCheck",
    "CustomRef",
    "DataSource",
    "DatasetProfile",
    "Distribution",
    "Freshness",
    "Histogram",
    "RowCount",
    "Rule",
    "UniqueKey",
    "ValidationReport",
    "check",
    "load_contract",
    "open_source",
    "parse_contract",
    "population_stability_index",
    "profile_dataset",
    "registered_checks",
    "validate",
]


# Not mloop.core.lazy: there a name spelled like its module is that submodule, while
# here ``validate`` is the function in the module of the same name.
def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value  # later lookups skip this function
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_EXPORTS})


class _Package(ModuleType):
    """This package, keeping an exported name bound to the export when the submodule of
    the same name (``mloop.data.validate``) is imported: the import system would otherwise
    rebind it to the submodule."""

    def __setattr__(self, name: str, value: Any) -> None:
        if (
            isinstance(value, ModuleType)
            and value.__name__ == f"{__name__}.{name}"
            and hasattr(value, name)
        ):
            value = getattr(value, name)
        super().__setattr__(name, value)


sys.modules[__name__].__class__ = _Package
