"""Roles: what a caller may do. Every operation and route declares the role it needs."""

from __future__ import annotations

from typing import Literal

Role = Literal["reader", "writer", "admin"]
ROLES: tuple[Role, ...] = ("reader", "writer", "admin")
_RANK: dict[str, int] = {role: i for i, role in enumerate(ROLES)}


def role_allows(held: str, needed: str) -> bool:
    """Whether role ``held`` may do what ``needed`` requires (admin > writer > reader)."""
    return _RANK.get(held, -1) >= _RANK[needed]
