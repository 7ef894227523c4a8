"""Offline retrieval from every kind of source (Parquet, CSV, a glob, a registered dataset
version, DuckDB SQL, PostgreSQL), through SQL and Python transformations, and
``read_view_rows`` (the stream materialization reads); the errors a broken source or
transformation gives."""

from __future__ import annotations

import datetime as dt
import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from sqlalchemy.engine import make_url

import mloop
from mloop.core.errors import ValidationError
from mloop.features import (
    DatasetSource,
    Entity,
    FeatureView,
    FileSource,
    PostgresSource,
    SqlSource,
    feature_view,
    get_historical_features,
    read_view_rows,
)
from mloop.features.catalog import Catalog
from mloop.features.schemas import FeatureType
from mloop.store.runtime import Runtime
from tests.conftest import PG_URL, port_open, require_service

T0 = dt.datetime(2024, 5, 1, tzinfo=dt.UTC)
customer = Entity("customer", join_keys=["customer_id"])
FEATURES: dict[str, FeatureType] = {"spend": "float64", "orders": "int64"}


def at(hours: float) -> dt.datetime:
    return T0 + dt.timedelta(hours=hours)


def feature_rows() -> pa.Table:
    """Customer 1 at hours 0 and 10 (a later-created correction at 10), customer 2 at 5."""
    return pa.table(
        {
            "customer_id": pa.array([1, 1, 1, 2], pa.int64()),
            "event_ts": pa.array([at(0), at(10), at(10), at(5)], pa.timestamp("us", tz="UTC")),
            "created": pa.array([at(0), at(10), at(11), at(5)], pa.timestamp("us", tz="UTC")),
            "spend": [10.0, 20.0, 25.0, 7.5],
            "orders": pa.array([1, 2, 3, 1], pa.int64()),
        }
    )


ENTITIES = [
    {"customer_id": 1, "event_timestamp": at(1)},  # hour-0 row
    {"customer_id": 1, "event_timestamp": at(12)},  # the correction created at 11
    {"customer_id": 2, "event_timestamp": at(4)},  # before its only row
    {"customer_id": 2, "event_timestamp": at(6)},
    {"customer_id": 3, "event_timestamp": at(6)},  # no rows at all
]
EXPECTED = {"spend": [10.0, 25.0, None, 7.5, None], "orders": [1, 3, None, 1, None]}


def parquet_source(folder: Path) -> FileSource:
    return FileSource("rows", str(folder / "f.parquet"), timestamp="event_ts", created="created")


def view_over(source: Any, **options: Any) -> FeatureView:
    return FeatureView("spend", entities=[customer], source=source, features=FEATURES, **options)


def retrieve(view: FeatureView, **options: Any) -> pa.Table:
    table: pa.Table = get_historical_features(
        ENTITIES,
        ["spend:spend", "spend:orders"],
        catalog=Catalog.from_definitions([view]),
        output="arrow",
        **options,
    )
    return table


def assert_expected(result: pa.Table) -> None:
    assert result.column("spend").to_pylist() == EXPECTED["spend"]
    assert result.column("orders").to_pylist() == EXPECTED["orders"]
    assert result.schema.field("spend").type == pa.float64()
    assert result.schema.field("orders").type == pa.int64()


# -- files ---------------------------------------------------------------------------------


def test_parquet_file(tmp_path: Path) -> None:
    pq.write_table(feature_rows(), tmp_path / "f.parquet")
    source = FileSource(
        "rows", str(tmp_path / "f.parquet"), timestamp="event_ts", created="created"
    )
    assert_expected(retrieve(view_over(source)))


def test_csv_file_with_offsets_in_its_timestamps(tmp_path: Path) -> None:
    """CSV text with a UTC offset is that instant; without one it is UTC."""
    lines = [
        "customer_id,event_ts,created,spend,orders",
        "1,2024-05-01T02:00:00+02:00,2024-05-01 00:00:00,10.0,1",  # = hour 0 UTC
        "1,2024-05-01 10:00:00,2024-05-01 10:00:00,20.0,2",
        "1,2024-05-01T05:00:00-05:00,2024-05-01 11:00:00,25.0,3",  # = hour 10 UTC
        "2,2024-05-01 05:00:00,2024-05-01 05:00:00,7.5,1",
    ]
    path = tmp_path / "rows.csv"
    path.write_text("\n".join(lines) + "\n")
    source = FileSource("rows", str(path), timestamp="event_ts", created="created")
    assert_expected(retrieve(view_over(source)))


