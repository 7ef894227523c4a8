"""Datasets: streaming sources, profiles, data contracts and their validation.

Everything runs on DuckDB over Arrow data, in streaming scans with a memory limit, so
inputs larger than memory work. See ``docs/data.md``.
"""

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
