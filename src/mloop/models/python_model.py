"""The generic Python flavor ("pyfunc"): any class with a ``predict`` method.

By default a model is saved *from code*: ``mloop-model.json`` names the class as
``module:QualifiedName``, the files listed in ``code_paths`` are copied into ``code/``, and
files listed in ``artifacts`` are copied into ``artifacts/`` and handed to
:meth:`PythonModel.load_context`. Loading a Python model runs code (its module, its
constructor, ``load_context``), so it needs ``trusted=True``; the bundled code is imported as
a private package (:mod:`mloop.models.code_import`), never from ``sys.path``. Pickling the
instance instead is possible with ``serialization="pickle", trusted=True``.
"""

from __future__ import annotations

import abc
import importlib
import pickle
import shutil
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from mloop.core.errors import ValidationError
from mloop.models.code_import import import_model_module
from mloop.models.io import library_versions, staged_directory
from mloop.models.metadata import (
    ModelMetadata,
    check_artifact_name,
    check_serialization,
    resolve_inside,
    write_metadata,
)
from mloop.models.signature import infer_signature, save_input_example

FLAVOR = "pyfunc"
_PICKLE_FILE = "python_model.pkl"
_EXAMPLE_FILE = "input_example.json"


@dataclass(frozen=True)
class PythonModelContext:
    """What :meth:`PythonModel.load_context` receives: local paths of the model's artifacts."""

    artifacts: dict[str, str] = field(default_factory=dict)
    model_dir: str = ""


class PythonModel(abc.ABC):
    """Base class of custom models: implement :meth:`predict` (and :meth:`load_context`)."""

    def load_context(self, context: PythonModelContext) -> None:
        """Load what ``predict`` needs from ``context.artifacts`` (name to local path)."""
        return None

    @abc.abstractmethod
    def predict(self, model_input: Any) -> Any:
        """Return predictions for ``model_input``."""


def class_reference(cls: type) -> str:
    """``module:QualifiedName`` of a class that can be imported again when loading."""
    if "<locals>" in cls.__qualname__:
        raise ValidationError(
            f"{cls.__qualname__} is defined inside a function; define model classes at the top "
            "level of a module",
            field="python_model",
        )
    if cls.__module__ == "__main__":
        raise ValidationError(
            f"{cls.__qualname__} is defined in __main__, which cannot be imported when the model "
            "is loaded; move it to a module file and pass that file in code_paths",
            field="python_model",
        )
    return f"{cls.__module__}:{cls.__qualname__}"


