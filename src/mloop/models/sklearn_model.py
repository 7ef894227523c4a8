"""The scikit-learn flavor: estimators saved with skops (safe) or pickle (trusted only).

skops files are loaded without running arbitrary code; types outside skops' trusted set
(custom classes, functions) are refused until the caller names them in ``trusted`` or
passes ``trusted=True`` after inspecting them. Pickle payloads need ``trusted=True`` both to
save and to load, because unpickling can run any code.
"""

from __future__ import annotations

import pickle
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

from mloop.core.errors import ValidationError
from mloop.models.io import library_versions, staged_directory
from mloop.models.metadata import ModelMetadata, check_serialization, resolve_inside, write_metadata
from mloop.models.signature import infer_signature, save_input_example

FLAVOR = "sklearn"
Trusted = bool | Sequence[str]
_PAYLOADS = {"skops": "model.skops", "pickle": "model.pkl"}
_EXAMPLE_FILE = "input_example.json"


def save_model(
    model: Any,
    path: str | Path,
    *,
    input_example: Any = None,
    serialization: Literal["skops", "pickle"] = "skops",
    trusted: bool = False,
) -> ModelMetadata:
    """Write ``model`` to a new directory ``path``; the signature comes from ``input_example``."""
    check_serialization(serialization, ("skops", "pickle"), trusted)
    if not callable(getattr(model, "predict", None)):
        raise ValidationError(
            f"model is a {type(model).__name__}, which has no predict method", field="model"
        )
    signature = None
    if input_example is not None:
        try:
            output = model.predict(input_example)
        except Exception as exc:
            raise ValidationError(
                f"model.predict(input_example) failed: {type(exc).__name__}: {exc}",
                field="input_example",
            ) from exc
        signature = infer_signature(input_example, output)
    payload = _PAYLOADS[serialization]
    with staged_directory(path) as staging:
        if serialization == "skops":
            import skops.io as sio

            sio.dump(model, staging / payload)
        else:
            with open(staging / payload, "wb") as handle:
                pickle.dump(model, handle, protocol=pickle.HIGHEST_PROTOCOL)
        if input_example is not None:
            save_input_example(input_example, staging / _EXAMPLE_FILE)
        versions = library_versions("scikit-learn", "skops", "numpy", "pandas")
        metadata = ModelMetadata(
            flavor=FLAVOR,
            serialization=serialization,
            data=payload,
            signature=signature,
            input_example=_EXAMPLE_FILE if input_example is not None else None,
            library_versions=versions,
            mloop_version=versions.get("mloop", ""),
        )
        write_metadata(staging, metadata)
    return metadata


def untrusted_types(model_dir: str | Path, metadata: ModelMetadata) -> list[str]:
    """The types in a skops payload that skops does not trust by default."""
    import skops.io as sio

    payload = resolve_inside(Path(model_dir), str(metadata.data), "mloop-model.json.data")
    return list(sio.get_untrusted_types(file=payload))


def load_estimator(
    model_dir: str | Path, metadata: ModelMetadata, trusted: Trusted = False, *, model: str = ""
) -> Any:
    """The estimator stored in a model directory, refusing what is not trusted.

    ``model`` names the model in the refusal (the directory when empty).
    """
    model = model or str(model_dir)
    payload = resolve_inside(Path(model_dir), str(metadata.data), "mloop-model.json.data")
    if metadata.serialization == "pickle":
        if trusted is not True:
            raise ValidationError(
                f"model {model} was saved with pickle, and loading it can run arbitrary code. "
                "Nothing was run. If you trust where it came from, load it with trusted=True: "
                f"mloop.load_model({model!r}, trusted=True)",
                field="trusted",
            )
        with open(payload, "rb") as handle:
            return pickle.load(handle)  # the caller passed trusted=True
    import skops.io as sio

    found = list(sio.get_untrusted_types(file=payload))
    if trusted is True:
        allowed = found
    else:
        allowed = [] if trusted is False else [str(t) for t in trusted]
        refused = [t for t in found if t not in allowed]
        if refused:
            raise ValidationError(
                f"model {model} contains types that are not trusted by default: {refused}. "
                "Loading them can run their code. Inspect them, then load with "
                f"trusted={refused!r} (or trusted=True to accept every type in this file)",
                field="trusted",
            )
    return sio.load(payload, trusted=allowed)
