"""Roles: what a caller may do. Every operation and route declares the role it needs.

- ``reader``: read anything;
- ``writer``: also log runs, register models, datasets and prompts, move aliases and labels,
  and soft-delete (runs and experiments can be restored);
- ``deployer``: also move production: deploy model versions to endpoints, change their
  traffic, promote candidates and roll back;
- ``admin``: also what cannot be undone or changes the rules: deleting models, model versions
  and dataset versions with their files, and changing registration and approval policies;
- ``reviewer``: outside the chain: sees and answers the review queues it may answer, and
  nothing else (no runs, models, endpoints or data). Writers and above may review too.

A role grants a set of permissions rather than a rank, so that the reviewer fits without
granting reads or writes. Operations need a role, or ``review_read``: reading review queues
and items, which readers (who read anything) and reviewers may both do.
"""

from __future__ import annotations

from typing import Literal

Role = Literal["reader", "reviewer", "writer", "deployer", "admin", "review_read"]
"""What an operation or route needs: a role a caller may hold, or ``review_read``."""
ROLES: tuple[Role, ...] = ("reader", "reviewer", "writer", "deployer", "admin")
"""The roles a token or user may hold."""

GRANTS: dict[str, frozenset[str]] = {
    "reader": frozenset({"reader", "review_read"}),
    "reviewer": frozenset({"reviewer", "review_read"}),
    "writer": frozenset({"reader", "review_read", "reviewer", "writer"}),
    "deployer": frozenset({"reader", "review_read", "reviewer", "writer", "deployer"}),
    "admin": frozenset({*ROLES, "review_read"}),
}


def role_allows(held: str, needed: str) -> bool:
    """Whether a caller with role ``held`` may do what needs role ``needed``."""
    if needed not in GRANTS["admin"]:
        raise ValueError(f"unknown role {needed!r}")
    return needed in GRANTS.get(held, frozenset())
