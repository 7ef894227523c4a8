"""API tokens with roles. Tokens are shown once at creation; only their SHA-256 is stored."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from typing import cast

from sqlalchemy import insert, select, update
from sqlalchemy.exc import IntegrityError

from mloop.auth.tables import api_tokens
from mloop.core.errors import AuthenticationError, ConflictError, NotFoundError, ValidationError
from mloop.core.roles import ROLES, Role
from mloop.core.timeutil import now_ms
from mloop.core.validation import check_name
from mloop.store.context import Context

TOKEN_PREFIX = "mlp_"


@dataclass(frozen=True)
class TokenInfo:
    """A token as listed (never the secret itself)."""

    name: str
    role: Role
    prefix: str
    created_at: int
    revoked_at: int | None
    last_used_at: int | None


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def create_token(ctx: Context, name: str, role: str) -> str:
    """Create a token and return its secret (the only time it is available)."""
    check_name(name, "name", max_length=128)
    if role not in ROLES:
        raise ValidationError(f"role must be one of {', '.join(ROLES)}, got {role!r}", field="role")
    secret = TOKEN_PREFIX + secrets.token_urlsafe(32)
    try:
        with ctx.conn.begin_nested():
            ctx.conn.execute(
                insert(api_tokens).values(
                    name=name,
                    role=role,
                    token_hash=hash_token(secret),
                    prefix=secret[:10],
                    created_at=now_ms(),
                )
            )
    except IntegrityError as exc:
        raise ConflictError(f"a token named {name!r} already exists", field="name") from exc
    return secret


def revoke_token(ctx: Context, name: str) -> None:
    """Revoke a token by name; it stops working at once."""
    result = ctx.conn.execute(
        update(api_tokens)
        .where(api_tokens.c.name == name, api_tokens.c.revoked_at.is_(None))
        .values(revoked_at=now_ms())
    )
    if result.rowcount == 0:
        raise NotFoundError(f"no active token named {name!r}", field="name")


def list_tokens(ctx: Context) -> list[TokenInfo]:
    rows = ctx.conn.execute(select(api_tokens).order_by(api_tokens.c.created_at))
    return [
        TokenInfo(
            name=r.name,
            role=cast(Role, r.role),
            prefix=r.prefix,
            created_at=r.created_at,
            revoked_at=r.revoked_at,
            last_used_at=r.last_used_at,
        )
        for r in rows
    ]


def count_active_tokens(ctx: Context) -> int:
    rows = ctx.conn.execute(select(api_tokens.c.id).where(api_tokens.c.revoked_at.is_(None)))
    return len(rows.all())


def verify_token(ctx: Context, secret: str) -> tuple[str, Role]:
    """The (name, role) of a valid token, or :class:`AuthenticationError`."""
    if not secret.startswith(TOKEN_PREFIX) or len(secret) > 200:
        raise AuthenticationError("the token is malformed", field="Authorization")
    row = ctx.conn.execute(
        select(api_tokens.c.name, api_tokens.c.role, api_tokens.c.revoked_at).where(
            api_tokens.c.token_hash == hash_token(secret)
        )
    ).first()
    if row is None or row.revoked_at is not None:
        raise AuthenticationError("the token is unknown or revoked", field="Authorization")
    return row.name, cast(Role, row.role)
