"""One loaded model as the runtime uses it: check a request against the signature, predict
a batch of requests at once, and give each its predictions, class probabilities and
confidence (the highest probability; None for models without ``predict_proba``)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from mloop.core.errors import ValidationError
from mloop.models.loading import LoadedModel, predicting
from mloop.models.signature import check_numeric_table, enforce_schema, numeric_dataframe_columns
from mloop.serving.estimators import predicts_argmax_of_proba, takes_array
from mloop.serving.formats import to_json_values
from mloop.serving.numeric import CheckedRows, NumericLayout, NumericRows


class SchemaViolation(ValidationError):
    """A request that does not match the model's input signature (HTTP 422)."""

    http_status = 422


@dataclass(frozen=True)
class Result:
    """What one request gets back."""

    predictions: list[Any]
    probabilities: list[list[float]] | None
    confidence: list[float] | None


def _is_frame(value: Any) -> bool:
    return hasattr(value, "columns") and hasattr(value, "iloc")


class Predictor:
    """Predictions of one loaded model (thread-safe as far as the model's predict is)."""

    def __init__(self, model: LoadedModel) -> None:
        self.model = model
        self.schema = (model.signature or {}).get("inputs")
        # Each request is checked against the signature on arrival (check), so a batch of
        # checked requests goes to the underlying model without checking it again (through
        # an adapter where its own predict takes another type: XGBoost's Booster).
        self._model = predicting(model.unwrap())
        classes = getattr(self._model, "classes_", None)
        self.classes: list[Any] | None = None if classes is None else to_json_values(classes)
        proba = getattr(self._model, "predict_proba", None)
        self._proba: Any = proba if callable(proba) else None
        # predict is classes_[argmax(predict_proba)] itself: one call gives both.
        self._predict_from_proba = self._proba is not None and predicts_argmax_of_proba(self._model)
        columns = numeric_dataframe_columns(self.schema)
        self.layout: NumericLayout | None = None
        if columns is not None:
            names = [name for name, _ in columns]
            self.layout = NumericLayout(columns, as_array=takes_array(self._model, names))

    def check(self, data: Any) -> Any:
        """``data`` conformed to the signature; SchemaViolation names the column and why."""
        try:
            if isinstance(data, NumericRows):
                if self.layout is not None:
                    return self._check_numeric(data, self.layout)
                data = data.to_frame()
            return enforce_schema(self.schema, data)
        except ValidationError as exc:
            field = (exc.field or "inputs").replace("model_input", "inputs", 1)
            message = exc.message.replace("model_input", "the input", 1)
            raise SchemaViolation(message, field=field) from None

    @staticmethod
    def _check_numeric(data: NumericRows, layout: NumericLayout) -> CheckedRows:
        positions = check_numeric_table(layout.columns, data.columns, data.integer)
        values = data.values
        if positions != list(range(values.shape[1])):  # reorder, drop columns not used
            values = values[:, positions]
        return CheckedRows(values, layout)

    def predict_batch(self, inputs: Sequence[Any]) -> list[Result]:
        """Predict several requests in one call where they stack (frames, or arrays)."""
        layout = self.layout
        if layout is not None and all(isinstance(x, CheckedRows) for x in inputs):
            values = inputs[0].values if len(inputs) == 1 else np.vstack([x.values for x in inputs])
            return self._predict(layout.model_input(values), [x.shape[0] for x in inputs])
        if layout is not None:  # numbers beside requests that took the general path
            inputs = [layout.frame(x.values) if isinstance(x, CheckedRows) else x for x in inputs]
        if len(inputs) > 1 and not _stackable(inputs):
            return [self.predict_batch([one])[0] for one in inputs]
        batch = inputs[0] if len(inputs) == 1 else _stack(inputs)
        return self._predict(batch, [_rows(x) for x in inputs])

    def _predict(self, batch: Any, sizes: list[int]) -> list[Result]:
        proba: Any = None
        if self._predict_from_proba:
            proba = np.asarray(self._proba(batch), dtype=float)
            raw = self._model.classes_.take(np.argmax(proba, axis=1), axis=0)
        else:
            raw = self._model.predict(batch)
        predictions = to_json_values(raw)
        total = sum(sizes)
        if len(predictions) != total:
            raise RuntimeError(
                f"the model returned {len(predictions)} predictions for {total} rows"
            )
        probabilities: list[list[float]] | None = None
        confidence: list[float] | None = None
        if self._proba is not None:
            if proba is None:
                proba = np.asarray(self._proba(batch), dtype=float)
            probabilities = proba.tolist()
            confidence = proba.max(axis=1).tolist() if proba.ndim == 2 else None
        results = []
        start = 0
        for size in sizes:
            end = start + size
            results.append(
                Result(
                    predictions=predictions[start:end],
                    probabilities=None if probabilities is None else probabilities[start:end],
                    confidence=None if confidence is None else confidence[start:end],
                )
            )
            start = end
        return results


def _rows(value: Any) -> int:
    shape = getattr(value, "shape", None)
    return int(shape[0]) if shape else 1


def _stackable(inputs: Sequence[Any]) -> bool:
    if all(_is_frame(x) for x in inputs):
        first = list(inputs[0].columns)
        return all(list(x.columns) == first for x in inputs)
    if all(type(x).__name__ == "ndarray" for x in inputs):
        return len({x.shape[1:] for x in inputs}) == 1 and all(x.ndim >= 1 for x in inputs)
    return False


def _stack(inputs: Sequence[Any]) -> Any:
    if _is_frame(inputs[0]):
        import pandas as pd

        return pd.concat(list(inputs), ignore_index=True)
    return np.concatenate(list(inputs))
