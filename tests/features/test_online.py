"""The online store through ``FeatureStore``, the same behaviour on SQLite and on the real
Redis at 127.0.0.1:6379 (which fails under CI=true when missing, skips elsewhere): pushes,
newest row per key (ties by created time, older writes ignored), TTL enforced at read
with statuses and freshness, on-demand features with request data, materialization full
and incremental from a stand-in row reader, and bad input named by field."""

from __future__ import annotations

import datetime as dt
import random
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pytest

import mloop
from mloop.core.errors import NotFoundError, ValidationError
from mloop.features import (
    Entity,
    FeatureStore,
    FeatureView,
    FileSource,
    on_demand_feature,
)
from mloop.features.online.materialize import MaterializeProgress
from mloop.features.online.reads import MAX_ENTITY_ROWS
from mloop.features.online.store import OnlineStore, open_online_store
from mloop.store.runtime import Runtime
from tests.conftest import port_open, require_service

REDIS_URL = "redis://127.0.0.1:6379/0"
NOW = dt.datetime.now(dt.UTC)

customer = Entity("customer", join_keys=["customer_id"])
shop_item = Entity("shop_item", join_keys=["shop", "item"])
orders = FileSource("orders", "orders.parquet", timestamp="event_ts", created="written")
spend = FeatureView(
    "spend",
    entities=[customer],
    source=orders,
    features={"total": "float64", "count": "int64", "tier": "string", "seen": "timestamp"},
    ttl=dt.timedelta(days=7),
)
profile = FeatureView(
    "profile", entities=[customer], source=orders, features={"age": "int64", "vip": "bool"}
)
stock = FeatureView(
    "stock", entities=[shop_item], source=orders, features={"units": "int64"}, ttl=3600
)


@on_demand_feature(
    sources=["spend:total"], request={"amount": "float64"}, features={"share": "float64"}
)
def share(rows: pd.DataFrame) -> pd.DataFrame:
    return pd.DataFrame({"share": rows["amount"] / rows["total"]})


DEFINITIONS = [customer, shop_item, orders, spend, profile, stock, share]


