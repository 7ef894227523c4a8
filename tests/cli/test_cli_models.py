"""``mloop models`` and ``mloop alias`` on models registered through the SDK."""

from __future__ import annotations

import json

import pytest
from tests.cli.cli_helpers import Cli

NAME = "churn-model"


@pytest.fixture
def registered(cli: Cli) -> list[int]:
    """Two versions of ``churn-model``, logged and registered through the SDK."""
    from sklearn.linear_model import LogisticRegression

    import mloop.sklearn

    X = [[0.0, 1.0], [1.0, 0.0], [0.2, 0.9], [0.9, 0.1]]
    y = [0, 1, 0, 1]
    versions = []
    mloop.set_experiment("models")
    for c in (0.5, 1.0):
        with mloop.start_run() as run:
            mloop.sklearn.log_model(LogisticRegression(C=c).fit(X, y), "model", input_example=X[:2])
        versions.append(int(mloop.register_model(f"runs:/{run.info.run_id}/model", NAME).version))
    return versions


def test_models_list(cli: Cli, registered: list[int]) -> None:
    assert NAME in cli.ok("models", "list").stdout
    (row,) = json.loads(cli.ok("models", "list", "--json").stdout)
    assert row["name"] == NAME and row["latest_version"] == max(registered)
    assert row["aliases"] == {}


def test_alias_set_move_delete_shows_in_models_show(cli: Cli, registered: list[int]) -> None:
    first, second = registered
    assert "champion" in cli.ok("alias", "set", NAME, "champion", str(first)).stdout
    body = json.loads(cli.ok("models", "show", NAME, "--json").stdout)
    assert body["aliases"] == {"champion": first}
    by_version = {v["version"]: v for v in body["versions"]}
    assert by_version[first]["aliases"] == ["champion"]

    cli.ok("alias", "set", NAME, "champion", str(second))
    table = cli.ok("models", "show", NAME).stdout
    for text in ("Versions", "Alias history", "champion", f"v{first}", f"v{second}"):
        assert text in table

    cli.ok("alias", "delete", NAME, "champion")
    body = json.loads(cli.ok("models", "show", NAME, "--json").stdout)
    assert body["aliases"] == {}
    moves = [(h["alias"], h["from_version"], h["to_version"]) for h in body["alias_history"]]
    assert ("champion", None, first) in moves
    assert ("champion", first, second) in moves
    assert ("champion", second, None) in moves


def test_model_errors(cli: Cli, registered: list[int]) -> None:
    missing = cli("models", "show", "no-such-model")
    assert missing.exit_code == 1
    assert missing.stderr.startswith("error: ")
    bad_version = cli("alias", "set", NAME, "champion", "99")
    assert bad_version.exit_code == 1
    assert bad_version.stderr.startswith("error: ")
    assert cli("alias", "set", NAME, "champion", "zero").exit_code == 2
