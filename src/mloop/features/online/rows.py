"""Feature rows into online rows: checked against the view, keys encoded, times in µs.

Rows come as Arrow batches (materialization reads them so; pandas and Polars frames are
converted to Arrow) or as mappings (a push of a few rows, JSON over HTTP). Either way a
row has the view's join keys, ``event_timestamp`` (a datetime, an ISO 8601 string, or an
Arrow/pandas timestamp; naive times are UTC), optionally ``created`` (the time it was
written, which breaks ties of event time) and the view's features, each of its declared
type. Join keys are integers or strings. A timestamp feature is stored as µs since the
epoch and read back as a UTC datetime.
"""

from __future__ import annotations

import datetime as dt
import math
import numbers
import warnings
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import orjson

from mloop.core.errors import ValidationError
from mloop.features.catalog import View
from mloop.features.online.store import KeyKind, Row, encode_key

EVENT_TIMESTAMP = "event_timestamp"
CREATED = "created"
_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
_US = dt.timedelta(microseconds=1)
_INT32 = (-(2**31), 2**31 - 1)


def to_micros(value: Any, field: str) -> int:
    """A time as µs since the epoch: a datetime (naive is UTC), a numpy datetime64 or an
    ISO 8601 string."""
    if isinstance(value, str):
        try:
            value = dt.datetime.fromisoformat(value)
        except ValueError:
            raise ValidationError(
                f"{field}: {value[:60]!r} is not an ISO 8601 time", field=field
            ) from None
    if isinstance(value, dt.datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=dt.UTC)
        return (value - _EPOCH) // _US
    if type(value).__name__ == "datetime64":
        import numpy as np

        return int(np.datetime64(value, "us").astype("int64"))
    raise ValidationError(
        f"{field}: expected a time (a datetime or an ISO 8601 string), got "
        f"{type(value).__name__} {str(value)[:40]!r}",
        field=field,
    )


def from_micros(value: int) -> dt.datetime:
    return _EPOCH + dt.timedelta(microseconds=value)


def key_kind(value: Any) -> KeyKind | None:
    """``int`` or ``string`` for a join key value; None for anything else."""
    if isinstance(value, str):
        return "string"
    if isinstance(value, numbers.Integral) and not isinstance(value, bool):
        return "int"  # numpy's integers too; numpy's bool is not Integral
    return None


def _bad(field: str, dtype: str, value: Any) -> ValidationError:
    return ValidationError(
        f"{field}: expected {dtype}, got {type(value).__name__} {str(value)[:40]!r}",
        field=field,
    )


def check_value(value: Any, dtype: str, field: str) -> Any:
    """``value`` as stored for a feature of ``dtype`` (None and NaN are null)."""
    if value is None:
        return None
    if dtype in ("float64", "float32"):
        if isinstance(value, bool) or not isinstance(value, numbers.Real):
            raise _bad(field, dtype, value)
        number = float(value)
        return None if math.isnan(number) else number
    if isinstance(value, float) and math.isnan(value):
        return None
    if dtype in ("int64", "int32"):
        if isinstance(value, bool) or not isinstance(value, numbers.Integral):
            raise _bad(field, dtype, value)
        number = int(value)
        if dtype == "int32" and not _INT32[0] <= number <= _INT32[1]:
            raise ValidationError(f"{field}: {number} does not fit int32", field=field)
        return number
    if dtype == "string":
        if not isinstance(value, str):
            raise _bad(field, dtype, value)
        return value
    if dtype == "bool":
        if not isinstance(value, bool) and type(value).__name__ != "bool_":
            raise _bad(field, dtype, value)
        return bool(value)
    if type(value).__name__ == "NaTType":
        return None
    return to_micros(value, field)


def _key(record: Mapping[str, Any], keys: Sequence[str], where: str) -> tuple[bytes, list[str]]:
    values: list[int | str] = []
    kinds: list[str] = []
    for name in keys:
        if name not in record:
            raise ValidationError(f"{where} has no join key {name!r}", field=f"{where}.{name}")
        value = record[name]
        kind = key_kind(value)
        if kind is None:
            raise ValidationError(
                f"{where}.{name}: a join key is an integer or a string, got "
                f"{type(value).__name__} {str(value)[:40]!r}",
                field=f"{where}.{name}",
            )
        values.append(int(value) if kind == "int" else value)
        kinds.append(kind)
    return encode_key(values), kinds


