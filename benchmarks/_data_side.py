"""One side of ``data_validation.py``: validate one Parquet file with one tool, in this process.

    <venv>/bin/python benchmarks/_data_side.py {mloop,pandera,great_expectations}
        --data FILE.parquet --spec spec.json [--subset full|common]
        [--threads N] [--memory-limit 256MB]    # mloop only

Runs with the tool's own venv (mloop: the project venv); imports only that tool. The spec,
written by ``data_validation.py``, holds the contract's parameters, the moment freshness is
measured from and the reference statistics. Prints one JSON object on stdout: timings (reading,
validating, both), the process's peak resident memory (``VmHWM``), and each check's result
under mloop's check names (``failing``: failing rows, for row-level and uniqueness checks).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import math
import os
import sys
import time
from collections.abc import Callable, Collection
from pathlib import Path
from typing import Any

T_START = time.perf_counter()

# Column-level checks, in the order every side reports them.
ROW_KEYS = ("nullable", "unique", "min", "max", "allowed", "regex")


def peak_rss_mb() -> float:
    """This process's peak resident set size (Linux ``VmHWM``), in MB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return math.nan


def is_dropped(name: str, spec: dict[str, Any], subset: str) -> bool:
    return subset == "common" and name in spec["common_without"]


def psi(actual: list[float], expected: list[float]) -> float:
    """Population stability index over bin counts, each share at least 0.0001 (as mloop)."""
    total_a, total_e = sum(actual), sum(expected)
    value = 0.0
    for a, e in zip(actual, expected, strict=True):
        share_a = max(a / total_a if total_a else 0.0, 1e-4)
        share_e = max(e / total_e if total_e else 0.0, 1e-4)
        value += (share_a - share_e) * math.log(share_a / share_e)
    return value


# --------------------------------------------------------------------------- mloop


def run_mloop(args: argparse.Namespace, spec: dict[str, Any]) -> dict[str, Any]:
    from mloop.data import DatasetProfile, load_contract, validate

    imported = time.perf_counter()
    contract = load_contract(spec["contract_yaml"][args.subset])
    reference = DatasetProfile.from_json(Path(spec["reference_profile"]).read_text())
    report = validate(
        args.data,
        contract,
        reference,
        now=dt.datetime.fromisoformat(spec["now"]),
        threads=args.threads,
        memory_limit=args.memory_limit,
    )
    done = time.perf_counter()
    checks: dict[str, Any] = {}
    schema_failed = 0
    for result in report.checks:
        if result.kind in ("column_present", "type"):
            schema_failed += result.status != "passed"
            continue
        observed = result.observed or {}
        value = observed.get("value", observed.get("psi"))
        checks[result.name] = {
            "status": str(result.status),
            "failing": result.failing_count,
            "observed": value,
        }
    checks = {
        "schema": {"status": "passed" if not schema_failed else "failed", "failing": schema_failed},
        **checks,
    }
    return {
        "import_s": imported - T_START,
        "read_validate_s": done - imported,
        "validate_s": None,
        "check_count": len(report.checks),
        "checks": checks,
        "passed": report.passed,
    }


# --------------------------------------------------------------------------- pandera