@pytest.fixture(params=["sqlite", "redis"])
def online(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[OnlineStore]:
    """An empty online store of each backend (Redis under a prefix of its own)."""
    if request.param == "sqlite":
        store = open_online_store(str(tmp_path / "online.db"))
        yield store
        store.close()
        return
    require_service(port_open("127.0.0.1", 6379), "Redis at 127.0.0.1:6379")
    prefix = f"mloop-test-{uuid.uuid4().hex[:10]}"
    store = open_online_store(f"{REDIS_URL}?key_prefix={prefix}")
    yield store
    import redis

    client = redis.Redis.from_url(REDIS_URL)
    for key in client.scan_iter(match=f"{prefix}*"):
        client.delete(key)
    client.close()
    store.close()


@pytest.fixture
def fs(runtime: Runtime, online: OnlineStore) -> FeatureStore:
    return FeatureStore(online, definitions=DEFINITIONS)


def ago(**delta: float) -> dt.datetime:
    return NOW - dt.timedelta(**delta)


def spend_row(customer_id: int, when: Any, total: Any, **more: Any) -> dict[str, Any]:
    return {
        "customer_id": customer_id,
        "event_timestamp": when,
        "total": total,
        "count": 3,
        "tier": "gold",
        "seen": dt.datetime(2024, 5, 1, 12, tzinfo=dt.UTC),
        **more,
    }


def test_read_enforces_ttl_with_statuses_and_freshness(fs: FeatureStore) -> None:
    assert fs.push("spend", [spend_row(1, ago(hours=1), 10.0), spend_row(2, ago(days=8), 20.0)])
    fs.push(
        "profile", [{"customer_id": 2, "event_timestamp": ago(days=400), "age": 41, "vip": True}]
    )
    found = fs.get_online_features(
        ["spend:total", "spend:seen", "profile:age"],
        [{"customer_id": 1}, {"customer_id": 2}, {"customer_id": 3}, {"customer_id": 1}],
        include_freshness=True,
    )
    assert found.columns == ["total", "seen", "age"]
    assert found.rows == [
        {
            "customer_id": 1,
            "total": 10.0,
            "seen": dt.datetime(2024, 5, 1, 12, tzinfo=dt.UTC),
            "age": None,
        },
        {"customer_id": 2, "total": None, "seen": None, "age": 41},  # spend older than 7 days
        {"customer_id": 3, "total": None, "seen": None, "age": None},
        {
            "customer_id": 1,
            "total": 10.0,
            "seen": dt.datetime(2024, 5, 1, 12, tzinfo=dt.UTC),
            "age": None,
        },
    ]
    assert found.statuses[:3] == [
        {"total": "present", "seen": "present", "age": "missing"},
        {"total": "expired", "seen": "expired", "age": "present"},  # profile has no TTL
        {"total": "missing", "seen": "missing", "age": "missing"},
    ]
    assert found.freshness is not None
    # Rows are stamped relative to NOW, taken when this module was imported: the age also
    # counts the time since then (minutes, on a busy machine running tests in parallel).
    since_import = (dt.datetime.now(dt.UTC) - NOW).total_seconds()
    assert 3600 <= found.freshness[0]["total"] <= 3600 + since_import + 1  # type: ignore[operator]
    assert found.freshness[0]["age"] is None
    spend_age = found.freshness[1]["total"]
    assert 8 * 86400 <= spend_age <= 8 * 86400 + since_import + 1  # type: ignore[operator]
    assert found.to_dict()["total"] == [10.0, None, None, 10.0]
    assert fs.get_online_features(["spend:total"], [{"customer_id": 1}]).freshness is None


def test_newest_row_per_key_wins_ties_by_created_and_older_writes_do_nothing(
    fs: FeatureStore,
) -> None:
    t = ago(hours=2)

    def total() -> float:
        return fs.get_online_features(["spend:total"], [{"customer_id": 1}]).rows[0]["total"]

    assert fs.push("spend", [spend_row(1, t, 1.0)]) == 1
    assert fs.push("spend", [spend_row(1, t - dt.timedelta(seconds=1), 2.0)]) == 0
    assert total() == 1.0
    # Same event time: a created time beats none, a later created time beats an earlier.
    assert fs.push("spend", [spend_row(1, t, 3.0, created=ago(minutes=30))]) == 1
    assert fs.push("spend", [spend_row(1, t, 4.0, created=ago(minutes=40))]) == 0
    assert fs.push("spend", [spend_row(1, t, 5.0)]) == 0
    assert total() == 3.0
    # Within one push the newest row of a key is kept, whatever the order given.
    rows = [
        spend_row(1, t + dt.timedelta(minutes=5), 7.0, created=ago(minutes=1)),
        spend_row(1, t + dt.timedelta(minutes=5), 6.0, created=ago(minutes=2)),
        spend_row(1, t + dt.timedelta(minutes=1), 8.0),
    ]
    assert fs.push("spend", rows) == 1
    assert total() == 7.0
    assert fs.push("spend", [spend_row(1, ago(minutes=1), 9.0)]) == 1
    assert total() == 9.0


def test_composite_keys_and_frames(fs: FeatureStore) -> None:
    rows = pd.DataFrame(
        {
            "shop": ["berlin", "berlin", "paris"],
            "item": [1, 2, 1],
            "event_timestamp": pd.to_datetime([ago(minutes=5)] * 3),
            "units": [5, 7, 9],
        }
    )
    assert fs.push("stock", rows) == 3
    entities = pd.DataFrame({"shop": ["paris", "berlin", "paris"], "item": [1, 2, 2]})
    found = fs.get_online_features(["stock:units"], entities)
    assert [r["units"] for r in found.rows] == [9, 7, None]
    assert found.to_pandas()["shop"].tolist() == ["paris", "berlin", "paris"]
    import polars as pl

    fs.push(
        "stock",
        pl.DataFrame({"shop": ["paris"], "item": [2], "event_timestamp": [NOW], "units": [1]}),
    )
    assert (
        fs.get_online_features(["stock:units"], {"shop": ["paris"], "item": [2]}).rows[0]["units"]
        == 1
    )
    # The keys' kinds are fixed by the first write: a string item is refused, not missed.
    with pytest.raises(ValidationError) as raised:
        fs.get_online_features(["stock:units"], [{"shop": "paris", "item": "2"}])
    assert raised.value.field == "entity_rows[0].item"
    with pytest.raises(ValidationError, match="holds keys of kinds"):
        fs.push("stock", [{"shop": "x", "item": "2", "event_timestamp": NOW, "units": 1}])


def test_on_demand_features_use_request_data(fs: FeatureStore) -> None:
    fs.push("spend", [spend_row(1, ago(hours=1), 50.0), spend_row(2, ago(days=30), 80.0)])
    found = fs.get_online_features(
        ["share:share", "spend:tier"],
        [{"customer_id": 1, "amount": 5.0}, {"customer_id": 2, "amount": 8.0}],
    )
    assert found.columns == ["share", "tier"]
    assert found.rows[0] == {"customer_id": 1, "share": 0.1, "tier": "gold"}  # total read, hidden
    assert found.rows[1] == {"customer_id": 2, "share": None, "tier": None}  # total expired
    assert found.statuses[1] == {"share": "missing", "tier": "expired"}
    given = fs.get_online_features(
        ["share:share"], [{"customer_id": 1}], request_data={"amount": [25.0]}
    )
    assert given.rows[0]["share"] == 0.5
    listed = fs.get_online_features(
        ["share:share"], [{"customer_id": 1}], request_data=[{"amount": 10}]
    )
    assert listed.rows[0]["share"] == 0.2
    with pytest.raises(ValidationError) as raised:
        fs.get_online_features(["share:share"], [{"customer_id": 1}])
    assert raised.value.field == "entity_rows[0].amount"
    with pytest.raises(ValidationError) as raised:
        fs.get_online_features(
            ["share:share"], [{"customer_id": 1}], request_data=[{"amount": "ten"}]
        )
    assert raised.value.field == "request_data[0].amount" and "float64" in raised.value.message


def test_bad_input_is_named(fs: FeatureStore) -> None:
    fs.push("spend", [spend_row(1, ago(hours=1), 1.0)])
    cases: list[tuple[Callable[[], Any], str, str]] = [
        (
            lambda: fs.get_online_features(["nope:total"], [{"customer_id": 1}]),
            "features",
            "no feature view or on-demand feature",
        ),
        (
            lambda: fs.get_online_features(["spend:nope"], [{"customer_id": 1}]),
            "features",
            "has no feature 'nope'",
        ),
        (
            lambda: fs.get_online_features(["spend:total"], [{"id": 1}]),
            "entity_rows[0].customer_id",
            "no join key",
        ),
        (
            lambda: fs.get_online_features(["spend:total"], [{"customer_id": 1.5}]),
            "entity_rows[0].customer_id",
            "integer or a string",
        ),
        (
            lambda: fs.get_online_features(["spend:total"], [{"customer_id": "1"}]),
            "entity_rows[0].customer_id",
            "keyed by an integer",
        ),
        (
            lambda: fs.get_online_features(
                ["spend:total"], [{"customer_id": 1}] * (MAX_ENTITY_ROWS + 1)
            ),
            "entity_rows",
            "split the request",
        ),
        (lambda: fs.get_online_features(["spend:total"], 7), "entity_rows", "list of mappings"),
        (
            lambda: fs.push("spend", [{**spend_row(1, NOW, 1.0), "event_timestamp": None}]),
            "rows[0].event_timestamp",
            "no 'event_timestamp'",
        ),
        (
            lambda: fs.push(
                "spend", [{k: v for k, v in spend_row(1, NOW, 1.0).items() if k != "count"}]
            ),
            "rows[0].count",
            "every feature",
        ),
        (
            lambda: fs.push("spend", [spend_row(1, NOW, 1.0, color="red")]),
            "rows[0].color",
            "not a join key or a feature",
        ),
        (
            lambda: fs.push("spend", [spend_row(1, NOW, "lots")]),
            "rows[0].total",
            "expected float64",
        ),
        (
            lambda: fs.push("spend", [spend_row(1, NOW, 1.0, count=2.5)]),
            "rows[0].count",
            "expected int64",
        ),
        (
            lambda: fs.push("spend", [spend_row(1, "yesterday", 1.0)]),
            "rows[0].event_timestamp",
            "ISO 8601",
        ),
        (lambda: fs.push("nope", [spend_row(1, NOW, 1.0)]), "view", "does not exist"),
        (
            lambda: fs.push("spend", pd.DataFrame({"customer_id": [1], "total": [1.0]})),
            "rows.event_timestamp",
            "no column",
        ),
        (
            lambda: fs.push("spend", pd.DataFrame([spend_row(1, NOW, 1.0, count="x")])),
            "rows.count",
            "int64",
        ),
    ]
    for call, field, words in cases:
        with pytest.raises((ValidationError, NotFoundError)) as raised:
            call()
        assert raised.value.field == field, (field, raised.value.message)
        assert words in raised.value.message, raised.value.message
    # Nothing bad was half-written.
    assert fs.get_online_features(["spend:total"], [{"customer_id": 1}]).rows[0]["total"] == 1.0


class StandInRows:
    """The offline store's ``read_view_rows`` for tests: rows held per view, with every
    call recorded (since, until, rows given)."""

    def __init__(self) -> None:
        self.rows: dict[str, list[dict[str, Any]]] = {}
        self.calls: list[tuple[str, dt.datetime | None, dt.datetime | None, int]] = []

    def __call__(
        self, view: Any, *, since: dt.datetime | None = None, until: dt.datetime | None = None
    ) -> pa.RecordBatchReader:
        rows = [
            r
            for r in self.rows.get(view.name, [])
            if (since is None or r["event_timestamp"] >= since)
            and (until is None or r["event_timestamp"] < until)
        ]
        self.calls.append((view.name, since, until, len(rows)))
        fields = [(k, pa.int64()) for k in view.join_keys]
        fields += [
            ("event_timestamp", pa.timestamp("us", tz="UTC")),
            ("created", pa.timestamp("us", tz="UTC")),
        ]
        types = {
            "float64": pa.float64(),
            "int64": pa.int64(),
            "string": pa.string(),
            "bool": pa.bool_(),
            "timestamp": pa.timestamp("us", tz="UTC"),
        }
        fields += [(n, types[t]) for n, t in view.feature_types.items()]
        schema = pa.schema(fields)
        table = pa.Table.from_pylist([{"created": None, **r} for r in rows], schema=schema)
        return pa.RecordBatchReader.from_batches(schema, table.to_batches(max_chunksize=3))


def test_materialize_full_then_incremental_from_the_watermark(fs: FeatureStore) -> None:
    source = StandInRows()
    source.rows["spend"] = [spend_row(i % 4, ago(hours=10 - i), float(i)) for i in range(10)]
    source.rows["profile"] = [
        {"customer_id": 1, "event_timestamp": ago(days=2), "age": 30, "vip": False}
    ]
    events: list[MaterializeProgress] = []
    done = fs.materialize(reader=source, progress=events.append)
    assert [(m.view, m.full, m.rows_read) for m in done] == [
        ("profile", True, 1),
        ("spend", True, 10),
        ("stock", True, 0),
    ]
    spend_run = done[1]
    assert spend_run.rows_written <= 10
    assert spend_run.watermark is not None
    assert abs((spend_run.watermark - ago(hours=1)).total_seconds()) < 1
    assert [e.done for e in events if e.view == "spend"][-1] is True
    assert max(e.rows_read for e in events if e.view == "spend") == 10
    totals = fs.get_online_features(["spend:total"], [{"customer_id": k} for k in range(4)])
    assert [r["total"] for r in totals.rows] == [8.0, 9.0, 6.0, 7.0]  # each key's newest
    marks = mloop.Client().call("list_materializations", view="spend").materializations
    assert marks[0].watermark == int(spend_run.watermark.timestamp() * 1000)
    assert marks[0].view_version == 0 and marks[0].rows == spend_run.rows_written

    # New rows: one after the watermark, one late row older than it (not read again), and
    # one with a time in the future (waits for its time: end defaults to now).
    source.rows["spend"] += [
        spend_row(1, ago(minutes=30), 100.0),
        spend_row(2, ago(hours=20), 200.0),
        spend_row(3, NOW + dt.timedelta(hours=1), 300.0),
    ]
    source.calls.clear()
    again = fs.materialize(["spend"], reader=source)
    assert [(m.view, m.full) for m in again] == [("spend", False)]
    ((_, since, until, given),) = source.calls
    assert since == spend_run.watermark and until is not None and until <= dt.datetime.now(dt.UTC)
    assert given == 2  # the row at the watermark and the new one
    assert again[0].rows_read == 2
    totals = fs.get_online_features(["spend:total"], [{"customer_id": k} for k in range(4)])
    assert [r["total"] for r in totals.rows] == [8.0, 100.0, 6.0, 7.0]

    # A full run reads everything again; older rows do not replace newer ones.
    full = fs.materialize(
        ["spend"], incremental=False, end=NOW + dt.timedelta(hours=2), reader=source
    )
    assert full[0].full and full[0].rows_read == 13
    totals = fs.get_online_features(["spend:total"], [{"customer_id": k} for k in range(4)])
    assert [r["total"] for r in totals.rows] == [8.0, 100.0, 6.0, 300.0]

    # Deleting a view's online rows resets its watermark: the next run is full.
    assert fs.delete_online("spend") == 4
    assert (
        fs.get_online_features(["spend:total"], [{"customer_id": 1}]).statuses[0]["total"]
        == "missing"
    )
    after = fs.materialize(["spend"], reader=source)
    assert after[0].full and after[0].rows_read == 12


def test_materialize_refuses_views_not_online_and_bad_times(
    fs: FeatureStore, online: OnlineStore
) -> None:
    hidden = FeatureView(
        "hidden", entities=[customer], source=orders, features={"x": "int64"}, online=False
    )
    store = FeatureStore(online, definitions=[*DEFINITIONS, hidden])
    with pytest.raises(ValidationError, match="not served online"):
        store.materialize(["hidden"], reader=StandInRows())
    assert [m.view for m in store.materialize(reader=StandInRows())] == [
        "profile",
        "spend",
        "stock",
    ]
    with pytest.raises(ValidationError, match="must be before end"):
        store.materialize(start=NOW, end=ago(days=1), reader=StandInRows())
    with pytest.raises(NotFoundError):
        store.materialize(["nope"], reader=StandInRows())


def test_materialize_reads_the_source_in_batches(
    fs: FeatureStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Through the offline store's reader: a Parquet source, written in batches of 7 rows."""
    monkeypatch.chdir(tmp_path)
    frame = pd.DataFrame(
        {
            "customer_id": [i % 5 for i in range(40)],
            "event_ts": [ago(hours=40 - i) for i in range(40)],
            "written": [ago(hours=40 - i) for i in range(40)],
            "total": [float(i) for i in range(40)],
            "count": list(range(40)),
            "tier": ["gold" if i % 2 else "silver" for i in range(40)],
            "seen": [ago(days=i) for i in range(40)],
            "age": list(range(40)),
            "vip": [i % 3 == 0 for i in range(40)],
            "units": list(range(40)),
        }
    )
    frame.to_parquet(tmp_path / "orders.parquet")
    events: list[MaterializeProgress] = []
    done = fs.materialize(["spend", "profile"], progress=events.append, batch_rows=7)
    assert [(m.view, m.rows_read) for m in done] == [("spend", 40), ("profile", 40)]
    # One event per batch read (ceil(40 / 7)), one per batch written (5 keys), one when done.
    assert [(e.rows_read, e.rows_written, e.done) for e in events if e.view == "spend"] == [
        *((read, 0, False) for read in (7, 14, 21, 28, 35, 40)),
        (40, 5, False),
        (40, 5, True),
    ]
    found = fs.get_online_features(
        ["spend:total", "spend:tier", "profile:vip"], [{"customer_id": 3}]
    )
    assert found.rows[0] == {"customer_id": 3, "total": 38.0, "tier": "silver", "vip": False}


def test_materialize_writes_each_key_once_with_its_newest_row(
    fs: FeatureStore, online: OnlineStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Many batches with every key in most of them, in no order: each key is written once,
    with its newest row over the whole read (event time, then created time, a missing one
    the oldest; of rows equal in both, the one read last)."""
    draw = random.Random(15)
    times = [ago(hours=h) for h in (5, 4, 3)]
    made = [None, ago(minutes=3), ago(minutes=2)]
    rows = [
        spend_row(draw.randrange(30), draw.choice(times), float(i), created=draw.choice(made))
        for i in range(600)
    ]
    rows.append({**_newest(rows)[7], "total": -1.0})  # equal to key 7's newest, read last
    expected = _newest(rows)
    assert expected[7]["total"] == -1.0 and len(expected) == 30
    source = StandInRows()
    source.rows["spend"] = rows
    written: list[bytes] = []
    write = online.write

    def spy(view: str, batch: Any) -> int:
        written.extend(r.key for r in batch)
        return write(view, batch)

    monkeypatch.setattr(online, "write", spy)
    (run,) = fs.materialize(["spend"], reader=source, batch_rows=16)
    assert run.rows_read == len(rows)
    assert len(written) == len(set(written)) == 30 and run.rows_written == 30
    ids = sorted(expected)
    found = fs.get_online_features(
        ["spend:total", "spend:count"], [{"customer_id": i} for i in ids]
    )
    assert [r["total"] for r in found.rows] == [expected[i]["total"] for i in ids]
    assert run.watermark is not None
    assert abs((run.watermark - times[-1]).total_seconds()) < 0.001


def _newest(rows: list[dict[str, Any]]) -> dict[int, dict[str, Any]]:
    """Brute force: each customer's newest row, in the order given (the last of equals)."""
    oldest = dt.datetime.min.replace(tzinfo=dt.UTC)
    best: dict[int, dict[str, Any]] = {}
    for row in rows:
        held = best.get(row["customer_id"])
        order = (row["event_timestamp"], row.get("created") or oldest)
        if held is None or order >= (held["event_timestamp"], held.get("created") or oldest):
            best[row["customer_id"]] = row
    return best
