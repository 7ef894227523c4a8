"""Foundation shared by every layer: configuration, errors, ids, time and operations."""

from mloop.core.config import Settings, get_settings
from mloop.core.errors import (
    AuthenticationError,
    ConflictError,
    DataContractError,
    MloopError,
    NotFoundError,
    PayloadTooLargeError,
    PermissionDeniedError,
    ValidationError,
)
from mloop.core.ids import new_id
from mloop.core.timeutil import now_ms

__all__ = [
    "AuthenticationError",
    "ConflictError",
    "DataContractError",
    "MloopError",
    "NotFoundError",
    "PayloadTooLargeError",
    "PermissionDeniedError",
    "Settings",
    "ValidationError",
    "get_settings",
    "new_id",
    "now_ms",
]