def run_pandera(args: argparse.Namespace, spec: dict[str, Any]) -> dict[str, Any]:
    import numpy as np
    import pandas as pd
    import pandera.pandas as pa
    from pandera.errors import SchemaErrors

    imported = time.perf_counter()
    contract = spec["contract"]
    now = pd.Timestamp(spec["now"])
    dtypes = {
        "int": "int64",
        "float": "float64",
        "string": "str",
        "date": pa.Date,
        "timestamp": pd.DatetimeTZDtype("us", "UTC"),
    }
    columns = {}
    count = 0
    for name, col in contract["columns"].items():
        checks = []
        count += 2  # presence and type
        if "min" in col:
            checks.append(pa.Check.ge(col["min"]))
        if "max" in col:
            checks.append(pa.Check.le(col["max"]))
        if "allowed" in col:
            checks.append(pa.Check.isin(col["allowed"]))
        if "regex" in col:
            checks.append(pa.Check.str_matches(col["regex"]))
        count += len(checks) + (not col.get("nullable", True)) + bool(col.get("unique"))
        columns[name] = pa.Column(
            dtypes[col["type"]],
            checks=checks,
            nullable=col.get("nullable", True),
            unique=col.get("unique", False),
        )
    # Dataset-level checks: pandera has no built-in row count, freshness, mean or PSI check;
    # each is a custom Check returning one boolean (so no failing-row count).
    fresh = contract["freshness"]
    cutoff = now - pd.Timedelta(seconds=fresh["max_age_s"])
    columns[fresh["column"]].checks.append(
        pa.Check(lambda s: bool(s.max() >= cutoff), name=f"{fresh['column']}.freshness")
    )
    count += 1
    observed: dict[str, float] = {}
    for entry in contract["distribution"]:
        column = entry["column"]
        ref = spec["reference"][column]
        if "mean_within" in entry:
            tolerance = entry["mean_within"] * abs(ref["mean"]) or entry["mean_within"]

            def mean_ok(
                s: pd.Series, column: str = column, ref: dict = ref, tolerance: float = tolerance
            ) -> bool:
                observed[f"{column}.mean"] = float(s.mean())
                return abs(observed[f"{column}.mean"] - ref["mean"]) <= tolerance

            columns[column].checks.append(pa.Check(mean_ok, name=f"{column}.mean"))
            count += 1
        if "psi_max" in entry and not is_dropped(f"{column}.psi", spec, args.subset):
            edges = np.asarray(ref["edges"], dtype=float)

            def psi_ok(
                s: pd.Series,
                column: str = column,
                ref: dict = ref,
                edges: np.ndarray = edges,
                bound: float = entry["psi_max"],
            ) -> bool:
                values = s.to_numpy(dtype=float, na_value=np.nan)
                values = values[np.isfinite(values)]
                # Bin i holds (edges[i], edges[i+1]]; values outside fall in the end bins.
                bins = np.clip(
                    np.searchsorted(edges, values, side="left") - 1, 0, len(ref["counts"]) - 1
                )
                counts = np.bincount(bins, minlength=len(ref["counts"]))
                observed[f"{column}.psi"] = psi(counts.tolist(), ref["counts"])
                return observed[f"{column}.psi"] <= bound

            columns[column].checks.append(pa.Check(psi_ok, name=f"{column}.psi"))
            count += 1
    rows = contract["rows"]
    rule = contract["rule"]
    left, right = (part.strip() for part in rule["sql"].split("<="))

    def rule_ok(df: pd.DataFrame) -> pd.Series:
        # As an SQL CHECK: a row with a null on either side passes.
        return (df[left] <= df[right]) | df[left].isna() | df[right].isna()

    (key,) = contract["unique"]  # DataFrameSchema takes one composite key
    schema = pa.DataFrameSchema(
        columns,
        checks=[
            pa.Check(lambda df: rows["min"] <= len(df) <= rows["max"], name="row_count"),
            pa.Check(rule_ok, name=rule["name"]),
        ],
        unique=key,
        strict=False,
    )
    count += 3
    names = {"multiple_fields_uniqueness": f"unique({', '.join(key)})"}
    frame_checks = {"row_count", rule["name"]}
    built = time.perf_counter()
    df = pd.read_parquet(args.data)
    read = time.perf_counter()
    try:
        schema.validate(df, lazy=True)
        failures = None
    except SchemaErrors as err:
        failures = err.failure_cases
    done = time.perf_counter()

    checks = expected_names(contract, spec, args.subset)
    # Failing rows per check: the distinct row indexes of its failure cases (a DataFrame-level
    # check or key lists one case per column of a failing row); failing columns for "schema".
    tallies: dict[str, set[Any]] = {name: set() for name in checks}
    failed_flags: set[str] = set()
    if failures is not None:
        for row in failures.itertuples(index=False):
            check = str(row.check)
            name = pandera_name(row.column, check, frame_checks) or names.get(check, check)
            if name == "schema":
                tallies[name].add(row.column)
                continue
            failed_flags.add(name)
            index = row.index
            if index is None or _isnan(index):  # a scalar check: no rows to count
                continue
            tallies.setdefault(name, set()).add(index)
    results = {}
    for name in checks:
        scalar = name in ("row_count", "ts.freshness") or name.endswith((".mean", ".psi"))
        failing = len(tallies.get(name, ()))
        status = "failed" if (failing or name in failed_flags) else "passed"
        results[name] = {
            "status": status,
            "failing": None if scalar else failing,
            "observed": observed.get(name),
        }
    for name in tallies:
        if name not in results:
            results[name] = {"status": "failed", "failing": len(tallies[name]), "observed": None}
    return {
        "import_s": imported - T_START,
        "setup_s": built - imported,
        "read_s": read - built,
        "validate_s": done - read,
        "read_validate_s": done - imported,
        "check_count": count,
        "checks": results,
        "passed": failures is None,
    }


