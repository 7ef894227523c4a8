"""The base of the SDK clients: a backend, and any domain's operation called by name."""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

import pydantic

from mloop.client.backend import Backend
from mloop.client.connection import backend_for
from mloop.core.errors import ValidationError
from mloop.core.operations import Operation
from mloop.core.validation import from_pydantic


@functools.cache
def find_operation(name: str) -> Operation[Any, Any]:
    """The operation called ``name`` in any domain."""
    import mloop.datasets
    import mloop.prompts
    import mloop.registry
    import mloop.tracking

    for op_set in (
        mloop.tracking.operations,
        mloop.registry.operations,
        mloop.datasets.operations,
        mloop.prompts.operations,
    ):
        if name in op_set.operations:
            return op_set.operations[name]
    raise ValidationError(f"there is no operation named {name!r}", field="operation")


class BaseClient:
    """Holds the backend for a tracking URI and runs operations by name."""

    def __init__(self, tracking_uri: str | Path | None = None) -> None:
        self._backend: Backend = backend_for(str(tracking_uri) if tracking_uri else None)

    @property
    def tracking_uri(self) -> str:
        return self._backend.uri

    def call(self, operation: str, /, **fields: Any) -> Any:
        """Run any operation of any domain by name (the form every method uses)."""
        op = find_operation(operation)
        try:
            request = op.request(**fields)
        except pydantic.ValidationError as exc:
            raise from_pydantic(exc) from None
        return self._backend.call(op, request)
