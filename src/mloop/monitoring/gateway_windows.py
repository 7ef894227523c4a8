"""One window of the LLM gateway's call log as a stream of record batches.

A gateway monitor watches the calls an LLM feature makes (a route, a prompt, a served
model, or all of them): latency, tokens, cost, which model answered, how often it failed,
was blocked or came from the cache. A window is the calls that arrived in it, read from
``llm_calls`` by time (the table's time index) in batches, so memory stays flat. Watched
columns are the call log's own (:data:`~mloop.monitoring.schemas.GATEWAY_COLUMNS`) or,
for any other name, the value the caller put in the call's ``metadata`` under that name
(a user segment, a feature flag): that is how a bias audit or drift check reaches
attributes the gateway itself does not know.

Each batch also carries the columns :class:`~mloop.monitoring.gateway_metrics.CallStats`
needs (status, latency, tokens, cost, cache, fallbacks), whether watched or not, and the
output columns of an endpoint's window, null: a call has no prediction or label.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import orjson
import pyarrow as pa
from sqlalchemy import Column, select

from mloop.core.errors import ValidationError
from mloop.llm.calls.tables import llm_calls
from mloop.monitoring.schemas import GATEWAY_COLUMNS, ColumnKind, GatewayTarget
from mloop.store.context import Context

BATCH_ROWS = 65_536
_ARROW = {"number": pa.float64(), "category": pa.string(), "bool": pa.bool_()}
# What CallStats reads of every call, watched or not.
STATS_COLUMNS: dict[str, ColumnKind] = {
    "status": "category",
    "latency_ms": "number",
    "input_tokens": "number",
    "output_tokens": "number",
    "cost_usd": "number",
    "cache": "category",
    "fallbacks": "number",
}
_OUTPUTS = pa.schema(
    [
        pa.field("prediction", pa.string()),
        pa.field("confidence", pa.float64()),
        pa.field("probabilities", pa.list_(pa.float64())),
        pa.field("classes", pa.string()),
        pa.field("label", pa.string()),
    ]
)


def gateway_columns(requested: Mapping[str, ColumnKind] | None) -> dict[str, ColumnKind]:
    """The watched columns: those asked for (a call-log column keeps its own kind unless
    one is given), or the default set."""
    if not requested:
        from mloop.monitoring.schemas import DEFAULT_GATEWAY_COLUMNS

        return {name: GATEWAY_COLUMNS[name] for name in DEFAULT_GATEWAY_COLUMNS}
    return dict(requested)


def _conditions(target: GatewayTarget, since: int, until: int) -> list[Any]:
    c = llm_calls.c
    found = [c.time >= since, c.time < until]
    for column, value in (
        (c.route, target.route),
        (c.prompt_name, target.prompt),
        (c.model, target.model),
        (c.project, target.project),
    ):
        if value is not None:
            found.append(column == value)
    return found


def _value(kind: ColumnKind, value: Any) -> Any:
    """A stored or metadata value as the watched kind: numbers as floats, categories as
    text (a number or a structure as its JSON), booleans only when they are booleans."""
    if value is None:
        return None
    if kind == "number":
        if isinstance(value, bool) or not isinstance(value, int | float):
            return None
        return float(value)
    if kind == "bool":
        return value if isinstance(value, bool) else None
    return value if isinstance(value, str) else orjson.dumps(value).decode()


@contextmanager
def open_gateway_window(
    ctx: Context,
    target: GatewayTarget,
    *,
    since: int,
    until: int,
    features: Mapping[str, ColumnKind],
) -> Iterator[pa.RecordBatchReader]:
    """The calls with ``since <= time < until`` that ``target`` names, oldest first."""
    if until <= since:
        raise ValidationError("until must be after since", field="until")
    kinds: dict[str, ColumnKind] = {**STATS_COLUMNS, **features}
    stored = [n for n in kinds if n in GATEWAY_COLUMNS]
    from_metadata = [n for n in kinds if n not in GATEWAY_COLUMNS]
    selected: list[Column[Any]] = [llm_calls.c[n] for n in stored]
    if from_metadata:
        selected.append(llm_calls.c.metadata_json)
    names = [*stored, *from_metadata]
    schema = pa.schema([pa.field(n, _ARROW[kinds[n]]) for n in names] + list(_OUTPUTS))
    conditions = _conditions(target, since, until)
    c = llm_calls.c

    def batches() -> Iterator[pa.RecordBatch]:
        # Pages by (time, id), the order calls are stored in: portable, and each page a
        # short query of its own, so nothing holds a cursor open while the window streams.
        after: tuple[int, str] | None = None
        while True:
            query = select(*selected, c.time, c.id).where(*conditions)
            if after is not None:
                query = query.where(
                    (c.time > after[0]) | ((c.time == after[0]) & (c.id > after[1]))
                )
            rows = list(ctx.conn.execute(query.order_by(c.time, c.id).limit(BATCH_ROWS)))
            if not rows:
                return
            yield _batch(rows, stored, from_metadata, kinds, schema)
            if len(rows) < BATCH_ROWS:
                return
            after = (rows[-1].time, rows[-1].id)

    yield pa.RecordBatchReader.from_batches(schema, batches())


def _batch(
    rows: Any,
    stored: list[str],
    from_metadata: list[str],
    kinds: Mapping[str, ColumnKind],
    schema: pa.Schema,
) -> pa.RecordBatch:
    count = len(rows)
    columns: list[pa.Array] = [
        pa.array([_value(kinds[n], r[i]) for r in rows], _ARROW[kinds[n]])
        for i, n in enumerate(stored)
    ]
    if from_metadata:
        metadata = [_metadata(r[len(stored)]) for r in rows]
        columns += [
            pa.array([_value(kinds[n], m.get(n)) for m in metadata], _ARROW[kinds[n]])
            for n in from_metadata
        ]
    columns += [pa.nulls(count, f.type) for f in _OUTPUTS]
    return pa.RecordBatch.from_arrays(columns, schema=schema)


def _metadata(text: str | None) -> dict[str, Any]:
    if not text:
        return {}
    try:
        found = orjson.loads(text)
    except orjson.JSONDecodeError:
        return {}
    return found if isinstance(found, dict) else {}
