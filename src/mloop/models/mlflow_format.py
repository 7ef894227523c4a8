"""MLflow's model directory format (``MLmodel``), read so MLflow-logged models work in mloop.

A directory with an ``MLmodel`` file and no ``mloop-model.json`` is an MLflow model. It is
described with mloop's :class:`ModelMetadata` so the registry, the UI and ``load_model``
treat it like a native model:

- scikit-learn models saved with skops (MLflow's default) load natively, under the same
  trust rules as mloop's own; pickled ones need ``trusted=True``;
- LightGBM Boosters (``model.lgb``, LightGBM's text file) and XGBoost models (Boosters and
  wrappers, in XGBoost's own format) load natively through mloop's ``lightgbm`` and
  ``xgboost`` flavors, without ``trusted``: their files are data. (``mlflow.lightgbm``
  pickles or skops-saves LightGBM's scikit-learn wrappers; those take the next rule.)
- every other flavor loads through ``mlflow.pyfunc`` when the ``mlflow`` package is installed,
  and only with ``trusted=True``, because MLflow's loaders unpickle and import code; bundled
  code that would hide an importable module is refused, and ``sys.path`` is restored after.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

from mloop.core.errors import ValidationError
from mloop.models.metadata import MAX_METADATA_BYTES, MODEL_CLASSES, ModelMetadata, resolve_inside
from mloop.store.artifacts import clean_relative_path

MLMODEL_FILE = "MLmodel"
MLFLOW_FLAVOR = "mlflow"
# MLflow's column types and the numpy dtypes mloop's signatures use.
_COLUMN_DTYPES = {
    "double": "float64",
    "float": "float32",
    "long": "int64",
    "integer": "int32",
    "boolean": "bool",
    "string": "object",
    "binary": "object",
    "datetime": "datetime64[ns]",
}
_PICKLE_FORMATS = ("pickle", "cloudpickle")


def _yaml(raw: bytes, where: str) -> dict[str, Any]:
    import yaml

    if len(raw) > MAX_METADATA_BYTES:
        raise ValidationError(
            f"{where} is {len(raw)} bytes; the limit is {MAX_METADATA_BYTES}", field=where
        )
    try:
        body = yaml.safe_load(raw)
    except yaml.YAMLError as exc:
        raise ValidationError(f"{where} is not valid YAML: {exc}", field=where) from None
    if not isinstance(body, dict) or not isinstance(body.get("flavors"), dict):
        raise ValidationError(f"{where} must be a mapping with a 'flavors' mapping", field=where)
    return body


def _schema(spec: object) -> dict[str, Any] | None:
    """An MLflow schema (a JSON string in ``MLmodel``) as an mloop schema."""
    if not isinstance(spec, str):
        return None
    try:
        items = json.loads(spec)
    except ValueError:
        return None
    if not isinstance(items, list) or not items or not all(isinstance(i, dict) for i in items):
        return None
    first = items[0].get("tensor-spec")
    if len(items) == 1 and isinstance(first, dict):
        shape = first.get("shape")
        return {"type": "ndarray", "dtype": str(first.get("dtype")), "shape": shape or [-1]}
    columns = []
    for i, item in enumerate(items):
        kind = str(item.get("type"))
        columns.append({"name": item.get("name", i), "dtype": _COLUMN_DTYPES.get(kind, kind)})
    if len(columns) == 1 and "name" not in items[0]:
        return {"type": "series", "name": None, "dtype": columns[0]["dtype"]}
    return {"type": "dataframe", "columns": columns}


def _signature(body: dict[str, Any]) -> dict[str, Any] | None:
    raw = body.get("signature")
    if not isinstance(raw, dict):
        return None
    inputs, outputs = _schema(raw.get("inputs")), _schema(raw.get("outputs"))
    if inputs is None:
        return None
    return {"inputs": inputs, **({"outputs": outputs} if outputs else {})}


def parse_mlmodel(raw: bytes, *, where: str = MLMODEL_FILE) -> ModelMetadata:
    """Describe an ``MLmodel`` file with mloop's metadata (flavor, payload, signature)."""
    body = _yaml(raw, where)
    flavors: dict[str, Any] = body["flavors"]
    pyfunc = flavors.get("python_function") or {}
    sklearn = flavors.get("sklearn")
    versions = {"mlflow": str(body.get("mlflow_version", ""))}
    common: dict[str, Any] = {
        "signature": _signature(body),
        "python_version": str(pyfunc.get("python_version", "")),
        "mloop_version": "",
    }
    if isinstance(sklearn, dict) and isinstance(sklearn.get("pickled_model"), str):
        fmt = str(sklearn.get("serialization_format", "cloudpickle"))
        if fmt == "skops" or fmt in _PICKLE_FORMATS:
            versions["scikit-learn"] = str(sklearn.get("sklearn_version", ""))
            return ModelMetadata(
                flavor="sklearn",
                serialization="skops" if fmt == "skops" else "pickle",
                data=clean_relative_path(sklearn["pickled_model"], f"{where}.pickled_model"),
                library_versions=versions,
                **common,
            )
    boosted = _boosting_flavor(flavors, where)
    if boosted is not None:
        flavor, serialization, payload, model_class, version_key = boosted
        versions[flavor] = str(flavors[flavor].get(version_key, ""))
        return ModelMetadata(
            flavor=flavor,
            serialization=serialization,
            data=payload,
            model_class=model_class,
            library_versions=versions,
            **common,
        )
    if not pyfunc:
        raise ValidationError(
            f"{where} has no python_function flavor; mloop can only load MLflow models that "
            f"MLflow itself can load as pyfunc (flavors: {sorted(flavors)})",
            field=where,
        )
    loader = str(pyfunc.get("loader_module", ""))
    data = pyfunc.get("data") or pyfunc.get("model_path")
    return ModelMetadata(
        flavor=MLFLOW_FLAVOR,
        serialization=loader or "mlflow.pyfunc",
        data=clean_relative_path(data, f"{where}.data") if isinstance(data, str) else None,
        library_versions=versions,
        **common,
    )


