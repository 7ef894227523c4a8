"""Importable helpers of the serving tests."""

from __future__ import annotations

from typing import Any

import mloop


def call(operation: str, /, **fields: Any) -> Any:
    """An operation through the SDK (embedded, or remote when a test points it at a server)."""
    return mloop.Client().call(operation, **fields)


def variant(model: str, **fields: Any) -> dict[str, Any]:
    return {"model": model, **fields}
