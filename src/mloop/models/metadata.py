"""The model directory format: ``mloop-model.json`` next to the payload.

A model directory holds one metadata file and the files it names::

    mloop-model.json      flavor, format version, library versions, signature, payload names
    model.skops           the payload (or model.pkl, or code/ plus artifacts/ for pyfunc)
    input_example.json    the example the signature was inferred from (optional)

Every path inside the metadata is relative to the directory and is checked before use, so
a hostile metadata file cannot make a loader read outside its model directory.
"""

from __future__ import annotations

import json
import os
import platform
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from mloop.core.errors import ValidationError
from mloop.core.timeutil import now_ms
from mloop.store.artifacts import clean_relative_path

MODEL_FILE = "mloop-model.json"
FORMAT_VERSION = 1
MAX_METADATA_BYTES = 1024 * 1024
SERIALIZATIONS: dict[str, tuple[str, ...]] = {
    "sklearn": ("skops", "pickle"),
    "pyfunc": ("code", "pickle"),
    "lightgbm": ("text",),  # LightGBM's model text file
    "xgboost": ("ubj", "json", "xgb"),  # XGBoost's UBJSON, JSON, or MLflow's model.xgb
}
# What the boosting flavors recreate, as "module:Name": the only classes they create, so
# the model file chooses among these and never names code to import.
MODEL_CLASSES: dict[str, tuple[str, ...]] = {
    "lightgbm": (
        "lightgbm:Booster",
        "lightgbm:LGBMClassifier",
        "lightgbm:LGBMRegressor",
        "lightgbm:LGBMRanker",
    ),
    "xgboost": (
        "xgboost:Booster",
        "xgboost:XGBClassifier",
        "xgboost:XGBRegressor",
        "xgboost:XGBRanker",
        "xgboost:XGBRFClassifier",
        "xgboost:XGBRFRegressor",
    ),
}
_CLASS_REF_RE = re.compile(r"^[A-Za-z_][\w.]*:[A-Za-z_][\w.]*$")
_ARTIFACT_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,127}$")


@dataclass(frozen=True)
class ModelMetadata:
    """The content of ``mloop-model.json``."""

    flavor: str
    serialization: str
    data: str | None = None
    model_class: str | None = None
    code_paths: tuple[str, ...] = ()
    artifacts: dict[str, str] = field(default_factory=dict)
    signature: dict[str, Any] | None = None
    input_example: str | None = None
    format_version: int = FORMAT_VERSION
    python_version: str = field(default_factory=platform.python_version)
    library_versions: dict[str, str] = field(default_factory=dict)
    mloop_version: str = ""
    created_time: int = field(default_factory=now_ms)

    def to_dict(self) -> dict[str, Any]:
        body = asdict(self)
        body["code_paths"] = list(self.code_paths)
        return body

    @classmethod
    def from_dict(cls, body: object, *, where: str = MODEL_FILE) -> ModelMetadata:
        """Validate a parsed metadata document; errors name ``where.<key>``."""
        if not isinstance(body, dict):
            raise ValidationError(f"{where} must hold a JSON object", field=where)
        known = {f for f in cls.__dataclass_fields__}
        unknown = sorted(set(body) - known)
        if unknown:
            raise ValidationError(
                f"{where} has unknown keys {unknown}; it may come from a newer mloop",
                field=f"{where}.{unknown[0]}",
            )
        version = body.get("format_version", FORMAT_VERSION)
        if isinstance(version, bool) or not isinstance(version, int) or version < 1:
            raise ValidationError(
                f"{where}.format_version must be a positive integer",
                field=f"{where}.format_version",
            )
        if version > FORMAT_VERSION:
            raise ValidationError(
                f"{where} has format version {version}; this mloop reads up to {FORMAT_VERSION}. "
                "Upgrade mloop to load this model",
                field=f"{where}.format_version",
            )
        flavor = _string(body, "flavor", where)
        if flavor not in SERIALIZATIONS:
            raise ValidationError(
                f"{where}.flavor {flavor!r} is not one of {', '.join(SERIALIZATIONS)}",
                field=f"{where}.flavor",
            )
        serialization = _string(body, "serialization", where)
        if serialization not in SERIALIZATIONS[flavor]:
            allowed = ", ".join(SERIALIZATIONS[flavor])
            raise ValidationError(
                f"{where}.serialization {serialization!r} is not valid for flavor {flavor} "
                f"(one of {allowed})",
                field=f"{where}.serialization",
            )
        data = _optional_path(body, "data", where)
        if data is None and (flavor != "pyfunc" or serialization == "pickle"):
            raise ValidationError(f"{where}.data must name the payload file", field=f"{where}.data")
        model_class = body.get("model_class")
        if flavor == "pyfunc" and serialization == "code":
            if not isinstance(model_class, str) or not _CLASS_REF_RE.match(model_class):
                raise ValidationError(
                    f"{where}.model_class must be 'module:QualifiedName', got {model_class!r}",
                    field=f"{where}.model_class",
                )
        elif flavor in MODEL_CLASSES and model_class not in MODEL_CLASSES[flavor]:
            raise ValidationError(
                f"{where}.model_class {model_class!r} is not one of "
                f"{', '.join(MODEL_CLASSES[flavor])}",
                field=f"{where}.model_class",
            )
        elif model_class is not None and not isinstance(model_class, str):
            raise ValidationError(
                f"{where}.model_class must be a string", field=f"{where}.model_class"
            )
        code_paths = body.get("code_paths", [])
        if not isinstance(code_paths, list):
            raise ValidationError(f"{where}.code_paths must be a list", field=f"{where}.code_paths")
        artifacts = body.get("artifacts", {})
        if not isinstance(artifacts, dict):
            raise ValidationError(
                f"{where}.artifacts must be an object", field=f"{where}.artifacts"
            )
        for name in artifacts:
            check_artifact_name(name, f"{where}.artifacts")
        signature = body.get("signature")
        if signature is not None and not isinstance(signature, dict):
            raise ValidationError(
                f"{where}.signature must be an object", field=f"{where}.signature"
            )
        versions = body.get("library_versions", {})
        if not isinstance(versions, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in versions.items()
        ):
            raise ValidationError(
                f"{where}.library_versions must map names to version strings",
                field=f"{where}.library_versions",
            )
        created = body.get("created_time", 0)
        if isinstance(created, bool) or not isinstance(created, int):
            raise ValidationError(
                f"{where}.created_time must be an integer", field=f"{where}.created_time"
            )
        return cls(
            flavor=flavor,
            serialization=serialization,
            data=data,
            model_class=model_class,
            code_paths=tuple(
                clean_relative_path(p, f"{where}.code_paths") for p in _strings(code_paths, where)
            ),
            artifacts={
                name: clean_relative_path(p, f"{where}.artifacts.{name}")
                for name, p in artifacts.items()
                if _is_str(p, f"{where}.artifacts.{name}")
            },
            signature=signature,
            input_example=_optional_path(body, "input_example", where),
            format_version=version,
            python_version=str(body.get("python_version", "")),
            library_versions=dict(versions),
            mloop_version=str(body.get("mloop_version", "")),
            created_time=created,
        )