def _isnan(value: Any) -> bool:
    return isinstance(value, float) and math.isnan(value)


def pandera_name(column: Any, check: str, frame_checks: Collection[str]) -> str | None:
    """Our name for one of pandera's failure cases (None: not a column's check)."""
    if check in frame_checks:  # DataFrame-level checks carry our names
        return check
    if check == "column_in_dataframe" or check.startswith("dtype("):
        return "schema"
    if not isinstance(column, str):
        return None
    if check.startswith(f"{column}."):  # our custom checks: <column>.<kind>
        return check
    prefixes = {
        "not_nullable": "not_null",
        "field_uniqueness": "unique",
        "greater_than_or_equal_to": "min",
        "less_than_or_equal_to": "max",
        "isin": "allowed",
        "str_matches": "regex",
    }
    for prefix, kind in prefixes.items():
        if check.startswith(prefix):
            return f"{column}.{kind}"
    return None


# --------------------------------------------------------------------------- Great Expectations


def run_great_expectations(args: argparse.Namespace, spec: dict[str, Any]) -> dict[str, Any]:
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
    import great_expectations as gx
    import great_expectations.expectations as gxe
    import pandas as pd
    from great_expectations.data_context.types.base import ProgressBarsConfig

    imported = time.perf_counter()
    contract = spec["contract"]
    now = dt.datetime.fromisoformat(spec["now"])
    # Type names as ExpectColumnValuesToBeOfType matches them against pandas 3's dtypes
    # (its type-list expectation matches neither the "str" dtype nor zoned timestamps; an
    # object column such as the dates is checked value by value).
    type_names = {
        "int": "int64",
        "float": "float64",
        "string": "str",
        "date": "date",
        "timestamp": "Timestamp",
    }
    expectations: list[tuple[str, Any]] = []

    def add(name: str, factory: Callable[..., Any], **kwargs: Any) -> None:
        expectations.append((name, factory(**kwargs, meta={"name": name})))

    for name, col in contract["columns"].items():
        add("schema", gxe.ExpectColumnToExist, column=name)
        add("schema", gxe.ExpectColumnValuesToBeOfType, column=name, type_=type_names[col["type"]])
        if not col.get("nullable", True):
            add(f"{name}.not_null", gxe.ExpectColumnValuesToNotBeNull, column=name)
        if col.get("unique"):
            add(f"{name}.unique", gxe.ExpectColumnValuesToBeUnique, column=name)
        if "min" in col:
            add(f"{name}.min", gxe.ExpectColumnValuesToBeBetween, column=name, min_value=col["min"])
        if "max" in col:
            add(f"{name}.max", gxe.ExpectColumnValuesToBeBetween, column=name, max_value=col["max"])
        if "allowed" in col:
            add(
                f"{name}.allowed",
                gxe.ExpectColumnValuesToBeInSet,
                column=name,
                value_set=col["allowed"],
            )
        if "regex" in col:
            add(
                f"{name}.regex", gxe.ExpectColumnValuesToMatchRegex, column=name, regex=col["regex"]
            )
    for key in contract["unique"]:
        add(f"unique({', '.join(key)})", gxe.ExpectCompoundColumnsToBeUnique, column_list=key)
    rows = contract["rows"]
    add(
        "row_count",
        gxe.ExpectTableRowCountToBeBetween,
        min_value=rows["min"],
        max_value=rows["max"],
    )
    fresh = contract["freshness"]
    add(
        f"{fresh['column']}.freshness",
        gxe.ExpectColumnMaxToBeBetween,
        column=fresh["column"],
        min_value=now - dt.timedelta(seconds=fresh["max_age_s"]),
    )
    rule = contract["rule"]
    left, right = (part.strip() for part in rule["sql"].split("<="))
    add(
        rule["name"],
        gxe.ExpectColumnPairValuesAToBeGreaterThanB,
        column_A=right,
        column_B=left,
        or_equal=True,
        ignore_row_if="either_value_is_missing",
    )
    for entry in contract["distribution"]:
        column = entry["column"]
        ref = spec["reference"][column]
        if "mean_within" in entry:
            tolerance = entry["mean_within"] * abs(ref["mean"]) or entry["mean_within"]
            add(
                f"{column}.mean",
                gxe.ExpectColumnMeanToBeBetween,
                column=column,
                min_value=ref["mean"] - tolerance,
                max_value=ref["mean"] + tolerance,
            )
        # PSI: no such expectation (see LACKS in data_validation.py).

    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = ProgressBarsConfig(globally=False)
    asset = context.data_sources.add_pandas("pandas").add_dataframe_asset("transactions")
    batch = asset.add_batch_definition_whole_dataframe("whole")
    suite = context.suites.add(gx.ExpectationSuite(name="transactions"))
    for _, expectation in expectations:
        suite.add_expectation(expectation)
    definition = context.validation_definitions.add(
        gx.ValidationDefinition(data=batch, suite=suite, name="transactions")
    )
    built = time.perf_counter()
    df = pd.read_parquet(args.data)
    read = time.perf_counter()
    outcome = definition.run(batch_parameters={"dataframe": df}, result_format="SUMMARY")
    done = time.perf_counter()

    checks: dict[str, Any] = {}
    schema_failed = 0
    errors: list[str] = []
    for result in outcome.results:
        name = result.expectation_config.meta["name"]
        info = result.result or {}
        raised = (result.exception_info or {}).get("raised_exception")
        if raised:
            errors.append(f"{name}: {result.exception_info.get('exception_message')}")
        if name == "schema":
            schema_failed += not result.success
            continue
        status = "error" if raised else ("passed" if result.success else "failed")
        observed = info.get("observed_value")
        checks[name] = {
            "status": status,
            "failing": info.get("unexpected_count"),
            "observed": observed if isinstance(observed, (int, float)) else None,
        }
    checks = {
        "schema": {"status": "passed" if not schema_failed else "failed", "failing": schema_failed},
        **checks,
    }
    return {
        "import_s": imported - T_START,
        "setup_s": built - imported,
        "read_s": read - built,
        "validate_s": done - read,
        "read_validate_s": done - imported,
        "check_count": len(expectations),
        "checks": checks,
        "passed": bool(outcome.success),
        "errors": errors,
    }


