"""What the LightGBM and XGBoost flavors share.

- The library is imported on first use, with an error naming the pip extra when it is
  missing.
- A scikit-learn wrapper (``LGBMClassifier``, ``XGBRegressor``...) is its booster, saved in
  the library's own format, plus ``estimator.json``: the wrapper's parameters and, for a
  LightGBM classifier, its classes. The file holds JSON values only, and loading passes them
  to the wrapper's constructor: no code is named or run.
"""

from __future__ import annotations

import importlib
import json
import math
from collections.abc import Callable, Mapping
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np

from mloop.core.errors import ValidationError
from mloop.models.io import library_versions
from mloop.models.metadata import (
    MAX_METADATA_BYTES,
    ModelMetadata,
    resolve_inside,
    write_metadata,
)
from mloop.models.signature import infer_signature, save_input_example

ESTIMATOR_FILE = "estimator.json"
EXAMPLE_FILE = "input_example.json"
EXTRA = "boosting"
_NON_FINITE = {"nan": math.nan, "inf": math.inf, "-inf": -math.inf}
# numpy kinds of class labels that JSON keeps: bool, int, unsigned, float, str, object.
_CLASS_KINDS = frozenset("biufUO")


def import_library(module: str, doing: str, field: str) -> ModuleType:
    """``module`` (lightgbm or xgboost), or a ValidationError saying how to install it."""
    try:
        return importlib.import_module(module)
    except (ImportError, OSError) as exc:  # OSError: a native library it needs is missing
        raise ValidationError(
            f"{doing} needs the {module} package, which cannot be imported here ({exc}). "
            f"Install it with: pip install 'mloop[{EXTRA}]'",
            field=field,
        ) from None


def class_reference(model: Any, library: ModuleType, allowed: tuple[str, ...]) -> str:
    """The ``module:Name`` of ``model``'s class among ``allowed`` (exactly that class)."""
    for reference in allowed:
        if type(model) is getattr(library, reference.split(":", 1)[1], None):
            return reference
    names = ", ".join(reference.split(":", 1)[1] for reference in allowed)
    raise ValidationError(
        f"model is a {type(model).__module__}.{type(model).__qualname__}; "
        f"mloop.{library.__name__} saves {library.__name__}'s own {names} (a subclass would "
        "need its code to load: save it with mloop.pyfunc)",
        field="model",
    )


def example_signature(predict: Callable[[Any], Any], input_example: Any) -> dict[str, Any] | None:
    """The signature inferred from ``input_example`` and its prediction (None without one)."""
    if input_example is None:
        return None
    try:
        output = predict(input_example)
    except Exception as exc:
        raise ValidationError(
            f"model.predict(input_example) failed: {type(exc).__name__}: {exc}",
            field="input_example",
        ) from exc
    return infer_signature(input_example, output)


def refuse_custom_objective(model: Any, objective: Any) -> None:
    """A wrapper trained with an objective function predicts through that function's code,
    which no model file can hold."""
    if callable(objective):
        raise ValidationError(
            f"model was trained with a custom objective function ({objective!r}), which a "
            "model file cannot hold, and its predict depends on it. Save the booster instead "
            "(model.booster_ for LightGBM, model.get_booster() for XGBoost); its predict gives "
            "raw scores",
            field="model",
        )


# -- estimator.json ---------------------------------------------------------------------------


def _json_value(value: Any) -> Any:
    """``value`` as JSON keeps it exactly, or raise TypeError."""
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        raise TypeError("not finite")
    if json.loads(json.dumps(value, allow_nan=False)) != value:
        raise TypeError("changes in JSON")  # a tuple becomes a list, int keys become strings
    return value


def wrapper_state(params: Mapping[str, Any]) -> dict[str, Any]:
    """The parameters of a wrapper as ``estimator.json`` holds them.

    Parameters JSON keeps exactly go to ``params``; NaN and infinities (XGBoost's ``missing``)
    to ``float_params`` as strings; the others (a RandomState, callbacks, arrays: they act in
    training) are listed by name in ``params_left_out``, and get their defaults when loaded.
    """
    kept: dict[str, Any] = {}
    floats: dict[str, str] = {}
    left_out: list[str] = []
    for name, value in params.items():
        if isinstance(value, float | np.floating) and not math.isfinite(value):
            floats[name] = "nan" if math.isnan(value) else ("inf" if value > 0 else "-inf")
            continue
        try:
            kept[name] = _json_value(value)
        except (TypeError, ValueError):
            left_out.append(name)
    return {"params": kept, "float_params": floats, "params_left_out": sorted(left_out)}