def _is_str(value: object, field_name: str) -> bool:
    if not isinstance(value, str):
        raise ValidationError(f"{field_name} must be a string", field=field_name)
    return True


def _strings(values: list[Any], where: str) -> list[str]:
    for value in values:
        _is_str(value, f"{where}.code_paths")
    return values


def _string(body: dict[str, Any], key: str, where: str) -> str:
    value = body.get(key)
    if not isinstance(value, str) or not value:
        raise ValidationError(f"{where}.{key} must be a non-empty string", field=f"{where}.{key}")
    return value


def _optional_path(body: dict[str, Any], key: str, where: str) -> str | None:
    value = body.get(key)
    if value is None:
        return None
    _is_str(value, f"{where}.{key}")
    return clean_relative_path(value, f"{where}.{key}")


def check_artifact_name(name: object, field_name: str = "artifacts") -> str:
    """A pyfunc artifact name: letters, digits and ``_ . -``, starting with a letter or digit."""
    if not isinstance(name, str) or not _ARTIFACT_NAME_RE.match(name):
        raise ValidationError(
            f"{field_name}: artifact name {name!r} may only contain letters, digits and _ . - "
            "(at most 128 characters, starting with a letter or digit)",
            field=field_name,
        )
    return name


def parse_metadata(raw: bytes, *, where: str = MODEL_FILE) -> ModelMetadata:
    """Parse and validate the bytes of a metadata file."""
    if len(raw) > MAX_METADATA_BYTES:
        raise ValidationError(
            f"{where} is {len(raw)} bytes; the limit is {MAX_METADATA_BYTES}", field=where
        )
    try:
        body = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ValidationError(f"{where} is not valid JSON: {exc}", field=where) from None
    return ModelMetadata.from_dict(body, where=where)


def read_metadata(model_dir: str | Path) -> ModelMetadata:
    """Read ``mloop-model.json`` from a local model directory."""
    path = Path(model_dir) / MODEL_FILE
    if not path.is_file():
        raise ValidationError(
            f"{model_dir} is not an mloop model directory: it has no {MODEL_FILE}. "
            "Save models with mloop.sklearn.save_model, mloop.pyfunc.save_model, "
            "mloop.lightgbm.save_model or mloop.xgboost.save_model",
            field="model_uri",
        )
    with open(path, "rb") as handle:
        raw = handle.read(MAX_METADATA_BYTES + 1)
    return parse_metadata(raw)


def write_metadata(model_dir: Path, metadata: ModelMetadata) -> None:
    """Write ``mloop-model.json`` (readable, sorted keys)."""
    text = json.dumps(metadata.to_dict(), indent=2, sort_keys=True, allow_nan=False)
    (model_dir / MODEL_FILE).write_text(text + "\n", encoding="utf-8")


def resolve_inside(model_dir: Path, rel: str, field_name: str) -> Path:
    """``model_dir / rel`` after checking that it stays inside ``model_dir`` (symlinks too)."""
    cleaned = clean_relative_path(rel, field_name)
    root = Path(os.path.realpath(model_dir))
    target = Path(os.path.realpath(root / cleaned))
    if target != root and root not in target.parents:
        raise ValidationError(
            f"{field_name} {rel!r} leads outside the model directory", field=field_name
        )
    if not target.exists():
        raise ValidationError(
            f"{field_name} names {rel!r}, which is missing from the model directory",
            field=field_name,
        )
    return target


def check_serialization(serialization: str, allowed: tuple[str, str], trusted: object) -> None:
    """``allowed`` is (the safe default, "pickle"); pickle needs ``trusted=True``."""
    if serialization not in allowed:
        raise ValidationError(
            f"serialization must be {allowed[0]!r} or {allowed[1]!r}, got {serialization!r}",
            field="serialization",
        )
    if serialization == "pickle" and trusted is not True:
        raise ValidationError(
            "serialization='pickle' runs arbitrary code when the model is loaded; pass "
            f"trusted=True to confirm, or use the default serialization={allowed[0]!r}",
            field="trusted",
        )
