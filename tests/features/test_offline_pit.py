"""get_historical_features against a brute-force point-in-time join written as plain loops,
on randomized data: TTL edges (exactly TTL old, and one millisecond older), ties on event
time broken by created time, rows created late (backfills) with and without
``as_known_then``, entity rows with no features, duplicate entity rows, a composite key,
and two views with different TTLs in one call."""

from __future__ import annotations

import datetime as dt
import tempfile
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mloop.features import Entity, FeatureView, FileSource, SqlSource, get_historical_features
from mloop.features.catalog import Catalog

EPOCH = dt.datetime(2024, 3, 1, tzinfo=dt.UTC)
TTLS = [None, 3_000, 5_000]  # milliseconds

store = Entity("store", join_keys=["store_id", "region"])
customer = Entity("customer", join_keys=["customer_id"])

# Times on a grid of seconds and one millisecond before each second, so that a feature
# row exactly TTL older than an entity row, or one millisecond older still, is common.
times = st.integers(0, 12).flatmap(lambda s: st.sampled_from([s * 1000, s * 1000 - 1]))
delays = st.sampled_from([None, 0, 1_000, 4_000, 20_000])  # created - event, ms
store_keys = st.tuples(st.integers(0, 2), st.sampled_from(["n", "s"]))
customer_keys = st.integers(0, 3)  # 3: no feature rows at all


def _when(ms: int) -> dt.datetime:
    return EPOCH + dt.timedelta(milliseconds=ms)


@st.composite
def store_rows(draw: Any) -> list[dict[str, Any]]:
    """Feature rows of the (store, region) view: each key and event time has one to three
    versions of different created times (ties to break); none shares key, event time and
    created time with another (that order would be undefined)."""
    rows: dict[tuple[Any, ...], dict[str, Any]] = {}
    versions = st.lists(delays, min_size=1, max_size=3)
    for (store_id, region), ts, lags in draw(
        st.lists(st.tuples(store_keys, times, versions), max_size=8)
    ):
        for delay in lags:
            created = None if delay is None else ts + delay
            known = ts if created is None else created
            rows.setdefault(
                (store_id, region, ts, known),
                {"store_id": store_id, "region": region, "ts": ts, "created": created},
            )
    out = list(rows.values())
    draw(st.randoms()).shuffle(out)  # versions in any file order
    for i, row in enumerate(out):
        row["sales"] = float(i) + 0.5
        row["open"] = i % 2 == 0
    return out


@st.composite
def customer_rows(draw: Any) -> list[dict[str, Any]]:
    """Feature rows of the customer view (no created column): one per key and time."""
    rows: dict[tuple[int, int], dict[str, Any]] = {}
    for key, ts in draw(st.lists(st.tuples(st.integers(0, 2), times), max_size=10)):
        rows.setdefault((key, ts), {"customer_id": key, "ts": ts})
    out = list(rows.values())
    for i, row in enumerate(out):
        row["visits"] = i * 10
    return out


@st.composite
def entity_rows(draw: Any) -> list[dict[str, Any]]:
    drawn = draw(st.lists(st.tuples(store_keys, customer_keys, times), min_size=1, max_size=10))
    rows = [
        {"store_id": s, "region": r, "customer_id": c, "ts": ts, "label": i}
        for i, ((s, r), c, ts) in enumerate(drawn)
    ]
    if draw(st.booleans()):
        rows += rows[: draw(st.integers(1, len(rows)))]  # exact duplicates, kept in place
    return rows


def reference(
    entities: list[dict[str, Any]],
    rows: list[dict[str, Any]],
    keys: list[str],
    features: list[str],
    ttl: int | None,
    as_known_then: bool,
) -> list[dict[str, Any]]:
    """The point-in-time join by its definition, one entity row at a time."""
    out = []
    for entity in entities:
        best: dict[str, Any] | None = None
        for row in rows:
            if any(row[k] != entity[k] for k in keys):
                continue
            if row["ts"] > entity["ts"]:
                continue
            if ttl is not None and row["ts"] < entity["ts"] - ttl:
                continue
            known = row["ts"] if row.get("created") is None else row["created"]
            if as_known_then and known > entity["ts"]:
                continue
            if best is None:
                best = row
                continue
            best_known = best["ts"] if best.get("created") is None else best["created"]
            if (row["ts"], known) > (best["ts"], best_known):
                best = row
        out.append({f: None if best is None else best[f] for f in features})
    return out


def _write(path: Path, rows: list[dict[str, Any]], schema: pa.Schema) -> None:
    columns: dict[str, list[Any]] = {name: [] for name in schema.names}
    for row in rows:
        for name in schema.names:
            value = row[name]
            if name in ("ts", "created") and value is not None:
                value = _when(value)
            columns[name].append(value)
    pq.write_table(pa.table(columns, schema=schema), path)


