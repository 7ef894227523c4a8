"""get_historical_features as a user calls it: pandas, Polars, Arrow and lists of dicts in
and out, typed features, time zones, on-demand features, feature services from the
registry, the errors bad input gets, and a result saved as a dataset whose lineage a model
trained on it carries."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import mloop
from mloop.core.errors import NotFoundError, ValidationError
from mloop.features import (
    Entity,
    FeatureService,
    FeatureView,
    FileSource,
    get_historical_features,
    on_demand_feature,
    save_training_set,
    training_lineage,
)
from mloop.features.catalog import Catalog
from mloop.features.offline.frames import arrow_from_pandas
from mloop.features.offline.training import lineage_of
from mloop.features.schemas import FeatureType
from mloop.store.runtime import Runtime

T0 = dt.datetime(2024, 5, 1, tzinfo=dt.UTC)
customer = Entity("customer", join_keys=["customer_id"])
TYPES: dict[str, FeatureType] = {
    "spend": "float64",
    "orders": "int64",
    "vip": "bool",
    "tier": "string",
    "last_seen": "timestamp",
    "score": "float32",
    "visits": "int32",
}


def at(hours: float) -> dt.datetime:
    return T0 + dt.timedelta(hours=hours)


def write_rows(path: Path) -> None:
    """Customer 1 at hours 0 and 10; customer 2 at hour 5 (null orders); keys as int32."""
    pq.write_table(
        pa.table(
            {
                "customer_id": pa.array([1, 1, 2], pa.int32()),
                "event_ts": pa.array([at(0), at(10), at(5)], pa.timestamp("ns", tz="UTC")),
                "spend": [1.5, 2.5, 3.5],
                "orders": pa.array([1, 2, None], pa.int64()),
                "vip": [True, False, True],
                "tier": ["gold", "silver", "bronze"],
                "last_seen": pa.array([at(-1), at(9), at(4)], pa.timestamp("us")),  # naive
                "score": [0.25, 0.5, 0.75],  # double in the file, float32 declared
                "visits": pa.array([3, 4, 5], pa.int64()),  # int64 in the file, int32 declared
            }
        ),
        path,
    )


@pytest.fixture
def view(tmp_path: Path) -> FeatureView:
    write_rows(tmp_path / "rows.parquet")
    source = FileSource("customer_rows", str(tmp_path / "rows.parquet"), timestamp="event_ts")
    return FeatureView(
        "customer_stats",
        entities=[customer],
        source=source,
        features=TYPES,
        ttl=dt.timedelta(hours=6),
    )


@pytest.fixture
def catalog(view: FeatureView) -> Catalog:
    return Catalog.from_definitions([view, amount_share])


ALL = [f"customer_stats:{name}" for name in TYPES]


def entity_frame() -> pd.DataFrame:
    """Rows out of time order, a duplicate, a missing customer, a stale one, a label."""
    return pd.DataFrame(
        {
            "customer_id": [1, 2, 1, 1, 9, 2],
            "event_timestamp": pd.to_datetime(
                [at(11), at(6), at(1), at(11), at(11), at(12)]
            ),  # tz-aware UTC
            "label": [1, 0, 1, 1, 0, 1],
        },
        index=[10, 11, 12, 13, 14, 15],
    )


# -- formats ---------------------------------------------------------------------------------


def test_pandas_in_and_out_keeps_rows_index_and_types(catalog: Catalog) -> None:
    entities = entity_frame()
    result = get_historical_features(entities, ALL, catalog=catalog)
    assert list(result.columns) == ["customer_id", "event_timestamp", "label", *TYPES]
    assert list(result.index) == [10, 11, 12, 13, 14, 15]
    assert list(result["label"]) == [1, 0, 1, 1, 0, 1]
    # Customer 2 at hour 12 is more than the TTL (6 h) after its hour-5 row: nulls.
    assert result["spend"].tolist()[:4] == [2.5, 3.5, 1.5, 2.5]
    assert result["spend"].isna().tolist() == [False, False, False, False, True, True]
    assert str(result["orders"].dtype) == "Int64"
    assert result["orders"].tolist()[:4] == [2, pd.NA, 1, 2]
    assert str(result["vip"].dtype) == "boolean"
    assert result["tier"].tolist()[:4] == ["silver", "bronze", "gold", "silver"]
    assert str(result["last_seen"].dtype) == "datetime64[us, UTC]"
    assert result["last_seen"].iloc[0] == pd.Timestamp(at(9))  # naive in the file: UTC
    assert str(result["score"].dtype) == "float32"
    assert str(result["visits"].dtype) == "Int32"
    assert result["event_timestamp"].equals(entities["event_timestamp"])


@pytest.mark.parametrize("kind", ["pandas", "polars", "arrow", "rows"])
@pytest.mark.parametrize("output", ["pandas", "polars", "arrow"])
def test_every_input_kind_gives_the_same_rows(catalog: Catalog, kind: str, output: str) -> None:
    frame = entity_frame().reset_index(drop=True)
    entities: Any = {
        "pandas": frame,
        "polars": pl.from_arrow(arrow_from_pandas(frame)),
        "arrow": arrow_from_pandas(frame),
        "rows": frame.to_dict("records"),
    }[kind]
    result = get_historical_features(entities, ALL, catalog=catalog, output=output)
    expected = get_historical_features(frame, ALL, catalog=catalog, output="arrow")
    if output == "pandas":
        assert isinstance(result, pd.DataFrame)
        table = arrow_from_pandas(result)
    elif output == "polars":
        assert isinstance(result, pl.DataFrame)
        assert result.schema["orders"] == pl.Int64 and result.schema["vip"] == pl.Boolean
        table = result.to_arrow()
    else:
        assert isinstance(result, pa.Table)
        table = result
    assert table.column_names == expected.column_names
    for name in TYPES:
        assert table.column(name).to_pylist() == expected.column(name).to_pylist(), name


def test_an_empty_frame_gives_typed_empty_columns(catalog: Catalog) -> None:
    empty = entity_frame().iloc[:0]
    result = get_historical_features(empty, ALL, catalog=catalog, output="arrow")
    assert result.num_rows == 0
    assert result.schema.field("orders").type == pa.int64()


# -- time ----------------------------------------------------------------------------------


def test_time_zones_naive_times_and_epoch_milliseconds(catalog: Catalog) -> None:
    utc = [at(11), at(6), at(1)]
    base = {"customer_id": [1, 2, 1]}
    paris = pd.DataFrame(base | {"event_timestamp": pd.to_datetime(utc).tz_convert("Europe/Paris")})
    naive = pd.DataFrame(base | {"event_timestamp": pd.to_datetime(utc).tz_localize(None)})
    millis = pd.DataFrame(base | {"event_timestamp": [int(t.timestamp() * 1000) for t in utc]})
    results = [
        get_historical_features(frame, ["customer_stats:spend"], catalog=catalog)["spend"].tolist()
        for frame in (paris, naive, millis)
    ]
    assert results == [[2.5, 3.5, 1.5]] * 3


def test_timestamps_that_are_not_times_are_refused(catalog: Catalog) -> None:
    frame = pd.DataFrame({"customer_id": [1], "event_timestamp": ["2024-05-01"]})
    with pytest.raises(ValidationError, match="must hold timestamps") as raised:
        get_historical_features(frame, ALL, catalog=catalog)
    assert raised.value.field == "event_timestamp"
    frame = pd.DataFrame({"customer_id": [1, 2], "event_timestamp": [at(1), None]})
    with pytest.raises(ValidationError, match="1 missing timestamps"):
        get_historical_features(frame, ALL, catalog=catalog)


def test_timestamp_column_can_be_named(catalog: Catalog) -> None:
    frame = entity_frame().rename(columns={"event_timestamp": "as_of"})
    result = get_historical_features(
        frame, ["customer_stats:spend"], catalog=catalog, timestamp_column="as_of"
    )
    assert result["spend"].tolist()[:2] == [2.5, 3.5]


# -- on-demand features --------------------------------------------------------------------


@on_demand_feature(
    sources=["customer_stats:spend", "customer_stats:orders"],
    request={"amount": "float64"},
    features={"amount_share": "float64", "big": "bool"},
)
def amount_share(rows: pd.DataFrame) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "amount_share": rows["amount"] / rows["spend"],
            "big": rows["amount"] > 2 * rows["orders"].astype("float64"),
        }
    )


def test_on_demand_features_from_joined_values_and_request(catalog: Catalog) -> None:
    frame = entity_frame().assign(amount=[5.0, 7.0, 3.0, 1.0, 1.0, 1.0])
    result = get_historical_features(
        frame, ["customer_stats:tier", "amount_share:amount_share"], catalog=catalog
    )
    # spend and orders are read for the on-demand feature only: not in the output.
    assert list(result.columns) == [*frame.columns, "tier", "amount_share"]
    assert result["amount_share"].tolist()[:4] == [2.0, 2.0, 2.0, 0.4]
    assert np.isnan(result["amount_share"].tolist()[4])
    both = get_historical_features(frame, ["amount_share:*"], catalog=catalog, output="arrow")
    # The function sees missing orders as NaN (its own astype), so they compare False.
    assert both.column("big").to_pylist() == [True, False, True, False, False, False]


def test_on_demand_needs_its_request_columns(catalog: Catalog) -> None:
    with pytest.raises(ValidationError, match="no column 'amount'") as raised:
        get_historical_features(entity_frame(), ["amount_share:big"], catalog=catalog)
    assert raised.value.field == "entity_rows"


@on_demand_feature(sources=["customer_stats:spend"], features={"half": "float64"})
def short_rows(rows: pd.DataFrame) -> pd.DataFrame:
    return pd.DataFrame({"half": rows["spend"].iloc[:1] / 2})


@on_demand_feature(sources=["customer_stats:spend"], features={"half": "int64"})
def wrong_type(rows: pd.DataFrame) -> pd.DataFrame:
    return pd.DataFrame({"half": rows["spend"] / 2})


def test_on_demand_results_are_checked(view: FeatureView) -> None:
    with pytest.raises(ValidationError, match="'short_rows' returned 1 rows for 6"):
        get_historical_features(
            entity_frame(),
            ["short_rows:half"],
            catalog=Catalog.from_definitions([view, short_rows]),
        )
    with pytest.raises(ValidationError, match="'wrong_type': column 'half' is not int64"):
        get_historical_features(
            entity_frame(),
            ["wrong_type:half"],
            catalog=Catalog.from_definitions([view, wrong_type]),
        )


# -- bad input -----------------------------------------------------------------------------


def test_bad_input_names_what_is_wrong(catalog: Catalog, view: FeatureView) -> None:
    frame = entity_frame()
    cases: list[tuple[Any, Any, dict[str, Any], str, str]] = [
        (frame.drop(columns="customer_id"), ALL, {}, "no column 'customer_id'", "entity_rows"),
        (frame.drop(columns="event_timestamp"), ALL, {}, "no column 'event_timestamp'",
         "entity_rows"),
        (frame, ["nope:spend"], {}, "'nope', which is neither a feature view", "features"),
        (frame, ["customer_stats:nope"], {}, "has no feature 'nope'", "features"),
        (frame, ["customer_stats"], {}, "is not a feature reference", "features"),
        (frame, ALL, {"output": "csv"}, "output must be one of", "output"),
        (frame.assign(tier="x"), ALL, {}, "a column 'tier', the name of a feature",
         "entity_rows"),
        (frame.assign(customer_id=frame["customer_id"].astype(str)), ALL, {},
         "join key 'customer_id' is .*string in entity_rows but INTEGER", "entity_rows"),
        ([], ALL, {}, "empty list", "entity_rows"),
        ("rows.csv", ALL, {}, "must be a pandas or Polars DataFrame", "entity_rows"),
        ([1, 2], ALL, {}, "one dict per row", "entity_rows"),
    ]  # fmt: skip
    for entities, features, options, message, field in cases:
        # An unknown view or feature is not found; the rest are invalid requests.
        with pytest.raises((ValidationError, NotFoundError), match=message) as raised:
            get_historical_features(entities, features, catalog=catalog, **options)
        assert raised.value.field == field, message


def test_same_feature_name_from_two_views_is_refused(view: FeatureView) -> None:
    other = FeatureView(
        "other_stats",
        entities=[customer],
        source=view.source,
        features={"spend": "float64"},
    )
    with pytest.raises(ValidationError, match="would both be the output column 'spend'"):
        get_historical_features(
            entity_frame(),
            ["customer_stats:spend", "other_stats:spend"],
            catalog=Catalog.from_definitions([view, other]),
        )


# -- the registry, saving, lineage ---------------------------------------------------------


def test_saved_training_set_carries_lineage_to_the_model(
    runtime: Runtime, view: FeatureView, tmp_path: Path
) -> None:
    from sklearn.linear_model import LogisticRegression

    service = FeatureService("churn", features=[view])
    mloop.features.apply([customer, view.source, view, service])
    frame = entity_frame()
    # The default catalog is the registry's; a service by name reads its features.
    with mloop.start_run() as producer:
        result = get_historical_features(frame, "churn", save_as="churn-training")
    assert list(result.columns) == [*frame.columns, *TYPES]
    saved = mloop.get_dataset("churn-training")
    assert saved.row_count == len(frame) and saved.run_id == producer.info.run_id
    lineage = training_lineage(saved)
    assert lineage is not None
    assert lineage["service"] == {"name": "churn", "version": 1}
    assert lineage["views"] == [
        {
            "name": "customer_stats",
            "version": 1,
            "source": {
                "source": "customer_rows",
                "kind": "file",
                "path": str(tmp_path / "rows.parquet"),
                "version": 1,
            },
        }
    ]
    assert lineage["as_known_then"] is False and lineage["entity_rows"] == len(frame)
    # A model trained from it: its run read the version, so the model reaches the lineage.
    with mloop.start_run() as training:
        data = mloop.get_dataset("churn-training").to_pandas()
        data = data[["spend", "score", "label"]].dropna()
        model = LogisticRegression().fit(data[["spend", "score"]], data["label"])
        info = mloop.sklearn.log_model(model, "model", input_example=data[["spend", "score"]])
    version = mloop.register_model(info.model_uri, "churn-model")
    client = mloop.Client()
    assert version.run_id is not None
    run = client.get_run(version.run_id)
    assert run.info.run_id == training.info.run_id
    (read,) = [i for i in run.inputs if i.name == "churn-training"]
    found = client.get_dataset_version_by_digest(read.name, read.digest)
    assert training_lineage(found) == lineage
    assert training_lineage(f"churn-training/{found.version}") == lineage


def test_save_training_set_reads_lineage_from_the_result(
    runtime: Runtime, catalog: Catalog
) -> None:
    result = get_historical_features(entity_frame(), ALL, catalog=catalog)
    assert lineage_of(result) is not None
    first = save_training_set(result.copy(), "customer-training")
    assert first.created and training_lineage(first)["features"] == ALL  # type: ignore[index]
    assert result.attrs  # the caller's frame keeps its lineage
    table = get_historical_features(entity_frame(), ALL, catalog=catalog, output="arrow")
    again = save_training_set(table, "customer-training")
    assert again.version == first.version  # the same content: the same version
    polars = get_historical_features(entity_frame(), ALL, catalog=catalog, output="polars")
    with pytest.raises(ValidationError, match="no feature lineage") as raised:
        save_training_set(polars, "customer-training")
    assert raised.value.field == "lineage"
    assert training_lineage(mloop.register_dataset("plain", table)) is None


def test_a_pinned_service_version_reads_the_views_it_pinned(
    runtime: Runtime, view: FeatureView
) -> None:
    mloop.features.apply([customer, view.source, view, FeatureService("churn", features=[view])])
    narrower = FeatureView(
        "customer_stats",
        entities=[customer],
        source=view.source,
        features={"spend": "float64"},
        ttl=dt.timedelta(hours=6),
    )
    mloop.features.apply(
        [customer, view.source, narrower, FeatureService("churn", features=[narrower])]
    )
    now = get_historical_features(entity_frame(), "churn", output="arrow")
    pinned = get_historical_features(entity_frame(), "churn:1", output="arrow")
    assert now.column_names[3:] == ["spend"]
    assert pinned.column_names[3:] == list(TYPES)
    assert pinned.column("spend").to_pylist() == now.column("spend").to_pylist()
