"""Signatures: the input and output schema of a model, inferred from an example.

A schema is a small JSON object, one of::

    {"type": "dataframe", "columns": [{"name": "age", "dtype": "float64"}, ...]}
    {"type": "ndarray", "dtype": "float64", "shape": [-1, 4]}      (-1: the batch dimension)
    {"type": "series", "name": "y", "dtype": "int64"}
    {"type": "dict", "fields": [{"name": "text", "dtype": "str"}, ...]}
    {"type": "list", "dtype": "float"}                               (or "dict" with "fields")
    {"type": "scalar", "dtype": "float"}
    {"type": "object", "python_type": "..."}

At predict time :func:`enforce_schema` checks an input against the model's input schema,
converts what converts safely (ints to a float column, a list of records to a DataFrame)
and raises :class:`ValidationError` naming the missing or mistyped column otherwise.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from mloop.core.errors import ValidationError

Schema = dict[str, Any]
_FIELD = "model_input"


def _is_dataframe(value: Any) -> bool:
    return type(value).__name__ == "DataFrame" and hasattr(value, "columns")


def _is_series(value: Any) -> bool:
    return type(value).__name__ == "Series" and hasattr(value, "dtype")


def _is_ndarray(value: Any) -> bool:
    return type(value).__name__ == "ndarray" and hasattr(value, "shape")


def _python_dtype(value: Any) -> str:
    if value is None:
        return "none"
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "int"
    if isinstance(value, float):
        return "float"
    if isinstance(value, str):
        return "str"
    if isinstance(value, bytes):
        return "bytes"
    if hasattr(value, "dtype") and hasattr(value, "item"):  # a numpy scalar
        return str(value.dtype)
    if isinstance(value, Mapping):
        return "dict"
    return type(value).__name__


def _list_dtype(values: Sequence[Any]) -> str:
    kinds = {_python_dtype(v) for v in values} - {"none"}
    if kinds == {"int", "float"}:
        return "float"
    if len(kinds) == 1:
        return kinds.pop()
    return "mixed" if kinds else "none"


def _field_dtype(value: Any) -> str:
    if isinstance(value, list | tuple):
        return f"list[{_list_dtype(value)}]"
    if _is_ndarray(value):
        return f"list[{value.dtype}]"
    return _python_dtype(value)


def infer_schema(value: Any) -> Schema:
    """The schema of one value (a model input or a model output)."""
    if _is_dataframe(value):
        return {
            "type": "dataframe",
            "columns": [
                {"name": _column_name(name), "dtype": str(dtype)}
                for name, dtype in value.dtypes.items()
            ],
        }
    if _is_series(value):
        return {"type": "series", "name": _column_name(value.name), "dtype": str(value.dtype)}
    if _is_ndarray(value):
        shape = [-1, *[int(d) for d in value.shape[1:]]] if value.ndim else []
        return {"type": "ndarray", "dtype": str(value.dtype), "shape": shape}
    if isinstance(value, Mapping):
        return {
            "type": "dict",
            "fields": [{"name": str(k), "dtype": _field_dtype(v)} for k, v in value.items()],
        }
    if isinstance(value, list | tuple):
        schema: Schema = {"type": "list", "dtype": _list_dtype(value)}
        if schema["dtype"] == "dict":
            names: dict[str, None] = {}
            for item in value:
                names.update(dict.fromkeys(str(k) for k in item))
            schema["fields"] = [{"name": n} for n in names]
        return schema
    if value is None or isinstance(value, bool | int | float | str | bytes):
        return {"type": "scalar", "dtype": _python_dtype(value)}
    return {"type": "object", "python_type": f"{type(value).__module__}.{type(value).__qualname__}"}


def _column_name(name: Any) -> Any:
    return name if isinstance(name, str | int) and not isinstance(name, bool) else str(name)


def infer_signature(model_input: Any, model_output: Any = None) -> Schema:
    """``{"inputs": schema, "outputs": schema or None}``."""
    return {
        "inputs": infer_schema(model_input),
        "outputs": None if model_output is None else infer_schema(model_output),
    }


# -- enforcement ---------------------------------------------------------------------------


def _kind(dtype: str) -> str | None:
    import numpy as np

    try:
        return str(np.dtype(dtype).kind)
    except TypeError:
        return None  # a pandas extension dtype ("category", "Int64", "string"): not checked


def _convertible(expected: str, actual: str) -> bool:
    """Whether values of ``actual`` dtype may be cast to ``expected`` without losing meaning."""
    want, have = _kind(expected), _kind(actual)
    if want is None or have is None or want in "OUSV":
        return True
    if want == "f":
        return have in "fiub"
    if want in "iu":
        return have in "iub"
    if want == "b":
        return have == "b"
    if want == "M":
        return have in "MO"
    return want == have


def _check_dtype(expected: str, actual: str, what: str, field: str) -> None:
    if not _convertible(expected, actual):
        raise ValidationError(
            f"{what} has dtype {actual}; the model expects {expected}", field=field
        )


def _to_dataframe(value: Any, names: list[Any]) -> Any:
    import pandas as pd

    if _is_dataframe(value):
        return value
    if _is_ndarray(value) or (
        isinstance(value, list) and value and isinstance(value[0], list | tuple)
    ):
        import numpy as np

        array = np.asarray(value)
        if array.ndim != 2 or array.shape[1] != len(names):
            raise ValidationError(
                f"{_FIELD} has shape {tuple(array.shape)}; the model expects a DataFrame with "
                f"{len(names)} columns {names}",
                field=_FIELD,
            )
        return pd.DataFrame(array, columns=names)
    if isinstance(value, Mapping):
        values = dict(value)
        if values and all(
            not isinstance(v, list | tuple) and not _is_ndarray(v) for v in values.values()
        ):
            return pd.DataFrame([values])
        return pd.DataFrame(values)
    if isinstance(value, list) and all(isinstance(v, Mapping) for v in value):
        return pd.DataFrame(list(value))
    raise ValidationError(
        f"{_FIELD} is a {type(value).__name__}; the model expects a DataFrame with columns {names}",
        field=_FIELD,
    )


def _missing_column(name: Any, names: list[Any]) -> ValidationError:
    return ValidationError(
        f"{_FIELD} is missing the required column {name!r} (the model expects columns {names})",
        field=f"{_FIELD}.{name}",
    )


def _enforce_dataframe(schema: Schema, value: Any) -> Any:
    columns = schema.get("columns") or []
    names = [c["name"] for c in columns]
    frame = _to_dataframe(value, names)
    present = set(frame.columns)
    for column in columns:
        name = column["name"]
        if name not in present:
            raise _missing_column(name, names)
    frame = frame[names]
    converted = {}
    for column in columns:
        name, expected = column["name"], str(column.get("dtype", "object"))
        actual = str(frame[name].dtype)
        if actual == expected:
            continue
        _check_dtype(expected, actual, f"column {name!r}", f"{_FIELD}.{name}")
        if _kind(expected) in ("f", "i", "u", "b") and _kind(actual) is not None:
            converted[name] = frame[name].astype(expected)
    if converted:
        frame = frame.copy()
        for name, series in converted.items():
            frame[name] = series
    return frame


def _enforce_ndarray(schema: Schema, value: Any) -> Any:
    import numpy as np

    array = value.to_numpy() if _is_dataframe(value) else np.asarray(value)
    shape = list(schema.get("shape") or [])
    if array.ndim != len(shape) or any(
        want != -1 and have != want for want, have in zip(shape, array.shape, strict=False)
    ):
        expected = ", ".join("n" if d == -1 else str(d) for d in shape)
        raise ValidationError(
            f"{_FIELD} has shape {tuple(array.shape)}; the model expects ({expected}) "
            "(n: any number of rows)",
            field=_FIELD,
        )
    expected_dtype = str(schema.get("dtype", "object"))
    if str(array.dtype) != expected_dtype:
        _check_dtype(expected_dtype, str(array.dtype), _FIELD, _FIELD)
        if _kind(expected_dtype) in ("f", "i", "u", "b"):
            array = array.astype(expected_dtype)
    return array


def _enforce_dict(schema: Schema, value: Any) -> Any:
    if not isinstance(value, Mapping):
        raise ValidationError(
            f"{_FIELD} is a {type(value).__name__}; the model expects a dict", field=_FIELD
        )
    for field_schema in schema.get("fields") or []:
        name = field_schema["name"]
        if name not in value:
            raise ValidationError(
                f"{_FIELD} is missing the required key {name!r}", field=f"{_FIELD}.{name}"
            )
    return value


def _enforce_list(schema: Schema, value: Any) -> Any:
    if not isinstance(value, list | tuple) and not _is_ndarray(value):
        raise ValidationError(
            f"{_FIELD} is a {type(value).__name__}; the model expects a list", field=_FIELD
        )
    wanted = [f["name"] for f in schema.get("fields") or []]
    for i, item in enumerate(value):
        if wanted and isinstance(item, Mapping):
            for name in wanted:
                if name not in item:
                    raise ValidationError(
                        f"{_FIELD}[{i}] is missing the required key {name!r}",
                        field=f"{_FIELD}[{i}].{name}",
                    )
    return value


def enforce_schema(schema: Schema | None, value: Any) -> Any:
    """Check ``value`` against an input schema; returns the (possibly converted) input."""
    if not schema:
        return value
    kind = schema.get("type")
    if kind == "dataframe":
        return _enforce_dataframe(schema, value)
    if kind == "ndarray":
        return _enforce_ndarray(schema, value)
    if kind == "dict":
        return _enforce_dict(schema, value)
    if kind == "list":
        return _enforce_list(schema, value)
    return value


# -- a fast path for numeric tables ------------------------------------------------------------

# Column dtypes a table of JSON numbers converts to with numpy exactly as pandas would: floats,
# int64, and bool (which numbers never convert to, so it is always refused).
_NUMERIC_DTYPES = frozenset({"float16", "float32", "float64", "int64", "bool"})


def numeric_dataframe_columns(schema: Schema | None) -> list[tuple[str, str]] | None:
    """The ``(name, dtype)`` of each column of a dataframe schema whose columns are all named
    by distinct strings and of a dtype in float16/32/64, int64 or bool; None for any other
    schema (its inputs take :func:`enforce_schema`'s general path)."""
    import numpy as np

    if not schema or schema.get("type") != "dataframe":
        return None
    found: list[tuple[str, str]] = []
    for column in schema.get("columns") or []:
        name, expected = column.get("name"), str(column.get("dtype", "object"))
        try:
            dtype = np.dtype(expected).name
        except TypeError:
            return None
        if not isinstance(name, str) or dtype not in _NUMERIC_DTYPES:
            return None
        found.append((name, expected))
    if not found or len({name for name, _ in found}) != len(found):
        return None
    return found


def check_numeric_table(
    columns: list[tuple[str, str]], given: Sequence[str], integer: Sequence[bool]
) -> list[int]:
    """:func:`enforce_schema`'s checks, with the same errors, for a table of numbers whose
    columns are named ``given`` (distinct) and hold int64 values where ``integer`` is true and
    float64 values elsewhere, against ``columns`` from :func:`numeric_dataframe_columns`.

    Returns the position in ``given`` of each schema column, in the schema's order; the
    caller casts each column to its schema dtype (what the general path does), which is exact
    for the integers a float64 holds exactly."""
    where = {name: i for i, name in enumerate(given)}
    positions: list[int] = []
    for name, _ in columns:
        found = where.get(name)
        if found is None:
            raise _missing_column(name, [n for n, _ in columns])
        positions.append(found)
    for (name, expected), i in zip(columns, positions, strict=True):
        actual = "int64" if integer[i] else "float64"
        if actual != expected:
            _check_dtype(expected, actual, f"column {name!r}", f"{_FIELD}.{name}")
    return positions


# -- input examples ------------------------------------------------------------------------


def _json_default(value: Any) -> Any:
    if hasattr(value, "isoformat"):
        return value.isoformat()
    if hasattr(value, "item") and hasattr(value, "dtype"):
        return value.item()
    if _is_ndarray(value):
        return value.tolist()
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def example_to_json(example: Any) -> str:
    """The example as JSON text that :func:`example_from_json` turns back into the same type."""
    if _is_dataframe(example):
        body: dict[str, Any] = {
            "type": "dataframe",
            "columns": [_column_name(c) for c in example.columns],
            "dtypes": [str(d) for d in example.dtypes],
            "data": example.to_numpy(dtype=object).tolist(),
        }
    elif _is_ndarray(example):
        body = {"type": "ndarray", "dtype": str(example.dtype), "data": example.tolist()}
    else:
        body = {"type": "json", "data": example}
    try:
        return json.dumps(body, default=_json_default)
    except (TypeError, ValueError) as exc:
        raise ValidationError(
            f"input_example cannot be stored as JSON ({exc}); pass a DataFrame, an array, "
            "a dict or a list of plain values",
            field="input_example",
        ) from None


def example_from_json(text: str) -> Any:
    body = json.loads(text)
    if body.get("type") == "dataframe":
        import pandas as pd

        frame = pd.DataFrame(body["data"], columns=body["columns"])
        for name, dtype in zip(body["columns"], body["dtypes"], strict=True):
            # Keep what pandas inferred rather than fail to show an example.
            with contextlib.suppress(TypeError, ValueError):
                frame[name] = frame[name].astype(dtype)
        return frame
    if body.get("type") == "ndarray":
        import numpy as np

        return np.asarray(body["data"], dtype=body["dtype"])
    return body.get("data")


def save_input_example(example: Any, path: Path) -> None:
    path.write_text(example_to_json(example), encoding="utf-8")


def load_input_example(path: Path) -> Any:
    return example_from_json(path.read_text(encoding="utf-8"))