# --------------------------------------------------------------------------- common


def expected_names(contract: dict[str, Any], spec: dict[str, Any], subset: str) -> list[str]:
    """Every check name of the contract (mloop's names), in mloop's order."""
    names = ["schema"]
    for name, col in contract["columns"].items():
        if not col.get("nullable", True):
            names.append(f"{name}.not_null")
        if col.get("unique"):
            names.append(f"{name}.unique")
        names += [f"{name}.{k}" for k in ("min", "max", "allowed", "regex") if k in col]
    names += [f"unique({', '.join(key)})" for key in contract["unique"]]
    names += ["row_count", f"{contract['freshness']['column']}.freshness", contract["rule"]["name"]]
    for entry in contract["distribution"]:
        for key, kind in (("mean_within", "mean"), ("std_within", "std"), ("psi_max", "psi")):
            name = f"{entry['column']}.{kind}"
            if key in entry and not is_dropped(name, spec, subset):
                names.append(name)
    return names


SIDES = {"mloop": run_mloop, "pandera": run_pandera, "great_expectations": run_great_expectations}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("tool", choices=sorted(SIDES))
    parser.add_argument("--data", required=True, type=Path)
    parser.add_argument("--spec", required=True, type=Path)
    parser.add_argument("--subset", choices=["full", "common"], default="full")
    parser.add_argument("--threads", type=int, help="mloop: DuckDB threads")
    parser.add_argument("--memory-limit", help="mloop: DuckDB memory limit")
    args = parser.parse_args()
    spec = json.loads(args.spec.read_text())
    result = SIDES[args.tool](args, spec)
    result["peak_rss_mb"] = peak_rss_mb()
    result["python"] = sys.version.split()[0]
    print(json.dumps(result, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
