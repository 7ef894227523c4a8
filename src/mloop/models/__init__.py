"""The model format: directories with ``mloop-model.json``, flavors, signatures and loading.

This package is a library under the registry and the SDK: it reads and writes local model
directories and imports nothing of the server or the client.
"""

from mloop.models.loading import LoadedModel, load_model_dir
from mloop.models.metadata import MODEL_FILE, ModelMetadata, read_metadata
from mloop.models.python_model import PythonModel, PythonModelContext
from mloop.models.signature import enforce_schema, infer_schema, infer_signature

__all__ = [
    "MODEL_FILE",
    "LoadedModel",
    "ModelMetadata",
    "PythonModel",
    "PythonModelContext",
    "enforce_schema",
    "infer_schema",
    "infer_signature",
    "load_model_dir",
    "read_metadata",
]
