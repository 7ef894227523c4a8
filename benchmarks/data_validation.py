"""Data validation benchmark: one contract, mloop against pandera and Great Expectations.

    .venv/bin/python benchmarks/data_validation.py             # 1M and 10M rows
    .venv/bin/python benchmarks/data_validation.py --quick     # 100k and 1M rows
    .venv/bin/python benchmarks/data_validation.py --sizes 2000000 --only mloop,pandera --json
    .venv/bin/python benchmarks/data_validation.py --quick --repeat 1 --keep

Writes a synthetic transactions table (fixed seed, a known number of injected violations) as
Parquet into a temporary directory, once per size, and a smaller reference table whose profile
the distribution checks compare with. Then every tool validates the same file against the
same contract, each in a fresh subprocess (mloop with the project venv, pandera and Great
Expectations in their own venvs under ``benchmarks/.venvs``, created from
``requirements-<tool>.txt`` when missing); the subprocesses are ``_data_side.py``. It prints
time, peak memory and ratios per size, and each tool's failing counts per check against the
counts the data was built with. Each variant runs once untimed, then ``--repeat`` times
(default 3) back to back, and the median time counts. It reports only: no figure makes it fail. See
``benchmarks/README.md``.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import hashlib
import json
import math
import os
import platform
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from mloop.data import profile_dataset

BENCH_DIR = Path(__file__).resolve().parent
VENVS_DIR = BENCH_DIR / ".venvs"
RESULTS_DIR = BENCH_DIR / "results"
SIDE = BENCH_DIR / "_data_side.py"
PEERS = ("pandera", "great_expectations")
TOOLS = ("mloop", *PEERS)

SEED = 20241122
REFERENCE_SEED = 20241023
REFERENCE_ROWS = 200_000
CHUNK_ROWS = 1_000_000
DEFAULT_SIZES = (1_000_000, 10_000_000)
QUICK_SIZES = (100_000, 1_000_000)
TARGET_RATIO = 5.0
DEFAULT_TIMEOUT_S = 1800.0
SMALL_MEMORY_LIMIT = "256MB"
DEFAULT_REPEAT = 3

# Freshness is measured from this moment on every side; the data's newest timestamps lie
# within minutes of it.
NOW = dt.datetime(2026, 11, 22, 12, 0, tzinfo=dt.UTC)
FIRST_DAY = dt.date(2025, 11, 1)
DAYS = 365
CURRENCIES = ["EUR", "USD", "GBP", "CHF"]
COUNTRIES = ["DE", "FR", "US", "GB", "ES", "IT", "NL", "CH"]
STATUSES = ["settled", "pending", "refunded", "failed"]
DOMAINS = ["example.com", "mail.example.org", "shop.example.net", "example.de"]
EMAIL_REGEX = r"^[a-z0-9._%+-]+@[a-z0-9.-]+\.[a-z]{2,}$"

# The contract, as parameters every side translates into its own terms. The check names are
# mloop's; the peers report under the same names.
CONTRACT: dict[str, Any] = {
    "columns": {
        "id": {"type": "int", "nullable": False, "unique": True},
        "customer_id": {"type": "int", "nullable": False, "min": 1},
        "day": {"type": "date"},
        "amount": {"type": "float", "nullable": False, "min": 0, "max": 10_000},
        "discount": {"type": "float", "min": 0},
        "currency": {"type": "string", "allowed": CURRENCIES},
        "country": {"type": "string", "nullable": False, "allowed": COUNTRIES},
        "email": {"type": "string", "regex": EMAIL_REGEX},
        "status": {"type": "string", "allowed": STATUSES},
        "ts": {"type": "timestamp", "nullable": False},
        "score": {"type": "float", "min": 0, "max": 1},
        "quantity": {"type": "int", "min": 1, "max": 100},
    },
    "unique": [["customer_id", "day"]],
    "rows": {"min": 1_000, "max": 50_000_000},
    "freshness": {"column": "ts", "max_age": "2d", "max_age_s": 2 * 86_400},
    "rule": {"name": "discount_le_amount", "sql": "discount <= amount"},
    "distribution": [
        {"column": "amount", "mean_within": 0.05},
        {"column": "score", "psi_max": 0.1},
    ],
}
# Check kinds a peer cannot express; it runs the contract without them.
LACKS: dict[str, dict[str, str]] = {
    "great_expectations": {
        "score.psi": "no PSI expectation (its KL-divergence expectation is another statistic)"
    },
}

# Dataset-level checks have no failing-row count; on this data all of them pass.
EXPECTED_STATUS = {
    "row_count": "passed",
    "ts.freshness": "passed",
    "amount.mean": "passed",
    "score.psi": "passed",
}

# Injected violations, per million rows (disjoint rows, so each check's count is exact).
INJECTIONS_PER_MILLION = {
    "dup_id": 20,  # pairs: id copied from another row -> 2 failing rows each
    "dup_key": 30,  # pairs: (customer_id, day) copied from another row
    "null_amount": 500,
    "negative_amount": 100,  # discount set to null on these rows
    "large_amount": 50,
    "negative_discount": 20,
    "discount_over_amount": 200,
    "bad_currency": 30,
    "null_country": 100,
    "bad_country": 25,
    "bad_email": 300,
    "null_email": 1000,  # passes: the regex ignores nulls and email may be null
    "bad_status": 5,
    "bad_score": 10,
    "zero_quantity": 15,
}

SCHEMA = pa.schema(
    [
        ("id", pa.int64()),
        ("customer_id", pa.int64()),
        ("day", pa.date32()),
        ("amount", pa.float64()),
        ("discount", pa.float64()),
        ("currency", pa.string()),
        ("country", pa.string()),
        ("email", pa.string()),
        ("status", pa.string()),
        ("ts", pa.timestamp("us", tz="UTC")),
        ("score", pa.float64()),
        ("quantity", pa.int64()),
    ]
)

console = Console(stderr=True)


def log(message: str) -> None:
    console.print(f"[dim]{dt.datetime.now():%H:%M:%S}[/dim] {escape(message)}")


# --------------------------------------------------------------------------- data


def injection_counts(rows: int) -> dict[str, int]:
    return {
        kind: max(1, round(rate * rows / 1_000_000))
        for kind, rate in INJECTIONS_PER_MILLION.items()
    }


def make_chunk(offset: int, rows: int, rng: np.random.Generator) -> tuple[pa.Table, dict[str, int]]:
    """Rows ``offset`` .. ``offset + rows`` of the table and the violations injected in them."""
    index = np.arange(offset, offset + rows, dtype=np.int64)
    ids = index + 1
    customer = 1 + index // DAYS  # (customer_id, day) is unique by construction
    day = (FIRST_DAY - dt.date(1970, 1, 1)).days + (index % DAYS).astype(np.int32)
    amount = np.clip(np.round(rng.lognormal(3.5, 1.0, rows), 2), 0.01, 9_999.99)
    discount = np.round(amount * rng.uniform(0.0, 0.3, rows), 2)
    currency = rng.choice(len(CURRENCIES), rows, p=[0.5, 0.3, 0.15, 0.05])
    country = rng.integers(0, len(COUNTRIES), rows)
    domain = rng.integers(0, len(DOMAINS), rows)
    status = rng.choice(len(STATUSES), rows, p=[0.8, 0.1, 0.06, 0.04])
    now_us = int(NOW.timestamp() * 1_000_000)
    ts = now_us - rng.integers(60_000_000, 30 * 86_400_000_000, rows)
    score = rng.beta(2.0, 5.0, rows)
    quantity = np.minimum(1 + rng.poisson(2.0, rows), 100)

    counts = injection_counts(rows)
    sizes = {k: 2 * n if k in ("dup_id", "dup_key") else n for k, n in counts.items()}
    picked = rng.permutation(rows)[: sum(sizes.values())]
    at: dict[str, np.ndarray] = {}
    start = 0
    for kind, size in sizes.items():
        at[kind] = picked[start : start + size]
        start += size

    pairs = at["dup_id"].reshape(2, -1)
    ids[pairs[0]] = ids[pairs[1]]
    pairs = at["dup_key"].reshape(2, -1)
    customer[pairs[0]] = customer[pairs[1]]
    day[pairs[0]] = day[pairs[1]]
    amount[at["negative_amount"]] = -np.round(rng.uniform(1, 100, counts["negative_amount"]), 2)
    amount[at["large_amount"]] = np.round(rng.uniform(20_000, 50_000, counts["large_amount"]), 2)
    discount[at["negative_discount"]] = -1.0
    discount[at["discount_over_amount"]] = amount[at["discount_over_amount"]] + 5.0
    score[at["bad_score"]] = 1.5
    quantity[at["zero_quantity"]] = 0

    amount_mask = np.zeros(rows, dtype=bool)
    amount_mask[at["null_amount"]] = True
    discount_mask = np.zeros(rows, dtype=bool)
    discount_mask[at["negative_amount"]] = True

    def strings(values: list[str], codes: np.ndarray) -> pa.Array:
        return pc.take(pa.array(values), pa.array(codes))

    def replace(array: pa.Array, positions: np.ndarray, value: str | None) -> pa.Array:
        mask = np.zeros(rows, dtype=bool)
        mask[positions] = True
        return pc.if_else(pa.array(mask), pa.scalar(value, pa.string()), array)

    currency_arr = replace(strings(CURRENCIES, currency), at["bad_currency"], "XXX")
    country_arr = replace(strings(COUNTRIES, country), at["bad_country"], "ZZ")
    country_arr = replace(country_arr, at["null_country"], None)
    status_arr = replace(strings(STATUSES, status), at["bad_status"], "unknown")
    local = pc.binary_join_element_wise("c", pc.cast(pa.array(customer), pa.string()), "")
    email = pc.binary_join_element_wise(local, strings(DOMAINS, domain), "@")
    bad = np.zeros(rows, dtype=bool)
    bad[at["bad_email"]] = True
    email = pc.if_else(pa.array(bad), pc.replace_substring(email, "@", "."), email)
    email = replace(email, at["null_email"], None)

    table = pa.Table.from_arrays(
        [
            pa.array(ids),
            pa.array(customer),
            pa.array(day, pa.date32()),
            pa.array(amount, mask=amount_mask),
            pa.array(discount, mask=discount_mask),
            currency_arr,
            country_arr,
            email,
            status_arr,
            pa.array(ts, pa.timestamp("us", tz="UTC")),
            pa.array(score),
            pa.array(quantity.astype(np.int64)),
        ],
        schema=SCHEMA,
    )
    # Shuffle the rows of the chunk so no column is sorted.
    return table.take(pa.array(rng.permutation(rows))), counts


def expected_failures(counts: dict[str, int]) -> dict[str, int]:
    """The failing rows of each row-level and uniqueness check that the injections imply."""
    return {
        "schema": 0,
        "id.not_null": 0,
        "customer_id.not_null": 0,
        "customer_id.min": 0,
        "ts.not_null": 0,
        "score.min": 0,
        "quantity.max": 0,
        "id.unique": 2 * counts["dup_id"],
        "unique(customer_id, day)": 2 * counts["dup_key"],
        "amount.not_null": counts["null_amount"],
        "amount.min": counts["negative_amount"],
        "amount.max": counts["large_amount"],
        "discount.min": counts["negative_discount"],
        "discount_le_amount": counts["discount_over_amount"],
        "currency.allowed": counts["bad_currency"],
        "country.not_null": counts["null_country"],
        "country.allowed": counts["bad_country"],
        "email.regex": counts["bad_email"],
        "status.allowed": counts["bad_status"],
        "score.max": counts["bad_score"],
        "quantity.min": counts["zero_quantity"],
    }


def write_table(path: Path, rows: int, seed: int) -> dict[str, int]:
    """Write ``rows`` rows as Parquet in chunks (bounded memory); return injected counts."""
    totals = dict.fromkeys(INJECTIONS_PER_MILLION, 0)
    with pq.ParquetWriter(path, SCHEMA) as writer:
        for number, offset in enumerate(range(0, rows, CHUNK_ROWS)):
            rng = np.random.default_rng([seed, number])
            table, counts = make_chunk(offset, min(CHUNK_ROWS, rows - offset), rng)
            writer.write_table(table, row_group_size=CHUNK_ROWS)
            for kind, count in counts.items():
                totals[kind] += count
    return totals


# --------------------------------------------------------------------------- contract


def yaml_value(value: Any) -> str:
    return json.dumps(value)  # JSON scalars and flow lists are valid YAML


def contract_yaml(*, without: Sequence[str] = ()) -> str:
    """The contract in mloop's YAML, less the named distribution checks (``score.psi``:
    the common subset)."""
    lines = ["contract: transactions", "version: 1", "columns:"]
    for name, spec in CONTRACT["columns"].items():
        body = ", ".join(f"{key}: {yaml_value(value)}" for key, value in spec.items())
        lines.append(f"  {name}: {{{body}}}")
    lines.append("unique:")
    lines.extend(f"  - {yaml_value(key)}" for key in CONTRACT["unique"])
    rows = CONTRACT["rows"]
    lines.append(f"rows: {{min: {rows['min']}, max: {rows['max']}}}")
    fresh = CONTRACT["freshness"]
    lines.append(f"freshness: {{column: {fresh['column']}, max_age: {fresh['max_age']}}}")
    rule = CONTRACT["rule"]
    lines += ["rules:", f"  - name: {rule['name']}", f"    sql: {rule['sql']}"]
    lines.append("distribution:")
    for entry in CONTRACT["distribution"]:
        kept = {
            key: value
            for key, value in entry.items()
            if key == "column" or f"{entry['column']}.{key.split('_')[0]}" not in without
        }
        if len(kept) > 1:
            lines.append(f"  - {{{', '.join(f'{k}: {yaml_value(v)}' for k, v in kept.items())}}}")
    return "\n".join(lines) + "\n"


def reference_stats(profile_json: str) -> dict[str, Any]:
    """What the peers need from the reference profile: the numbers mloop compares with (the
    mean, the histogram bins PSI is computed over)."""
    columns = {column["name"]: column for column in json.loads(profile_json)["columns"]}
    stats = {}
    for entry in CONTRACT["distribution"]:
        column = columns[entry["column"]]
        stats[entry["column"]] = {
            "mean": column["mean"],
            "edges": column["histogram"]["edges"],
            "counts": column["histogram"]["counts"],
        }
    return stats


# --------------------------------------------------------------------------- venvs


def requirements_path(tool: str) -> Path:
    return BENCH_DIR / f"requirements-{tool.replace('_', '-')}.txt"


def ensure_venv(tool: str) -> Path:
    """Create ``benchmarks/.venvs/<tool>`` if missing and (re)install its requirements when
    they changed (a SHA-256 stamp in the venv records what was installed); return python."""
    venv = VENVS_DIR / tool
    requirements = requirements_path(tool)
    python = venv / "bin" / "python"
    if not python.exists():
        interpreter = shutil.which("python3.11") or sys.executable
        log(f"creating {venv} with {interpreter}")
        subprocess.run([interpreter, "-m", "venv", str(venv)], check=True)
    digest = hashlib.sha256(requirements.read_bytes()).hexdigest()
    stamp_path = venv / ".requirements-sha256"
    stamp = stamp_path.read_text().strip() if stamp_path.exists() else ""
    if stamp != digest:
        log(f"installing {requirements.name} into {venv}")
        pip = [str(python), "-m", "pip", "install", "--quiet", "-r", str(requirements)]
        subprocess.run(pip, check=True)
        stamp_path.write_text(digest + "\n")
    return python


# --------------------------------------------------------------------------- running a side


@dataclass(frozen=True)
class Variant:
    """One subprocess: a tool, the checks it runs (all it can, or the common subset) and,
    for mloop, a thread count or DuckDB memory limit other than the defaults."""

    tool: str
    subset: str  # "full" or "common"
    threads: int | None = None
    memory_limit: str | None = None

    @property
    def label(self) -> str:
        text = self.tool
        if self.threads:
            text += f", {self.threads} thread" + ("s" if self.threads > 1 else "")
        if self.memory_limit:
            text += f", memory_limit {self.memory_limit}"
        return text


def side_command(python: Path, variant: Variant, data: Path, spec: Path) -> list[str]:
    command = [str(python), str(SIDE), variant.tool, "--data", str(data), "--spec", str(spec)]
    command += ["--subset", variant.subset]
    if variant.threads:
        command += ["--threads", str(variant.threads)]
    if variant.memory_limit:
        command += ["--memory-limit", variant.memory_limit]
    return command


def run_side(command: list[str], workdir: Path, timeout_s: float) -> dict[str, Any]:
    """Run one side in a fresh process (its own session, so a time-out ends it whole); its
    last stdout line is a JSON object, to which the process's wall time is added.

    Peak memory is what the side reads from its own ``/proc/self/status`` (``VmHWM``) just
    before it exits: ``ru_maxrss`` of a child of this process would also count this process's
    resident memory at the moment it forked."""
    out_path = workdir / "side.out"
    err_path = workdir / "side.err"
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "GX_ANALYTICS_ENABLED": "false"}
    t0 = time.perf_counter()
    with out_path.open("wb") as out, err_path.open("wb") as err:
        process = subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=err,
            env=env,
            start_new_session=True,
        )
    try:
        process.wait(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()
        return {"error": f"timed out after {timeout_s:.0f} s", "timed_out": True}
    except BaseException:  # Ctrl-C, SIGTERM: end the side too
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()
        raise
    wall = time.perf_counter() - t0
    stderr = err_path.read_text(errors="replace")
    lines = [line for line in out_path.read_text(errors="replace").splitlines() if line.strip()]
    if process.returncode != 0 or not lines:
        tail = "\n".join(stderr.splitlines()[-15:])
        return {"error": f"exit {process.returncode}: {tail}"}
    result = dict(json.loads(lines[-1]))
    result["process_s"] = wall
    return result


# --------------------------------------------------------------------------- benchmark


def variants(only: Sequence[str]) -> list[Variant]:
    chosen: list[Variant] = []
    if "mloop" in only:
        chosen += [Variant("mloop", "full"), Variant("mloop", "common")]
        # pandas, and so pandera and GX, compute on one core: mloop on one thread too.
        chosen.append(Variant("mloop", "common", threads=1))
        # DuckDB's memory limit (default 1GB) bounds the hash tables of uniqueness checks.
        chosen.append(Variant("mloop", "full", memory_limit=SMALL_MEMORY_LIMIT))
    if "pandera" in only:
        chosen += [Variant("pandera", "full"), Variant("pandera", "common")]
    if "great_expectations" in only:
        chosen.append(Variant("great_expectations", "common"))
    return chosen


def common_without() -> list[str]:
    """Checks left out of the common subset: those some peer lacks."""
    return sorted({name for lacks in LACKS.values() for name in lacks})


def prepare(workdir: Path, sizes: Sequence[int]) -> dict[str, Any]:
    """The reference table and its profile, and the contract files; not timed."""
    reference_path = workdir / "reference.parquet"
    write_table(reference_path, REFERENCE_ROWS, REFERENCE_SEED)
    profile = profile_dataset(reference_path)
    profile_json = profile.to_json()
    (workdir / "reference-profile.json").write_text(profile_json)
    for subset, without in (("full", []), ("common", common_without())):
        (workdir / f"contract-{subset}.yaml").write_text(contract_yaml(without=without))
    spec = {
        "contract": CONTRACT,
        "now": NOW.isoformat(),
        "reference": reference_stats(profile_json),
        "reference_profile": str(workdir / "reference-profile.json"),
        "contract_yaml": {s: str(workdir / f"contract-{s}.yaml") for s in ("full", "common")},
        "common_without": common_without(),
    }
    (workdir / "spec.json").write_text(json.dumps(spec, indent=2))
    return spec


TIMED_FIELDS = ("read_validate_s", "validate_s", "read_s", "setup_s", "import_s", "process_s")


def combine(samples: list[dict[str, Any]]) -> dict[str, Any]:
    """One variant's repeats as one run: the median of each time, the highest peak RSS, the
    check results of the first repeat, and every sample under ``samples``."""
    errors = [sample for sample in samples if "error" in sample]
    if errors:
        return {**errors[0], "samples": samples}
    run = dict(samples[0])
    for field in TIMED_FIELDS:
        values = [sample[field] for sample in samples if sample.get(field) is not None]
        run[field] = statistics.median(values) if values else None
    run["peak_rss_mb"] = max(sample["peak_rss_mb"] for sample in samples)
    run["samples"] = [
        {field: sample.get(field) for field in (*TIMED_FIELDS, "peak_rss_mb")} for sample in samples
    ]
    run["agree_across_repeats"] = all(
        same_results(sample["checks"], run["checks"]) for sample in samples
    )
    return run


def same_results(one: dict[str, Any], other: dict[str, Any]) -> bool:
    """Statuses and failing counts equal, observed values equal to 1e-9 (a mean summed on
    several threads can differ in its last bits)."""
    if one.keys() != other.keys():
        return False
    for name, check in one.items():
        theirs = other[name]
        if (check["status"], check["failing"]) != (theirs["status"], theirs["failing"]):
            return False
        a, b = check.get("observed"), theirs.get("observed")
        if (a is None) != (b is None) or (a is not None and not math.isclose(a, b, rel_tol=1e-9)):
            return False
    return True


def bench_size(
    rows: int,
    workdir: Path,
    pythons: dict[str, Path],
    chosen: list[Variant],
    options: argparse.Namespace,
) -> dict[str, Any]:
    data = workdir / f"transactions-{rows}.parquet"
    log(f"{rows:,} rows: writing {data.name}")
    t0 = time.perf_counter()
    counts = write_table(data, rows, SEED)
    log(
        f"{rows:,} rows: {data.stat().st_size / 1e6:,.0f} MB of Parquet "
        f"in {time.perf_counter() - t0:.1f} s"
    )
    result: dict[str, Any] = {
        "rows": rows,
        "parquet_bytes": data.stat().st_size,
        "injected": counts,
        "expected": expected_failures(counts),
        "runs": [],
    }
    # Each variant: one untimed run, then its repeats back to back. On this machine (a VM
    # that hands freed memory back to its host after a few seconds) a process that
    # allocates gigabytes runs faster right after another one freed as much: back to back,
    # every timed run finds the memory its predecessor of the same size left; with --pause
    # every one starts cold instead.
    samples: dict[Variant, list[dict[str, Any]]] = {variant: [] for variant in chosen}
    for variant in chosen:
        command = side_command(pythons[variant.tool], variant, data, workdir / "spec.json")
        log(f"{rows:,} rows: {variant.label} ({variant.subset} contract), warm-up ...")
        warm_up = run_side(command, workdir, options.timeout)
        if "error" in warm_up:
            log(f"  {variant.label} failed: {warm_up['error']}")
            samples[variant].append(warm_up)
            continue
        for repeat in range(options.repeat):
            if options.pause:
                time.sleep(options.pause)
            run = run_side(command, workdir, options.timeout)
            samples[variant].append(run)
            if "error" in run:
                log(f"  #{repeat + 1} failed: {run['error']}")
                break
            log(
                f"  #{repeat + 1}: {run['read_validate_s']:.2f} s read+validate, "
                f"peak RSS {run['peak_rss_mb']:,.0f} MB"
            )
    for variant in chosen:
        run = combine(samples[variant])
        run.update(
            label=variant.label,
            tool=variant.tool,
            subset=variant.subset,
            threads=variant.threads,
            memory_limit=variant.memory_limit,
        )
        result["runs"].append(run)
    if not options.keep:
        data.unlink(missing_ok=True)  # the next size needs the disk space
    return result


# --------------------------------------------------------------------------- report


def find_run(
    size: dict[str, Any],
    tool: str,
    subset: str,
    threads: int | None = None,
    memory_limit: str | None = None,
) -> dict[str, Any] | None:
    for run in size["runs"]:
        if (run["tool"], run["subset"], run["threads"], run["memory_limit"]) == (
            tool,
            subset,
            threads,
            memory_limit,
        ):
            return run
    return None


def fmt_s(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value:,.2f} s" if value < 100 else f"{value:,.0f} s"


def fmt_mb(value: float | None) -> str:
    return "-" if value is None else f"{value:,.0f} MB"


def add_ratios(size: dict[str, Any]) -> None:
    """Peer time / mloop time, against mloop's default run with the same checks; and
    against mloop on one thread, where that run has the same checks."""
    for run in size["runs"]:
        run["ratio"] = run["ratio_validate_only"] = run["ratio_1_thread"] = None
        if run["tool"] == "mloop" or "error" in run:
            continue
        base = find_run(size, "mloop", run["subset"])
        if base and "error" not in base:
            run["ratio"] = run["read_validate_s"] / base["read_validate_s"]
            if run.get("validate_s") is not None:
                run["ratio_validate_only"] = run["validate_s"] / base["read_validate_s"]
        one = find_run(size, "mloop", run["subset"], threads=1)
        if one and "error" not in one:
            run["ratio_1_thread"] = run["read_validate_s"] / one["read_validate_s"]


def fmt_ratio(value: float | None) -> str:
    return "-" if value is None else f"{value:,.1f}x"


def timing_table(size: dict[str, Any], repeat: int) -> Table:
    rows = size["rows"]
    table = Table(
        title=f"{rows:,} rows ({size['parquet_bytes'] / 1e6:,.0f} MB of Parquet)",
        caption=(
            f"times: median of {repeat} run{'s' if repeat > 1 else ''}, peak RSS: the highest; "
            "ratio = peer read+validate time / mloop's with the same checks (> 1: mloop "
            "faster); 'validate only' leaves out reading the Parquet into pandas (mloop's "
            "figure stays read+validate); 'vs 1 thread' compares with mloop on one thread; "
            "process = the whole subprocess, interpreter start and imports included"
        ),
    )
    columns = [
        "tool",
        "checks",
        "read+validate",
        "validate only",
        "process",
        "peak RSS",
        "ratio",
        "ratio, validate only",
        "vs 1 thread",
        f">= {TARGET_RATIO:g}x",
    ]
    for column in columns:
        table.add_column(column, justify="left" if column == "tool" else "right")
    for run in size["runs"]:
        if "error" in run:
            reason = "timed out" if run.get("timed_out") else "error"
            table.add_row(run["label"], run["subset"], reason, *[""] * (len(columns) - 3))
            continue
        ratio = run.get("ratio")
        met = "" if ratio is None else ("yes" if ratio >= TARGET_RATIO else "no")
        table.add_row(
            run["label"],
            f"{run['subset']} ({run['check_count']})",
            fmt_s(run["read_validate_s"]),
            fmt_s(run.get("validate_s")),
            fmt_s(run.get("process_s")),
            fmt_mb(run.get("peak_rss_mb")),
            fmt_ratio(ratio),
            fmt_ratio(run.get("ratio_validate_only")),
            fmt_ratio(run.get("ratio_1_thread")),
            met,
        )
    return table


def agreement(size: dict[str, Any]) -> tuple[Table, list[str]]:
    """Failing rows per check, one column per tool (its full-contract run, else its common
    one), next to what the data was built with; dataset-level checks by status."""
    columns: list[tuple[str, dict[str, Any]]] = []
    for tool in TOOLS:
        run = find_run(size, tool, "full") or find_run(size, tool, "common")
        if run and "error" not in run:
            columns.append((tool, run))
    names: list[str] = []
    for _, run in columns:
        names += [name for name in run["checks"] if name not in names]
    table = Table(title=f"{size['rows']:,} rows: failing rows per check")
    for column in ("check", "expected", *(tool for tool, _ in columns), "agree"):
        table.add_column(column, justify="left" if column == "check" else "right")
    disagreements: list[str] = []
    for name in names:
        count = size["expected"].get(name)
        expected = EXPECTED_STATUS.get(name, "?") if count is None else f"{count:,}"
        cells = []
        agree = True
        for _, run in columns:
            check = run["checks"].get(name)
            if check is None:
                cells.append("n/a")
                continue
            value = describe_check(check)
            cells.append(value)
            agree = agree and value.split(" ")[0] == expected
        if not agree:
            disagreements.append(name)
        table.add_row(name, expected, *cells, "yes" if agree else "[bold red]NO[/]")
    return table, disagreements


def describe_check(check: dict[str, Any]) -> str:
    """A failing row count, or for dataset-level checks the status with what was observed."""
    if check.get("status") == "error":
        return "error"
    if check.get("failing") is not None:
        return f"{check['failing']:,}"
    text = str(check["status"])
    if check.get("observed") is not None:
        text += f" ({check['observed']:.4g})"
    return text


def report(results: dict[str, Any]) -> None:
    out = Console()
    if not out.is_terminal:
        out.width = max(out.width, 150)
    for size in results["sizes"]:
        add_ratios(size)
        out.print(timing_table(size, results["repeat"]))
        table, disagreements = agreement(size)
        size["disagreements"] = disagreements
        out.print(table)
        if disagreements:
            out.print(f"[bold red]tools disagree on: {', '.join(disagreements)}[/]")
        else:
            out.print("all tools agree on every check they run")
        for run in size["runs"]:
            if run.get("agree_across_repeats") is False:
                out.print(f"[bold red]{run['label']}: results differ between repeats[/]")
    for tool, lacks in LACKS.items():
        for name, why in lacks.items():
            out.print(escape(f"{tool} runs without {name}: {why}; the common subset leaves it out"))
    versions = ", ".join(f"{tool} {version}" for tool, version in results["versions"].items())
    out.print(escape(f"versions: {versions}"))


def default_json_path() -> Path:
    return RESULTS_DIR / f"data-validation-{dt.date.today().isoformat()}.json"


def write_json(path: Path, results: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(results, indent=2, default=str) + "\n")
    log(f"results written to {path}")


# --------------------------------------------------------------------------- main


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Data validation benchmark: mloop against pandera and Great Expectations."
    )
    parser.add_argument("--quick", action="store_true", help="100k and 1M rows")
    parser.add_argument(
        "--sizes",
        type=lambda text: [int(s.replace("_", "")) for s in text.split(",")],
        help="comma-separated row counts (default 1000000,10000000)",
    )
    parser.add_argument(
        "--only",
        type=lambda text: text.split(","),
        default=list(TOOLS),
        help=f"comma-separated tools (default: {','.join(TOOLS)})",
    )
    parser.add_argument(
        "--timeout",
        type=float,
        default=DEFAULT_TIMEOUT_S,
        help="seconds one subprocess may run before it is killed and reported as timed out",
    )
    parser.add_argument(
        "--json",
        nargs="?",
        const=default_json_path(),
        type=Path,
        metavar="PATH",
        help="write results as JSON (default path: benchmarks/results/data-validation-<date>.json)",
    )
    parser.add_argument(
        "--repeat",
        type=int,
        default=DEFAULT_REPEAT,
        help=f"runs of each tool per size; the median time counts (default {DEFAULT_REPEAT})",
    )
    parser.add_argument(
        "--pause",
        type=float,
        default=0.0,
        help="seconds to wait before each timed run (10 or more: every run starts with cold "
        "memory on this VM; default 0: runs follow each other)",
    )
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory")
    args = parser.parse_args(argv)
    if args.repeat < 1:
        parser.error("--repeat must be at least 1")
    unknown = set(args.only) - set(TOOLS)
    if unknown:
        parser.error(f"unknown tools: {', '.join(sorted(unknown))}")
    return args


def versions(pythons: dict[str, Path]) -> dict[str, str]:
    found = {}
    for tool, python in pythons.items():
        module = {"mloop": "mloop"}.get(tool, tool)
        code = f"import importlib.metadata as m; print(m.version({module!r}))"
        done = subprocess.run([str(python), "-c", code], capture_output=True, text=True)
        found[tool] = done.stdout.strip() or "unknown"
    return found


@contextlib.contextmanager
def work_directory(keep: bool) -> Iterator[Path]:
    workdir = Path(tempfile.mkdtemp(prefix="mloop-bench-data-"))
    try:
        yield workdir
    finally:
        if keep:
            log(f"kept {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # run the finally blocks
    sizes = args.sizes or (QUICK_SIZES if args.quick else DEFAULT_SIZES)
    pythons = {"mloop": Path(sys.executable)}
    for tool in PEERS:
        if tool in args.only:
            pythons[tool] = ensure_venv(tool)
    chosen = variants(args.only)
    results: dict[str, Any] = {
        "date": dt.datetime.now().isoformat(timespec="seconds"),
        "machine": {
            "platform": platform.platform(),
            "python": platform.python_version(),
            "cpus": os.cpu_count(),
        },
        "versions": versions(pythons),
        "contract": CONTRACT,
        "lacks": LACKS,
        "injections_per_million": INJECTIONS_PER_MILLION,
        "repeat": args.repeat,
        "pause_s": args.pause,
        "sizes": [],
    }
    try:
        with work_directory(args.keep) as workdir:
            log("writing the reference table and its profile")
            prepare(workdir, sizes)
            for rows in sizes:
                size = bench_size(rows, workdir, pythons, chosen, args)
                results["sizes"].append(size)
    except KeyboardInterrupt:
        log("interrupted")
        return 130
    report(results)
    if args.json:
        write_json(args.json, results)
    return 0


if __name__ == "__main__":
    sys.exit(main())
