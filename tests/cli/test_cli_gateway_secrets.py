"""``mloop gateway secrets``: values come in on stdin and never come out."""

from __future__ import annotations

import json

import pytest
from tests.cli.cli_helpers import Cli
from typer.testing import Result

from mloop.cli.main import app
from mloop.core.config import Settings
from mloop.llm.secrets import KEY_ENV, SecretStore
from mloop.store.runtime import open_runtime

VALUE = "sk-ant-api03-cli-secret-value-42"


@pytest.fixture(autouse=True)
def _no_env_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(KEY_ENV, raising=False)


def _stored(settings: Settings, name: str) -> str:
    runtime = open_runtime(settings)
    try:
        return SecretStore(runtime).get(name)
    finally:
        runtime.close()


def _set(cli: Cli, name: str, stdin: str) -> Result:
    """``mloop gateway secrets set NAME`` with ``stdin`` piped in."""
    return cli._runner.invoke(app, ["gateway", "secrets", "set", name], input=stdin)


def test_set_list_delete(cli: Cli, settings: Settings) -> None:
    created = _set(cli, "anthropic-key", VALUE + "\n")
    assert created.exit_code == 0, created.output
    assert "Stored secret anthropic-key" in created.output
    assert VALUE not in created.output
    assert _stored(settings, "anthropic-key") == VALUE  # the pipe's line break is not kept

    table = cli.ok("gateway", "secrets", "list")
    assert "anthropic-key" in table.stdout and VALUE not in table.output
    (row,) = json.loads(cli.ok("gateway", "secrets", "list", "--json").stdout)
    assert row["name"] == "anthropic-key" and set(row) == {"name", "created_at", "updated_at"}

    assert (
        "Deleted secret anthropic-key"
        in cli.ok("gateway", "secrets", "delete", "anthropic-key").stdout
    )
    assert json.loads(cli.ok("gateway", "secrets", "list", "--json").stdout) == []


def test_replacing_says_so(cli: Cli, settings: Settings) -> None:
    assert _set(cli, "k", "one").exit_code == 0
    replaced = _set(cli, "k", "two\n")
    assert replaced.exit_code == 0 and "Replaced secret k" in replaced.output
    assert _stored(settings, "k") == "two"


def test_the_value_is_never_an_argument(cli: Cli) -> None:
    result = cli("gateway", "secrets", "set", "k", VALUE)
    assert result.exit_code != 0  # no second argument exists to put a key on the command line


def test_errors(cli: Cli) -> None:
    bad_name = _set(cli, "bad name", VALUE)
    assert bad_name.exit_code == 1 and "secret name" in bad_name.stderr
    empty = _set(cli, "k", "\n")
    assert empty.exit_code == 1 and "empty" in empty.stderr
    missing = cli("gateway", "secrets", "delete", "ghost")
    assert missing.exit_code == 1 and "no secret named 'ghost'" in missing.stderr
