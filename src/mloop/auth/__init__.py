"""Authentication: API tokens with reader, writer and admin roles."""

from __future__ import annotations

from typing import TYPE_CHECKING

from mloop.core.lazy import lazy_exports

EXPORTS: dict[str, str] = {
    "TokenInfo": "mloop.auth.tokens",
    "create_token": "mloop.auth.tokens",
    "list_tokens": "mloop.auth.tokens",
    "revoke_token": "mloop.auth.tokens",
    "verify_token": "mloop.auth.tokens",
    "ROLES": "mloop.core.roles",
    "Role": "mloop.core.roles",
    "role_allows": "mloop.core.roles",
}
__all__ = sorted(EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, EXPORTS)

if TYPE_CHECKING:
    from mloop.auth.tokens import TokenInfo, create_token, list_tokens, revoke_token, verify_token
    from mloop.core.roles import ROLES, Role, role_allows
