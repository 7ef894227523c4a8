"""``mloop tokens``: the secret is printed once and never listed."""

from __future__ import annotations

import json

from tests.cli.cli_helpers import Cli

from mloop.auth.tokens import verify_token
from mloop.core.config import Settings
from mloop.store.runtime import open_runtime


def test_create_list_revoke(cli: Cli, settings: Settings) -> None:
    created = cli.ok("tokens", "create", "ci", "--role", "writer")
    secret = created.stdout.strip()
    assert secret.startswith("mlp_") and "\n" not in secret
    assert "not be shown again" in created.stderr

    runtime = open_runtime(settings)
    try:
        assert runtime.run(lambda ctx: verify_token(ctx, secret), write=False) == ("ci", "writer")
    finally:
        runtime.close()

    table = cli.ok("tokens", "list")
    assert "ci" in table.stdout and "writer" in table.stdout and "active" in table.stdout
    assert secret not in table.output
    listed = cli.ok("tokens", "list", "--json")
    assert secret not in listed.output
    (row,) = json.loads(listed.stdout)
    assert row["name"] == "ci" and row["role"] == "writer" and row["active"] is True
    assert secret.startswith(row["prefix"])

    assert "Revoked" in cli.ok("tokens", "revoke", "ci").stdout
    (row,) = json.loads(cli.ok("tokens", "list", "--json").stdout)
    assert row["active"] is False and row["revoked_at"] is not None


def test_token_errors(cli: Cli) -> None:
    cli.ok("tokens", "create", "ops", "--role", "admin")
    duplicate = cli("tokens", "create", "ops")
    assert duplicate.exit_code == 1
    assert "already exists" in duplicate.stderr
    assert duplicate.stdout == ""  # no secret for a token that was not created
    missing = cli("tokens", "revoke", "ghost")
    assert missing.exit_code == 1
    assert "error: no active token named 'ghost'" in missing.stderr