def encode_classes(classes: Any) -> dict[str, Any]:
    """A classifier's ``classes_`` as JSON values and their numpy dtype."""
    array = np.asarray(classes)
    values = array.tolist()
    try:
        kept = array.ndim == 1 and np.array_equal(decode_classes(values, array.dtype.str), array)
    except ValidationError:
        kept = False
    if not kept:
        raise ValidationError(
            f"model.classes_ ({array.dtype}: {values[:5]}) cannot be saved as JSON; train "
            "with class labels that are numbers, booleans or strings",
            field="model",
        )
    return {"classes": values, "classes_dtype": array.dtype.str}


def decode_classes(values: Any, dtype: Any, where: str = ESTIMATOR_FILE) -> np.ndarray:
    """The ``classes_`` array ``encode_classes`` describes."""
    if not isinstance(values, list) or not values:
        raise ValidationError(f"{where}.classes must be a non-empty list", field=f"{where}.classes")
    try:
        kind = np.dtype(dtype).kind if isinstance(dtype, str) else ""
    except TypeError:
        kind = ""
    if kind not in _CLASS_KINDS or not all(isinstance(v, bool | int | float | str) for v in values):
        raise ValidationError(
            f"{where}.classes_dtype {dtype!r} is not a dtype of numbers, booleans or strings",
            field=f"{where}.classes_dtype",
        )
    try:
        return np.array(values, dtype=np.dtype(dtype))
    except (TypeError, ValueError, OverflowError) as exc:
        raise ValidationError(
            f"{where}.classes do not fit dtype {dtype}: {exc}", field=f"{where}.classes"
        ) from None


def write_wrapper(directory: Path, state: Mapping[str, Any]) -> None:
    text = json.dumps(dict(state), indent=2, sort_keys=True, allow_nan=False)
    (directory / ESTIMATOR_FILE).write_text(text + "\n", encoding="utf-8")


def read_wrapper(model_dir: Path) -> dict[str, Any]:
    """``estimator.json``, checked: an object whose ``params`` are JSON values with public
    names, and whose ``float_params`` are ``"nan"``, ``"inf"`` or ``"-inf"``."""
    where = ESTIMATOR_FILE
    path = resolve_inside(model_dir, where, where)
    with open(path, "rb") as handle:
        raw = handle.read(MAX_METADATA_BYTES + 1)
    if len(raw) > MAX_METADATA_BYTES:
        raise ValidationError(f"{where} is larger than {MAX_METADATA_BYTES} bytes", field=where)
    try:
        state = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ValidationError(f"{where} is not valid JSON: {exc}", field=where) from None
    if not isinstance(state, dict):
        raise ValidationError(f"{where} must hold a JSON object", field=where)
    params = state.get("params", {})
    floats = state.get("float_params", {})
    if not isinstance(params, dict) or not isinstance(floats, dict):
        raise ValidationError(
            f"{where}.params and {where}.float_params must be objects", field=f"{where}.params"
        )
    for name in [*params, *floats]:
        # Parameters become attributes of the wrapper: none may replace a private one.
        if not name.isidentifier() or name.startswith("_"):
            raise ValidationError(
                f"{where}: parameter name {name!r} is not a public identifier",
                field=f"{where}.params",
            )
    for name, text in floats.items():
        if text not in _NON_FINITE:
            raise ValidationError(
                f"{where}.float_params.{name} must be 'nan', 'inf' or '-inf', got {text!r}",
                field=f"{where}.float_params.{name}",
            )
    return state


def wrapper_params(state: Mapping[str, Any]) -> dict[str, Any]:
    """The constructor arguments ``estimator.json`` (already read) holds."""
    floats = {name: _NON_FINITE[text] for name, text in state.get("float_params", {}).items()}
    return {**state.get("params", {}), **floats}


def finish_directory(
    staging: Path,
    *,
    flavor: str,
    serialization: str,
    payload: str,
    reference: str,
    state: Mapping[str, Any] | None,
    signature: dict[str, Any] | None,
    input_example: Any,
    libraries: tuple[str, ...],
) -> ModelMetadata:
    """Write what a boosted model's directory holds beside its booster file: the wrapper's
    state, the input example and ``mloop-model.json``; the metadata written."""
    if state is not None:
        write_wrapper(staging, state)
    if input_example is not None:
        save_input_example(input_example, staging / EXAMPLE_FILE)
    versions = library_versions(*libraries)
    metadata = ModelMetadata(
        flavor=flavor,
        serialization=serialization,
        data=payload,
        model_class=reference,
        signature=signature,
        input_example=EXAMPLE_FILE if input_example is not None else None,
        library_versions=versions,
        mloop_version=versions.get("mloop", ""),
    )
    write_metadata(staging, metadata)
    return metadata