def test_glob_of_parquet_files(tmp_path: Path) -> None:
    rows = feature_rows()
    (tmp_path / "parts").mkdir()
    pq.write_table(rows.slice(0, 2), tmp_path / "parts" / "a.parquet")
    pq.write_table(rows.slice(2), tmp_path / "parts" / "b.parquet")
    source = FileSource(
        "rows", str(tmp_path / "parts" / "*.parquet"), timestamp="event_ts", created="created"
    )
    assert_expected(retrieve(view_over(source)))


def test_a_missing_file_names_the_path(tmp_path: Path) -> None:
    source = FileSource("rows", str(tmp_path / "nope" / "*.parquet"), timestamp="event_ts")
    with pytest.raises(ValidationError, match=r"nope/\*\.parquet'?, which matches no file") as e:
        retrieve(view_over(source))
    assert e.value.field == "source.path"


def test_parquet_and_csv_files_on_s3(
    s3_endpoint: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Files on an S3-compatible server (moto on loopback), a glob of Parquet parts and a
    CSV file, read through fsspec as the artifact store reads S3."""
    import boto3

    monkeypatch.setenv("MLOOP_S3_ENDPOINT_URL", s3_endpoint)
    s3 = boto3.client("s3", endpoint_url=s3_endpoint, region_name="us-east-1")
    rows = feature_rows()
    for name, part in (("a", rows.slice(0, 2)), ("b", rows.slice(2))):
        pq.write_table(part, tmp_path / f"{name}.parquet")
        s3.upload_file(str(tmp_path / f"{name}.parquet"), "mloop-test", f"features/{name}.parquet")
    source = FileSource(
        "rows", "s3://mloop-test/features/*.parquet", timestamp="event_ts", created="created"
    )
    assert_expected(retrieve(view_over(source)))
    rows.to_pandas().to_csv(tmp_path / "rows.csv", index=False)
    s3.upload_file(str(tmp_path / "rows.csv"), "mloop-test", "features/rows.csv")
    csv = FileSource(
        "rows", "s3://mloop-test/features/rows.csv", timestamp="event_ts", created="created"
    )
    assert_expected(retrieve(view_over(csv)))
    missing = FileSource("rows", "s3://mloop-test/nope/*.parquet", timestamp="event_ts")
    with pytest.raises(ValidationError, match="matches no file") as raised:
        retrieve(view_over(missing))
    assert raised.value.field == "source.path"


def test_missing_columns_name_the_view_and_column(tmp_path: Path) -> None:
    pq.write_table(feature_rows().drop_columns(["orders"]), tmp_path / "f.parquet")
    source = FileSource("rows", str(tmp_path / "f.parquet"), timestamp="event_ts")
    with pytest.raises(ValidationError, match="'spend': its rows have no column 'orders'"):
        retrieve(view_over(source))
    wrong_ts = FileSource("rows", str(tmp_path / "f.parquet"), timestamp="when")
    with pytest.raises(ValidationError, match="no column 'when'"):
        retrieve(view_over(wrong_ts))


def test_a_value_that_does_not_fit_its_type_is_an_error(tmp_path: Path) -> None:
    rows = feature_rows().set_column(3, "spend", pa.array(["10", "x", "1", "2"]))
    pq.write_table(rows, tmp_path / "f.parquet")
    source = FileSource("rows", str(tmp_path / "f.parquet"), timestamp="event_ts")
    with pytest.raises(ValidationError, match=r"feature view 'spend'.*'x'"):
        retrieve(view_over(source))


# -- SQL and transformations ---------------------------------------------------------------


def test_duckdb_sql_source(tmp_path: Path) -> None:
    pq.write_table(feature_rows(), tmp_path / "f.parquet")
    query = f"SELECT * FROM read_parquet('{tmp_path / 'f.parquet'}') WHERE spend > 0;"
    source = SqlSource("rows", query, timestamp="event_ts", created="created")
    assert_expected(retrieve(view_over(source)))


def test_sql_transform_runs_over_source(tmp_path: Path) -> None:
    rows = feature_rows().rename_columns(["cid", "event_ts", "created", "amount", "n"])
    pq.write_table(rows, tmp_path / "f.parquet")
    source = FileSource(
        "rows", str(tmp_path / "f.parquet"), timestamp="event_ts", created="created"
    )
    view = view_over(
        source,
        transform_sql=(
            "WITH renamed AS (SELECT cid AS customer_id, event_ts, created, amount AS spend, "
            "n AS orders FROM source) SELECT * FROM renamed"
        ),
    )
    assert_expected(retrieve(view))


def test_a_broken_sql_transform_names_the_view(tmp_path: Path) -> None:
    pq.write_table(feature_rows(), tmp_path / "f.parquet")
    source = FileSource("rows", str(tmp_path / "f.parquet"), timestamp="event_ts")
    view = view_over(source, transform_sql="SELECT customer_id, nope FROM source")
    with pytest.raises(ValidationError, match=r"feature view 'spend'.*nope") as raised:
        retrieve(view)
    assert raised.value.field == "transform"
    dropped = view_over(source, transform_sql="SELECT customer_id, event_ts, spend FROM source")
    with pytest.raises(ValidationError, match="after its transform have no column 'orders'"):
        retrieve(dropped)


def doubled(rows: pd.DataFrame) -> pd.DataFrame:
    """A Python transformation: the source's rows, spend doubled."""
    return rows.assign(spend=rows["spend"] * 2)


def failing(rows: pd.DataFrame) -> pd.DataFrame:
    raise KeyError("no_such_column")


def test_python_transform_gets_and_returns_a_frame(tmp_path: Path) -> None:
    pq.write_table(feature_rows(), tmp_path / "f.parquet")
    source = FileSource(
        "rows", str(tmp_path / "f.parquet"), timestamp="event_ts", created="created"
    )
    view = feature_view(entities=[customer], source=source, features=FEATURES, name="spend")(
        doubled
    )
    result = retrieve(view)
    assert result.column("spend").to_pylist() == [20.0, 50.0, None, 15.0, None]
    assert result.column("orders").to_pylist() == EXPECTED["orders"]


def test_a_failing_python_transform_names_it(tmp_path: Path) -> None:
    pq.write_table(feature_rows(), tmp_path / "f.parquet")
    source = FileSource("rows", str(tmp_path / "f.parquet"), timestamp="event_ts")
    view = feature_view(entities=[customer], source=source, features=FEATURES, name="spend")(
        failing
    )
    with pytest.raises(ValidationError, match="'failing' failed: KeyError") as raised:
        retrieve(view)
    assert raised.value.field == "transform"


# -- registered datasets -------------------------------------------------------------------


def test_dataset_version_source(runtime: Runtime) -> None:
    first = mloop.register_dataset("customer-rows", feature_rows().slice(0, 1))
    mloop.register_dataset("customer-rows", feature_rows())
    latest = DatasetSource("rows", "customer-rows", timestamp="event_ts", created="created")
    result = retrieve(view_over(latest))
    assert_expected(result)
    # The lineage names the version read: the newest when the source names none.
    lineage = json.loads(result.schema.metadata[b"mloop.features"])
    assert lineage["views"][0]["source"]["dataset"] == "customer-rows"
    assert lineage["views"][0]["source"]["dataset_version"] == 2
    pinned = DatasetSource(
        "rows", "customer-rows", version=first.version, timestamp="event_ts", created="created"
    )
    assert retrieve(view_over(pinned)).column("spend").to_pylist() == [
        10.0,
        10.0,
        None,
        None,
        None,
    ]
    missing = DatasetSource("rows", "no-such-rows", timestamp="event_ts")
    with pytest.raises(ValidationError, match="no-such-rows") as raised:
        retrieve(view_over(missing))
    assert raised.value.field == "source.dataset"


# -- PostgreSQL ----------------------------------------------------------------------------


@pytest.fixture
def pg_table(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A table of the feature rows in the test PostgreSQL server, its URL in
    $MLOOP_FEATURES_POSTGRES_URL."""
    url = make_url(PG_URL or "postgresql+psycopg://postgres@127.0.0.1:5432/test")
    require_service(port_open(url.host or "127.0.0.1", url.port or 5432), "PostgreSQL")
    import psycopg

    conninfo = url.set(drivername="postgresql").render_as_string(hide_password=False)
    name = f"feature_rows_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(conninfo, autocommit=True) as conn:
        conn.execute(
            f"CREATE TABLE {name} (customer_id bigint, event_ts timestamptz, "
            "created timestamp, spend numeric, orders integer, note text)"
        )
        with conn.cursor() as cur:
            cur.executemany(
                f"INSERT INTO {name} VALUES (%s, %s, %s, %s, %s, %s)",
                [
                    (r["customer_id"], r["event_ts"], r["created"].replace(tzinfo=None),
                     r["spend"], r["orders"], "x")
                    for r in feature_rows().to_pylist()
                ],
            )  # fmt: skip
    monkeypatch.setenv("MLOOP_FEATURES_POSTGRES_URL", url.render_as_string(hide_password=False))
    yield name
    with psycopg.connect(conninfo, autocommit=True) as conn:
        conn.execute(f"DROP TABLE IF EXISTS {name}")


def test_postgres_table_and_query(pg_table: str) -> None:
    table = PostgresSource("rows", pg_table, timestamp="event_ts", created="created")
    assert_expected(retrieve(view_over(table)))
    query = PostgresSource(
        "rows",
        f"SELECT customer_id, event_ts, created, spend, orders FROM {pg_table} WHERE orders > 0",
        timestamp="event_ts",
        created="created",
    )
    assert_expected(retrieve(view_over(query, transform_sql="SELECT * FROM source")))
    rows = pa.Table.from_batches(
        read_view_rows(Catalog.from_definitions([view_over(table)]).view("spend"))
    )
    assert rows.num_rows == 4 and rows.schema.field("created").type == pa.timestamp("us", tz="UTC")


def test_postgres_without_its_url_says_which_variable(
    pg_table: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("MLOOP_FEATURES_POSTGRES_URL")
    source = PostgresSource("rows", pg_table, timestamp="event_ts")
    with pytest.raises(ValidationError, match="MLOOP_FEATURES_POSTGRES_URL") as raised:
        retrieve(view_over(source))
    assert raised.value.field == "url_env"
    monkeypatch.setenv(
        "MLOOP_FEATURES_POSTGRES_URL", PG_URL or "postgresql://postgres@127.0.0.1/test"
    )
    broken = PostgresSource("rows", "SELECT nope FROM nowhere", timestamp="event_ts")
    with pytest.raises(ValidationError, match="reading PostgreSQL failed"):
        retrieve(view_over(broken))


# -- read_view_rows ------------------------------------------------------------------------


def test_read_view_rows_columns_types_and_window(tmp_path: Path) -> None:
    pq.write_table(feature_rows(), tmp_path / "f.parquet")
    source = FileSource(
        "rows", str(tmp_path / "f.parquet"), timestamp="event_ts", created="created"
    )
    view = Catalog.from_definitions([view_over(source)]).view("spend")
    reader = read_view_rows(view, since=at(5), until=dt.datetime(2024, 5, 1, 10))
    assert isinstance(reader, pa.RecordBatchReader)
    rows = reader.read_all()
    assert rows.column_names == ["customer_id", "event_timestamp", "created", "spend", "orders"]
    assert rows.schema.field("event_timestamp").type == pa.timestamp("us", tz="UTC")
    # [since, until): hour 5 in, hour 10 (naive until, taken as UTC) out.
    assert rows.to_pylist() == [
        {"customer_id": 2, "event_timestamp": at(5), "created": at(5), "spend": 7.5, "orders": 1}
    ]
    everything = read_view_rows(view).read_all()
    assert sorted(everything.column("spend").to_pylist()) == [7.5, 10.0, 20.0, 25.0]


def test_read_view_rows_streams_in_batches_with_null_created(tmp_path: Path) -> None:
    count = 200_000
    pq.write_table(
        pa.table(
            {
                "customer_id": pa.array(range(count), pa.int64()),
                "event_ts": pa.array([at(0)] * count, pa.timestamp("ms")),
                "spend": pa.array([1.0] * count),
                "orders": pa.array([1] * count, pa.int32()),  # cast to the declared int64
            }
        ),
        tmp_path / "big.parquet",
        row_group_size=20_000,
    )
    source = FileSource("rows", str(tmp_path / "big.parquet"), timestamp="event_ts")
    view = Catalog.from_definitions([view_over(source)]).view("spend")
    batches = list(read_view_rows(view))
    assert len(batches) > 1
    assert sum(b.num_rows for b in batches) == count
    assert batches[0].schema.field("orders").type == pa.int64()
    assert batches[0].column(batches[0].schema.get_field_index("created")).null_count == len(
        batches[0]
    )


def test_read_view_rows_refuses_bad_bounds(tmp_path: Path) -> None:
    pq.write_table(feature_rows(), tmp_path / "f.parquet")
    source = FileSource("rows", str(tmp_path / "f.parquet"), timestamp="event_ts")
    view = Catalog.from_definitions([view_over(source)]).view("spend")
    with pytest.raises(ValidationError, match="since must be a datetime") as raised:
        read_view_rows(view, since="yesterday")
    assert raised.value.field == "since"
    with pytest.raises(ValidationError, match="until must be a datetime"):
        read_view_rows(view, until=True)
