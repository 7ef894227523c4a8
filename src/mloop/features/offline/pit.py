"""The point-in-time join of entity rows with one view's feature rows, in DuckDB.

A feature row is eligible for an entity row with the same join keys when
``entity_ts - ttl <= feature_ts <= entity_ts`` (no TTL: no lower bound); the eligible row
with the latest event time wins, and among rows of the same event time the one with the
latest created time. A missing created time (no created column, or NULL) counts as the
event time.

- Default: an ``ASOF JOIN`` on one ordering key per row, the event time in the high 64 bits
  of a HUGEINT and the created time in the low 64, so the tie on event time is broken by
  the same sort that finds the latest row: no separate de-duplication pass. The entity
  side's key puts the largest created time after its event time, so a row with the entity's
  exact event time is found whatever its created time. TTL is then one comparison.
- As known then (``created <= entity_ts`` too): the latest row under two bounds is not an
  ASOF join. A range join on the keys and the time bounds, keeping the best row of each
  entity row with a window function: slower, and slower still without a TTL, when every
  older row of the key is a candidate. A view without created times has nothing to hide
  (a row was known at its event time) and takes the ASOF path.

The entity rows are an Arrow table registered in the connection with ``__mloop_row`` (their
position), the join keys and ``__mloop_ts``. The result comes back unordered with
``__mloop_row``; :func:`in_entity_order` scatters it into entity order (nulls where no row
was eligible), which is cheaper than an ``ORDER BY`` in the query.
"""

from __future__ import annotations

import duckdb
import numpy as np
import pyarrow as pa

from mloop.features.offline.read import CREATED, TS, ViewRows, run_sql
from mloop.features.offline.timestamps import quote

ROW = "__mloop_row"
_ORDER = "__mloop_order"
_KNOWN = "__mloop_known"
_HIGH = "CAST(18446744073709551616 AS HUGEINT)"  # 2**64: the event time's place
_LOW_OFFSET = "CAST(9223372036854775808 AS HUGEINT)"  # 2**63: created times as unsigned
_LOW_MAX = "CAST(18446744073709551615 AS HUGEINT)"  # 2**64 - 1: after every created time


def join_sql(
    rows: ViewRows,
    entities: str,
    *,
    as_known_then: bool,
    span: tuple[int, int] | None = None,
) -> str:
    """SQL of ``__mloop_row`` and the view's features for each entity row that has an
    eligible feature row. ``span``: the entity rows' earliest and latest times; feature
    rows no entity row can use are dropped before the join sorts them."""
    keys = [quote(k) for k in rows.view.join_keys]
    features = ", ".join(f"f.{quote(n)}" for n in rows.features)
    on = " AND ".join(f"e.{k} = f.{k}" for k in keys)
    ttl = rows.view.ttl
    ttl_micros = None if ttl is None else int(ttl.total_seconds()) * 1_000_000
    key_list = ", ".join(keys)
    feature_list = ", ".join(quote(n) for n in rows.features)
    window = ""
    if span is not None:
        window = f" WHERE {TS} <= {span[1]}"
        if ttl_micros is not None:
            window += f" AND {TS} >= {span[0] - ttl_micros}"
    if as_known_then and rows.has_created:
        bounds = [f"f.{TS} <= e.{TS}", f"f.{_KNOWN} <= e.{TS}"]
        if ttl_micros is not None:
            bounds.append(f"f.{TS} >= e.{TS} - {ttl_micros}")
        return (
            f"WITH f AS (SELECT {key_list}, {TS}, coalesce({CREATED}, {TS}) AS {_KNOWN}, "
            f"{feature_list} FROM ({rows.sql}){window}), "
            f"e AS (SELECT {ROW}, {key_list}, {TS} FROM {entities}) "
            f"SELECT e.{ROW}, {features} FROM e JOIN f ON {on} AND {' AND '.join(bounds)} "
            f"QUALIFY row_number() OVER "
            f"(PARTITION BY e.{ROW} ORDER BY f.{TS} DESC, f.{_KNOWN} DESC) = 1"
        )
    if rows.has_created:
        feature_order = (
            f"CAST({TS} AS HUGEINT) * {_HIGH} + "
            f"(CAST(coalesce({CREATED}, {TS}) AS HUGEINT) + {_LOW_OFFSET})"
        )
        entity_order = f"CAST({TS} AS HUGEINT) * {_HIGH} + {_LOW_MAX}"
    else:
        feature_order = entity_order = TS
    where = "" if ttl_micros is None else f" WHERE f.{TS} >= e.{TS} - {ttl_micros}"
    return (
        f"WITH f AS (SELECT {key_list}, {TS}, {feature_order} AS {_ORDER}, {feature_list} "
        f"FROM ({rows.sql}){window}), "
        f"e AS (SELECT {ROW}, {key_list}, {TS}, {entity_order} AS {_ORDER} FROM {entities}) "
        f"SELECT e.{ROW}, {features} FROM e ASOF JOIN f ON {on} AND e.{_ORDER} >= f.{_ORDER}"
        f"{where}"
    )


def in_entity_order(found: pa.Table, count: int, names: list[str]) -> pa.Table:
    """The ``names`` columns of ``found`` (rows tagged with ``__mloop_row``) at their entity
    rows' positions, nulls at the positions that found nothing."""
    rows = found.column(ROW).to_numpy()
    position = np.full(count, -1, dtype=np.int64)
    position[rows] = np.arange(len(rows), dtype=np.int64)
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
