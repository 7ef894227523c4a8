"""The point-in-time join of entity rows with one view's feature rows, in DuckDB.

A feature row is eligible for an entity row with the same join keys when
``entity_ts - ttl <= feature_ts <= entity_ts`` (no TTL: no lower bound); the eligible row
with the latest event time wins, and among rows of the same event time the one with the
latest created time. A missing created time (no created column, or NULL) counts as the
event time.

- Default, in two steps. An ``ASOF JOIN`` on the join keys and event times alone finds,
  for each entity row, the latest event time at or before it (whichever tied version it
  lands on, the time is the same), and TTL is one comparison on it. The matched (keys,
  event time) then join back to the feature rows, bringing every version of that event
  time with its known time (created, or the event time); :func:`point_in_time` keeps the
  one known last. The sort the ASOF join needs carries two or three narrow columns, not
  the features, and the versions are only compared where an entity row landed. The view's
  rows are read twice where that is cheap (Parquet, whose first read takes two columns;
  Arrow tables in memory), and kept once otherwise (CSV, DuckDB SQL, a SQL transform:
  work not to do twice, and a query that need not give the same rows twice).
- As known then (``created <= entity_ts`` too): the latest row under two bounds is not an
  ASOF join. A range join on the keys and the time bounds, keeping the best row of each
  entity row with a window function: slower, and slower still without a TTL, when every
  older row of the key is a candidate. A view without created times has nothing to hide
  (a row was known at its event time) and takes the ASOF path.

The entity rows are an Arrow table registered in the connection with ``__mloop_row`` (their
position), the join keys and ``__mloop_ts``. The result comes back unordered with
``__mloop_row`` and ``__mloop_known``; :func:`in_entity_order` keeps each entity row's
version known last and scatters it into entity order (nulls where no row was eligible),
which is cheaper than a window function and an ``ORDER BY`` in the query.
"""

from __future__ import annotations

import duckdb
import numpy as np
import pyarrow as pa

from mloop.features.offline.read import CREATED, TS, ViewRows, file_format, run_sql
from mloop.features.offline.timestamps import quote

ROW = "__mloop_row"
KNOWN = "__mloop_known"


def join_sql(
    rows: ViewRows,
    entities: str,
    *,
    as_known_then: bool,
    span: tuple[int, int] | None = None,
) -> str:
    """SQL of ``__mloop_row``, ``__mloop_known`` and the view's features for each entity
    row that has an eligible feature row: one row per tied version of the winning event
    time (see :func:`in_entity_order`). ``span``: the entity rows' earliest and latest
    times; feature rows no entity row can use are dropped before the join sorts them."""
    keys = [quote(k) for k in rows.view.join_keys]
    key_list = ", ".join(keys)
    feature_list = ", ".join(quote(n) for n in rows.features)
    ttl = rows.view.ttl
    ttl_micros = None if ttl is None else int(ttl.total_seconds()) * 1_000_000
    window = ""
    if span is not None:
        window = f" WHERE {TS} <= {span[1]}"
        if ttl_micros is not None:
            window += f" AND {TS} >= {span[0] - ttl_micros}"
    feature_rows = (
        f"(SELECT {key_list}, {TS}, coalesce({CREATED}, {TS}) AS {KNOWN}, "
        f"{feature_list} FROM ({rows.sql}){window})"
    )
    if as_known_then and rows.has_created:
        on = " AND ".join(f"e.{k} = f.{k}" for k in keys)
        bounds = [f"f.{TS} <= e.{TS}", f"f.{KNOWN} <= e.{TS}"]
        if ttl_micros is not None:
            bounds.append(f"f.{TS} >= e.{TS} - {ttl_micros}")
        features = ", ".join(f"f.{quote(n)}" for n in rows.features)
        return (
            f"WITH f AS {feature_rows}, "
            f"e AS (SELECT {ROW}, {key_list}, {TS} FROM {entities}) "
            f"SELECT e.{ROW}, f.{KNOWN}, {features} FROM e JOIN f ON {on} AND "
            f"{' AND '.join(bounds)} QUALIFY row_number() OVER "
            f"(PARTITION BY e.{ROW} ORDER BY f.{TS} DESC, f.{KNOWN} DESC) = 1"
        )
    # The two steps read f twice: read it again, or keep it (DuckDB's default).
    kept = "NOT MATERIALIZED" if _cheap_to_reread(rows) else "MATERIALIZED"
    on = " AND ".join(f"e.{k} = t.{k}" for k in keys)
    ttl_bound = "" if ttl_micros is None else f" WHERE t.{TS} >= e.{TS} - {ttl_micros}"
    back = " AND ".join(f"f.{k} = m.{k}" for k in [*keys, TS])
    features = ", ".join(f"f.{quote(n)}" for n in rows.features)
    return (
        f"WITH f AS {kept} {feature_rows}, "
        f"e AS (SELECT {ROW}, {key_list}, {TS} FROM {entities}), "
        f"m AS (SELECT e.{ROW}, {', '.join(f't.{k}' for k in keys)}, t.{TS} "
        f"FROM e ASOF JOIN (SELECT {key_list}, {TS} FROM f) AS t "
        f"ON {on} AND e.{TS} >= t.{TS}{ttl_bound}) "
        f"SELECT m.{ROW}, f.{KNOWN}, {features} FROM m JOIN f ON {back}"
    )


def _cheap_to_reread(rows: ViewRows) -> bool:
    """Whether the view's rows cost less read twice than kept in memory: a Parquet file or
    dataset version, or the Arrow table a Python transform or a PostgreSQL source was
    read into."""
    view = rows.view
    if view.transform_sql is not None:
        return False
    if view.transform is not None:
        return True
    source = view.source
    if source.kind == "file":
        return file_format(source.path or "", source.file_format) == "parquet"
    return source.kind in ("dataset", "postgres")


def in_entity_order(found: pa.Table, count: int, names: list[str]) -> pa.Table:
    """The ``names`` columns of ``found`` at their entity rows' positions (``__mloop_row``),
    nulls at the positions that found nothing. Where an entity row has several rows, the
    one with the largest ``__mloop_known`` wins; among equal ones, any (their order is not
    defined)."""
    rows = found.column(ROW).to_numpy()
    known = found.column(KNOWN).to_numpy()
    # Two O(n) passes instead of a sort: each entity row's newest known time, then the
    # position of a row that has it.
    newest = np.full(count, np.iinfo(np.int64).min, dtype=np.int64)
    np.maximum.at(newest, rows, known)
    position = np.full(count, -1, dtype=np.int64)
    np.maximum.at(
        position,
        rows,
        np.where(known == newest[rows], np.arange(len(rows), dtype=np.int64), -1),
    )
    indices = pa.array(position, mask=position < 0)
    return found.select(names).take(indices)


def point_in_time(
    con: duckdb.DuckDBPyConnection,
    rows: ViewRows,
    entities: str,
    count: int,
    *,
    as_known_then: bool,
    span: tuple[int, int] | None = None,
) -> pa.Table:
    """The view's features for each of the ``count`` entity rows, in their order."""
    sql = join_sql(rows, entities, as_known_then=as_known_then, span=span)
    found = run_sql(con, sql, f"feature view {rows.view.name!r}")
    return in_entity_order(found, count, rows.features)
