"""How long one monitor window takes at scale, from the inference log to the stored result.

Writes a synthetic inference log straight into Parquet segments (the serving runtime's own
format: one request per row, inputs as JSON records, outputs with probabilities): a
reference hour and a current hour of ``--rows`` requests each, ``--columns`` numeric inputs,
some of them shifted in the current hour. Creates a monitor whose reference is the first
hour, then computes the second hour with ``run_monitor``, the way the schedule does, and
reports the time of each part and the process's peak memory. No peer runs here: Evidently
has no inference log to read (``benchmarks/drift.py`` compares the statistics with it).

    .venv/bin/python benchmarks/monitor_window.py --rows 1000000 --columns 50
"""

from __future__ import annotations

import argparse
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HOUR = 3_600_000
START = 1_780_000_000_000 // HOUR * HOUR


def _log_hour(
    con: object, runtime: object, hour: int, rows: int, columns: int, shifted: int
) -> None:
    """One hour of requests, generated and JSON-encoded by DuckDB, stored as segments."""
    from mloop.store.eventlog.inference import INFERENCE_SCHEMA, SOURCE
    from mloop.store.eventlog.segments import write_segments

    fields = ", ".join(
        f"f{i} := round(random() * 10 + {3.0 if hour and i < shifted else 0.0}, 4)"
        for i in range(columns)
    )
    table = con.sql(  # type: ignore[attr-defined]
        f"""
        SELECT 'r{hour}-' || i AS request_id,
               {START + hour * HOUR} + i * {HOUR // rows} AS time,
               'bench' AS endpoint, 'stable' AS variant, 'm' AS model_name, 1 AS model_version,
               to_json([struct_pack({fields})])::VARCHAR AS inputs,
               to_json({{'predictions': [p > 0.5]::INT[], 'probabilities': [[1 - p, p]],
                        'classes': [0, 1]}})::VARCHAR AS outputs,
               greatest(p, 1 - p) AS confidence, 1.0 AS latency_ms, 'ok' AS status,
               NULL::VARCHAR AS error
        FROM (SELECT i, random() AS p FROM range({rows}) t(i))
        """
    ).to_arrow_table()
    write_segments(runtime, SOURCE, table.cast(INFERENCE_SCHEMA), key_field="endpoint")  # type: ignore[arg-type]


def _peak_kib() -> int:
    """This process's peak resident memory in KiB: ``VmHWM``, which starts afresh at exec.
    (``ru_maxrss`` would carry the parent's peak, the data generation's, across fork and
    exec.)"""
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # not Linux


def _measure(home: Path, columns: int) -> None:
    """The monitor's part, in a process of its own so that its peak memory is its own."""
    from mloop.core.config import Settings
    from mloop.monitoring.compute import compute_window
    from mloop.monitoring.schemas import ColumnKind, CreateMonitor
    from mloop.monitoring.windows import open_window
    from mloop.store.runtime import open_runtime

    runtime = open_runtime(Settings.for_home(home))
    features: dict[str, ColumnKind] = {f"f{i}": "number" for i in range(columns)}
    spec = CreateMonitor(
        name="bench",
        endpoint="bench",
        reference={"kind": "window", "since": START, "until": START + HOUR},
        columns=features,
    )
    began = time.perf_counter()
    with open_window(runtime, "bench", since=START, until=START + HOUR, features=features) as rows:
        reference = compute_window(spec, None, rows, features).summary
    assert reference is not None
    print(f"{'reference (once)':30s} {time.perf_counter() - began:7.2f} s")
    began = time.perf_counter()
    with open_window(
        runtime, "bench", since=START + HOUR, until=START + 2 * HOUR, features=features
    ) as rows:
        result = compute_window(spec, reference, rows, features)
    print(f"{'window (read and compute)':30s} {time.perf_counter() - began:7.2f} s")
    drifted = sorted(
        (n.split(".")[2] for n, v in result.metrics.items() if n.endswith(".drifted") and v),
        key=lambda n: (len(n), n),
    )
    peak_gb = _peak_kib() / 1024 / 1024
    print(f"peak memory of the monitor's process {peak_gb:.2f} GB; drifted: {', '.join(drifted)}")
    runtime.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000, help="requests per hour")
    parser.add_argument("--columns", type=int, default=50, help="numeric inputs")
    parser.add_argument("--shifted", type=int, default=5, help="inputs shifted in hour 2")
    parser.add_argument("--measure", type=Path, help=argparse.SUPPRESS)  # the child process
    args = parser.parse_args()
    if args.measure is not None:
        _measure(args.measure, args.columns)
        return

    import duckdb

    from mloop.core.config import Settings
    from mloop.store.runtime import open_runtime

    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp) / "home"
        runtime = open_runtime(Settings.for_home(home))
        con = duckdb.connect()
        began = time.perf_counter()
        for hour in (0, 1):
            _log_hour(con, runtime, hour, args.rows, args.columns, args.shifted)
        runtime.close()
        con.close()
        print(
            f"wrote 2 hours of {args.rows:,} requests x {args.columns} inputs in "
            f"{time.perf_counter() - began:.1f} s"
        )
        subprocess.run(
            [sys.executable, __file__, "--measure", str(home), "--columns", str(args.columns)],
            check=True,
        )


if __name__ == "__main__":
    main()