STORE_SCHEMA = pa.schema(
    [
        ("store_id", pa.int64()),
        ("region", pa.string()),
        ("ts", pa.timestamp("us", tz="UTC")),
        ("created", pa.timestamp("us", tz="UTC")),
        ("sales", pa.float64()),
        ("open", pa.bool_()),
    ]
)
CUSTOMER_SCHEMA = pa.schema(
    [("customer_id", pa.int32()), ("ts", pa.timestamp("ms")), ("visits", pa.int64())]
)


@settings(max_examples=60)
@given(
    stores=store_rows(),
    customers=customer_rows(),
    entities=entity_rows(),
    store_ttl=st.sampled_from(TTLS),
    customer_ttl=st.sampled_from(TTLS),
    as_known_then=st.booleans(),
)
def test_matches_the_brute_force_join(
    stores: list[dict[str, Any]],
    customers: list[dict[str, Any]],
    entities: list[dict[str, Any]],
    store_ttl: int | None,
    customer_ttl: int | None,
    as_known_then: bool,
) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        store_path, customer_path = Path(tmp) / "stores.parquet", Path(tmp) / "customers.pq"
        _write(store_path, stores, STORE_SCHEMA)
        _write(customer_path, customers, CUSTOMER_SCHEMA)
        store_view = FeatureView(
            "store_stats",
            entities=[store],
            source=FileSource("stores", str(store_path), timestamp="ts", created="created"),
            features={"sales": "float64", "open": "bool"},
            ttl=None if store_ttl is None else dt.timedelta(milliseconds=store_ttl),
        )
        customer_view = FeatureView(
            "customer_stats",
            entities=[customer],
            source=FileSource("customers", str(customer_path), timestamp="ts"),
            features={"visits": "int64"},
            ttl=None if customer_ttl is None else dt.timedelta(milliseconds=customer_ttl),
        )
        catalog = Catalog.from_definitions([store_view, customer_view])
        table = pa.Table.from_pylist(
            [e | {"ts": _when(e["ts"])} for e in entities],
            schema=pa.schema(
                [
                    ("store_id", pa.int64()),
                    ("region", pa.string()),
                    ("customer_id", pa.int64()),
                    ("ts", pa.timestamp("ns", tz="UTC")),
                    ("label", pa.int64()),
                ]
            ),
        )
        result = get_historical_features(
            table,
            ["store_stats:sales", "customer_stats:visits", "store_stats:open"],
            catalog=catalog,
            output="arrow",
            timestamp_column="ts",
            as_known_then=as_known_then,
        )
    expected_stores = reference(
        entities, stores, ["store_id", "region"], ["sales", "open"], store_ttl, as_known_then
    )
    expected_customers = reference(
        entities, customers, ["customer_id"], ["visits"], customer_ttl, as_known_then
    )
    assert result.column_names == [*table.column_names, "sales", "visits", "open"]
    assert result.column("label").to_pylist() == [e["label"] for e in entities]
    assert result.column("sales").to_pylist() == [e["sales"] for e in expected_stores]
    assert result.column("open").to_pylist() == [e["open"] for e in expected_stores]
    assert result.column("visits").to_pylist() == [e["visits"] for e in expected_customers]
    assert result.schema.field("visits").type == pa.int64()


def test_ttl_is_inclusive_to_the_millisecond() -> None:
    """A row exactly TTL old is eligible; one a millisecond older is not; a row at the
    entity's exact time is eligible, one a millisecond later is not."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "f.parquet"
        rows = [
            {"customer_id": 1, "ts": 5_000, "visits": 1},  # exactly 5 s before 10 s
            {"customer_id": 2, "ts": 4_999, "visits": 2},  # 5 s and 1 ms before
            {"customer_id": 3, "ts": 10_000, "visits": 3},  # at the entity's time
            {"customer_id": 4, "ts": 10_001, "visits": 4},  # 1 ms after
        ]
        _write(path, rows, CUSTOMER_SCHEMA)
        view = FeatureView(
            "v",
            entities=[customer],
            source=FileSource("s", str(path), timestamp="ts"),
            features={"visits": "int64"},
            ttl=dt.timedelta(seconds=5),
        )
        result = get_historical_features(
            [{"customer_id": k, "ts": _when(10_000)} for k in (1, 2, 3, 4)],
            ["v:visits"],
            catalog=Catalog.from_definitions([view]),
            output="arrow",
            timestamp_column="ts",
        )
    assert result.column("visits").to_pylist() == [1, None, 3, None]


def _unchanged(frame: Any) -> Any:
    return frame


def _store_view(path: Path, ttl_ms: int | None = None, read: str = "parquet") -> FeatureView:
    """The (store, region) view over ``path``, read as a Parquet file, through a DuckDB
    SQL source, through a SQL transform or through a Python transform: the join reads
    the first and the last twice and keeps the others' rows once (see ``pit.py``)."""
    source: FileSource | SqlSource = FileSource(
        "stores", str(path), timestamp="ts", created="created"
    )
    if read == "sql source":
        query = f"SELECT * FROM read_parquet('{path}')"
        source = SqlSource("stores", query, timestamp="ts", created="created")
    return FeatureView(
        "store_stats",
        entities=[store],
        source=source,
        features={"sales": "float64", "open": "bool"},
        ttl=None if ttl_ms is None else dt.timedelta(milliseconds=ttl_ms),
        transform_sql="SELECT * FROM source" if read == "sql transform" else None,
        transform=_unchanged if read == "python transform" else None,
    )


