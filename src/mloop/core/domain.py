"""The domain declaration: what one domain brings to the server, the SDK, migrations and UI.

Each domain package declares itself once in its ``domain.py``; ``mloop.domains`` lists the
declarations. Everything is named by dotted reference (``"mloop.tracking.ops:operations"``)
and imported only when a part is needed, so that reading the list costs nothing and a CLI
command that needs one domain does not import the others.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Any


def load(reference: str) -> Any:
    """The object ``"package.module:attribute"`` names (or the module, without ``:``)."""
    module_name, _, attribute = reference.partition(":")
    module = importlib.import_module(module_name)
    return getattr(module, attribute) if attribute else module


@dataclass(frozen=True)
class Domain:
    """One domain's parts, by reference.

    - ``operations``: the domain's :class:`~mloop.core.operations.OperationSet`;
    - ``handlers``: the modules whose functions register on it (imported to load them);
    - ``tables``: the modules that define the domain's tables on the shared metadata;
    - ``files``: a tuple of :class:`~mloop.core.files.FileRoute`;
    - ``http``: functions ``(server) -> Surface | APIRouter`` for routes that are neither
      operations nor files (a compatibility API, the gateway); ``server`` is the server's
      :class:`~mloop.core.http.ServerParts`;
    - ``pages``: UI page modules, each with ``router(ui) -> APIRouter``.
    """

    name: str
    summary: str
    operations: str | None = None
    handlers: tuple[str, ...] = ()
    tables: tuple[str, ...] = ()
    files: str | None = None
    http: tuple[str, ...] = ()
    pages: tuple[str, ...] = ()

    def load_operations(self) -> dict[str, Any]:
        """Import the handler modules; the operations by name."""
        if self.operations is None:
            return {}
        for module in self.handlers:
            importlib.import_module(module)
        return dict(load(self.operations).operations)

    def load_tables(self) -> None:
        for module in self.tables:
            importlib.import_module(module)

    def load_files(self) -> tuple[Any, ...]:
        return tuple(load(self.files)) if self.files else ()
