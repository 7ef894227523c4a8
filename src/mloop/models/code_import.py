"""Importing a model's bundled code (``code/``) without touching ``sys.path``.

Each model's code is imported as a private package named after the digest of its files,
``_mloop_model_<digest>``: ``code/scaler.py`` becomes ``_mloop_model_<digest>.scaler``. Inside
that code an absolute import of a bundled name (``import helpers``, ``from pkg.sub import f``)
is redirected to the private package, so the model sees its own files just as it did when it
was trained; everywhere else ``import colorsys`` still finds the standard library. The only
global change is one finder on ``sys.meta_path`` that answers for the private names alone.
"""

from __future__ import annotations

import builtins
import hashlib
import importlib
import importlib.abc
import importlib.machinery
import sys
import threading
import types
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from mloop.models.digest import file_sha256, local_files
from mloop.models.metadata import resolve_inside

_PREFIX = "_mloop_model_"


class _BundledLoader(importlib.machinery.SourceFileLoader):
    """Executes a bundled source file with the model's own ``__import__``; writes no .pyc."""

    def __init__(self, fullname: str, path: str, table: dict[str, Any]) -> None:
        super().__init__(fullname, path)
        self._table = table

    def exec_module(self, module: types.ModuleType) -> None:
        # Import statements look ``__import__`` up in the module's ``__builtins__``, so this
        # redirect applies to the module's code only, including imports inside its functions.
        module.__dict__["__builtins__"] = self._table
        super().exec_module(module)

    def set_data(self, path: str, data: Any, *, _mode: int = 0o666) -> None:
        return None  # keep the model directory (and its digest) as it was downloaded


class _BundledFinder(importlib.abc.MetaPathFinder):
    """Finds the modules of registered private packages, and nothing else."""

    def __init__(self) -> None:
        self.tables: dict[str, dict[str, Any]] = {}

    def find_spec(
        self,
        fullname: str,
        path: Sequence[str] | None = None,
        target: types.ModuleType | None = None,
    ) -> importlib.machinery.ModuleSpec | None:
        head, dot, _ = fullname.partition(".")
        table = self.tables.get(head)
        if table is None or not dot:
            return None
        spec = importlib.machinery.PathFinder.find_spec(fullname, path)
        if spec is None:
            return None
        if isinstance(spec.loader, importlib.machinery.SourceFileLoader) and spec.origin:
            spec.loader = _BundledLoader(fullname, spec.origin, table)
        return spec


_FINDER = _BundledFinder()
_LOCK = threading.Lock()


def bundled_names(model_dir: Path, code_paths: Sequence[str]) -> dict[str, Path]:
    """Top-level module names the model's code files provide, with their paths."""
    names: dict[str, Path] = {}
    for rel in code_paths:
        path = resolve_inside(model_dir, rel, "mloop-model.json.code_paths")
        if path.is_dir():
            names[path.name] = path
        elif path.suffix == ".py":
            names[path.stem] = path
    return names


def _code_digest(names: dict[str, Path]) -> str:
    digest = hashlib.sha256()
    for name, path in sorted(names.items()):
        files = local_files(path) if path.is_dir() else [(path.name, path)]
        for rel, file in files:
            digest.update(f"{name}/{rel}\x00{file_sha256(file)}\n".encode())
    return digest.hexdigest()[:20]


def _import_table(package: str, names: frozenset[str]) -> dict[str, Any]:
    """A copy of the builtins whose ``__import__`` sends bundled names to ``package``."""
    original = builtins.__import__

    def _import(
        name: str,
        globals: dict[str, Any] | None = None,
        locals: dict[str, Any] | None = None,
        fromlist: Sequence[str] = (),
        level: int = 0,
    ) -> types.ModuleType:
        top = name.partition(".")[0]
        if level == 0 and top in names:
            module = original(f"{package}.{name}", globals, locals, fromlist, 0)
            # ``import a.b`` binds ``a``: the bundled one, not the private package.
            return module if fromlist else sys.modules[f"{package}.{top}"]
        return original(name, globals, locals, fromlist, level)

    table = dict(vars(builtins))
    table["__import__"] = _import
    return table


def code_package(model_dir: Path, code_paths: Sequence[str]) -> tuple[str, frozenset[str]]:
    """Register the model's code as a private package: its name and the bundled names."""
    names = bundled_names(model_dir, code_paths)
    package = f"{_PREFIX}{_code_digest(names)}"
    folders = sorted({str(path.parent) for path in names.values()})
    with _LOCK:
        module = sys.modules.get(package)
        if module is None:
            module = types.ModuleType(package, "code bundled with an mloop model")
            module.__path__ = []
            _FINDER.tables[package] = _import_table(package, frozenset(names))
            if _FINDER not in sys.meta_path:
                # First, so the standard path finder does not load these files without the
                # redirect; it answers None at once for every name outside the private packages.
                sys.meta_path.insert(0, _FINDER)
            sys.modules[package] = module
        # The same code in another directory (the first copy may since have been removed).
        module.__path__.extend(f for f in folders if f not in module.__path__)
    return package, frozenset(names)


def import_model_module(model_dir: Path, code_paths: Sequence[str], module_name: str) -> Any:
    """The module a model class lives in: from the model's code when bundled, else installed."""
    top = module_name.partition(".")[0]
    if code_paths:
        package, names = code_package(model_dir, code_paths)
        if top in names:
            return importlib.import_module(f"{package}.{module_name}")
    return importlib.import_module(module_name)