def _sales(view: FeatureView, entities: list[dict[str, Any]]) -> list[Any]:
    result = get_historical_features(
        [e | {"ts": _when(e["ts"])} for e in entities],
        ["store_stats:sales"],
        catalog=Catalog.from_definitions([view]),
        output="arrow",
        timestamp_column="ts",
    )
    assert result.num_rows == len(entities)
    return result.column("sales").to_pylist()


@pytest.mark.parametrize("read", ["parquet", "sql source", "sql transform", "python transform"])
def test_ties_go_to_the_latest_created_of_the_latest_event_time(read: str) -> None:
    """Versions of one event time: the largest created wins, a missing created counts as
    the event time (so it beats one created before its event); a version of an older
    event time never wins, however late it was created; at the TTL's edge the tie is
    broken the same way; duplicate entity rows each get the winner."""
    rows = [
        # key (1, "n"), event 5 s: four versions in no order of created.
        {"store_id": 1, "region": "n", "ts": 5_000, "created": 6_000, "sales": 1.0},
        {"store_id": 1, "region": "n", "ts": 5_000, "created": 9_000, "sales": 2.0},
        {"store_id": 1, "region": "n", "ts": 5_000, "created": None, "sales": 3.0},
        {"store_id": 1, "region": "n", "ts": 5_000, "created": 7_000, "sales": 4.0},
        # An older event time created much later: it loses to any version at 5 s.
        {"store_id": 1, "region": "n", "ts": 4_000, "created": 50_000, "sales": 5.0},
        # key (2, "n"), event 5 s: no created against one created before its event.
        {"store_id": 2, "region": "n", "ts": 5_000, "created": 4_000, "sales": 6.0},
        {"store_id": 2, "region": "n", "ts": 5_000, "created": None, "sales": 7.0},
        # key (1, "s"): the winner is the same key's other region's loser (keys are whole).
        {"store_id": 1, "region": "s", "ts": 5_000, "created": 1_000, "sales": 8.0},
    ]
    for i, row in enumerate(rows):
        row["open"] = i % 2 == 0
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "stores.parquet"
        _write(path, rows, STORE_SCHEMA)
        entities = [
            {"store_id": 1, "region": "n", "ts": 5_000},  # at the tied time
            {"store_id": 2, "region": "n", "ts": 6_000},
            {"store_id": 1, "region": "n", "ts": 8_000},  # exactly TTL after the tie
            {"store_id": 1, "region": "n", "ts": 8_001},  # past it: nothing eligible
            {"store_id": 1, "region": "n", "ts": 4_999},  # before the tie: the older row
            {"store_id": 1, "region": "s", "ts": 5_000},
            {"store_id": 1, "region": "n", "ts": 5_000},  # a duplicate of the first
        ]
        assert _sales(_store_view(path, ttl_ms=3_000, read=read), entities) == [
            2.0, 7.0, 2.0, None, 5.0, 8.0, 2.0,
        ]  # fmt: skip


@pytest.mark.parametrize("read", ["parquet", "sql source"])
def test_identical_versions_give_one_of_them_and_keep_every_entity_row(read: str) -> None:
    """Two versions with the same key, event and created time have no order: the entity
    row gets one of their values, once, and the rows around it are unaffected."""
    rows = [
        {"store_id": 1, "region": "n", "ts": 1_000, "created": 2_000, "sales": 1.0},
        {"store_id": 1, "region": "n", "ts": 1_000, "created": 2_000, "sales": 2.0},
        {"store_id": 2, "region": "n", "ts": 1_000, "created": None, "sales": 3.0},
        {"store_id": 2, "region": "n", "ts": 1_000, "created": None, "sales": 4.0},
    ]
    for row in rows:
        row["open"] = True
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "stores.parquet"
        _write(path, rows, STORE_SCHEMA)
        entities = [
            {"store_id": 0, "region": "n", "ts": 1_000},
            {"store_id": 1, "region": "n", "ts": 1_500},
            {"store_id": 2, "region": "n", "ts": 1_000},
            {"store_id": 1, "region": "n", "ts": 500},
        ]
        first, one, two, before = _sales(_store_view(path, read=read), entities)
    assert first is None and before is None
    assert one in (1.0, 2.0)
    assert two in (3.0, 4.0)
