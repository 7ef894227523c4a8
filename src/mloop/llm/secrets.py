"""Encrypted provider keys: the ``llm_secrets`` table, encrypted with Fernet.

The encryption key is ``MLOOP_SECRET_KEY`` (a Fernet key) or, when that is unset, the file
``MLOOP_HOME/secret.key``, created with mode 0600 on first use. Values are never listed,
logged or put into error messages; only names and times are. A value encrypted under another
key fails with :class:`SecretKeyError` instead of decrypting to garbage.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import delete, insert, select, update

from mloop.core.errors import MloopError, NotFoundError, ValidationError
from mloop.core.timeutil import now_ms
from mloop.llm.calls.tables import llm_secrets
from mloop.store.context import Context

if TYPE_CHECKING:
    from cryptography.fernet import Fernet

    from mloop.store.runtime import Runtime

KEY_ENV = "MLOOP_SECRET_KEY"
KEY_FILE = "secret.key"
MAX_VALUE_CHARS = 16_384
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
_MAKE_KEY = (
    "python -c 'from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())'"
)


class SecretKeyError(MloopError):
    """The secret key is unusable, or a stored value was encrypted under another key."""

    code = "SECRET_KEY_ERROR"
    http_status = 500


@dataclass(frozen=True)
class SecretInfo:
    """A stored secret as listed: never its value."""

    name: str
    creation_time: int
    last_update_time: int


def _fernet_class() -> type[Fernet]:
    try:
        from cryptography.fernet import Fernet
    except ImportError:
        raise SecretKeyError(
            "encrypted provider keys need the cryptography package: pip install 'mloop[llm]'"
        ) from None
    return Fernet


def load_fernet(home: Path) -> Fernet:
    """The Fernet of ``MLOOP_SECRET_KEY``, else of ``home/secret.key`` (created if missing)."""
    fernet = _fernet_class()
    raw = os.environ.get(KEY_ENV, "").strip()
    source = KEY_ENV
    if not raw:
        path = home / KEY_FILE
        source = str(path)
        raw = _read_or_create_key_file(path, fernet)
    try:
        return fernet(raw.encode())
    except ValueError:
        # The message never repeats the key: a near-miss key is still secret material.
        raise SecretKeyError(
            f"{source} is not a Fernet key (32 url-safe base64-encoded bytes); make one with "
            f"{_MAKE_KEY}"
        ) from None


def _read_or_create_key_file(path: Path, fernet: type[Fernet]) -> str:
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        # O_EXCL: two processes starting at once cannot both write a key; the loser reads.
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        try:
            return path.read_text(encoding="ascii").strip()
        except (OSError, UnicodeDecodeError) as exc:
            raise SecretKeyError(f"cannot read the secret key file {path}: {exc}") from None
    key = fernet.generate_key()
    with os.fdopen(fd, "wb") as handle:
        handle.write(key + b"\n")
    return key.decode()


def check_secret_name(name: object) -> str:
    if not isinstance(name, str) or not _NAME.match(name):
        raise ValidationError(
            "secret name: use 1 to 128 letters, digits, '.', '_' and '-', starting with a "
            "letter or digit",
            field="name",
        )
    return name


def _check_value(value: object) -> str:
    if not isinstance(value, str) or not value:
        raise ValidationError("the secret value is empty", field="value")
    if len(value) > MAX_VALUE_CHARS:
        raise ValidationError(
            f"the secret value is {len(value)} characters; the limit is {MAX_VALUE_CHARS}",
            field="value",
        )
    return value


# -- operations on one transaction -----------------------------------------------------


def set_secret(ctx: Context, fernet: Fernet, name: str, value: str) -> bool:
    """Store ``value`` under ``name``; True when it was new, False when it replaced one."""
    check_secret_name(name)
    token = fernet.encrypt(_check_value(value).encode()).decode()
    now = now_ms()
    updated = ctx.conn.execute(
        update(llm_secrets)
        .where(llm_secrets.c.name == name)
        .values(ciphertext=token, last_update_time=now)
    )
    if updated.rowcount:
        return False
    ctx.conn.execute(
        insert(llm_secrets).values(
            name=name, ciphertext=token, creation_time=now, last_update_time=now
        )
    )
    return True


def get_secret(ctx: Context, fernet: Fernet, name: str) -> str:
    """The decrypted value of ``name``."""
    from cryptography.fernet import InvalidToken

    check_secret_name(name)
    token = ctx.conn.execute(
        select(llm_secrets.c.ciphertext).where(llm_secrets.c.name == name)
    ).scalar_one_or_none()
    if token is None:
        raise NotFoundError(
            f"no secret named {name!r}: set it with `mloop gateway secrets set {name}`",
            field="name",
        )
    try:
        return fernet.decrypt(token.encode()).decode()
    except InvalidToken:
        raise SecretKeyError(
            f"secret {name!r} cannot be decrypted with the current secret key ({KEY_ENV} or "
            f"MLOOP_HOME/{KEY_FILE}); it was stored under another key. Restore that key, or "
            f"set the secret again with `mloop gateway secrets set {name}`"
        ) from None


def list_secrets(ctx: Context) -> list[SecretInfo]:
    rows = ctx.conn.execute(
        select(
            llm_secrets.c.name, llm_secrets.c.creation_time, llm_secrets.c.last_update_time
        ).order_by(llm_secrets.c.name)
    )
    return [SecretInfo(r.name, r.creation_time, r.last_update_time) for r in rows]


def delete_secret(ctx: Context, name: str) -> None:
    check_secret_name(name)
    result = ctx.conn.execute(delete(llm_secrets).where(llm_secrets.c.name == name))
    if result.rowcount == 0:
        raise NotFoundError(f"no secret named {name!r}", field="name")


class SecretStore:
    """The secrets of one mloop store; each call is one transaction."""

    def __init__(self, runtime: Runtime, *, fernet: Fernet | None = None) -> None:
        self._runtime = runtime
        self._fernet = fernet

    def __repr__(self) -> str:
        return f"SecretStore(home={str(self._runtime.settings.home)!r})"

    @property
    def fernet(self) -> Fernet:
        # Loaded on first use, so a store that only lists never creates a key file.
        if self._fernet is None:
            self._fernet = load_fernet(self._runtime.settings.home)
        return self._fernet

    def set(self, name: str, value: str) -> bool:
        """Store a secret; True when it was new."""
        fernet = self.fernet
        return self._runtime.run(lambda ctx: set_secret(ctx, fernet, name, value), write=True)

    def get(self, name: str) -> str:
        fernet = self.fernet
        return self._runtime.run(lambda ctx: get_secret(ctx, fernet, name), write=False)

    def list(self) -> list[SecretInfo]:
        return self._runtime.run(list_secrets, write=False)

    def delete(self, name: str) -> None:
        self._runtime.run(lambda ctx: delete_secret(ctx, name), write=True)
