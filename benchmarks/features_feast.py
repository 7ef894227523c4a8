"""Feast side of ``features.py``: a Feast 0.67 feature repo over the benchmark's Parquet files.

    benchmarks/.venvs/feast/bin/python benchmarks/features_feast.py
        --features-path F.parquet --entities-path E.parquet --repo DIR --features 10
        --historical-out H.parquet --online-out O.parquet --lookups L.json
        --materialize-start ISO --materialize-end ISO [--repeat 1] [--warmup 200]

Runs in Feast's own venv (``requirements-feast.txt``) and imports only Feast, pandas and the
standard library. It writes a feature repo into DIR (``feature_store.yaml``: local provider,
file offline store, SQLite online store, file registry), applies an Entity ``driver`` (join
key ``driver_id``) and a FeatureView ``driver_stats`` (TTL 7 days) over a FileSource with
``event_timestamp`` and ``created``, then times:

- ``get_historical_features(entity_df, features).to_df()`` on the entity table read into
  pandas (the read is not timed), ``--repeat`` times; the last result is written to
  ``--historical-out`` for ``features.py`` to compare with its DuckDB reference;
- ``materialize(start, end)`` of the whole table into the SQLite online store;
- ``get_online_features(...).to_dict()`` for every batch in ``--lookups`` (batches of 1 and
  of 100 driver ids), after ``--warmup`` untimed calls of each size; the values returned for
  the first 1,000 ids of 100-id batches go to ``--online-out``.

The feature repo stays in DIR so that ``features.py`` can start ``feast serve`` on it. Prints
one JSON object on stdout: timings, raw latency samples in milliseconds, row counts and the
process's peak resident memory (``VmHWM``) after the historical retrieval and at the end.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import logging
import time
import warnings
from pathlib import Path
from typing import Any

from _data_side import peak_rss_mb  # stdlib only: runs in any venv

T_START = time.perf_counter()

FEATURE_VIEW = "driver_stats"
TTL = dt.timedelta(days=7)
ONLINE_CHECK_IDS = 1_000

FEATURE_STORE_YAML = """\
project: mloop_bench
provider: local
registry: {repo}/registry.db
online_store:
  type: sqlite
  path: {repo}/online.db
offline_store:
  type: file
entity_key_serialization_version: 3
"""


def feature_names(count: int) -> list[str]:
    """The benchmark's feature columns: ``f00``, ``f01``, ...; even ones float64, odd int64."""
    return [f"f{i:02d}" for i in range(count)]


def build_repo(repo: Path, features_path: Path, count: int) -> tuple[Any, list[str]]:
    """Write ``feature_store.yaml``, apply the entity and the feature view; return the store
    and the feature references."""
    from feast import Entity, FeatureStore, FeatureView, Field, FileSource, ValueType
    from feast.types import Float64, Int64

    repo.mkdir(parents=True, exist_ok=True)
    (repo / "feature_store.yaml").write_text(FEATURE_STORE_YAML.format(repo=repo))
    driver = Entity(name="driver", join_keys=["driver_id"], value_type=ValueType.INT64)
    source = FileSource(
        name="driver_stats_source",
        path=str(features_path),
        timestamp_field="event_timestamp",
        created_timestamp_column="created",
    )
    names = feature_names(count)
    view = FeatureView(
        name=FEATURE_VIEW,
        entities=[driver],
        ttl=TTL,
        schema=[Field(name=n, dtype=Float64 if i % 2 == 0 else Int64) for i, n in enumerate(names)],
        source=source,
        online=True,
    )
    store = FeatureStore(repo_path=str(repo))
    store.apply([driver, view])
    return store, [f"{FEATURE_VIEW}:{n}" for n in names]


def time_online(store: Any, refs: list[str], batches: list[list[int]], warmup: int) -> list[float]:
    """Milliseconds per ``get_online_features(...).to_dict()`` call, one per batch, after
    ``warmup`` untimed calls on the first batches."""
    for batch in batches[:warmup]:
        store.get_online_features(
            features=refs, entity_rows=[{"driver_id": i} for i in batch]
        ).to_dict()
    samples = []
    for batch in batches:
        rows = [{"driver_id": i} for i in batch]
        t0 = time.perf_counter()
        store.get_online_features(features=refs, entity_rows=rows).to_dict()
        samples.append((time.perf_counter() - t0) * 1000)
    return samples


def online_values(store: Any, refs: list[str], batches: list[list[int]]) -> Any:
    """What the online store returns for the first ``ONLINE_CHECK_IDS`` ids of ``batches``."""
    import pandas as pd

    frames = []
    seen = 0
    for batch in batches:
        if seen >= ONLINE_CHECK_IDS:
            break
        found = store.get_online_features(
            features=refs, entity_rows=[{"driver_id": i} for i in batch]
        ).to_dict()
        frames.append(pd.DataFrame(found))
        seen += len(batch)
    return pd.concat(frames, ignore_index=True)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--features-path", type=Path, required=True)
    parser.add_argument("--entities-path", type=Path, required=True)
    parser.add_argument("--repo", type=Path, required=True)
    parser.add_argument("--features", type=int, required=True)
    parser.add_argument("--historical-out", type=Path, required=True)
    parser.add_argument("--online-out", type=Path, required=True)
    parser.add_argument("--lookups", type=Path, required=True)
    parser.add_argument("--materialize-start", type=dt.datetime.fromisoformat, required=True)
    parser.add_argument("--materialize-end", type=dt.datetime.fromisoformat, required=True)
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--warmup", type=int, default=200)
    args = parser.parse_args()
    # Feast warns about experimental features and deprecated settings on every call.
    warnings.simplefilter("ignore")
    logging.disable(logging.WARNING)

    import feast
    import pandas as pd

    imported = time.perf_counter()
    store, refs = build_repo(args.repo, args.features_path, args.features)
    applied = time.perf_counter()

    entity_df = pd.read_parquet(args.entities_path)
    historical_s = []
    result = None
    for _ in range(args.repeat):
        t0 = time.perf_counter()
        result = store.get_historical_features(entity_df=entity_df, features=refs).to_df()
        historical_s.append(time.perf_counter() - t0)
    assert result is not None
    peak_after_historical = peak_rss_mb()
    result.to_parquet(args.historical_out, index=False)
    result_rows = len(result)
    del result

    t0 = time.perf_counter()
    store.materialize(start_date=args.materialize_start, end_date=args.materialize_end)
    materialize_s = time.perf_counter() - t0

    lookups = json.loads(args.lookups.read_text())
    online_ms = {
        size: time_online(store, refs, lookups[size], args.warmup) for size in ("1", "100")
    }
    online_values(store, refs, lookups["100"]).to_parquet(args.online_out, index=False)

    print(
        json.dumps(
            {
                "version": feast.__version__,
                "pandas": pd.__version__,
                "import_s": imported - T_START,
                "apply_s": applied - imported,
                "entity_rows_in": len(entity_df),
                "historical_s": historical_s,
                "historical_rows": result_rows,
                "peak_rss_mb_after_historical": peak_after_historical,
                "materialize_s": materialize_s,
                "online_ms": online_ms,
                "warmup": args.warmup,
                "peak_rss_mb": peak_rss_mb(),
            }
        )
    )


if __name__ == "__main__":
    main()
