"""One side of ``drift.py``: data drift between two Parquet files with one tool, in this process.

    <venv>/bin/python benchmarks/_drift_side.py {mloop,evidently}
        --reference REF.parquet --current CUR.parquet --spec spec.json --config NAME
        [--threads N]    # mloop only

Runs with the tool's own venv (mloop: the project venv); imports only that tool. The spec,
written by ``drift.py``, names the numeric and categorical columns and, per configuration,
the method and threshold forced on each kind. Prints one JSON object on stdout: timings, the
process's peak resident memory (``VmHWM``), and each column's method, score, threshold and
verdict.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

from _data_side import peak_rss_mb  # stdlib only: runs in any venv

T_START = time.perf_counter()

# Methods whose score is a p-value (drift below the threshold); the others are distances
# (drift at or above it). Evidently's KS calls drift at p <= threshold, the rest p < threshold.
P_VALUE_METHODS = {"ks", "chisquare", "z"}


def run_mloop(
    args: argparse.Namespace, spec: dict[str, Any], config: dict[str, Any]
) -> dict[str, Any]:
    from mloop.monitoring import drift
    from mloop.monitoring.drift import report as _report  # noqa: F401 - scipy, pyarrow: untimed

    imported = time.perf_counter()
    columns = spec["numeric"] + spec["categorical"]
    reference = drift.summarize(args.reference, columns=columns, threads=args.threads)
    summarised = time.perf_counter()
    methods = {kind: config[kind].get("mloop", config[kind]["method"]) for kind in config}
    report = drift.detect_drift(
        reference,
        args.current,
        numeric_method=methods["numeric"],
        categorical_method=methods["categorical"],
        method_thresholds={methods[kind]: config[kind]["threshold"] for kind in config},
        fdr=False,  # Evidently does not correct for multiple tests
        threads=args.threads,
    )
    done = time.perf_counter()
    results = {
        c.column: {
            "method": c.method,
            "score": c.p_value if c.p_value is not None else c.statistic,
            "threshold": c.threshold,
            "drifted": c.drifted,
            "exact": c.exact,
        }
        for c in report.columns
    }
    return {
        "import_s": imported - T_START,
        "reference_s": summarised - imported,
        "window_s": done - summarised,
        "total_s": done - imported,
        "summary_json_bytes": len(reference.to_json()),
        "columns": results,
        "drifted_count": len(report.drifted_columns),
    }


def run_evidently(
    args: argparse.Namespace, spec: dict[str, Any], config: dict[str, Any]
) -> dict[str, Any]:
    import pandas as pd
    from evidently import DataDefinition, Dataset, Report
    from evidently.presets import DataDriftPreset

    imported = time.perf_counter()
    reference = pd.read_parquet(args.reference)
    current = pd.read_parquet(args.current)
    read = time.perf_counter()
    definition = DataDefinition(
        numerical_columns=spec["numeric"], categorical_columns=spec["categorical"]
    )
    preset = DataDriftPreset(
        num_method=config["numeric"]["method"],
        num_threshold=config["numeric"]["threshold"],
        cat_method=config["categorical"]["method"],
        cat_threshold=config["categorical"]["threshold"],
    )
    snapshot = Report([preset]).run(
        current_data=Dataset.from_pandas(current, data_definition=definition),
        reference_data=Dataset.from_pandas(reference, data_definition=definition),
    )
    done = time.perf_counter()
    results: dict[str, Any] = {}
    drifted_count = None
    for metric in snapshot.dict()["metrics"]:
        kind = metric["config"]["type"]
        if kind.endswith("DriftedColumnsCount"):
            drifted_count = int(metric["value"]["count"])
        elif kind.endswith("ValueDrift"):
            method, threshold = metric["config"]["method"], metric["config"]["threshold"]
            score = float(metric["value"])
            if method == "ks":
                drifted = score <= threshold
            elif method in P_VALUE_METHODS:
                drifted = score < threshold
            else:
                drifted = score >= threshold
            results[metric["config"]["column"]] = {
                "method": method,
                "score": score,
                "threshold": threshold,
                "drifted": drifted,
            }
    return {
        "import_s": imported - T_START,
        "read_s": read - imported,
        "compute_s": done - read,
        "total_s": done - imported,
        "columns": results,
        "drifted_count": drifted_count,
    }


SIDES = {"mloop": run_mloop, "evidently": run_evidently}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("tool", choices=sorted(SIDES))
    parser.add_argument("--reference", required=True, type=Path)
    parser.add_argument("--current", required=True, type=Path)
    parser.add_argument("--spec", required=True, type=Path)
    parser.add_argument("--config", required=True)
    parser.add_argument("--threads", type=int, help="mloop: columns summarised at once")
    args = parser.parse_args()
    spec = json.loads(args.spec.read_text())
    result = SIDES[args.tool](args, spec, spec["configs"][args.config])
    result["peak_rss_mb"] = peak_rss_mb()
    result["python"] = sys.version.split()[0]
    print(json.dumps(result, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