def records_to_rows(
    view: View, records: Iterable[Mapping[str, Any]], field: str = "rows"
) -> tuple[list[Row], list[KeyKind] | None]:
    """Mappings into rows, every value checked; the rows and the kinds of their keys."""
    types = view.feature_types
    allowed = {*view.join_keys, EVENT_TIMESTAMP, CREATED, *types}
    rows: list[Row] = []
    kinds: list[KeyKind] | None = None
    for i, record in enumerate(records):
        where = f"{field}[{i}]"
        if not isinstance(record, Mapping):
            raise ValidationError(f"{where} is not a mapping of column to value", field=where)
        unknown = [c for c in record if c not in allowed]
        if unknown:
            raise ValidationError(
                f"{where}: {unknown[0]!r} is not a join key or a feature of view "
                f"{view.name!r} (it has {', '.join(types)})",
                field=f"{where}.{unknown[0]}",
            )
        key, row_kinds = _key(record, view.join_keys, where)
        if kinds is None:
            kinds = row_kinds
        elif row_kinds != kinds:
            raise ValidationError(
                f"{where}: join keys of kinds {row_kinds} after rows of kinds {kinds}",
                field=where,
            )
        event = record.get(EVENT_TIMESTAMP)
        if event is None:
            raise ValidationError(
                f"{where} has no {EVENT_TIMESTAMP!r}: every row needs the time its values "
                "are about",
                field=f"{where}.{EVENT_TIMESTAMP}",
            )
        created = record.get(CREATED)
        values: dict[str, Any] = {}
        for name, dtype in types.items():
            if name not in record:
                raise ValidationError(
                    f"{where} has no feature {name!r}: a row replaces the key's stored "
                    "row, so it gives every feature of the view (null where unknown)",
                    field=f"{where}.{name}",
                )
            values[name] = check_value(record[name], dtype, f"{where}.{name}")
        rows.append(
            Row(
                key,
                to_micros(event, f"{where}.{EVENT_TIMESTAMP}"),
                None if created is None else to_micros(created, f"{where}.{CREATED}"),
                values,
            )
        )
    return rows, kinds


def _arrow_kind(dtype: Any, name: str, field: str) -> KeyKind:
    import pyarrow as pa

    if pa.types.is_integer(dtype):
        return "int"
    if pa.types.is_string(dtype) or pa.types.is_large_string(dtype):
        return "string"
    raise ValidationError(
        f"join key {name!r} is {dtype}: a join key is an integer or a string", field=field
    )


_ARROW_TYPES = {
    "float64": "float64",
    "float32": "float64",
    "int64": "int64",
    "int32": "int64",
    "string": "large_string",
    "bool": "bool_",
}


def _micros_column(column: Any, name: str, field: str) -> list[int | None]:
    import pyarrow as pa
    import pyarrow.compute as pc

    if pa.types.is_dictionary(column.type):
        column = column.cast(column.type.value_type)
    if not pa.types.is_timestamp(column.type):
        raise ValidationError(f"{name!r} is {column.type}, not a timestamp", field=field)
    micros = pc.cast(column, pa.timestamp("us", tz=column.type.tz), safe=False)
    return list(micros.cast(pa.int64()).to_pylist())


