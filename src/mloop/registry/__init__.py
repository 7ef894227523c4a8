"""Model registry: registered models, immutable versions, aliases with an audit trail."""

from mloop.registry import aliases, files, models, versions
from mloop.registry.ops import operations

__all__ = ["aliases", "files", "models", "operations", "versions"]
