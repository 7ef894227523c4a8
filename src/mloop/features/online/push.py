"""Pushes: fresh rows of a feature view written straight to the online store (streaming).

A pushed row is checked like a materialized one but strictly: it has the view's join keys,
``event_timestamp``, optionally ``created``, and every feature of the view (a row replaces
its key's stored row, so a partial row would erase the features it leaves out); an
unknown column is an error. Only the newest row of each key is kept, against the stored
one too. A push does not move the view's watermark: that marks how far the offline rows
were copied, and moving it would make the next incremental materialization skip them.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from mloop.core.errors import ValidationError
from mloop.features.catalog import View
from mloop.features.online.rows import (
    arrow_to_rows,
    newest_per_key,
    records_to_rows,
    to_arrow,
)
from mloop.features.online.store import KeyKind, OnlineStore, Row

MAX_PUSH_ROWS = 100_000


def check_key_kinds(
    store: OnlineStore, view: View, kinds: list[KeyKind] | None, field: str = "rows"
) -> None:
    """Record the kinds of a view's keys on its first write; refuse other kinds later."""
    if kinds is None:
        return
    held = store.key_kinds(view.name)
    if held is None:
        store.set_key_kinds(view.name, kinds)
    elif held != kinds:
        raise ValidationError(
            f"feature view {view.name!r}: the online store holds keys of kinds "
            f"{dict(zip(view.join_keys, held, strict=False))}, these rows have "
            f"{dict(zip(view.join_keys, kinds, strict=False))}; delete the view's online "
            "rows to change a key's type",
            field=field,
        )


def push_rows(store: OnlineStore, view: View, data: Any) -> tuple[int, int]:
    """Write ``data`` (mappings, or a pandas, Polars or Arrow frame) to ``view``'s online
    rows; (rows given, rows kept)."""
    if not view.spec.online:
        raise ValidationError(
            f"feature view {view.name!r} is not served online (online=False)", field="view"
        )
    rows: list[Row]
    kinds: list[KeyKind] | None
    table = to_arrow(data)
    if table is not None:
        given = table.num_rows
        _check_size(given)
        rows, kinds = arrow_to_rows(view, table, strict=True)  # the newest per key
    else:
        if isinstance(data, Mapping) or not hasattr(data, "__iter__"):
            raise ValidationError(
                "rows must be a list of mappings (one per row) or a pandas, Polars or Arrow "
                f"frame, got {type(data).__name__}",
                field="rows",
            )
        records = list(data)
        given = len(records)
        _check_size(given)
        rows, kinds = records_to_rows(view, records)
        rows = newest_per_key(rows)
    if not rows:
        return given, 0
    check_key_kinds(store, view, kinds)
    return given, store.write(view.name, rows)


def _check_size(rows: int) -> None:
    if rows > MAX_PUSH_ROWS:
        raise ValidationError(
            f"{rows} rows in one push; at most {MAX_PUSH_ROWS:,}: push in parts, or "
            "materialize from the view's source",
            field="rows",
        )
