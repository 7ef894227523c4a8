"""Model registry: registered models, immutable versions, aliases with an audit trail."""

from __future__ import annotations

from typing import TYPE_CHECKING

from mloop.core.lazy import lazy_exports

EXPORTS: dict[str, str] = {
    "aliases": "mloop.registry.aliases",
    "files": "mloop.registry.files",
    "models": "mloop.registry.models",
    "versions": "mloop.registry.versions",
    "operations": "mloop.registry.ops",
}
__all__ = sorted(EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, EXPORTS)

if TYPE_CHECKING:
    from mloop.registry import aliases, files, models, versions
    from mloop.registry.ops import operations
