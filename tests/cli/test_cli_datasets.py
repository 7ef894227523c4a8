"""``mloop datasets``: register, list, show, versions, alias and policy."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from tests.cli.cli_helpers import Cli

CONTRACT = """\
contract: orders
columns:
  id: {type: int, nullable: false, unique: true}
  amount: {type: float, min: 0}
"""


@pytest.fixture
def files(tmp_path: Path) -> dict[str, Path]:
    good = pd.DataFrame({"id": [1, 2, 3], "amount": [1.5, 2.0, 9.25]})
    bad = pd.DataFrame({"id": [1, 1, 3], "amount": [1.5, -2.0, 9.25]})
    out = {
        "good": tmp_path / "good.csv",
        "more": tmp_path / "more.parquet",
        "bad": tmp_path / "bad.csv",
        "contract": tmp_path / "orders.yaml",
    }
    good.to_csv(out["good"], index=False)
    pd.concat([good, good.assign(id=[4, 5, 6])]).to_parquet(out["more"], index=False)
    bad.to_csv(out["bad"], index=False)
    out["contract"].write_text(CONTRACT)
    return out


def test_register_show_list_alias(cli: Cli, files: dict[str, Path]) -> None:
    result = cli.ok("datasets", "register", "orders", str(files["good"]), "--alias", "golden")
    assert "orders/1" in result.stdout and "created" in result.stdout
    again = cli.ok("datasets", "register", "orders", str(files["good"]), "--json")
    body = json.loads(again.stdout)
    assert body["version"] == 1 and body["created"] is False and body["row_count"] == 3
    cli.ok(
        "datasets", "register", "orders", str(files["more"]), "--contract", str(files["contract"])
    )

    (row,) = json.loads(cli.ok("datasets", "list", "--json").stdout)
    assert row["name"] == "orders" and row["latest_version"] == 2
    assert row["aliases"] == {"golden": 1}
    assert "orders" in cli.ok("datasets", "list").stdout

    versions = json.loads(cli.ok("datasets", "versions", "orders", "--json").stdout)
    assert [(v["version"], v["row_count"]) for v in versions] == [(2, 6), (1, 3)]
    assert versions[0]["latest_validation"]["passed"] is True
    table = cli.ok("datasets", "versions", "orders").stdout
    assert "orders v1: passed" in table

    shown = cli.ok("datasets", "show", "orders@golden").stdout
    for text in ("Schema", "Profile", "amount", "double", "golden", "Validations: none"):
        assert text in shown
    detail = json.loads(cli.ok("datasets", "show", "orders", "--json").stdout)
    assert detail["version"]["version"] == 2 and detail["validations"][0]["passed"]
    assert detail["version"]["profile"]["row_count"] == 6

    moved = cli.ok("datasets", "alias", "orders", "golden", "2").stdout
    assert "orders@golden → version 2" in moved
    cli.ok("datasets", "alias", "orders", "golden", "--delete")
    history = json.loads(cli.ok("datasets", "show", "orders/1", "--json").stdout)["alias_history"]
    assert [(h["from_version"], h["to_version"]) for h in history] == [(None, 1), (1, 2), (2, None)]


def test_policy_and_failed_registration(cli: Cli, files: dict[str, Path]) -> None:
    out = cli.ok("datasets", "policy", "orders", "--contract", str(files["contract"])).stdout
    assert "orders" in out and "required" in out
    result = cli("datasets", "register", "orders", str(files["bad"]))
    assert result.exit_code == 1
    assert "FAIL  amount.min" in result.stdout and "id.unique" in result.stdout
    assert "Nothing was stored" in result.stderr
    assert cli("datasets", "versions", "orders", "--json").stdout.strip() == "[]"

    cli.ok("datasets", "policy", "orders", "--contract", str(files["contract"]), "--optional")
    policy = json.loads(cli.ok("datasets", "policy", "orders", "--json").stdout)
    assert policy["required"] is False and policy["contract_name"] == "orders"
    assert "no policy" in cli.ok("datasets", "policy", "orders", "--remove").stdout


def test_errors_name_the_problem(cli: Cli, files: dict[str, Path]) -> None:
    for args, text in [
        (("datasets", "show", "nope"), "does not exist"),
        (("datasets", "register", "bad name", str(files["good"])), "may only contain"),
        (("datasets", "register", "orders", "missing.csv"), "no such file"),
        (("datasets", "register", "orders", str(files["good"]), "-c", "x.yaml"), "no such"),
        (("datasets", "alias", "orders", "golden"), "VERSION"),
    ]:
        result = cli(*args)
        assert result.exit_code != 0, args
        assert text in result.stderr, (args, result.stderr)


def test_models_show_lists_the_training_data(cli: Cli, files: dict[str, Path]) -> None:
    from sklearn.linear_model import LogisticRegression

    import mloop
    import mloop.sklearn

    mloop.set_dataset_policy("orders", files["contract"])
    mloop.register_dataset("orders", files["good"])
    with mloop.start_run():
        df = mloop.get_dataset("orders").to_pandas()
        mloop.sklearn.log_model(
            LogisticRegression().fit(df[["amount"]], df["id"] > 1),
            "model",
            input_example=df[["amount"]],
            registered_model_name="m",
        )
    assert "orders/1 (orders v1)" in cli.ok("models", "show", "m").stdout
    body = json.loads(cli.ok("models", "show", "m", "--json").stdout)
    assert body["versions"][0]["training_data"][0]["contract_name"] == "orders"
