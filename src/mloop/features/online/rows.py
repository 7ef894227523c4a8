"""Feature rows into online rows: checked against the view, keys encoded, times in µs.

Rows come as Arrow batches (materialization reads them so; pandas and Polars frames are
converted to Arrow) or as mappings (a push of a few rows, JSON over HTTP). Either way a
row has the view's join keys, ``event_timestamp`` (a datetime, an ISO 8601 string, or an
Arrow/pandas timestamp; naive times are UTC), optionally ``created`` (the time it was
written, which breaks ties of event time) and the view's features, each of its declared
type. Join keys are integers or strings. A timestamp feature is stored as µs since the
epoch and read back as a UTC datetime.

Arrow rows are checked column by column (``checked_table``) and reduced to the newest row
of each key with one stable sort (``newest_of_each_key``), so no Python code runs per row
until the rows kept become :class:`Row` objects (``checked_rows``).
"""

from __future__ import annotations

import datetime as dt
import math
import numbers
import warnings
from collections.abc import Iterable, Mapping, Sequence
from itertools import repeat
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


def _micros_column(column: Any, name: str, field: str) -> Any:
    """A timestamp column as int64 µs since the epoch (nulls kept)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if pa.types.is_dictionary(column.type):
        column = column.cast(column.type.value_type)
    if not pa.types.is_timestamp(column.type):
        raise ValidationError(f"{name!r} is {column.type}, not a timestamp", field=field)
    micros = pc.cast(column, pa.timestamp("us", tz=column.type.tz), safe=False)
    return micros.cast(pa.int64())


# The columns of a checked table (see ``checked_table``): positional names, so that no
# key or feature name can clash with them.
_EVENT_US = "event_us"
_CREATED_US = "created_us"
_NO_CREATED = -(2**63)  # sorts a missing created time before any other


def _key_column(index: int) -> str:
    return f"k{index}"


def _feature_name(index: int) -> str:
    return f"f{index}"


def checked_table(
    view: View,
    table: Any,
    *,
    field: str = "rows",
    strict: bool = False,
) -> tuple[Any, list[KeyKind]]:
    """An Arrow table or record batch of ``view``'s rows, checked, in the form it is
    stored: the join keys (``k0``, ...), ``event_us`` and ``created_us`` (int64 µs;
    created null where missing), then the features in the view's order (``f0``, ...;
    each cast to its stored type, timestamps as µs). Also the kinds of the keys.

    ``strict`` (a push): a missing feature, an unknown column, a null key or event time is
    an error. Otherwise (materialization) extra columns are ignored and rows with a null
    key or event time left out: they can never be looked up. Every value is checked
    against its feature's type, the rows that will lose to a newer one of their key too.
    """
    import pyarrow as pa
    import pyarrow.compute as pc

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
    keys = [table.column(k) for k in view.join_keys]
    kinds = [
        _arrow_kind(c.type, k, f"{field}.{k}") for k, c in zip(view.join_keys, keys, strict=True)
    ]
    features = [_feature_column(view, n, t, table.column(n), field) for n, t in types.items()]
    events = _micros_column(
        table.column(EVENT_TIMESTAMP), EVENT_TIMESTAMP, f"{field}.{EVENT_TIMESTAMP}"
    )
    if CREATED in names and not pa.types.is_null(table.column(CREATED).type):
        created = _micros_column(table.column(CREATED), CREATED, f"{field}.{CREATED}")
    else:
        created = pa.nulls(table.num_rows, pa.int64())
    checked = pa.Table.from_arrays(
        [*keys, events, created, *features],
        names=[
            *(_key_column(i) for i in range(len(keys))),
            _EVENT_US,
            _CREATED_US,
            *(_feature_name(i) for i in range(len(features))),
        ],
    )
    unusable = pc.is_null(events)
    for column in keys:
        unusable = pc.or_(unusable, pc.is_null(column))
    if not pc.any(unusable).as_py():
        return checked, kinds
    if strict:
        i = pc.index(unusable, True).as_py()
        what = EVENT_TIMESTAMP if events[i].as_py() is None else "a join key"
        raise ValidationError(f"{field}[{i}] has no {what}", field=f"{field}[{i}]")
    return checked.filter(pc.invert(unusable)), kinds


def newest_of_each_key(checked: Any) -> Any:
    """The newest row of each key of a checked table (``checked_table``), in key order:
    the latest event time, then the latest created time (a missing one is the oldest);
    of rows equal in both, the last."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if checked.num_rows < 2:
        return checked
    keys = checked.column_names[: checked.column_names.index(_EVENT_US)]
    order_by = pa.table(
        {
            **{n: checked.column(n) for n in keys},
            _EVENT_US: checked.column(_EVENT_US),
            _CREATED_US: pc.fill_null(checked.column(_CREATED_US), _NO_CREATED),
        }
    )
    # A stable sort: of equal rows, the one read last stays last in its key's run.
    order = pc.sort_indices(order_by, sort_keys=[(n, "ascending") for n in order_by.column_names])
    count = checked.num_rows
    changes: Any = None
    for name in keys:
        ordered = checked.column(name).take(order)
        change = pc.not_equal(ordered.slice(1), ordered.slice(0, count - 1))
        changes = change if changes is None else pc.or_(changes, change)
    last = pa.chunked_array([*changes.chunks, pa.array([True])])  # each key's last row
    return checked.take(order.filter(last))


def checked_rows(view: View, checked: Any) -> list[Row]:
    """The rows of a checked table (``checked_table``), keys encoded."""
    key_count = len(view.join_keys)
    keys = _encoded_keys([checked.column(i).to_pylist() for i in range(key_count)])
    events = checked.column(_EVENT_US).to_pylist()
    created = checked.column(_CREATED_US).to_pylist()
    names = list(view.feature_types)
    values = [checked.column(_feature_name(i)).to_pylist() for i in range(len(names))]
    per_row = zip(*values, strict=True) if values else repeat((), len(keys))
    dicts = list(map(dict, map(zip, repeat(names), per_row)))
    # tuple.__new__ makes each Row without a Python call: a third faster over many rows.
    make = tuple.__new__
    return [make(Row, row) for row in zip(keys, events, created, dicts, strict=True)]


def arrow_to_rows(
    view: View,
    table: Any,
    *,
    field: str = "rows",
    strict: bool = False,
) -> tuple[list[Row], list[KeyKind]]:
    """The newest row of each key of an Arrow table or record batch; the kinds of its keys
    (checked as ``checked_table`` says)."""
    checked, kinds = checked_table(view, table, field=field, strict=strict)
    return checked_rows(view, newest_of_each_key(checked)), kinds


def _feature_column(view: View, name: str, dtype: str, column: Any, field: str) -> Any:
    """A feature's column in the type it is stored as (timestamps as µs)."""
    import pyarrow as pa

    if pa.types.is_dictionary(column.type):
        column = column.cast(column.type.value_type)
    if dtype == "timestamp":
        return _micros_column(column, name, f"{field}.{name}")
    try:
        return column.cast(getattr(pa, _ARROW_TYPES[dtype])(), safe=True)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
        raise ValidationError(
            f"feature {name!r} of view {view.name!r} is {dtype}, but the rows hold "
            f"{column.type}: {exc}",
            field=f"{field}.{name}",
        ) from None


def _encoded_keys(keys: list[list[Any]]) -> list[bytes]:
    """Each row's key as stored (its values are never null here)."""
    dumps = orjson.dumps
    if len(keys) == 1:
        return [dumps([k]) for k in keys[0]]
    return [dumps(list(t)) for t in zip(*keys, strict=True)]


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
