"""Identifier generation."""

import uuid

# What new_id returns; the OpenAPI document states it for the ids a request names
# (mloop.core.fields), and a caller-chosen run id must match it.
ID_PATTERN = r"^[0-9a-f]{32}$"


def new_id() -> str:
    """A random 32-character hex id (the same shape MLflow uses for runs)."""
    return uuid.uuid4().hex