def arrow_to_rows(
    view: View,
    table: Any,
    *,
    field: str = "rows",
    strict: bool = False,
) -> tuple[list[Row], list[KeyKind] | None]:
    """The newest row of each key of an Arrow table or record batch; the kinds of its keys.

    ``strict`` (a push): a missing feature, an unknown column, a null key or event time is
    an error. Otherwise (materialization) extra columns are ignored and rows with a null
    key or event time skipped: they can never be looked up. Every value is checked
    against its feature's type, the rows that lose to a newer one of their key too.
    """
    import pyarrow as pa

    names = list(table.schema.names)
    types = view.feature_types
    needed = [*view.join_keys, EVENT_TIMESTAMP, *types]
    missing = [c for c in needed if c not in names]
    if missing:
        what = "join key" if missing[0] in view.join_keys else "column"
        raise ValidationError(
            f"{field} have no {what} {missing[0]!r} (view {view.name!r} needs {', '.join(needed)})",
            field=f"{field}.{missing[0]}",
        )
    if strict:
        extra = [c for c in names if c not in {*needed, CREATED}]
        if extra:
            raise ValidationError(
                f"{extra[0]!r} is not a join key or a feature of view {view.name!r}",
                field=f"{field}.{extra[0]}",
            )
    columns: dict[str, Any] = {n: table.column(n) for n in names}
    kinds = [_arrow_kind(columns[k].type, k, f"{field}.{k}") for k in view.join_keys]
    features = [_feature_column(view, n, t, columns[n], field) for n, t in types.items()]
    events = _micros_column(columns[EVENT_TIMESTAMP], EVENT_TIMESTAMP, f"{field}.{EVENT_TIMESTAMP}")
    created: list[int | None]
    if CREATED in columns and not pa.types.is_null(columns[CREATED].type):
        created = _micros_column(columns[CREATED], CREATED, f"{field}.{CREATED}")
    else:
        created = [None] * len(events)
    keys = _encoded_keys([columns[k].to_pylist() for k in view.join_keys])
    # Only the newest row of each key becomes a row (the store would refuse the others).
    best: dict[bytes, tuple[int, int]] = {}  # key -> (row, event time)
    for i, (key, event) in enumerate(zip(keys, events, strict=True)):
        if key is None or event is None:
            if strict:
                what = EVENT_TIMESTAMP if event is None else "a join key"
                raise ValidationError(f"{field}[{i}] has no {what}", field=f"{field}[{i}]")
            continue
        held = best.get(key)
        if held is None or _newer_or_same(event, created[i], held[1], created[held[0]]):
            best[key] = (i, event)
    picked = pa.array([i for i, _ in best.values()], pa.int64())
    values = [column.take(picked).to_pylist() for column in features]
    feature_names = list(types)
    rows = [
        Row(key, event, created[i], dict(zip(feature_names, found, strict=True)))
        for (key, (i, event)), found in zip(best.items(), zip(*values, strict=True), strict=True)
    ]
    return rows, kinds


def _feature_column(view: View, name: str, dtype: str, column: Any, field: str) -> Any:
    """A feature's column in the type it is stored as (timestamps as µs)."""
    import pyarrow as pa

    if pa.types.is_dictionary(column.type):
        column = column.cast(column.type.value_type)
    if dtype == "timestamp":
        return pa.array(_micros_column(column, name, f"{field}.{name}"), pa.int64())
    try:
        return column.cast(getattr(pa, _ARROW_TYPES[dtype])(), safe=True)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
        raise ValidationError(
            f"feature {name!r} of view {view.name!r} is {dtype}, but the rows hold "
            f"{column.type}: {exc}",
            field=f"{field}.{name}",
        ) from None


def _encoded_keys(keys: list[list[Any]]) -> list[bytes | None]:
    """Each row's key as stored (None where a key value is null)."""
    dumps = orjson.dumps
    if len(keys) == 1:
        return [None if k is None else dumps([k]) for k in keys[0]]
    return [None if None in t else dumps(list(t)) for t in zip(*keys, strict=True)]


def _newer_or_same(event: int, created: int | None, held: int, held_created: int | None) -> bool:
    if event != held:
        return event > held
    return (-math.inf if created is None else created) >= (
        -math.inf if held_created is None else held_created
    )


def newest_per_key(rows: Sequence[Row]) -> list[Row]:
    """The newest row of each key (later event time, then later created time; of equal
    ones the last), in first-seen order."""
    best: dict[bytes, Row] = {}
    for row in rows:
        held = best.get(row.key)
        if held is None or _order(row) >= _order(held):
            best[row.key] = row
    return list(best.values())


def _order(row: Row) -> tuple[int, float]:
    return row.event_us, -math.inf if row.created_us is None else row.created_us


def to_arrow(data: Any, field: str = "rows") -> Any:
    """A pandas or Polars frame or an Arrow table as an Arrow table (None for anything
    else: mappings are converted row by row instead)."""
    module = type(data).__module__.split(".")[0]
    if module == "pyarrow":
        import pyarrow as pa

        if isinstance(data, pa.RecordBatch):
            return pa.Table.from_batches([data])
        return data
    if module == "polars":
        return data.to_arrow()
    if module == "pandas":
        import pyarrow as pa

        try:
            with warnings.catch_warnings():
                # pyarrow reads a time zone column through Series.values, which pandas 3
                # deprecates; the values it gets are right (UTC), the warning is pyarrow's.
                warnings.filterwarnings("ignore", message="Series.values returning")
                return pa.Table.from_pandas(data, preserve_index=False)
        except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
            raise ValidationError(f"{field}: {exc}", field=field) from None
    return None
