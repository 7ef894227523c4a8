"""Identifier generation."""

import uuid


def new_id() -> str:
    """A random 32-character hex id (the same shape MLflow uses for runs)."""
    return uuid.uuid4().hex
