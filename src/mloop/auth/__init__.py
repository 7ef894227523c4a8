"""Authentication: API tokens with reader, writer and admin roles."""

from mloop.auth.tokens import (
    ROLES,
    Role,
    TokenInfo,
    create_token,
    list_tokens,
    revoke_token,
    role_allows,
    verify_token,
)

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
