"""A feature repository: a folder of Python modules whose module-level values are feature
definitions.

Each ``*.py`` file of the folder (not those starting with ``_``, not subfolders) is
imported as a top-level module named after the file, with the folder first on
``sys.path``, so a Python transformation registered from ``spend.py`` is
``spend:function`` and any process that puts the folder on its path (``MLOOP_FEATURE_REPO``
does, for the server) imports the same code.
"""

from __future__ import annotations

import importlib
import os
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from mloop.core.errors import ValidationError
from mloop.features.definitions import (
    AnyDefinition,
    Entity,
    FeatureService,
    FeatureView,
    OnDemandFeature,
)
from mloop.features.schemas import AdminApplyDefinitions
from mloop.features.sources import DatasetSource, FileSource, PostgresSource, SqlSource

REPO_ENV = "MLOOP_FEATURE_REPO"
_KINDS = (
    Entity,
    FileSource,
    DatasetSource,
    SqlSource,
    PostgresSource,
    FeatureView,
    OnDemandFeature,
    FeatureService,
)


def use_repo(path: str | os.PathLike[str]) -> Path:
    """Put the repository folder first on ``sys.path`` (once)."""
    folder = Path(path).resolve()
    if not folder.is_dir():
        raise ValidationError(f"{folder} is not a folder of feature definitions", field="path")
    if str(folder) not in sys.path:
        sys.path.insert(0, str(folder))
    return folder


def use_repo_from_env() -> None:
    """Put ``$MLOOP_FEATURE_REPO`` on ``sys.path`` when it is set."""
    path = os.environ.get(REPO_ENV)
    if path:
        use_repo(path)


def load_repo(path: str | os.PathLike[str]) -> list[AnyDefinition]:
    """The definitions of every module of the folder, in file order; the same object
    named twice counts once. A module that fails to import is an error naming it."""
    folder = use_repo(path)
    found: list[AnyDefinition] = []
    seen: set[int] = set()
    files = sorted(p for p in folder.glob("*.py") if not p.name.startswith("_"))
    if not files:
        raise ValidationError(f"{folder} has no Python files of feature definitions", field="path")
    for file in files:
        name = file.stem
        try:
            if name in sys.modules and _from(sys.modules[name], file):
                module = importlib.reload(sys.modules[name])
            else:
                module = importlib.import_module(name)
        except Exception as exc:
            raise ValidationError(
                f"{file.name} could not be imported: {type(exc).__name__}: {exc}", field="path"
            ) from exc
        if not _from(module, file):
            raise ValidationError(
                f"{file.name}: the module name {name!r} is taken by another module "
                f"({getattr(module, '__file__', '?')}); rename the file",
                field="path",
            )
        for value in vars(module).values():
            if isinstance(value, _KINDS) and id(value) not in seen:
                seen.add(id(value))
                found.append(value)
    return found


def _from(module: Any, file: Path) -> bool:
    source = getattr(module, "__file__", None)
    return source is not None and Path(source).resolve() == file.resolve()


def apply_request(definitions: Iterable[AnyDefinition], **options: Any) -> AdminApplyDefinitions:
    """The ``apply_definitions`` request for ``definitions``, each put under its kind."""
    lists: dict[str, list[Any]] = {
        "entities": [],
        "sources": [],
        "feature_views": [],
        "on_demand": [],
        "feature_services": [],
    }
    for d in definitions:
        if isinstance(d, Entity):
            lists["entities"].append(d.to_spec())
        elif isinstance(d, FileSource | DatasetSource | SqlSource | PostgresSource):
            lists["sources"].append(d.to_spec())
        elif isinstance(d, FeatureView):
            lists["feature_views"].append(d.to_spec())
            # A view brings its entities and source along when they are not listed.
            lists["entities"] += [e.to_spec() for e in d.entities]
            lists["sources"].append(d.source.to_spec())
        elif isinstance(d, OnDemandFeature):
            lists["on_demand"].append(d.to_spec())
        elif isinstance(d, FeatureService):
            lists["feature_services"].append(d.to_spec())
        else:
            raise ValidationError(f"{d!r} is not a feature definition", field="definitions")
    for key in ("entities", "sources"):
        unique: dict[str, Any] = {}
        for spec in lists[key]:
            if spec.name in unique and unique[spec.name] != spec:
                raise ValidationError(
                    f"two different definitions are named {spec.name!r}", field=key
                )
            unique[spec.name] = spec
        lists[key] = list(unique.values())
    return AdminApplyDefinitions(**lists, **options)
