"""Generic Python models: subclass :class:`PythonModel` and implement ``predict``::

    class Scaler(mloop.PythonModel):
        def load_context(self, context):
            self.factor = float(Path(context.artifacts["factor"]).read_text())

        def predict(self, model_input):
            return model_input * self.factor

    mloop.pyfunc.log_model("model", Scaler(), artifacts={"factor": "factor.txt"},
                           code_paths=["scaler.py"])

Models are saved from code: the class is referenced as ``module:QualifiedName`` and the
files in ``code_paths`` travel with the model. Loading runs that code, so it needs
``load_model(uri, trusted=True)``; the bundled files are imported as a private package and
never shadow installed modules. Pickling the instance needs
``serialization="pickle", trusted=True``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

from mloop.client.registry_fluent import ModelInfo, Trusted, log_model_dir
from mloop.client.registry_fluent import load_model as _load_any
from mloop.models.loading import LoadedModel
from mloop.models.python_model import PythonModel, PythonModelContext, save_model

PyFuncModel = LoadedModel

__all__ = [
    "ModelInfo",
    "PyFuncModel",
    "PythonModel",
    "PythonModelContext",
    "load_model",
    "log_model",
    "save_model",
]


def log_model(
    artifact_path: str,
    python_model: PythonModel | type,
    artifacts: Mapping[str, str | Path] | None = None,
    code_paths: Sequence[str | Path] | None = None,
    input_example: Any = None,
    registered_model_name: str | None = None,
    serialization: Literal["code", "pickle"] = "code",
    trusted: bool = False,
) -> ModelInfo:
    """Log a Python model into the active run (starting one if needed); optionally register it."""
    return log_model_dir(
        lambda local: save_model(
            local,
            python_model,
            artifacts=artifacts,
            code_paths=code_paths,
            input_example=input_example,
            serialization=serialization,
            trusted=trusted,
        ),
        artifact_path,
        registered_model_name,
    )


def load_model(model_uri: str | Path, trusted: Trusted = False) -> LoadedModel:
    """Load any mloop model for prediction (the same as :func:`mloop.load_model`)."""
    return _load_any(model_uri, trusted=trusted)
