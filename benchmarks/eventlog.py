"""Inference log benchmark: how many predictions per second the event log keeps up with.

    .venv/bin/python benchmarks/eventlog.py                  # 200,000 records, ~1 minute
    .venv/bin/python benchmarks/eventlog.py --quick          # 20,000 records, smoke run
    .venv/bin/python benchmarks/eventlog.py --json           # and results/eventlog-<date>.json
    .venv/bin/python benchmarks/eventlog.py --database-url postgresql+psycopg://...

Inference-shaped records (an ``InferenceRecord`` with a dict of 8 features as inputs, a label
and two probabilities as outputs, a confidence and a latency) go through
``InferenceLog.record`` — the call the serving domain makes per request: JSON encoding of
inputs and outputs, the field check, the queue — with the writer's defaults, while its
background thread writes Parquet segments to a local artifact store and indexes them. Figures:

- **append**: records/s through ``record`` alone (what a request pays), as fast as one
  producer thread can go;
- **end to end**: records/s until every record is in a segment and indexed (``flush``
  returned), the sustained rate the log keeps up with; dropped records are counted;
- **paced**: the target rate (20,000/s) offered for ``--seconds`` seconds by a producer that
  sleeps when ahead: the rate achieved, drops (must be 0 to keep up), and how long the final
  flush took (the backlog when it stopped);
- **naive SQL log**, for reference: one ``INSERT`` per record, each in its own transaction,
  into a table of the same columns in the same metadata database — what logging each
  prediction as a database row does. MLflow and BentoML serving have no inference log to
  compare with; the ratio is mloop's end-to-end rate over this one.

It reports only: no figure makes it fail.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

BENCH_DIR = Path(__file__).resolve().parent
RESULTS_DIR = BENCH_DIR / "results"
TARGET = 20_000


def _records(count: int) -> list[Any]:
    from mloop.store.eventlog import InferenceRecord

    start = int(time.time() * 1000)
    return [
        InferenceRecord(
            request_id=f"{i:032x}",
            endpoint=f"endpoint-{i % 2}",
            variant="canary" if i % 10 == 0 else "stable",
            model_name="churn",
            model_version=7,
            inputs={
                "tenure": i % 72,
                "monthly": 20.5 + i % 50,
                "plan": "pro",
                "region": "eu-west",
                "tickets": i % 5,
                "age": 18 + i % 60,
                "autopay": bool(i % 2),
                "score": 0.37,
            },
            outputs={"label": i % 2, "probabilities": [0.31, 0.69]},
            latency_ms=1.7,
            confidence=0.69,
            time=start + i // 20,
        )
        for i in range(count)
    ]


def _open(home: Path, database_url: str | None) -> Any:
    from mloop.core.config import Settings
    from mloop.store.runtime import open_runtime

    settings = Settings.for_home(home)
    if database_url:
        settings = dataclasses.replace(settings, database_url=database_url)
    return open_runtime(settings)


def measure_mloop(runtime: Any, count: int) -> dict[str, Any]:
    from mloop.store.eventlog import InferenceLog, find_segments

    records = _records(count)
    log = InferenceLog(runtime)
    log.record(records[0])  # starts the writer thread, untimed
    log.flush()
    started = time.perf_counter()
    for record in records[1:]:
        log.record(record)
    appended = time.perf_counter()
    log.flush()
    flushed = time.perf_counter()
    stats = dataclasses.asdict(log.stats)
    log.close()
    n = count - 1
    return {
        "records": n,
        "append_per_s": n / (appended - started),
        "end_to_end_per_s": n / (flushed - started),
        "append_us_per_record": (appended - started) / n * 1e6,
        "final_flush_s": flushed - appended,
        "segments": len(find_segments(runtime, "inference")),
        "stats": stats,
    }


def measure_paced(runtime: Any, rate: int, seconds: float) -> dict[str, Any]:
    from mloop.store.eventlog import InferenceLog

    count = int(rate * seconds)
    records = _records(count)
    log = InferenceLog(runtime)
    started = time.perf_counter()
    for i, record in enumerate(records):
        # Offer record i at its scheduled moment; sleep only in steps of 100 records.
        if i % 100 == 0:
            ahead = started + i / rate - time.perf_counter()
            if ahead > 0:
                time.sleep(ahead)
        log.record(record)
    offered = time.perf_counter()
    log.flush()
    flushed = time.perf_counter()
    stats = dataclasses.asdict(log.stats)
    log.close()
    return {
        "target_per_s": rate,
        "seconds": seconds,
        "offered_per_s": count / (offered - started),
        "final_flush_s": flushed - offered,
        "dropped": stats["dropped"],
        "written": stats["written"],
        "stats": stats,
    }


def measure_naive_sql(runtime: Any, count: int) -> dict[str, Any]:
    """One INSERT per record, each its own transaction, into a scratch table."""
    from sqlalchemy import BigInteger, Column, Float, MetaData, String, Table, Text

    scratch = MetaData()
    table = Table(
        "bench_naive_inference_log",
        scratch,
        Column("request_id", String(32), primary_key=True),
        Column("time", BigInteger, nullable=False),
        Column("endpoint", String(256), nullable=False),
        Column("variant", String(64), nullable=False),
        Column("model_name", String(256), nullable=False),
        Column("model_version", BigInteger, nullable=False),
        Column("inputs", Text, nullable=False),
        Column("outputs", Text),
        Column("confidence", Float),
        Column("latency_ms", Float, nullable=False),
        Column("status", String(16), nullable=False),
        Column("error", Text),
    )
    scratch.create_all(runtime.db.engine)
    insert = table.insert()
    rows = [r.to_row() for r in _records(count)]
    try:
        started = time.perf_counter()
        for row in rows:
            runtime.run(lambda ctx, row=row: ctx.conn.execute(insert, row), write=True)
        elapsed = time.perf_counter() - started
    finally:
        scratch.drop_all(runtime.db.engine)
    return {"records": count, "per_s": count / elapsed}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--records", type=int, default=200_000)
    parser.add_argument("--sql-records", type=int, default=5_000)
    parser.add_argument("--seconds", type=float, default=10.0, help="of the paced run")
    parser.add_argument("--quick", action="store_true", help="20,000 records, 3 s paced")
    parser.add_argument("--database-url", help="metadata database (default: SQLite)")
    parser.add_argument("--json", nargs="?", const="", help="write results (default path)")
    args = parser.parse_args(argv)
    if args.quick:
        args.records, args.sql_records, args.seconds = 20_000, 1_000, 3.0

    console = Console()
    with tempfile.TemporaryDirectory(prefix="mloop-bench-eventlog-") as tmp:
        runtime = _open(Path(tmp) / "home", args.database_url)
        try:
            console.print(f"mloop: {args.records:,} records through InferenceLog.record ...")
            mloop = measure_mloop(runtime, args.records)
            console.print(f"paced: {TARGET:,}/s for {args.seconds:g} s ...")
            paced = measure_paced(runtime, TARGET, args.seconds)
            console.print(f"naive SQL log: {args.sql_records:,} single-row inserts ...")
            naive = measure_naive_sql(runtime, args.sql_records)
            database = runtime.db.engine.dialect.name
        finally:
            runtime.close()

    table = Table(title=f"Inference log on {database}, local artifacts ({os.cpu_count()} CPUs)")
    table.add_column("figure")
    table.add_column("records/s", justify="right")
    table.add_column("notes")
    ratio = mloop["end_to_end_per_s"] / naive["per_s"]
    table.add_row(
        "mloop append (InferenceLog.record)",
        f"{mloop['append_per_s']:,.0f}",
        f"{mloop['append_us_per_record']:.1f} µs per record on the request path",
    )
    table.add_row(
        "mloop end to end (until flushed)",
        f"{mloop['end_to_end_per_s']:,.0f}",
        f"{mloop['segments']} segments, dropped {mloop['stats']['dropped']:,}, "
        f"final flush {mloop['final_flush_s']:.2f} s; target {TARGET:,}/s: "
        + ("met" if mloop["end_to_end_per_s"] >= TARGET else "missed"),
    )
    table.add_row(
        f"mloop paced at {TARGET:,}/s for {args.seconds:g} s",
        f"{paced['offered_per_s']:,.0f}",
        f"dropped {paced['dropped']:,}, final flush {paced['final_flush_s']:.2f} s: "
        + ("keeps up" if paced["dropped"] == 0 else "falls behind"),
    )
    table.add_row(
        "naive SQL log (INSERT per record)",
        f"{naive['per_s']:,.0f}",
        f"mloop end to end is {ratio:,.1f}x this",
    )
    console.print(table)

    if args.json is not None:
        path = (
            Path(args.json)
            if args.json
            else RESULTS_DIR / f"eventlog-{dt.date.today().isoformat()}.json"
        )
        path.parent.mkdir(parents=True, exist_ok=True)
        result = {
            "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            "machine": {
                "platform": platform.platform(),
                "python": platform.python_version(),
                "cpus": os.cpu_count(),
            },
            "database": database,
            "mloop": mloop,
            "paced": paced,
            "naive_sql": naive,
            "ratio_end_to_end_over_naive": ratio,
        }
        path.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
        console.print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
