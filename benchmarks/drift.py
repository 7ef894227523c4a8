"""Data drift benchmark: mloop's drift tests against Evidently's DataDriftPreset.

    .venv/bin/python benchmarks/drift.py              # 100k and 1M rows, both configurations
    .venv/bin/python benchmarks/drift.py --quick      # 20k and 100k rows
    .venv/bin/python benchmarks/drift.py --sizes 1000000 --configs distances --json
    .venv/bin/python benchmarks/drift.py --only mloop --keep

Writes a reference and a current table (20 numeric and 5 categorical columns; some columns
shifted by known amounts, fixed seeds) as Parquet into a temporary directory, once per size.
Then each tool computes drift between the two files, in a fresh subprocess per run
(``_drift_side.py``: mloop with the project venv, Evidently 0.7 in
``benchmarks/.venvs/evidently``, created from ``requirements-evidently.txt`` when missing),
with the same method forced on both sides in each configuration:

- ``distances``: normalised Wasserstein (0.1) for numbers, Jensen-Shannon (0.1) for
  categories: Evidently's automatic choice for references above 1,000 rows;
- ``tests``: Kolmogorov-Smirnov (p 0.05) for numbers, chi-square goodness of fit (p 0.05;
  mloop's ``chisquare_gof``, Evidently's ``chisquare``) for categories: its choice for small
  references.

mloop runs without FDR correction here (Evidently has none). It prints time, peak memory and
ratios per size and configuration, and each column's verdict on both sides next to what
the data was built with. It reports only: no figure makes it fail. See
``benchmarks/README.md``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import signal
import statistics
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

# The venv, subprocess and temporary-directory helpers of the data validation benchmark.
from data_validation import (
    ensure_venv,
    fmt_ratio,
    fmt_s,
    log,
    run_side,
    versions,
    work_directory,
)
from rich.console import Console
from rich.markup import escape
from rich.table import Table

BENCH_DIR = Path(__file__).resolve().parent
RESULTS_DIR = BENCH_DIR / "results"
SIDE = BENCH_DIR / "_drift_side.py"
TOOLS = ("mloop", "evidently")
DEFAULT_SIZES = (100_000, 1_000_000)
QUICK_SIZES = (20_000, 100_000)
CHUNK_ROWS = 250_000
REFERENCE_SEED = 20261206
CURRENT_SEED = 20261207
TARGET_RATIO = 10.0
DEFAULT_TIMEOUT_S = 1800.0

CONFIGS: dict[str, dict[str, dict[str, Any]]] = {
    "distances": {
        "numeric": {"method": "wasserstein", "threshold": 0.1},
        "categorical": {"method": "jensenshannon", "threshold": 0.1},
    },
    "tests": {
        "numeric": {"method": "ks", "threshold": 0.05},
        # Evidently's chisquare is the goodness-of-fit test, mloop's chisquare_gof.
        "categorical": {"method": "chisquare", "threshold": 0.05, "mloop": "chisquare_gof"},
    },
}

# Each numeric column: (distribution, how the current window changes it, what it means).
NUMERIC: list[tuple[str, str]] = [
    ("normal", "mean +0.5 std"),
    ("lognormal", "scale x1.3"),
    ("uniform", "shift +8 on [0, 100)"),
    ("exponential", "scale x1.2"),
    ("normal50", "std x1.5"),
    ("normal", "mean +0.05 std (small)"),
    *[(kind, "") for kind in ("normal", "lognormal", "uniform", "exponential", "gamma", "beta")],
    *[(kind, "") for kind in ("student", "integers", "normal50", "gamma", "beta", "normal")],
    ("integers", ""),
    ("mixture", ""),
]
CATEGORIES = {
    "c00": (["a", "b", "c", "d"], [0.4, 0.3, 0.2, 0.1], [0.15, 0.3, 0.3, 0.25], "shares move"),
    "c01": (["x", "y", "z"], [0.5, 0.3, 0.2], [0.425, 0.255, 0.17], "new category at 15 %"),
    "c02": (["yes", "no"], [0.5, 0.5], [0.52, 0.48], "shares +2 points (small)"),
    "c03": ([f"k{i}" for i in range(10)], [0.1] * 10, None, ""),
    "c04": ([f"s{i:02d}" for i in range(30)], list(np.linspace(1, 3, 30) / 60), None, ""),
}
NUMERIC_NAMES = [f"n{i:02d}" for i in range(len(NUMERIC))]

console = Console(stderr=True)


# --------------------------------------------------------------------------- data


def numeric_values(kind: str, change: str, rows: int, rng: np.random.Generator) -> np.ndarray:
    """``rows`` values of one numeric column; ``change`` (non-empty) shifts the current."""
    values: np.ndarray
    if kind == "normal":
        values = rng.normal(0, 1, rows)
    elif kind == "normal50":
        values = rng.normal(50, 10, rows)
    elif kind == "lognormal":
        values = rng.lognormal(3, 0.8, rows)
    elif kind == "uniform":
        values = rng.uniform(0, 100, rows)
    elif kind == "exponential":
        values = rng.exponential(2, rows)
    elif kind == "gamma":
        values = rng.gamma(2, 3, rows)
    elif kind == "beta":
        values = rng.beta(2, 5, rows)
    elif kind == "student":
        values = rng.standard_t(5, rows)
    elif kind == "integers":
        values = rng.integers(0, 1000, rows).astype(np.float64)
    else:  # mixture of two normals
        values = np.where(rng.random(rows) < 0.3, rng.normal(-2, 0.5, rows), rng.normal(3, 1, rows))
    if change.startswith("mean +0.5"):
        values = values + 0.5
    elif change.startswith("mean +0.05"):
        values = values + 0.05
    elif change.startswith("scale x1.3"):
        values = values * 1.3
    elif change.startswith("scale x1.2"):
        values = values * 1.2
    elif change.startswith("shift +8"):
        values = values + 8
    elif change.startswith("std x1.5"):
        values = 50 + (values - 50) * 1.5
    return values


def make_chunk(rows: int, rng: np.random.Generator, current: bool) -> pa.Table:
    columns: dict[str, Any] = {}
    for name, (kind, change) in zip(NUMERIC_NAMES, NUMERIC, strict=True):
        values = numeric_values(kind, change if current else "", rows, rng)
        columns[name] = values.astype(np.int64) if kind == "integers" else values
    for name, (labels, shares, moved, what) in CATEGORIES.items():
        p = moved if current and moved is not None else shares
        options = labels + (["new"] if current and what.startswith("new") else [])
        if current and what.startswith("new"):
            p = [*p, 0.15]
        codes = rng.choice(len(options), rows, p=np.asarray(p) / np.sum(p))
        columns[name] = pa.array(np.asarray(options, dtype=object)[codes], pa.string())
    return pa.table(columns)


def write_table(path: Path, rows: int, seed: int, current: bool) -> None:
    """Write ``rows`` rows as Parquet in chunks (bounded memory)."""
    with pq.ParquetWriter(path, make_chunk(1, np.random.default_rng(0), False).schema) as writer:
        for number, offset in enumerate(range(0, rows, CHUNK_ROWS)):
            rng = np.random.default_rng([seed, number])
            writer.write_table(make_chunk(min(CHUNK_ROWS, rows - offset), rng, current))


def expected_drift(config: str) -> dict[str, bool]:
    """Which columns each configuration should call drifted, from how the data was built:
    every deliberate change, except the small ones under the distances (their normalised
    Wasserstein and Jensen-Shannon distances are about 0.05 and 0.01, under 0.1); the tests
    see those at these sizes."""
    expected = {}
    for name, (_, change) in zip(NUMERIC_NAMES, NUMERIC, strict=True):
        expected[name] = bool(change) and (config == "tests" or "small" not in change)
    for name, (_, _, _, what) in CATEGORIES.items():
        expected[name] = bool(what) and (config == "tests" or "small" not in what)
    return expected


def spec() -> dict[str, Any]:
    return {
        "numeric": NUMERIC_NAMES,
        "categorical": list(CATEGORIES),
        "configs": CONFIGS,
        "changes": {
            **{n: c for n, (_, c) in zip(NUMERIC_NAMES, NUMERIC, strict=True) if c},
            **{n: w for n, (_, _, _, w) in CATEGORIES.items() if w},
        },
    }


# --------------------------------------------------------------------------- running


def side_command(
    python: Path, tool: str, data: dict[str, Path], config: str, threads: int | None
) -> list[str]:
    command = [str(python), str(SIDE), tool, "--reference", str(data["reference"])]
    command += ["--current", str(data["current"]), "--spec", str(data["spec"]), "--config", config]
    if threads:
        command += ["--threads", str(threads)]
    return command


def variants(only: Sequence[str]) -> list[tuple[str, int | None]]:
    chosen: list[tuple[str, int | None]] = []
    if "mloop" in only:
        chosen += [("mloop", None), ("mloop", 1)]  # Evidently computes on one core
    if "evidently" in only:
        chosen.append(("evidently", None))
    return chosen


def label(tool: str, threads: int | None) -> str:
    return f"{tool}, 1 thread" if threads == 1 else tool


def bench_size(
    rows: int, workdir: Path, pythons: dict[str, Path], args: argparse.Namespace
) -> dict[str, Any]:
    data = {
        "reference": workdir / f"reference-{rows}.parquet",
        "current": workdir / f"current-{rows}.parquet",
        "spec": workdir / "spec.json",
    }
    log(f"{rows:,} rows: writing reference and current Parquet files")
    write_table(data["reference"], rows, REFERENCE_SEED, current=False)
    write_table(data["current"], rows, CURRENT_SEED, current=True)
    size: dict[str, Any] = {
        "rows": rows,
        "parquet_bytes": sum(data[k].stat().st_size for k in ("reference", "current")),
        "runs": [],
    }
    for config in args.configs:
        for tool, threads in variants(args.only):
            samples = []
            for repeat in range(args.repeat):
                log(f"{rows:,} rows, {config}: {label(tool, threads)} #{repeat + 1} ...")
                command = side_command(pythons[tool], tool, data, config, threads)
                run = run_side(command, workdir, args.timeout)
                samples.append(run)
                if "error" in run:
                    log(f"  failed: {run['error']}")
                    break
                log(f"  {run['total_s']:.2f} s, peak RSS {run['peak_rss_mb']:,.0f} MB")
            size["runs"].append(combine(samples, tool, threads, config))
    if not args.keep:
        for key in ("reference", "current"):
            data[key].unlink(missing_ok=True)
    return size


def combine(
    samples: list[dict[str, Any]], tool: str, threads: int | None, config: str
) -> dict[str, Any]:
    """Repeats as one run: the median of each time, the highest peak RSS, the verdicts of the
    first run."""
    head = {"tool": tool, "threads": threads, "config": config, "label": label(tool, threads)}
    errors = [s for s in samples if "error" in s]
    if errors:
        return {**head, **errors[0]}
    run = {**head, **samples[0]}
    for field in ("total_s", "process_s", "reference_s", "window_s", "read_s", "compute_s"):
        values = [s[field] for s in samples if s.get(field) is not None]
        run[field] = statistics.median(values) if values else None
    run["peak_rss_mb"] = max(s["peak_rss_mb"] for s in samples)
    run["samples"] = [
        {k: s.get(k) for k in ("total_s", "peak_rss_mb", "reference_s", "window_s")}
        for s in samples
    ]
    return run


# --------------------------------------------------------------------------- report


def find(
    size: dict[str, Any], tool: str, config: str, threads: int | None = None
) -> dict[str, Any] | None:
    for run in size["runs"]:
        if (run["tool"], run["config"], run["threads"]) == (tool, config, threads):
            return run
    return None


def timing_table(size: dict[str, Any]) -> Table:
    table = Table(
        title=(
            f"{size['rows']:,} rows a side, 25 columns "
            f"({size['parquet_bytes'] / 1e6:,.0f} MB of Parquet)"
        ),
        caption=(
            "total: read both files and compute drift (mloop: summarise the reference, then "
            "the window against it; Evidently: read into pandas, then the preset); window: "
            "mloop's time for the window alone, with the reference summary already stored; "
            "ratio = Evidently total / mloop total (> 1: mloop faster)"
        ),
    )
    for column in (
        "configuration",
        "tool",
        "total",
        "window",
        "peak RSS",
        "ratio",
        f">= {TARGET_RATIO:g}x",
    ):
        table.add_column(column, justify="left" if column in ("configuration", "tool") else "right")
    for run in size["runs"]:
        if "error" in run:
            table.add_row(
                run["config"],
                run["label"],
                "timed out" if run.get("timed_out") else "error",
                "",
                "",
                "",
                "",
            )
            continue
        peer = find(size, "evidently", run["config"])
        ratio = None
        if run["tool"] == "mloop" and peer and "error" not in peer:
            ratio = peer["total_s"] / run["total_s"]
        run["ratio"] = ratio
        met = "" if ratio is None or run["threads"] else ("yes" if ratio >= TARGET_RATIO else "no")
        table.add_row(
            run["config"],
            run["label"],
            fmt_s(run["total_s"]),
            fmt_s(run.get("window_s")),
            f"{run['peak_rss_mb']:,.0f} MB",
            fmt_ratio(ratio),
            met,
        )
    return table


def agreement(size: dict[str, Any], config: str) -> tuple[Table | None, list[str]]:
    """Per column: what the data implies, each tool's verdict; the columns where the tools
    disagree, with both scores."""
    ours, theirs = find(size, "mloop", config), find(size, "evidently", config)
    if not ours or "error" in ours:
        return None, []
    expected = expected_drift(config)
    changes = spec()["changes"]
    table = Table(title=f"{size['rows']:,} rows, {config}: drifted columns")
    for column in ("column", "change", "expected", "mloop", "Evidently", "agree"):
        table.add_column(column)
    disagreements = []
    for name, want in expected.items():
        mine = ours["columns"][name]
        cells = [name, changes.get(name, ""), "drift" if want else "-", verdict(mine)]
        if theirs and "error" not in theirs:
            other = theirs["columns"][name]
            agree = mine["drifted"] == other["drifted"]
            cells += [verdict(other), "yes" if agree else "[bold red]NO[/]"]
            if not agree:
                disagreements.append(name)
        else:
            cells += ["-", ""]
        table.add_row(*cells)
    return table, disagreements


def verdict(result: dict[str, Any]) -> str:
    score = result["score"]
    shown = "inf" if isinstance(score, str) else f"{score:.3g}"
    return f"{'drift' if result['drifted'] else '-'} ({shown})"


def report(results: dict[str, Any]) -> None:
    out = Console()
    if not out.is_terminal:
        out.width = max(out.width, 140)
    for size in results["sizes"]:
        out.print(timing_table(size))
        size["disagreements"] = {}
        for config in results["configs"]:
            table, disagreements = agreement(size, config)
            if table is None:
                continue
            out.print(table)
            size["disagreements"][config] = disagreements
            if disagreements:
                out.print(escape(f"{config}: the tools disagree on {', '.join(disagreements)}"))
            elif find(size, "evidently", config):
                out.print(f"{config}: both tools call the same columns drifted")
    mloop_rss = [
        run["peak_rss_mb"]
        for size in results["sizes"]
        for run in size["runs"]
        if run["tool"] == "mloop" and run["threads"] is None and "error" not in run
    ]
    if mloop_rss:
        out.print(f"mloop peak RSS across sizes: {min(mloop_rss):,.0f} to {max(mloop_rss):,.0f} MB")
    versions_text = ", ".join(f"{tool} {version}" for tool, version in results["versions"].items())
    out.print(escape(f"versions: {versions_text}; load average at the end: {results['load_end']}"))


def default_json_path() -> Path:
    return RESULTS_DIR / f"drift-{dt.date.today().isoformat()}.json"


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Data drift: mloop against Evidently 0.7.")
    parser.add_argument("--quick", action="store_true", help="20k and 100k rows")
    parser.add_argument(
        "--sizes",
        type=lambda text: [int(s.replace("_", "")) for s in text.split(",")],
        help="comma-separated row counts per side (default 100000,1000000)",
    )
    parser.add_argument(
        "--configs",
        type=lambda text: text.split(","),
        default=list(CONFIGS),
        help=f"comma-separated configurations (default: {','.join(CONFIGS)})",
    )
    parser.add_argument(
        "--only",
        type=lambda text: text.split(","),
        default=list(TOOLS),
        help=f"comma-separated tools (default: {','.join(TOOLS)})",
    )
    parser.add_argument("--repeat", type=int, default=1, help="runs per tool; the median counts")
    parser.add_argument("--timeout", type=float, default=DEFAULT_TIMEOUT_S, help="seconds per run")
    parser.add_argument(
        "--json",
        nargs="?",
        const=default_json_path(),
        type=Path,
        metavar="PATH",
        help="write results as JSON (default path: benchmarks/results/drift-<date>.json)",
    )
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory")
    args = parser.parse_args(argv)
    if args.repeat < 1:
        parser.error("--repeat must be at least 1")
    if set(args.only) - set(TOOLS):
        parser.error(f"unknown tools: {', '.join(sorted(set(args.only) - set(TOOLS)))}")
    if set(args.configs) - set(CONFIGS):
        parser.error(
            f"unknown configurations: {', '.join(sorted(set(args.configs) - set(CONFIGS)))}"
        )
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # run the finally blocks
    sizes = args.sizes or (QUICK_SIZES if args.quick else DEFAULT_SIZES)
    pythons = {"mloop": Path(sys.executable)}
    if "evidently" in args.only:
        pythons["evidently"] = ensure_venv("evidently")
    results: dict[str, Any] = {
        "date": dt.datetime.now().isoformat(timespec="seconds"),
        "machine": {
            "platform": platform.platform(),
            "python": platform.python_version(),
            "cpus": os.cpu_count(),
            "load_start": os.getloadavg(),
        },
        "versions": versions(pythons),
        "configs": args.configs,
        "config_methods": {name: CONFIGS[name] for name in args.configs},
        "changes": spec()["changes"],
        "repeat": args.repeat,
        "sizes": [],
    }
    try:
        with work_directory(args.keep) as workdir:
            (workdir / "spec.json").write_text(json.dumps(spec(), indent=2))
            for rows in sizes:
                results["sizes"].append(bench_size(rows, workdir, pythons, args))
    except KeyboardInterrupt:
        log("interrupted")
        return 130
    results["load_end"] = [round(x, 2) for x in os.getloadavg()]
    report(results)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(results, indent=2, default=str) + "\n")
        log(f"results written to {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
