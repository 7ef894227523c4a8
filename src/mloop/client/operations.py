"""The base of the SDK clients: a backend, and any domain's operation called by name."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pydantic

from mloop.client.backend import Backend
from mloop.client.connection import backend_for
from mloop.core.validation import from_pydantic
from mloop.domains import find_operation


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
