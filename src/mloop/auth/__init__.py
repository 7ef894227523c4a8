"""Authentication: API tokens with reader, writer and admin roles."""

from mloop.auth.tokens import TokenInfo, create_token, list_tokens, revoke_token, verify_token
from mloop.core.roles import ROLES, Role, role_allows

__all__ = [
    "ROLES",
    "Role",
    "TokenInfo",
    "create_token",
    "list_tokens",
    "revoke_token",
    "role_allows",
    "verify_token",
]
