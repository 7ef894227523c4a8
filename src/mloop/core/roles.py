"""Roles: what a caller may do. Every operation and route declares the role it needs.

- ``reader``: read anything;
- ``writer``: also log runs, register models, datasets and prompts, move aliases and labels,
  and soft-delete (runs and experiments can be restored);
- ``deployer``: also move production: deploy model versions to endpoints, change their
  traffic, promote candidates and roll back;
- ``admin``: also what cannot be undone or changes the rules: deleting models, model versions
  and dataset versions with their files, and changing registration and approval policies.

A role grants a set of roles rather than a rank, so that a role outside the chain (a
reviewer who may only answer review queues) fits without granting reads or writes.
"""

from __future__ import annotations

from typing import Literal

Role = Literal["reader", "writer", "deployer", "admin"]
ROLES: tuple[Role, ...] = ("reader", "writer", "deployer", "admin")

GRANTS: dict[str, frozenset[str]] = {
    "reader": frozenset({"reader"}),
    "writer": frozenset({"reader", "writer"}),
    "deployer": frozenset({"reader", "writer", "deployer"}),
    "admin": frozenset(ROLES),
}


def role_allows(held: str, needed: str) -> bool:
    """Whether a caller with role ``held`` may do what needs role ``needed``."""
    if needed not in GRANTS:
        raise ValueError(f"unknown role {needed!r}")
    return needed in GRANTS.get(held, frozenset())
