"""Feature store benchmark: point-in-time joins, materialization and online lookups, against Feast.

    .venv/bin/python benchmarks/features.py                      # 100k entity x 1M feature rows
    .venv/bin/python benchmarks/features.py --entity-rows 10000 --feature-rows 100000
    .venv/bin/python benchmarks/features.py --skip-feast         # the DuckDB reference and mloop
    .venv/bin/python benchmarks/features.py --json results/x.json --keep

Writes, with fixed seeds, a feature table (``driver_id``, ``event_timestamp``, ``created``
and ``--features`` columns; some keys carry two versions with different ``created``) and an
entity table (``driver_id``, ``event_timestamp``, ``label``; duplicates, unknown drivers,
rows with no feature inside the 7-day TTL, rows on the TTL's edge) as Parquet into a temporary
directory. Then:

1. the reference: two hand-written DuckDB ASOF joins in this process (ties to the largest
   ``created``, values older than the TTL nulled, entity rows kept in order), checked equal
   and, on a sample, against brute force; their result is the correct answer every other
   side is compared with, and the faster one's time the reference for the ratios;
2. Feast 0.67 in its own venv (``benchmarks/.venvs/feast``, from ``requirements-feast.txt``),
   as a subprocess (``features_feast.py``): ``get_historical_features(...).to_df()`` with the
   file offline store, ``materialize`` into SQLite, ``get_online_features`` in-process; then
   ``feast serve`` on the same repo, over HTTP;
3. mloop, in this process with an embedded store in a fresh ``MLOOP_HOME`` in the temporary
   directory (``_run_mloop``): the same definitions, ``get_historical_features`` to pandas
   (once more in a fresh process for its peak memory), a full ``materialize`` into the SQLite
   online store, ``FeatureStore.get_online_features`` in-process; then ``mloop server`` on
   the same home, over HTTP. The online part reads a copy of the view without a TTL: the
   online store checks the TTL against the current time, and the data lies in the past.

Prints the figures, their ratios and, per side, the rows kept, dropped and mismatched against
the reference; writes ``results/features-<date>.json``. It reports only: no figure makes it
fail. See ``benchmarks/README.md``.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import http.client
import json
import os
import platform
import signal
import socket
import statistics
import subprocess
import sys
import time
import traceback
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

# The venv, subprocess and temporary-directory helpers of the data validation benchmark.
from data_validation import ensure_venv, fmt_ratio, fmt_s, log, run_side, versions, work_directory
from rich.console import Console
from rich.markup import escape
from rich.table import Table

BENCH_DIR = Path(__file__).resolve().parent
RESULTS_DIR = BENCH_DIR / "results"
FEAST_SIDE = BENCH_DIR / "features_feast.py"

SEED = 20261206
START = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
SPAN_DAYS = 60
TTL = dt.timedelta(days=7)
ROWS_PER_DRIVER = 100
ROW_GROUP_ROWS = 131_072
US = 1_000_000  # microseconds per second: timestamps are generated as integer microseconds
DAY_US = 86_400 * US
UNKNOWN_DRIVER_BASE = 10_000_000
# Shares of the entity table by kind of row; "normal" is the rest.
ENTITY_SHARES = {
    "unknown driver": 0.02,
    "before any feature": 0.01,
    "stale (> TTL)": 0.02,
    "TTL edge, inclusive": 0.005,
    "TTL edge, 1 us past": 0.005,
    "at a feature's timestamp": 0.01,
    "at a tied timestamp": 0.01,
    "duplicate": 0.03,
    "same driver and time, other label": 0.005,
}
# Why an entity row is missing from a result, in the order they are told apart: another row
# with the same driver, timestamp and label came back (the later rows of a key count as
# dropped); a row with the same driver and timestamp but another label came back; the
# reference has no feature inside the TTL for it; anything else.
DROPPED = (
    "dropped: duplicate collapsed",
    "dropped: other label kept",
    "dropped: no feature in TTL",
    "dropped: had values",
)
TIE_SHARE = 0.001  # of feature rows: a second version of an existing (driver, event) key
DEFAULT_TIMEOUT_S = 1800.0
# The targets for mloop (issue 15, "Benchmark").
JOIN_VS_FEAST = 10.0  # the join at least 10x faster than Feast's
JOIN_VS_REFERENCE = 1.5  # and within 1.5x of the hand-written DuckDB join
HTTP_P99_1_MS = 2.0  # one entity over HTTP, p99


# --------------------------------------------------------------------------- data


@dataclass(frozen=True)
class DataPaths:
    """Where the benchmark's inputs lie; every side reads these files.

    ``features``: ``driver_id`` int64, ``event_timestamp`` and ``created`` timestamp[us, UTC]
    (``created >= event_timestamp``), then ``f00``, ``f01``, ... (even float64, odd int64),
    sorted by ``event_timestamp``. ``entities``: ``driver_id`` int64, ``event_timestamp``
    timestamp[us, UTC], ``label`` int64, in no particular order; a result must keep it.
    ``lookups``: JSON ``{"1": [[id], ...], "100": [[id x 100], ...]}`` of existing drivers,
    the online lookups every side times in this order."""

    workdir: Path
    features: Path
    entities: Path
    lookups: Path


@dataclass(frozen=True)
class DataSpec:
    """What was generated: sizes, the feature columns, the TTL, the time range and the kind
    of each entity row (in the entity table's order)."""

    feature_rows: int
    entity_rows: int
    drivers: int
    feature_names: list[str]
    ttl: dt.timedelta
    first_event: dt.datetime
    last_event: dt.datetime
    tied_keys: int
    entity_kinds: np.ndarray

    def kind_counts(self) -> dict[str, int]:
        kinds, counts = np.unique(self.entity_kinds, return_counts=True)
        return {str(k): int(c) for k, c in zip(kinds, counts, strict=True)}


def feature_names(count: int) -> list[str]:
    return [f"f{i:02d}" for i in range(count)]


def _timestamps(offsets_us: np.ndarray) -> pa.Array:
    start_us = int(START.timestamp()) * US
    return pa.array(start_us + offsets_us, pa.timestamp("us", tz="UTC"))


def _feature_values(count: int, rows: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
    values: dict[str, np.ndarray] = {}
    for i, name in enumerate(feature_names(count)):
        if i % 2 == 0:
            values[name] = np.round(rng.normal(50, 15, rows), 6)
        else:
            values[name] = rng.integers(0, 1_000, rows, dtype=np.int64)
    return values


@dataclass
class _Features:
    driver: np.ndarray
    event: np.ndarray  # microseconds after START
    created: np.ndarray
    tie_rows: np.ndarray  # positions of the later-created version of each tied key


def _make_features(rows: int, drivers: int, rng: np.random.Generator) -> _Features:
    """``rows`` feature rows over ``drivers`` drivers and ``SPAN_DAYS`` days; a share of the
    keys twice, with a later ``created`` and other values, in either order in the file."""
    ties = min(max(1, round(rows * TIE_SHARE)), rows // 2)
    base = rows - ties
    driver = rng.integers(1, drivers + 1, base, dtype=np.int64)
    event = rng.integers(0, SPAN_DAYS * DAY_US, base, dtype=np.int64)
    created = event + rng.integers(0, 6 * 3600 * US, base, dtype=np.int64)
    source = rng.choice(base, ties, replace=False)
    driver = np.concatenate([driver, driver[source]])
    event = np.concatenate([event, event[source]])
    created = np.concatenate([created, created[source] + rng.integers(US, DAY_US, ties)])
    tie_flag = np.zeros(rows, dtype=bool)
    tie_flag[base:] = True
    # Sorted by event time as a log is written; tied versions in random order.
    order = np.lexsort((rng.random(rows), event))
    return _Features(driver[order], event[order], created[order], np.flatnonzero(tie_flag[order]))


def _make_entities(
    rows: int, feats: _Features, drivers: int, rng: np.random.Generator
) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """Entity rows by kind (``ENTITY_SHARES``), shuffled; returns the columns (timestamps as
    microseconds after START) and each row's kind."""
    counts = {kind: int(rows * share) for kind, share in ENTITY_SHARES.items()}
    counts["at a tied timestamp"] = min(counts["at a tied timestamp"], len(feats.tie_rows))
    counts["normal"] = rows - sum(counts.values())
    span = SPAN_DAYS * DAY_US
    ttl_us = int(TTL.total_seconds()) * US
    last = np.full(drivers + 1, -1, dtype=np.int64)
    np.maximum.at(last, feats.driver, feats.event)
    known = np.flatnonzero(last >= 0)

    parts: list[tuple[str, np.ndarray, np.ndarray]] = []

    def add(kind: str, driver: np.ndarray, event: np.ndarray) -> None:
        parts.append((kind, driver.astype(np.int64), event.astype(np.int64)))

    n = counts["normal"]
    add("normal", rng.integers(1, drivers + 1, n), rng.integers(0, span, n))
    n = counts["unknown driver"]
    add(
        "unknown driver",
        UNKNOWN_DRIVER_BASE + rng.integers(0, 1_000_000, n),
        rng.integers(0, span, n),
    )
    n = counts["before any feature"]
    add("before any feature", rng.integers(1, drivers + 1, n), -rng.integers(1, 30 * DAY_US, n))
    n = counts["stale (> TTL)"]
    add(
        "stale (> TTL)",
        rng.integers(1, drivers + 1, n),
        span + ttl_us + rng.integers(1, 20 * DAY_US, n),
    )
    for kind, past in (("TTL edge, inclusive", 0), ("TTL edge, 1 us past", 1)):
        chosen = rng.choice(known, counts[kind])
        add(kind, chosen, last[chosen] + ttl_us + past)
    n = counts["at a feature's timestamp"]
    # Rows of untied keys (event times are random microseconds: a tied time is its key's).
    plain = np.flatnonzero(~np.isin(feats.event, feats.event[feats.tie_rows]))
    picked = rng.choice(plain, n, replace=False) if n <= len(plain) else rng.choice(plain, n)
    add("at a feature's timestamp", feats.driver[picked], feats.event[picked])
    picked = rng.choice(feats.tie_rows, counts["at a tied timestamp"], replace=False)
    add("at a tied timestamp", feats.driver[picked], feats.event[picked])

    driver = np.concatenate([p[1] for p in parts])
    event = np.concatenate([p[2] for p in parts])
    kinds = np.concatenate([np.full(len(p[1]), p[0], dtype=object) for p in parts])
    label = rng.integers(0, 2, len(driver), dtype=np.int64)
    # Copies of rows drawn from those above: whole (duplicates), or with the label flipped
    # (two outcomes for one driver at one moment).
    for kind, flip in (("duplicate", 0), ("same driver and time, other label", 1)):
        copies = rng.choice(len(kinds), counts[kind]) if len(kinds) else np.array([], int)
        driver = np.concatenate([driver, driver[copies]])
        event = np.concatenate([event, event[copies]])
        label = np.concatenate([label, np.abs(label[copies] - flip)])
        kinds = np.concatenate([kinds, np.full(len(copies), kind, dtype=object)])
    order = rng.permutation(len(driver))
    columns = {"driver_id": driver[order], "event_timestamp": event[order], "label": label[order]}
    return columns, kinds[order]


def write_data(
    workdir: Path, feature_rows: int, entity_rows: int, count: int
) -> tuple[DataPaths, DataSpec]:
    """Generate the feature and entity tables and the online lookups into ``workdir``."""
    rng = np.random.default_rng(SEED)
    drivers = max(1, feature_rows // ROWS_PER_DRIVER)
    feats = _make_features(feature_rows, drivers, rng)
    feature_table = pa.table(
        {
            "driver_id": pa.array(feats.driver, pa.int64()),
            "event_timestamp": _timestamps(feats.event),
            "created": _timestamps(feats.created),
            **_feature_values(count, feature_rows, rng),
        }
    )
    columns, kinds = _make_entities(entity_rows, feats, drivers, rng)
    entity_table = pa.table(
        {
            "driver_id": pa.array(columns["driver_id"], pa.int64()),
            "event_timestamp": _timestamps(columns["event_timestamp"]),
            "label": pa.array(columns["label"], pa.int64()),
        }
    )
    paths = DataPaths(
        workdir=workdir,
        features=workdir / "features.parquet",
        entities=workdir / "entities.parquet",
        lookups=workdir / "lookups.json",
    )
    pq.write_table(feature_table, paths.features, row_group_size=ROW_GROUP_ROWS)
    pq.write_table(entity_table, paths.entities, row_group_size=ROW_GROUP_ROWS)
    keys = pa.table({"d": feature_table["driver_id"], "e": feature_table["event_timestamp"]})
    tied = keys.group_by(["d", "e"]).aggregate([("d", "count")])
    spec = DataSpec(
        feature_rows=feature_rows,
        entity_rows=len(kinds),
        drivers=drivers,
        feature_names=feature_names(count),
        ttl=TTL,
        first_event=START + dt.timedelta(microseconds=int(feats.event.min())),
        last_event=START + dt.timedelta(microseconds=int(feats.event.max())),
        tied_keys=int(pc.sum(pc.greater(tied["d_count"], 1)).as_py() or 0),
        entity_kinds=kinds,
    )
    return paths, spec


def write_lookups(path: Path, drivers: int, repetitions: int) -> None:
    """Batches of 1 and of 100 distinct existing driver ids, ``repetitions`` of each."""
    rng = np.random.default_rng(SEED + 1)
    size = min(100, drivers)
    lookups = {
        "1": [[int(i)] for i in rng.integers(1, drivers + 1, repetitions)],
        "100": [
            [int(i) for i in rng.choice(drivers, size, replace=False) + 1]
            for _ in range(repetitions)
        ],
    }
    path.write_text(json.dumps(lookups))


# --------------------------------------------------------------------------- the reference


def _entities_cte(paths: DataPaths) -> str:
    return f"""entities AS (
  SELECT * RENAME (file_row_number AS entity_row)
  FROM read_parquet('{paths.entities}', file_row_number = true)
)"""


def dedupe_first_sql(paths: DataPaths, names: Sequence[str], ttl: dt.timedelta) -> str:
    """The join as the issue words it: one version per (driver, event time), the one created
    last; the latest event at or before each entity row by ASOF JOIN; values older than the
    TTL nulled (both ends inclusive); entity rows kept whole and in file order."""
    ttl_s = int(ttl.total_seconds())
    fresh = ",\n  ".join(
        f"CASE WHEN f.feature_ts >= e.event_timestamp - INTERVAL '{ttl_s} seconds' "
        f"THEN f.{name} END AS {name}"
        for name in names
    )
    return f"""
WITH feats AS (
  SELECT driver_id, event_timestamp AS feature_ts, {", ".join(names)}
  FROM read_parquet('{paths.features}')
  QUALIFY row_number() OVER (PARTITION BY driver_id, event_timestamp ORDER BY created DESC) = 1
),
{_entities_cte(paths)}
SELECT e.* EXCLUDE (entity_row),
  {fresh}
FROM entities e ASOF LEFT JOIN feats f
  ON e.driver_id = f.driver_id AND e.event_timestamp >= f.feature_ts
ORDER BY e.entity_row
"""


def asof_first_sql(paths: DataPaths, names: Sequence[str], ttl: dt.timedelta) -> str:
    """The same answer in two steps: ASOF JOIN on the keys and timestamps alone finds each
    entity row's feature time (whichever tied version it lands on, the time is the same);
    rows inside the TTL then join back to the versions at that time, the one created last
    winning. Only the matched rows are deduplicated, not the whole table."""
    ttl_s = int(ttl.total_seconds())
    source = f"read_parquet('{paths.features}')"
    return f"""
WITH {_entities_cte(paths)},
matched AS (
  SELECT e.entity_row, e.driver_id, f.feature_ts
  FROM entities e ASOF JOIN (SELECT driver_id, event_timestamp AS feature_ts FROM {source}) f
    ON e.driver_id = f.driver_id AND e.event_timestamp >= f.feature_ts
  WHERE f.feature_ts >= e.event_timestamp - INTERVAL '{ttl_s} seconds'
),
picked AS (
  SELECT m.entity_row, {", ".join(f"f.{name}" for name in names)}
  FROM matched m JOIN {source} f
    ON f.driver_id = m.driver_id AND f.event_timestamp = m.feature_ts
  QUALIFY row_number() OVER (PARTITION BY m.entity_row ORDER BY f.created DESC) = 1
)
SELECT e.* EXCLUDE (entity_row), {", ".join(f"p.{name}" for name in names)}
FROM entities e LEFT JOIN picked p USING (entity_row)
ORDER BY e.entity_row
"""


# Hand-written DuckDB joins, timed in alternating rounds; the first one's result is the
# reference every side is compared with, and the others must return the same table.
BASELINES: dict[str, Callable[[DataPaths, Sequence[str], dt.timedelta], str]] = {
    "dedupe, then ASOF": dedupe_first_sql,
    "ASOF, then the tie's newest": asof_first_sql,
}


def _reset_peak_rss() -> float | None:
    """Reset this process's ``VmHWM`` to its current RSS (Linux: write 5 to
    ``/proc/self/clear_refs``); return that RSS in MB, or None where it cannot."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        return None
    return _status_mb("VmRSS")


def _status_mb(field: str) -> float | None:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    return None


def run_baseline(paths: DataPaths, spec: DataSpec, repeat: int) -> tuple[dict[str, Any], pa.Table]:
    """Time each hand-written join ``repeat`` times, in alternating rounds (a fresh
    connection each, TimeZone UTC), to an Arrow table, then one conversion of the result
    to pandas; return figures per join, the fastest join's figures on top, and the result."""
    variants: dict[str, dict[str, Any]] = {
        name: {"sql": make(paths, spec.feature_names, spec.ttl), "historical_s": []}
        for name, make in BASELINES.items()
    }
    results: dict[str, pa.Table] = {}
    for _ in range(repeat):
        for name, variant in variants.items():
            before = _reset_peak_rss()
            t0 = time.perf_counter()
            con = duckdb.connect()
            con.execute("SET TimeZone = 'UTC'")
            results[name] = con.sql(variant["sql"]).to_arrow_table()
            con.close()
            variant["historical_s"].append(time.perf_counter() - t0)
            peak = _status_mb("VmHWM") if before is not None else None
            if peak is not None and before is not None:
                above = peak - before
                variant["peak_above_start_mb"] = max(variant.get("peak_above_start_mb", 0), above)
                variant["peak_rss_mb"] = max(variant.get("peak_rss_mb", 0), peak)
    reference_name = next(iter(variants))
    reference = results[reference_name]
    t0 = time.perf_counter()
    reference.to_pandas()
    to_pandas_s = time.perf_counter() - t0
    for name, variant in variants.items():
        variant["historical_median_s"] = statistics.median(variant["historical_s"])
        variant["historical_pandas_s"] = variant["historical_median_s"] + to_pandas_s
        variant["same_as_reference"] = results[name].equals(reference)
        if not variant["same_as_reference"]:
            log(f"  WARNING: {name} returned another table than {reference_name}")
    fastest = min(variants, key=lambda n: variants[n]["historical_median_s"])
    figures = {
        **{k: v for k, v in variants[fastest].items() if k != "sql"},
        "fastest": fastest,
        "reference": reference_name,
        "to_pandas_s": to_pandas_s,
        "rows": reference.num_rows,
        "variants": variants,
    }
    return figures, reference


def spot_check_reference(
    paths: DataPaths, spec: DataSpec, reference: pa.Table, sample: int
) -> dict[str, int]:
    """Recompute ``sample`` random entity rows, and every row of the rare kinds (TTL edges,
    ties), by brute force in NumPy, and count those where the reference differs: features
    sorted by driver, event time and created; the last row at or before the entity time is
    the answer if it lies inside the TTL."""
    table = pq.read_table(paths.features)
    driver = table["driver_id"].to_numpy()
    event = pc.cast(table["event_timestamp"], pa.int64()).to_numpy()
    created = pc.cast(table["created"], pa.int64()).to_numpy()
    order = np.lexsort((created, event, driver))
    driver, event = driver[order], event[order]
    values = {n: table[n].to_numpy(zero_copy_only=False)[order] for n in spec.feature_names}
    entities = pq.read_table(paths.entities)
    want_driver = entities["driver_id"].to_numpy()
    want_time = pc.cast(entities["event_timestamp"], pa.int64()).to_numpy()
    ttl_us = int(spec.ttl.total_seconds()) * US
    rare = np.flatnonzero(
        np.isin(
            spec.entity_kinds, ["TTL edge, inclusive", "TTL edge, 1 us past", "at a tied timestamp"]
        )
    )
    rng = np.random.default_rng(SEED + 2)
    rows = np.union1d(
        rare, rng.choice(len(want_driver), min(sample, len(want_driver)), replace=False)
    )
    got = {n: reference[n].to_pylist() for n in spec.feature_names}
    mismatched = 0
    for i in rows:
        lo, hi = (
            np.searchsorted(driver, want_driver[i], "left"),
            np.searchsorted(driver, want_driver[i], "right"),
        )
        j = lo + int(np.searchsorted(event[lo:hi], want_time[i], "right")) - 1
        inside = j >= lo and event[j] >= want_time[i] - ttl_us
        expected = [values[n][j].item() if inside else None for n in spec.feature_names]
        if expected != [got[n][i] for n in spec.feature_names]:
            mismatched += 1
    return {"rows": len(rows), "mismatched": mismatched}


def online_reference(paths: DataPaths, names: Sequence[str]) -> pa.Table:
    """Latest values per driver (ties to the largest ``created``): what a full
    materialization should serve. The data lies months in the past, so no TTL applies."""
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    table = con.sql(
        f"""SELECT driver_id, {", ".join(names)} FROM read_parquet('{paths.features}')
        QUALIFY row_number() OVER (
          PARTITION BY driver_id ORDER BY event_timestamp DESC, created DESC) = 1"""
    ).to_arrow_table()
    con.close()
    return table


# --------------------------------------------------------------------------- comparing


def _normalise(table: pa.Table, names: Sequence[str]) -> pa.Table:
    """The key, the label and the features, with timestamps as microseconds in UTC."""
    columns = {
        "driver_id": pc.cast(table["driver_id"], pa.int64()),
        "event_timestamp": pc.cast(table["event_timestamp"], pa.timestamp("us", tz="UTC")),
        "label": pc.cast(table["label"], pa.int64()),
    }
    for name in names:
        columns[name] = table[name]
    return pa.table(columns)


def compare(
    reference: pa.Table, candidate: pa.Table, spec: DataSpec, paths: DataPaths
) -> dict[str, Any]:
    """Match each candidate row to a reference row with the same driver, timestamp and label
    (the n-th occurrence of a key to the n-th), then count rows kept, dropped (by cause,
    ``DROPPED``) and added,
    feature values that differ (null-safe), and whether the entity order was kept. A row
    whose values are another version of the same (driver, event time) key, created earlier
    than the one the reference picked, counts as ``older version of a tie``."""
    names = spec.feature_names
    ref = _normalise(reference, names).append_column("pos", pa.array(np.arange(reference.num_rows)))
    ref = ref.append_column("kind", pa.array(spec.entity_kinds.astype(str)))
    cand = _normalise(candidate, names).append_column(
        "cpos", pa.array(np.arange(candidate.num_rows))
    )
    differs = " OR ".join(f"r.{n} IS DISTINCT FROM c.{n}" for n in names)
    ref_null = " AND ".join(f"r.{n} IS NULL" for n in names)
    cand_null = " AND ".join(f"c.{n} IS NULL" for n in names)
    key = "driver_id, event_timestamp, label"
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    con.register("ref_in", ref)
    con.register("cand_in", cand)
    con.execute(
        f"""CREATE TEMP TABLE pairs AS
        WITH r AS (SELECT *, row_number() OVER (PARTITION BY {key} ORDER BY pos) AS k FROM ref_in),
             c AS (SELECT *, row_number() OVER (PARTITION BY {key} ORDER BY cpos) AS k
                   FROM cand_in),
             nc AS (SELECT {key}, count(*) AS n FROM cand_in GROUP BY ALL),
             nt AS (SELECT driver_id, event_timestamp, count(*) AS n FROM cand_in GROUP BY ALL)
        SELECT r.pos, r.kind, c.cpos, c.driver_id AS c_driver, c.event_timestamp AS c_ts,
               {", ".join(f"c.{n} AS c_{n}" for n in names)},
               CASE
                 WHEN c.cpos IS NULL AND coalesce(nc.n, 0) > 0 THEN '{DROPPED[0]}'
                 WHEN c.cpos IS NULL AND coalesce(nt.n, 0) > 0 THEN '{DROPPED[1]}'
                 WHEN c.cpos IS NULL AND ({ref_null}) THEN '{DROPPED[2]}'
                 WHEN c.cpos IS NULL THEN '{DROPPED[3]}'
                 WHEN r.pos IS NULL THEN 'added'
                 WHEN NOT ({differs}) THEN 'same'
                 WHEN ({cand_null}) THEN 'null where the reference has values'
                 WHEN ({ref_null}) THEN 'values where the reference has nulls'
                 ELSE 'other values'
               END AS outcome,
               ({ref_null}) AS reference_null
        FROM r FULL OUTER JOIN c
          ON r.driver_id = c.driver_id AND r.event_timestamp = c.event_timestamp
         AND r.label = c.label AND r.k = c.k
        LEFT JOIN nc
          ON r.driver_id = nc.driver_id AND r.event_timestamp = nc.event_timestamp
         AND r.label = nc.label
        LEFT JOIN nt ON r.driver_id = nt.driver_id AND r.event_timestamp = nt.event_timestamp"""
    )
    outcomes = dict(con.sql("SELECT outcome, count(*) FROM pairs GROUP BY 1").fetchall())
    matched = " AND ".join(f"f.{n} IS NOT DISTINCT FROM p.c_{n}" for n in names)
    ttl_s = int(spec.ttl.total_seconds())
    older_tie = con.execute(
        f"""SELECT count(DISTINCT p.pos) FROM pairs p
        JOIN read_parquet('{paths.features}') f
          ON f.driver_id = p.c_driver AND {matched}
         AND f.event_timestamp <= p.c_ts
         AND f.event_timestamp >= p.c_ts - INTERVAL '{ttl_s} seconds'
        WHERE p.outcome = 'other values' AND EXISTS (
          SELECT 1 FROM read_parquet('{paths.features}') g
          WHERE g.driver_id = f.driver_id AND g.event_timestamp = f.event_timestamp
            AND g.created > f.created)"""
    ).fetchall()
    dropped_in = ", ".join(f"'{cause}'" for cause in DROPPED)
    by_kind = {
        kind: {
            "rows": rows,
            "reference_null": nulls,
            **dict(zip(DROPPED, drops, strict=True)),
            "mismatched": bad,
        }
        for kind, rows, nulls, bad, *drops in con.sql(
            f"""SELECT kind, count(*), count(*) FILTER (reference_null),
                      count(*) FILTER (outcome NOT IN ('same', {dropped_in})),
                      {", ".join(f"count(*) FILTER (outcome = '{c}')" for c in DROPPED)}
               FROM pairs WHERE pos IS NOT NULL GROUP BY kind ORDER BY kind"""
        ).fetchall()
    }
    order = con.sql(
        "SELECT cpos FROM pairs WHERE pos IS NOT NULL AND cpos IS NOT NULL ORDER BY pos"
    )
    cpos = order.to_arrow_table()["cpos"].to_numpy()
    con.close()
    dropped = sum(outcomes.get(cause, 0) for cause in DROPPED)
    added = outcomes.get("added", 0)
    mismatched = {k: v for k, v in outcomes.items() if k not in ("same", "added", *DROPPED)}
    return {
        "reference_rows": reference.num_rows,
        "rows": candidate.num_rows,
        "kept": reference.num_rows - dropped,
        "dropped": dropped,
        "dropped_by_cause": {cause: outcomes.get(cause, 0) for cause in DROPPED},
        "added": added,
        "same": outcomes.get("same", 0),
        "mismatched": sum(mismatched.values()),
        "mismatched_by_cause": mismatched,
        "older_version_of_a_tie": int(older_tie[0][0]),
        "order_kept": bool(dropped == 0 and added == 0 and np.all(np.diff(cpos) > 0)),
        "by_kind": by_kind,
    }


def compare_online(expected: pa.Table, found: pa.Table, names: Sequence[str]) -> dict[str, Any]:
    """Online values against the latest row per driver (null-safe), per looked-up id."""
    con = duckdb.connect()
    con.register("expected", expected)
    con.register("found", found)
    differs = " OR ".join(f"e.{n} IS DISTINCT FROM f.{n}" for n in names)
    rows, bad = con.execute(
        f"""SELECT count(*), count(*) FILTER ({differs}) FROM found f
        LEFT JOIN expected e ON e.driver_id = f.driver_id"""
    ).fetchall()[0]
    con.close()
    return {"ids": rows, "mismatched": bad}


# --------------------------------------------------------------------------- timing helpers


def latency_stats(samples_ms: Sequence[float]) -> dict[str, float]:
    ordered = np.asarray(samples_ms, dtype=float)
    return {
        "n": int(ordered.size),
        "p50_ms": float(np.percentile(ordered, 50)),
        "p99_ms": float(np.percentile(ordered, 99)),
        "mean_ms": float(ordered.mean()),
        "max_ms": float(ordered.max()),
    }


def time_calls(
    call: Callable[[list[int]], Any], batches: list[list[int]], warmup: int
) -> list[float]:
    """Milliseconds per ``call(batch)``, for every batch, after ``warmup`` untimed calls: the
    in-process lookup loop (``features_feast.py`` runs the same loop in Feast's venv)."""
    for batch in batches[:warmup]:
        call(batch)
    samples = []
    for batch in batches:
        t0 = time.perf_counter()
        call(batch)
        samples.append((time.perf_counter() - t0) * 1000)
    return samples


def http_latencies(port: int, path: str, bodies: list[bytes], warmup: int) -> list[float]:
    """Milliseconds per POST of each body over one keep-alive connection (request sent to
    response body read), after ``warmup`` untimed posts. Non-200 answers raise."""

    def post(connection: http.client.HTTPConnection, body: bytes) -> bytes:
        connection.request("POST", path, body, {"Content-Type": "application/json"})
        response = connection.getresponse()
        data = response.read()
        if response.status != 200:
            raise RuntimeError(f"POST {path}: HTTP {response.status}: {data[:300]!r}")
        return data

    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    try:
        for body in bodies[:warmup]:
            post(connection, body)
        samples = []
        for body in bodies:
            t0 = time.perf_counter()
            post(connection, body)
            samples.append((time.perf_counter() - t0) * 1000)
        return samples
    finally:
        connection.close()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.contextmanager
def server(
    command: list[str], env: dict[str, str], health: str, log_path: Path, timeout: float = 120
) -> Iterator[subprocess.Popen[bytes]]:
    """Start a server in its own session, wait until ``health`` (a URL path on the port the
    command binds, given as ``http://127.0.0.1:PORT/path``) answers 200, then let it settle;
    on exit end its whole process group."""
    with log_path.open("wb") as out:
        process = subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=out,
            env=env,
            start_new_session=True,
        )
    try:
        _wait_ready(health, process, log_path, timeout)
        time.sleep(2)  # start-up work (workers, registry load) settles before timing
        yield process
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def _wait_ready(url: str, process: subprocess.Popen[bytes], log_path: Path, timeout: float) -> None:
    host_port, _, path = url.removeprefix("http://").partition("/")
    host, _, port = host_port.partition(":")
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            tail = "\n".join(log_path.read_text(errors="replace").splitlines()[-15:])
            raise RuntimeError(f"server exited with {process.returncode}: {tail}")
        with contextlib.suppress(OSError, http.client.HTTPException):
            connection = http.client.HTTPConnection(host, int(port), timeout=2)
            connection.request("GET", "/" + path)
            if connection.getresponse().status == 200:
                connection.close()
                return
            connection.close()
        time.sleep(0.2)
    raise RuntimeError(f"{url} did not answer 200 within {timeout:.0f} s")


# --------------------------------------------------------------------------- Feast


def run_feast(
    paths: DataPaths, spec: DataSpec, python: Path, args: argparse.Namespace
) -> tuple[dict[str, Any], pa.Table | None, pa.Table | None]:
    """Feast's side in its venv, then ``feast serve`` on the repo it left; returns figures,
    its historical result and its online values."""
    repo = paths.workdir / "feast_repo"
    historical = paths.workdir / "feast_historical.parquet"
    online = paths.workdir / "feast_online.parquet"
    margin = dt.timedelta(seconds=1)
    command = [
        str(python), str(FEAST_SIDE),
        "--features-path", str(paths.features),
        "--entities-path", str(paths.entities),
        "--repo", str(repo),
        "--features", str(len(spec.feature_names)),
        "--historical-out", str(historical),
        "--online-out", str(online),
        "--lookups", str(paths.lookups),
        "--materialize-start", (spec.first_event - margin).isoformat(),
        "--materialize-end", (spec.last_event + margin).isoformat(),
        "--repeat", str(args.repeat),
        "--warmup", str(args.warmup),
    ]  # fmt: skip
    log("Feast: apply, get_historical_features, materialize, get_online_features ...")
    result = run_side(command, paths.workdir, args.timeout)
    result["load_after"] = [round(x, 2) for x in os.getloadavg()]
    if "error" in result:
        log(f"  Feast failed: {result['error']}")
        return result, None, None
    peak = result["peak_rss_mb_after_historical"]
    log(
        f"  historical {fmt_s(statistics.median(result['historical_s']))}, materialize "
        f"{fmt_s(result['materialize_s'])}, peak RSS after the join {peak:,.0f} MB"
    )
    result["online"] = {size: latency_stats(ms) for size, ms in result.pop("online_ms").items()}
    result["http"] = feast_http(paths, spec, python, repo, args)
    return result, pq.read_table(historical), pq.read_table(online)


def feast_http(
    paths: DataPaths, spec: DataSpec, python: Path, repo: Path, args: argparse.Namespace
) -> dict[str, Any]:
    """``feast serve`` (one gunicorn worker, as by default) on the materialized repo; the same
    lookups as in-process, posted to ``/get-online-features``. ``--max-requests 0``: Feast's
    default restarts the worker every 1,000 requests, which would land inside the timing."""
    port = free_port()
    feast = python.parent / "feast"
    command = [str(feast), "-c", str(repo), "serve", "-h", "127.0.0.1", "-p", str(port)]
    command += ["--no-access-log", "--max-requests", "0"]
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "VIRTUAL_ENV": str(python.parent.parent)}
    env["PATH"] = f"{python.parent}{os.pathsep}{env.get('PATH', '')}"
    refs = [f"driver_stats:{name}" for name in spec.feature_names]
    lookups = json.loads(paths.lookups.read_text())
    log_path = paths.workdir / "feast_serve.log"
    log(f"Feast: feast serve on port {port}, {len(lookups['1']):,} lookups of 1 and of 100 ...")
    figures: dict[str, Any] = {"command": " ".join(command)}
    try:
        with server(command, env, f"http://127.0.0.1:{port}/health", log_path):
            for size in ("1", "100"):
                bodies = [
                    json.dumps({"features": refs, "entities": {"driver_id": batch}}).encode()
                    for batch in lookups[size]
                ]
                samples = http_latencies(port, "/get-online-features", bodies, args.warmup)
                figures[size] = latency_stats(samples)
                stats = figures[size]
                log(f"  {size}: p50 {stats['p50_ms']:.2f} ms, p99 {stats['p99_ms']:.2f} ms")
            figures["check"] = _feast_http_check(port, refs, lookups["100"][0])
    except (RuntimeError, OSError, http.client.HTTPException) as error:
        figures["error"] = str(error)
        log(f"  feast serve failed: {error}")
    return figures


def _feast_http_check(port: int, refs: list[str], batch: list[int]) -> dict[str, Any]:
    """One answer read back: how many ids came back with values (status PRESENT)."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    body = json.dumps({"features": refs, "entities": {"driver_id": batch}}).encode()
    connection.request("POST", "/get-online-features", body, {"Content-Type": "application/json"})
    payload = json.loads(connection.getresponse().read())
    connection.close()
    results = payload.get("results", [])
    statuses = [r.get("statuses", []) for r in results[1:]]  # results[0] is the join key
    present = sum(all(s[i] == "PRESENT" for s in statuses) for i in range(len(batch)))
    return {"ids": len(batch), "all_present": present, "features": len(results) - 1}


# --------------------------------------------------------------------------- mloop

MLOOP_VIEW = "driver_stats"
# The same rows and features without a TTL, for the online part: the online store enforces
# a view's TTL against the current time at read, and the data ended in March 2026, so every
# value of ``driver_stats`` would read expired. Feast's online read does not check the TTL.
MLOOP_ONLINE_VIEW = "driver_stats_online"
MLOOP_ONLINE_PATH = "/api/v1/features/online/get"
ONLINE_CHECK_IDS = 1_000
# Settings that would point mloop away from the benchmark's own embedded store.
_MLOOP_FOREIGN_ENV = (
    "MLOOP_TRACKING_URI",
    "MLOOP_DATABASE_URL",
    "MLOOP_ARTIFACT_ROOT",
    "MLOOP_ONLINE_STORE",
    "MLOOP_TOKEN",
    "MLOOP_AUTH",
)
# The join once in a fresh process, for its peak memory alone (this process holds the
# benchmark's data and the reference's tables): argv entity file, feature references.
_MLOOP_JOIN_SCRIPT = """
import json, sys, time
from pathlib import Path
import pandas as pd
from mloop.features import get_historical_features
entities = pd.read_parquet(sys.argv[1])
t0 = time.perf_counter()
rows = len(get_historical_features(entities, sys.argv[2].split(",")))
seconds = time.perf_counter() - t0
status = Path("/proc/self/status").read_text().splitlines()
peak = next(int(line.split()[1]) / 1024 for line in status if line.startswith("VmHWM:"))
print(json.dumps({"historical_s": seconds, "rows": rows, "peak_rss_mb": peak}))
"""


@contextlib.contextmanager
def _mloop_home(home: Path) -> Iterator[dict[str, str]]:
    """Point this process at an embedded mloop store in ``home`` (a fresh ``MLOOP_HOME``:
    metadata, registry and the SQLite online store), restoring the environment after;
    yields the environment for mloop's subprocesses."""
    saved = dict(os.environ)
    for name in _MLOOP_FOREIGN_ENV:
        os.environ.pop(name, None)
    home.mkdir(parents=True, exist_ok=True)
    os.environ["MLOOP_HOME"] = str(home)
    try:
        yield dict(os.environ)
    finally:
        os.environ.clear()
        os.environ.update(saved)


def _mloop_definitions(paths: DataPaths, spec: DataSpec) -> list[Any]:
    """Feast's definitions in mloop's terms: entity ``driver``, a file source with event and
    created times, ``driver_stats`` with the TTL; and ``driver_stats_online``, the same
    without a TTL (see ``MLOOP_ONLINE_VIEW``)."""
    from mloop.features import Entity, FeatureView, FileSource

    driver = Entity("driver", join_keys=["driver_id"])
    source = FileSource(
        "driver_stats_source", str(paths.features), timestamp="event_timestamp", created="created"
    )
    types: dict[str, Any] = {
        n: "float64" if i % 2 == 0 else "int64" for i, n in enumerate(spec.feature_names)
    }
    historical = FeatureView(
        MLOOP_VIEW, entities=[driver], source=source, features=types, ttl=spec.ttl
    )
    online = FeatureView(MLOOP_ONLINE_VIEW, entities=[driver], source=source, features=types)
    return [driver, source, historical, online]


def _mloop_historical(
    paths: DataPaths, spec: DataSpec, args: argparse.Namespace
) -> tuple[dict[str, Any], pa.Table]:
    """``get_historical_features(entity frame, references)`` to pandas, ``args.repeat`` times
    in this process (the entity table read into pandas first, untimed, as Feast's side does);
    then once more in a fresh process for its peak memory."""
    import pandas as pd

    from mloop.features import get_historical_features

    refs = [f"{MLOOP_VIEW}:{name}" for name in spec.feature_names]
    entity_df = pd.read_parquet(paths.entities)
    times: list[float] = []
    result: pd.DataFrame | None = None
    for _ in range(args.repeat):
        t0 = time.perf_counter()
        result = get_historical_features(entity_df, refs)
        times.append(time.perf_counter() - t0)
    assert result is not None
    figures: dict[str, Any] = {"historical_s": times, "historical_rows": len(result)}
    log(f"  historical {fmt_s(statistics.median(times))} (median of {len(times)})")
    fresh = run_side(
        [sys.executable, "-c", _MLOOP_JOIN_SCRIPT, str(paths.entities), ",".join(refs)],
        paths.workdir,
        args.timeout,
    )
    if "error" in fresh:
        figures["fresh_process_error"] = fresh["error"]
    else:
        figures["peak_rss_mb"] = fresh["peak_rss_mb"]
        figures["fresh_process"] = fresh
        log(
            f"  in a fresh process: {fmt_s(fresh['historical_s'])}, "
            f"peak RSS {fresh['peak_rss_mb']:,.0f} MB"
        )
    return figures, pa.Table.from_pandas(result, preserve_index=False)


def _mloop_online(
    spec: DataSpec, lookups: dict[str, list[list[int]]], args: argparse.Namespace
) -> tuple[dict[str, Any], pa.Table]:
    """A full materialization of ``driver_stats_online`` into the SQLite online store, then
    ``FeatureStore.get_online_features(...).to_dict()`` per lookup batch (the entity rows
    built inside the timed call), and the values of the first ``ONLINE_CHECK_IDS`` ids."""
    from mloop.features import FeatureStore

    refs = [f"{MLOOP_ONLINE_VIEW}:{name}" for name in spec.feature_names]
    with FeatureStore() as store:
        t0 = time.perf_counter()
        (run,) = store.materialize([MLOOP_ONLINE_VIEW], incremental=False)
        figures: dict[str, Any] = {
            "materialize_s": time.perf_counter() - t0,
            "materialized": {"rows_read": run.rows_read, "rows_written": run.rows_written},
        }
        log(
            f"  materialize {fmt_s(figures['materialize_s'])} ({run.rows_read:,} rows read, "
            f"{run.rows_written:,} written)"
        )

        def lookup(batch: list[int]) -> dict[str, list[Any]]:
            rows = [{"driver_id": i} for i in batch]
            return store.get_online_features(refs, rows).to_dict()

        figures["online"] = {}
        for size in ("1", "100"):
            stats = latency_stats(time_calls(lookup, lookups[size], args.warmup))
            figures["online"][size] = stats
            log(f"  in-process {size}: p50 {stats['p50_ms']:.3f} ms, p99 {stats['p99_ms']:.3f} ms")
        rows: list[dict[str, Any]] = []
        statuses: list[str] = []
        for batch in lookups["100"]:
            if len(rows) >= ONLINE_CHECK_IDS:
                break
            found = store.get_online_features(refs, [{"driver_id": i} for i in batch])
            rows.extend(found.rows)
            statuses.extend(s for status in found.statuses for s in status.values())
        figures["online_statuses"] = {s: statuses.count(s) for s in sorted(set(statuses))}
    return figures, pa.Table.from_pylist(rows[:ONLINE_CHECK_IDS])


def _mloop_http(
    paths: DataPaths,
    spec: DataSpec,
    lookups: dict[str, list[list[int]]],
    env: dict[str, str],
    args: argparse.Namespace,
    expected: pa.Table,
) -> dict[str, Any]:
    """``mloop server`` over the same ``MLOOP_HOME`` (so the same SQLite online store); the
    same lookups posted to the ``get_online_features`` operation over one keep-alive
    connection; one answer read back and compared with the in-process values."""
    port = free_port()
    # The venv's console script: abspath, not resolve(), which would leave the venv.
    mloop_bin = Path(os.path.abspath(sys.executable)).parent / "mloop"
    command = [str(mloop_bin), "server", "--port", str(port)]
    refs = [f"{MLOOP_ONLINE_VIEW}:{name}" for name in spec.feature_names]
    log(f"mloop: mloop server on port {port}, {len(lookups['1']):,} lookups of 1 and of 100 ...")
    figures: dict[str, Any] = {"command": " ".join(command)}
    try:
        with server(
            command,
            {**env, "PYTHONUNBUFFERED": "1"},
            f"http://127.0.0.1:{port}/health",
            paths.workdir / "mloop_server.log",
        ):
            for size in ("1", "100"):
                bodies = [
                    json.dumps(
                        {"features": refs, "entity_rows": [{"driver_id": i} for i in batch]}
                    ).encode()
                    for batch in lookups[size]
                ]
                stats = latency_stats(http_latencies(port, MLOOP_ONLINE_PATH, bodies, args.warmup))
                figures[size] = stats
                log(f"  {size}: p50 {stats['p50_ms']:.2f} ms, p99 {stats['p99_ms']:.2f} ms")
            figures["check"] = _mloop_http_check(port, refs, lookups["100"][0], expected)
    except (RuntimeError, OSError, http.client.HTTPException) as error:
        figures["error"] = str(error)
        log(f"  mloop server failed: {error}")
    return figures


def _mloop_http_check(
    port: int, refs: list[str], batch: list[int], expected: pa.Table
) -> dict[str, Any]:
    """One answer over HTTP read back: ids with every feature present, and whether its rows
    equal the in-process read of the same ids."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    body = json.dumps({"features": refs, "entity_rows": [{"driver_id": i} for i in batch]})
    connection.request("POST", MLOOP_ONLINE_PATH, body, {"Content-Type": "application/json"})
    payload = json.loads(connection.getresponse().read())
    connection.close()
    present = sum(all(s == "present" for s in row.values()) for row in payload["statuses"])
    in_process = expected.slice(0, len(batch)).to_pylist()
    return {
        "ids": len(batch),
        "all_present": present,
        "same_as_in_process": payload["rows"] == in_process,
    }


def _run_mloop(paths: DataPaths, spec: DataSpec, args: argparse.Namespace) -> dict[str, Any]:
    """mloop's side, in this process with an embedded store in a fresh ``MLOOP_HOME`` under
    the temporary directory: apply the definitions (``_mloop_definitions``), time the join
    (``_mloop_historical``), materialize and read in-process (``_mloop_online``), then over
    HTTP (``_mloop_http``). Returns the figures with ``historical_result`` (a ``pa.Table``
    in entity order) and ``online_values`` (``driver_id`` and the features of the first
    1,000 ids of the 100-id lookups), which ``run_mloop`` takes out for the checks."""
    import mloop
    import mloop.features

    lookups = json.loads(paths.lookups.read_text())
    with _mloop_home(paths.workdir / "mloop_home") as env:
        log("mloop: apply, get_historical_features, materialize, get_online_features ...")
        t0 = time.perf_counter()
        mloop.features.apply(_mloop_definitions(paths, spec))
        apply_s = time.perf_counter() - t0
        figures: dict[str, Any] = {"version": mloop.__version__, "apply_s": apply_s}
        historical_figures, historical = _mloop_historical(paths, spec, args)
        online_figures, online = _mloop_online(spec, lookups, args)
        figures.update(historical_figures)
        figures.update(online_figures)
        figures["http"] = _mloop_http(paths, spec, lookups, env, args, online)
    figures["load_after"] = [round(x, 2) for x in os.getloadavg()]
    return {**figures, "historical_result": historical, "online_values": online}


def run_mloop(
    paths: DataPaths, spec: DataSpec, args: argparse.Namespace
) -> tuple[dict[str, Any], pa.Table | None, pa.Table | None]:
    try:
        figures = _run_mloop(paths, spec, args)
    except Exception as error:  # report the peers' figures even when mloop's side breaks
        traceback.print_exc()
        return {"error": f"{type(error).__name__}: {error}"}, None, None
    historical = figures.pop("historical_result")
    online = figures.pop("online_values", None)
    return figures, historical, online


# --------------------------------------------------------------------------- report


def _join_s(side: dict[str, Any]) -> float | None:
    if not side or "error" in side:
        return None
    if "historical_pandas_s" in side:
        return float(side["historical_pandas_s"])
    return float(statistics.median(side["historical_s"]))


def _figure(side: dict[str, Any], *keys: str) -> float | None:
    value: Any = side
    for key in keys:
        if not isinstance(value, dict) or key not in value:
            return None
        value = value[key]
    return float(value) if isinstance(value, int | float) else None


def figures_table(results: dict[str, Any]) -> Table:
    """One row per figure: the reference, Feast, mloop and the ratios between them."""
    sides = results["sides"]
    base, feast, mloop = sides["baseline"], sides.get("feast", {}), sides.get("mloop", {})
    rows: list[tuple[str, float | None, float | None, float | None, str]] = [
        ("point-in-time join, to pandas (s)", _join_s(base), _join_s(feast), _join_s(mloop), "s"),
        (
            "join peak RSS (MB)",
            base.get("peak_rss_mb"),
            feast.get("peak_rss_mb_after_historical"),
            mloop.get("peak_rss_mb"),
            "MB",
        ),
        ("materialize (s)", None, feast.get("materialize_s"), mloop.get("materialize_s"), "s"),
    ]
    for where in ("online", "http"):
        for size in ("1", "100"):
            for stat in ("p50_ms", "p99_ms"):
                label = f"{'in-process' if where == 'online' else 'HTTP'} {size} entit" + (
                    "y" if size == "1" else "ies"
                )
                rows.append(
                    (
                        f"{label} {stat[:3]} (ms)",
                        None,
                        _figure(feast, where, size, stat),
                        _figure(mloop, where, size, stat),
                        "ms",
                    )
                )
    table = Table(
        title=(
            f"{results['data']['entity_rows']:,} entity rows x {results['data']['feature_rows']:,} "
            f"feature rows, {len(results['data']['feature_names'])} features, TTL 7 days"
        ),
        caption=(
            f"reference: the faster hand-written DuckDB join ({base.get('fastest', '-')}), median "
            "of its runs plus to_pandas; Feast: one process, imports untimed; "
            "Feast / ref and Feast / mloop > 1: the other side is faster"
        ),
    )
    for column in (
        "figure",
        "DuckDB reference",
        "Feast 0.67",
        "mloop",
        "Feast / ref",
        "Feast / mloop",
        "mloop / ref",
    ):
        table.add_column(column, justify="left" if column == "figure" else "right")

    def shown(value: float | None, unit: str) -> str:
        if value is None:
            return "-"
        if unit == "s":
            return fmt_s(value)
        if unit == "MB":
            return f"{value:,.0f}"
        return f"{value:,.2f}"

    def ratio(top: float | None, bottom: float | None) -> str:
        return fmt_ratio(top / bottom) if top is not None and bottom else "-"

    for label, ref, peer, ours, unit in rows:
        table.add_row(
            label,
            shown(ref, unit),
            shown(peer, unit),
            shown(ours, unit),
            ratio(peer, ref),
            ratio(peer, ours),
            ratio(ours, ref),
        )
    return table


def correctness_table(results: dict[str, Any]) -> Table:
    table = Table(
        title="point-in-time join against the DuckDB reference (values compared null-safe)"
    )
    for column in (
        "side",
        "rows",
        "kept",
        "dropped",
        "added",
        "mismatched",
        "of which older tie version",
        "order kept",
    ):
        table.add_column(column, justify="left" if column == "side" else "right")
    for side, check in results["checks"].items():
        table.add_row(
            side,
            f"{check['rows']:,}",
            f"{check['kept']:,}",
            f"{check['dropped']:,}",
            f"{check['added']:,}",
            f"{check['mismatched']:,}",
            f"{check['older_version_of_a_tie']:,}",
            "yes" if check["order_kept"] else "no",
        )
    return table


def kinds_table(side: str, check: dict[str, Any]) -> Table:
    table = Table(title=f"{side}: entity rows by kind")
    dropped = [cause.replace(": ", ":\n") for cause in DROPPED]
    columns = ["kind", "rows", "reference all null", *dropped, "mismatched"]
    for column in columns:
        table.add_column(column, justify="left" if column == "kind" else "right")
    for kind, counts in check["by_kind"].items():
        figures = [counts["rows"], counts["reference_null"], *(counts[c] for c in DROPPED)]
        table.add_row(kind, *(f"{value:,}" for value in [*figures, counts["mismatched"]]))
    return table


def target_checks(results: dict[str, Any]) -> dict[str, bool]:
    """The issue's targets for mloop, where both figures of a comparison exist."""
    sides = results["sides"]
    base, feast, mloop = sides["baseline"], sides.get("feast", {}), sides.get("mloop", {})
    ours, theirs, ref = _join_s(mloop), _join_s(feast), _join_s(base)
    checks: dict[str, bool] = {}
    if ours is not None and theirs is not None:
        checks[f"join at least {JOIN_VS_FEAST:g}x faster than Feast"] = (
            theirs / ours >= JOIN_VS_FEAST
        )
    if ours is not None and ref is not None:
        checks[f"join within {JOIN_VS_REFERENCE:g}x of the DuckDB reference"] = (
            ours / ref <= JOIN_VS_REFERENCE
        )
    p99 = _figure(mloop, "online", "1", "p99_ms")
    feast_p99 = _figure(feast, "online", "1", "p99_ms")
    if p99 is not None and feast_p99 is not None:
        checks["in-process p99, 1 entity, no slower than Feast's"] = p99 <= feast_p99
    http_p99 = _figure(mloop, "http", "1", "p99_ms")
    if http_p99 is not None:
        checks[f"HTTP p99, 1 entity, under {HTTP_P99_1_MS:g} ms"] = http_p99 < HTTP_P99_1_MS
    figures = [("materialize_s",)] + [
        (where, size, stat)
        for where in ("online", "http")
        for size in ("1", "100")
        for stat in ("p50_ms", "p99_ms")
    ]
    for keys in figures:
        a, b = _figure(mloop, *keys), _figure(feast, *keys)
        if a is not None and b is not None:
            checks[f"faster than Feast: {' '.join(keys)}"] = a < b
    return checks


def report(results: dict[str, Any]) -> None:
    out = Console()
    if not out.is_terminal:
        out.width = max(out.width, 150)
    out.print(figures_table(results))
    for name, variant in results["sides"]["baseline"]["variants"].items():
        same = "same table" if variant["same_as_reference"] else "ANOTHER TABLE"
        out.print(
            escape(
                f"DuckDB {name}: median {fmt_s(variant['historical_median_s'])} of "
                f"{len(variant['historical_s'])} ({fmt_s(min(variant['historical_s']))} to "
                f"{fmt_s(max(variant['historical_s']))}), peak "
                f"{variant.get('peak_above_start_mb', 0):,.0f} MB above the process's; {same}"
            )
        )
    spot = results["sides"]["baseline"]["spot_check"]
    out.print(
        escape(
            f"reference checked by brute force on {spot['rows']:,} entity rows: "
            + ("all equal" if not spot["mismatched"] else f"{spot['mismatched']:,} DIFFER")
        )
    )
    if results["checks"]:
        out.print(correctness_table(results))
    for side, check in results["checks"].items():
        out.print(kinds_table(side, check))
        causes = ", ".join(f"{k}: {v:,}" for k, v in check["mismatched_by_cause"].items())
        if causes:
            out.print(escape(f"{side} mismatches: {causes}"))
    for side, check in results.get("online_checks", {}).items():
        out.print(
            escape(
                f"{side} online values: {check['mismatched']:,} of {check['ids']:,} ids differ "
                "from the latest row per driver (ties to the largest created)"
            )
        )
    feast = results["sides"].get("feast", {})
    if feast.get("http", {}).get("error"):
        out.print(escape(f"Feast over HTTP: not measured ({feast['http']['error']})"))
    mloop = results["sides"].get("mloop", {})
    if mloop.get("http", {}).get("error"):
        out.print(escape(f"mloop over HTTP: not measured ({mloop['http']['error']})"))
    if "error" in mloop:
        out.print(escape(f"mloop: failed ({mloop['error']})"))
    for target, met in results.get("targets", {}).items():
        out.print(escape(f"target {'met' if met else 'NOT met'}: {target}"))
    versions_text = ", ".join(f"{tool} {version}" for tool, version in results["versions"].items())
    out.print(
        escape(
            f"versions: {versions_text}; load average at the start "
            f"{results['machine']['load_start']}, at the end {results['load_end']}"
        )
    )


# --------------------------------------------------------------------------- main


def default_json_path() -> Path:
    return RESULTS_DIR / f"features-{dt.date.today().isoformat()}.json"


def _positive(text: str) -> int:
    value = int(text.replace("_", ""))
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Feature store: mloop against Feast 0.67.")
    parser.add_argument("--entity-rows", type=_positive, default=100_000, help="default 100000")
    parser.add_argument("--feature-rows", type=_positive, default=1_000_000, help="default 1000000")
    parser.add_argument(
        "--features", type=_positive, default=10, help="feature columns (default 10)"
    )
    parser.add_argument("--skip-feast", action="store_true", help="run without Feast")
    parser.add_argument(
        "--repeat", type=_positive, default=1, help="historical joins per side (median)"
    )
    parser.add_argument(
        "--baseline-repeat", type=_positive, default=5, help="DuckDB reference runs"
    )
    parser.add_argument(
        "--lookups", type=_positive, default=2_000, help="timed lookups per batch size"
    )
    parser.add_argument(
        "--warmup", type=int, default=200, help="untimed lookups first (default 200)"
    )
    parser.add_argument(
        "--timeout", type=float, default=DEFAULT_TIMEOUT_S, help="seconds for Feast's side"
    )
    parser.add_argument(
        "--json",
        type=Path,
        default=default_json_path(),
        metavar="PATH",
        help="results file (default results/features-<date>.json)",
    )
    parser.add_argument("--no-json", action="store_true", help="write no results file")
    parser.add_argument(
        "--spot-check",
        type=_positive,
        default=5_000,
        help="random entity rows the reference is checked on by brute force (default 5000)",
    )
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory")
    args = parser.parse_args(argv)
    if args.warmup < 0:
        parser.error("--warmup must be 0 or more")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # run the finally blocks
    pythons = {"mloop": Path(sys.executable)}
    if not args.skip_feast:
        pythons["feast"] = ensure_venv("feast")
    results: dict[str, Any] = {
        "date": dt.datetime.now().isoformat(timespec="seconds"),
        "machine": {
            "platform": platform.platform(),
            "python": platform.python_version(),
            "cpus": os.cpu_count(),
            "load_start": [round(x, 2) for x in os.getloadavg()],
        },
        "versions": {**versions(pythons), "duckdb": duckdb.__version__},
        "args": {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()},
        "sides": {},
        "checks": {},
        "online_checks": {},
    }
    try:
        with work_directory(args.keep) as workdir:
            log(f"writing {args.feature_rows:,} feature rows and {args.entity_rows:,} entity rows")
            paths, spec = write_data(workdir, args.feature_rows, args.entity_rows, args.features)
            write_lookups(paths.lookups, spec.drivers, args.lookups)
            results["data"] = {
                "feature_rows": spec.feature_rows,
                "entity_rows": spec.entity_rows,
                "drivers": spec.drivers,
                "feature_names": spec.feature_names,
                "tied_keys": spec.tied_keys,
                "first_event": spec.first_event.isoformat(),
                "last_event": spec.last_event.isoformat(),
                "entity_kinds": spec.kind_counts(),
                "parquet_bytes": paths.features.stat().st_size + paths.entities.stat().st_size,
            }
            log(f"DuckDB reference joins, {args.baseline_repeat} rounds ...")
            baseline, reference = run_baseline(paths, spec, args.baseline_repeat)
            baseline["load_after"] = [round(x, 2) for x in os.getloadavg()]
            results["sides"]["baseline"] = baseline
            for name, variant in baseline["variants"].items():
                log(f"  {name}: median {fmt_s(variant['historical_median_s'])}")
            check = spot_check_reference(paths, spec, reference, args.spot_check)
            baseline["spot_check"] = check
            log(f"  brute-force spot check: {check['mismatched']} of {check['rows']:,} rows differ")
            expected_online = online_reference(paths, spec.feature_names)
            runs: list[
                tuple[str, Callable[[], tuple[dict[str, Any], pa.Table | None, pa.Table | None]]]
            ] = []
            if not args.skip_feast:
                runs.append(("feast", lambda: run_feast(paths, spec, pythons["feast"], args)))
            runs.append(("mloop", lambda: run_mloop(paths, spec, args)))
            for side, run in runs:
                figures, historical, online = run()
                results["sides"][side] = figures
                if historical is not None:
                    results["checks"][side] = compare(reference, historical, spec, paths)
                if online is not None:
                    results["online_checks"][side] = compare_online(
                        expected_online, online, spec.feature_names
                    )
    except KeyboardInterrupt:
        log("interrupted")
        return 130
    results["load_end"] = [round(x, 2) for x in os.getloadavg()]
    results["targets"] = target_checks(results)
    report(results)
    if not args.no_json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(results, indent=2, default=str) + "\n")
        log(f"results written to {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