def _boosting_flavor(flavors: dict[str, Any], where: str) -> tuple[str, str, str, str, str] | None:
    """(flavor, serialization, data, model_class, version key) of a LightGBM Booster or an
    XGBoost model MLflow saved in the library's own format; None for anything else."""
    lgb = flavors.get("lightgbm")
    # MLflow saves Boosters with Booster.save_model (text); wrappers with skops or pickle.
    if (
        isinstance(lgb, dict)
        and isinstance(lgb.get("data"), str)
        and lgb.get("model_class", "lightgbm.basic.Booster") == "lightgbm.basic.Booster"
    ):
        data = clean_relative_path(lgb["data"], f"{where}.lightgbm.data")
        return "lightgbm", "text", data, "lightgbm:Booster", "lgb_version"
    xgb = flavors.get("xgboost")
    if isinstance(xgb, dict) and isinstance(xgb.get("data"), str):
        model_class = str(xgb.get("model_class", "xgboost.core.Booster"))
        reference = "xgboost:" + model_class.rsplit(".", 1)[-1]
        fmt = str(xgb.get("model_format", "xgb"))
        if (
            model_class.startswith("xgboost.")
            and reference in MODEL_CLASSES["xgboost"]
            and fmt in ("ubj", "json", "xgb")
        ):
            data = clean_relative_path(xgb["data"], f"{where}.xgboost.data")
            return "xgboost", fmt, data, reference, "xgb_version"
    return None


def read_mlmodel(model_dir: str | Path) -> ModelMetadata:
    """Read and describe ``MLmodel`` from a local model directory."""
    path = Path(model_dir) / MLMODEL_FILE
    with open(path, "rb") as handle:
        return parse_mlmodel(handle.read(MAX_METADATA_BYTES + 1))


def is_mlflow_model_dir(model_dir: str | Path) -> bool:
    return (Path(model_dir) / MLMODEL_FILE).is_file()


def _code_dir(model_dir: Path) -> Path | None:
    """The folder of code the ``python_function`` flavor bundles (``code:`` in MLmodel)."""
    with open(model_dir / MLMODEL_FILE, "rb") as handle:
        body = _yaml(handle.read(MAX_METADATA_BYTES + 1), MLMODEL_FILE)
    code = (body["flavors"].get("python_function") or {}).get("code")
    if not isinstance(code, str) or not code:
        return None
    return resolve_inside(model_dir, clean_relative_path(code, "MLmodel.code"), "MLmodel.code")


def _refuse_shadowing(code_dir: Path, model: str) -> None:
    """MLflow puts ``code_dir`` first on sys.path: refuse names that would hide a module."""
    import importlib.util

    root = os.path.realpath(code_dir)
    for entry in sorted(code_dir.iterdir()):
        name = entry.stem if entry.suffix == ".py" else entry.name
        if not name.isidentifier() or not (entry.is_dir() or entry.suffix == ".py"):
            continue
        try:
            spec = importlib.util.find_spec(name)
        except (ImportError, ValueError):
            spec = None
        origin = getattr(spec, "origin", None) or ""
        if spec is not None and not os.path.realpath(origin).startswith(root + os.sep):
            raise ValidationError(
                f"model {model} bundles code/{entry.name}, which would replace the module "
                f"{name!r} ({origin or 'built in'}) for the whole process while MLflow loads "
                "it; rename that file in the model's code",
                field="MLmodel.code",
            )


def load_mlflow_pyfunc(
    model_dir: Path, metadata: ModelMetadata, trusted: object, *, model: str = ""
) -> Any:
    """An MLflow model of a flavor mloop does not read itself, through ``mlflow.pyfunc``.

    Needs ``trusted=True``. MLflow prepends the model's ``code`` folder to ``sys.path``;
    names there that would hide an importable module are refused first, and ``sys.path`` is
    put back as it was once the model is loaded.
    """
    model = model or str(model_dir)
    if trusted is not True:
        raise ValidationError(
            f"model {model} is an MLflow model ({metadata.serialization}); MLflow's loaders "
            "unpickle and import its code. Nothing was run. If you trust where it came from, "
            f"load it with trusted=True: mloop.load_model({model!r}, trusted=True)",
            field="trusted",
        )
    try:
        import mlflow.pyfunc
    except ImportError:
        raise ValidationError(
            f"this is an MLflow model ({metadata.serialization}); loading it needs the mlflow "
            "package: pip install 'mloop[mlflow]'",
            field="model_uri",
        ) from None
    if metadata.data is not None:
        resolve_inside(model_dir, metadata.data, "MLmodel.data")
    code_dir = _code_dir(model_dir)
    if code_dir is not None:
        _refuse_shadowing(code_dir, model)
    # MLflow rebinds sys.path to a new list; give everyone the original list back, unchanged.
    original, saved = sys.path, list(sys.path)
    try:
        return mlflow.pyfunc.load_model(str(model_dir))
    finally:
        original[:] = saved
        sys.path = original