def _copy_into(source: Path, dest_dir: Path, field_name: str) -> Path:
    if not source.exists():
        raise ValidationError(f"{field_name}: {source} does not exist", field=field_name)
    dest = dest_dir / source.name
    if dest.exists():
        raise ValidationError(
            f"{field_name}: two entries are named {source.name!r}", field=field_name
        )
    dest_dir.mkdir(parents=True, exist_ok=True)
    if source.is_dir():
        shutil.copytree(source, dest, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    else:
        shutil.copyfile(source, dest)
    return dest


def save_model(
    path: str | Path,
    python_model: PythonModel | type,
    *,
    artifacts: Mapping[str, str | Path] | None = None,
    code_paths: Sequence[str | Path] | None = None,
    input_example: Any = None,
    serialization: Literal["code", "pickle"] = "code",
    trusted: bool = False,
) -> ModelMetadata:
    """Write a Python model to a new directory ``path``.

    ``python_model`` is an instance (or the class) of a :class:`PythonModel` subclass. Saved
    from code, the class is instantiated without arguments at load time; keep state in
    ``artifacts``.
    """
    cls = python_model if isinstance(python_model, type) else type(python_model)
    if not callable(getattr(cls, "predict", None)):
        raise ValidationError(f"{cls.__name__} has no predict method", field="python_model")
    check_serialization(serialization, ("code", "pickle"), trusted)
    model_class = class_reference(cls) if serialization == "code" else None
    with staged_directory(path) as staging:
        code = [
            f"code/{_copy_into(Path(p), staging / 'code', 'code_paths').name}"
            for p in code_paths or []
        ]
        stored_artifacts = {}
        for name, local in (artifacts or {}).items():
            check_artifact_name(name)
            copied = _copy_into(Path(local), staging / "artifacts" / name, f"artifacts.{name}")
            stored_artifacts[name] = copied.relative_to(staging).as_posix()
        data = None
        if serialization == "pickle":
            instance = python_model() if isinstance(python_model, type) else python_model
            with open(staging / _PICKLE_FILE, "wb") as handle:
                pickle.dump(instance, handle, protocol=pickle.HIGHEST_PROTOCOL)
            data = _PICKLE_FILE
        versions = library_versions("numpy", "pandas")
        metadata = ModelMetadata(
            flavor=FLAVOR,
            serialization=serialization,
            data=data,
            model_class=model_class,
            code_paths=tuple(code),
            artifacts=stored_artifacts,
            library_versions=versions,
            mloop_version=versions.get("mloop", ""),
        )
        if input_example is not None:
            # Predict with the model as it will be loaded, which also proves that it loads.
            loaded = _instantiate(staging, _saved_instance(staging, metadata), metadata)
            try:
                output = loaded.predict(input_example)
            except Exception as exc:
                raise ValidationError(
                    f"predict(input_example) failed: {type(exc).__name__}: {exc}",
                    field="input_example",
                ) from exc
            save_input_example(input_example, staging / _EXAMPLE_FILE)
            from dataclasses import replace

            metadata = replace(
                metadata,
                signature=infer_signature(input_example, output),
                input_example=_EXAMPLE_FILE,
            )
        write_metadata(staging, metadata)
    return metadata


def _saved_instance(staging: Path, metadata: ModelMetadata) -> Any:
    """The model as it will be loaded, from the caller's own code (the class is imported)."""
    if metadata.serialization == "pickle":
        with open(staging / str(metadata.data), "rb") as handle:
            return pickle.load(handle)  # written just now from the caller's object
    return _new_instance(_import_class(str(metadata.model_class), importlib.import_module))


def _import_class(reference: str, import_module: Callable[[str], Any]) -> type:
    module_name, _, qualname = reference.partition(":")
    try:
        target: Any = import_module(module_name)
    except ImportError as exc:
        raise ValidationError(
            f"cannot import {module_name!r} for the model class {reference}: {exc}. Save the "
            "model with code_paths listing the file that defines the class, or install it",
            field="mloop-model.json.model_class",
        ) from exc
    for part in qualname.split("."):
        target = getattr(target, part, None)
        if target is None:
            raise ValidationError(
                f"module {module_name!r} has no class {qualname!r}",
                field="mloop-model.json.model_class",
            )
    if not isinstance(target, type):
        raise ValidationError(f"{reference} is not a class", field="mloop-model.json.model_class")
    return target


def _new_instance(cls: type) -> Any:
    try:
        return cls()
    except TypeError as exc:
        raise ValidationError(
            f"{cls.__module__}:{cls.__qualname__} cannot be created without arguments ({exc}); "
            "keep its state in artifacts and read them in load_context",
            field="python_model",
        ) from exc


def refuse_untrusted(metadata: ModelMetadata, model: str) -> None:
    """Refuse to load a Python model: whatever its serialization, loading runs its code."""
    if metadata.serialization == "pickle":
        what = "was saved with pickle, and unpickling it can run arbitrary code"
    else:
        code = ", ".join(metadata.code_paths) or "no bundled files"
        what = (
            f"is a Python model saved from code (class {metadata.model_class}; {code}), and "
            "loading it imports and runs that code"
        )
    raise ValidationError(
        f"model {model} {what}. Nothing was run. If you trust where it came from, load it "
        f"with trusted=True: mloop.load_model({model!r}, trusted=True)",
        field="trusted",
    )


def load_python_model(
    model_dir: str | Path,
    metadata: ModelMetadata,
    *,
    trusted: bool | Sequence[str] = False,
    model: str = "",
) -> Any:
    """Instantiate the model (from its code, or unpickled) and call load_context.

    Needs ``trusted=True``: the model's code runs. ``model`` names it in the refusal.
    """
    root = Path(model_dir)
    if trusted is not True:
        refuse_untrusted(metadata, model or str(root))
    if metadata.serialization == "pickle":
        payload = resolve_inside(root, str(metadata.data), "mloop-model.json.data")
        with open(payload, "rb") as handle:
            instance = pickle.load(handle)  # the caller passed trusted=True
    else:
        cls = _import_class(
            str(metadata.model_class),
            lambda name: import_model_module(root, metadata.code_paths, name),
        )
        instance = _new_instance(cls)
    return _instantiate(root, instance, metadata)


def _instantiate(root: Path, instance: Any, metadata: ModelMetadata) -> Any:
    """Check ``predict`` and hand ``load_context`` the model's artifacts."""
    if not callable(getattr(instance, "predict", None)):
        raise ValidationError(
            f"{type(instance).__name__} has no predict method", field="mloop-model.json.model_class"
        )
    context = PythonModelContext(
        artifacts={
            name: str(resolve_inside(root, rel, f"mloop-model.json.artifacts.{name}"))
            for name, rel in metadata.artifacts.items()
        },
        model_dir=str(root),
    )
    load_context = getattr(instance, "load_context", None)
    if callable(load_context):
        load_context(context)
    return instance
