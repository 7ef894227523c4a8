"""Request bodies in the formats clients already send, and the answers they expect.

- mloop's own JSON: ``{"inputs": [{"age": 31, ...}, ...]}`` (records) or
  ``{"inputs": {"age": [31, 45], ...}}`` (columns), optionally with ``"key"``, the request
  key that keeps a caller on one canary variant. The answer has the predictions and, for
  classifiers, the class probabilities and a confidence per row. ``"entities"`` (a list
  of records of entity keys, one per row) asks the endpoint to look up the rows' features
  (:mod:`mloop.serving.features`); ``inputs`` then holds the other features, as records.
- MLflow's scoring protocol, as ``mlflow models serve`` reads it: ``dataframe_split``,
  ``dataframe_records``, ``instances`` and ``inputs`` (``inputs`` is both: its answer is
  mloop's, a superset of MLflow's). The answer to the others is ``{"predictions": [...]}``
  exactly, so an MLflow client works unchanged.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

import orjson

from mloop.core.errors import ValidationError
from mloop.serving.numeric import NumericRows, from_mapping, from_records, from_split

MLFLOW_KEYS = ("dataframe_split", "dataframe_records", "instances", "inputs")
_ALLOWED = frozenset({*MLFLOW_KEYS, "key", "params", "entities"})
MAX_KEY_LENGTH = 256


@dataclass(frozen=True)
class ParsedRequest:
    """A request's model input (NumericRows for rows of numbers, a DataFrame, or an array
    for list-of-lists inputs), how many rows it has, the JSON to log (its rows as records,
    whatever the format), which answer to give, and the request key if any.

    With ``entities`` (records of entity keys), ``data`` is the request's own inputs as
    records, or None, until :func:`mloop.serving.features.with_features` joins them."""

    data: Any
    rows: int
    logged: Any
    style: Literal["mloop", "mlflow"]
    key: str | None = None
    entities: list[dict[str, Any]] | None = None


def _frame(value: Any, field: str, numeric: bool) -> Any:
    if numeric:
        found: NumericRows | None = None
        if isinstance(value, Mapping):
            found = from_mapping(value)
        elif isinstance(value, list) and value and isinstance(value[0], Mapping):
            found = from_records(value)
        if found is not None:
            return found
    import numpy as np
    import pandas as pd

    if isinstance(value, Mapping):
        columns = dict(value)
        if columns and all(isinstance(v, list) for v in columns.values()):
            lengths = {len(v) for v in columns.values()}
            if len(lengths) > 1:
                raise ValidationError(
                    f"{field}: the columns have different lengths {sorted(lengths)}; give one "
                    "value per row in every column",
                    field=field,
                )
            return pd.DataFrame(columns)
        return pd.DataFrame([columns])  # one row given as a mapping of scalars
    if isinstance(value, list):
        if not value:
            raise ValidationError(f"{field} is empty: send at least one row", field=field)
        if all(isinstance(item, Mapping) for item in value):
            return pd.DataFrame(value)
        if any(isinstance(item, Mapping) for item in value):
            raise ValidationError(
                f"{field} mixes records with other values; send a list of records "
                '([{"col": value}, ...]) or a list of rows',
                field=field,
            )
        try:
            return np.asarray(value)
        except ValueError as exc:  # ragged rows
            raise ValidationError(f"{field}: {exc}", field=field) from None
    raise ValidationError(
        f"{field} must be a list of records, a mapping of columns, or a list of rows; got "
        f"{type(value).__name__}",
        field=field,
    )


def _split_frame(value: Any, numeric: bool) -> Any:
    field = "dataframe_split"
    if not isinstance(value, Mapping) or "data" not in value:
        raise ValidationError(
            f'{field} must be an object with "columns" and "data" (pandas orient="split")',
            field=field,
        )
    data = value["data"]
    columns = value.get("columns")
    if not isinstance(data, list) or not all(isinstance(row, list) for row in data):
        raise ValidationError(f"{field}.data must be a list of rows (lists)", field=f"{field}.data")
    if columns is not None and (
        not isinstance(columns, list) or any(len(row) != len(columns) for row in data)
    ):
        raise ValidationError(
            f"{field}.columns must be a list with one name per value of each row",
            field=f"{field}.columns",
        )
    if numeric:
        found = from_split(columns, data)
        if found is not None:
            return found
    import pandas as pd

    return pd.DataFrame(data, columns=columns)


def _rows(data: Any) -> int:
    shape = getattr(data, "shape", None)
    return int(shape[0]) if shape else 1


def parse_request(body: bytes, *, numeric: bool = True) -> ParsedRequest:
    """The model input of a request body; ValidationError names the field at fault.

    Rows of plain numbers become :class:`~mloop.serving.numeric.NumericRows` (no pandas);
    ``numeric=False`` makes a DataFrame of every table (the general path)."""
    if not body:
        raise ValidationError(
            'the request body is empty: send JSON such as {"inputs": [{"col": 1.0}]}',
            field="body",
        )
    try:
        payload = orjson.loads(body)
    except orjson.JSONDecodeError:
        raise ValidationError("the request body is not valid JSON", field="body") from None
    if not isinstance(payload, dict):
        raise ValidationError(
            f"the request body must be a JSON object with one of {', '.join(MLFLOW_KEYS)}",
            field="body",
        )
    unknown = sorted(set(payload) - _ALLOWED)
    if unknown:
        raise ValidationError(
            f"{unknown[0]!r} is not a request field; send one of {', '.join(MLFLOW_KEYS)} "
            "(and optionally key)",
            field=unknown[0],
        )
    given = [k for k in MLFLOW_KEYS if k in payload]
    if "entities" in payload:
        return _entity_request(payload, given)
    if len(given) != 1:
        raise ValidationError(
            f"send exactly one of {', '.join(MLFLOW_KEYS)}; got "
            f"{', '.join(given) if given else 'none'}",
            field="body",
        )
    if payload.get("params"):
        raise ValidationError(
            "params are not supported: mloop endpoints call predict(inputs) only",
            field="params",
        )
    key = _key(payload)
    name = given[0]
    value = payload[name]
    if name == "dataframe_split":
        data = _split_frame(value, numeric)
    elif name == "dataframe_records":
        if not isinstance(value, list) or not all(isinstance(r, Mapping) for r in value):
            raise ValidationError(
                'dataframe_records must be a list of records ([{"col": value}, ...])',
                field=name,
            )
        data = _frame(value, name, numeric)
    else:
        data = _frame(value, name, numeric)
    style: Literal["mloop", "mlflow"] = "mloop" if name == "inputs" else "mlflow"
    logged = _as_records(value, split=name == "dataframe_split")
    return ParsedRequest(data=data, rows=_rows(data), logged=logged, style=style, key=key)


def _as_records(value: Any, *, split: bool) -> Any:
    """A parsed table as the inference log keeps it, whatever format it came in: records
    (``[{"col": value}, ...]``), so that monitors read one shape; rows without column
    names stay a list of rows."""
    if split:
        columns = value.get("columns")
        data = value["data"]
        return data if columns is None else [dict(zip(columns, row, strict=True)) for row in data]
    if isinstance(value, Mapping):
        cells = list(value.values())
        if cells and all(isinstance(cell, list) for cell in cells):
            names = list(value)
            return [dict(zip(names, row, strict=True)) for row in zip(*cells, strict=True)]
        return [value]
    return value


def _key(payload: dict[str, Any]) -> str | None:
    key = payload.get("key")
    if key is not None and (not isinstance(key, str) or not 0 < len(key) <= MAX_KEY_LENGTH):
        raise ValidationError(
            f"key must be a string of 1 to {MAX_KEY_LENGTH} characters", field="key"
        )
    return key


def _records(value: Any, field: str) -> list[dict[str, Any]]:
    """``value`` as a non-empty list of non-empty records with string keys."""
    if not isinstance(value, list) or not value:
        raise ValidationError(
            f'{field} must be a non-empty list of records ([{{"id": 7}}, ...]), one per row',
            field=field,
        )
    for i, record in enumerate(value):
        if not isinstance(record, dict) or not record:
            raise ValidationError(
                f"{field}[{i}] must be a non-empty record of names and values", field=field
            )
    return value


def _entity_request(payload: dict[str, Any], given: list[str]) -> ParsedRequest:
    """A request with entity keys: ``entities`` and, optionally, ``inputs`` as records."""
    other = [name for name in given if name != "inputs"]
    if other:
        raise ValidationError(
            f'entities go with "inputs" (records), not {other[0]}', field=other[0]
        )
    entities = _records(payload["entities"], "entities")
    for i, record in enumerate(entities):
        for name, value in record.items():
            if not isinstance(value, str | int | float) or isinstance(value, bool):
                raise ValidationError(
                    f"entities[{i}].{name} must be a string or a number (an entity key)",
                    field=f"entities[{i}].{name}",
                )
    inputs = None
    if "inputs" in payload:
        inputs = _records(payload["inputs"], "inputs")
        if len(inputs) != len(entities):
            raise ValidationError(
                f"inputs has {len(inputs)} rows and entities {len(entities)}; give one "
                "record of each per row",
                field="inputs",
            )
    return ParsedRequest(
        data=inputs,
        rows=len(entities),
        logged={"entities": entities, "inputs": inputs},
        style="mloop",
        key=_key(payload),
        entities=entities,
    )


def to_json_values(values: Any) -> list[Any]:
    """Predictions as JSON values: arrays and series as lists, frames as records."""
    if hasattr(values, "to_dict") and hasattr(values, "columns"):
        return list(values.to_dict(orient="records"))
    if hasattr(values, "tolist"):
        return list(values.tolist())
    return list(values)


def answer(
    style: Literal["mloop", "mlflow"],
    predictions: list[Any] | None,
    *,
    probabilities: list[list[float]] | None,
    classes: list[Any] | None,
    confidence: list[float] | None,
    request_id: str,
    endpoint: str,
    variant: str,
    model: str,
    version: int,
    review: dict[str, Any] | None = None,
) -> bytes:
    """The response body for the request's style; ``review`` when the request was routed to
    people (its status, queue and where to poll), and ``predictions`` None while a routed
    request's answer is pending."""
    if style == "mlflow":
        body: dict[str, Any] = {"predictions": predictions}
        if review is not None:
            body["review"] = review
        return orjson.dumps(body, option=orjson.OPT_SERIALIZE_NUMPY)
    return orjson.dumps(
        {
            "predictions": predictions,
            "probabilities": probabilities,
            "classes": classes,
            "confidence": confidence,
            "request_id": request_id,
            "endpoint": endpoint,
            "variant": variant,
            "model": model,
            "version": version,
            **({"review": review} if review is not None else {}),
        },
        option=orjson.OPT_SERIALIZE_NUMPY,
    )
