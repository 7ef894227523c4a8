"""``mloop data validate`` and ``mloop data profile``: the CI gate on data contracts."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from tests.cli.cli_helpers import Cli

CONTRACT = """\
contract: transactions
version: 2
columns:
  id: {type: int, nullable: false, unique: true}
  amount: {type: float, min: 0, max: 100}
  country: {type: string, nullable: false, allowed: [DE, FR, US]}
  email: {type: string, regex: '^[^@]+@[^@]+$', severity: warn}
rows: {min: 10}
distribution:
  - column: amount
    mean_within: 0.2
"""


@pytest.fixture
def files(tmp_path: Path) -> Path:
    rng = np.random.default_rng(0)
    n = 500
    clean = pd.DataFrame(
        {
            "id": np.arange(n),
            "amount": rng.uniform(0, 100, n),
            "country": rng.choice(["DE", "FR", "US"], n),
            "email": [f"u{i}@example.com" for i in range(n)],
        }
    )
    clean.to_parquet(tmp_path / "clean.parquet")
    clean.to_csv(tmp_path / "clean.csv", index=False)
    bad = clean.copy()
    bad.loc[:4, "amount"] = -5.0
    bad.loc[10:12, "country"] = None
    bad.loc[20, "email"] = "not-an-email"
    bad.to_parquet(tmp_path / "bad.parquet")
    clean.rename(columns={"country": "land"}).to_parquet(tmp_path / "renamed.parquet")
    (tmp_path / "contract.yaml").write_text(CONTRACT)
    return tmp_path


def test_clean_data_passes(cli: Cli, files: Path) -> None:
    result = cli.ok(
        "data", "validate", str(files / "clean.parquet"), "--contract",
        str(files / "contract.yaml"), "--reference", str(files / "clean.csv"),
    )  # fmt: skip
    assert "PASSED" in result.stdout and "amount.min" in result.stdout


def test_corrupted_data_fails_with_counts_examples_and_reports(cli: Cli, files: Path) -> None:
    out = files / "reports"
    result = cli(
        "data", "validate", str(files / "bad.parquet"), "-c", str(files / "contract.yaml"),
        "--reference", str(files / "clean.parquet"),
        "--json", str(out / "report.json"), "--junit", str(out / "report.xml"),
    )  # fmt: skip
    assert result.exit_code == 1, result.output
    assert "FAILED" in result.stdout
    assert "5 (1.00%)" in result.stdout  # amount.min: five rows below 0
    assert "id=0, amount=-5.0" in result.stdout  # an example row
    assert "WARN" in result.stdout  # the email regex is only a warning

    report = json.loads((out / "report.json").read_text())
    checks = {c["name"]: c for c in report["checks"]}
    assert checks["amount.min"]["failing_count"] == 5
    assert checks["country.not_null"]["failing_count"] == 3
    assert checks["email.regex"]["status"] == "failed"
    assert checks["email.regex"]["severity"] == "warn"
    assert len(checks["amount.min"]["examples"]) == 5

    suite = ET.parse(out / "report.xml").getroot()
    failures = [c.get("name") for c in suite.iter("testcase") if c.find("failure") is not None]
    assert "amount.min" in failures and "email.regex" not in failures


def test_renamed_column_is_reported_with_a_suggestion(cli: Cli, files: Path) -> None:
    result = cli(
        "data", "validate", str(files / "renamed.parquet"), "-c", str(files / "contract.yaml"),
        "--reference", str(files / "clean.parquet"),
    )  # fmt: skip
    assert result.exit_code == 1
    assert "'country' is missing" in result.stdout and "land" in result.stdout


def test_unusable_input_exits_2(cli: Cli, files: Path) -> None:
    contract = str(files / "contract.yaml")
    missing = cli("data", "validate", str(files / "nope.parquet"), "-c", contract)
    assert missing.exit_code == 2 and "nope.parquet" in missing.stderr
    (files / "typo.yaml").write_text("contract: t\ncolumns:\n  id: {type: int, minn: 3}\n")
    typo = cli("data", "validate", str(files / "clean.parquet"), "-c", str(files / "typo.yaml"))
    assert typo.exit_code == 2
    assert "typo.yaml:3" in typo.stderr and "did you mean 'min'" in typo.stderr
    no_contract = cli("data", "validate", str(files / "clean.parquet"), "-c", "absent.yaml")
    assert no_contract.exit_code == 2 and "absent.yaml" in no_contract.stderr
    # Distribution checks need a reference; without one they are errors, not silent passes.
    no_reference = cli("data", "validate", str(files / "clean.parquet"), "-c", contract)
    assert no_reference.exit_code == 1 and "reference" in no_reference.stdout


def test_profile_prints_and_writes_a_reusable_reference(cli: Cli, files: Path) -> None:
    path = files / "profile.json"
    result = cli.ok("data", "profile", str(files / "clean.parquet"), "--json", str(path))
    assert "500 rows, 4 columns" in result.stdout and "country" in result.stdout
    profile = json.loads(path.read_text())
    assert profile["row_count"] == 500
    validated = cli(
        "data", "validate", str(files / "bad.parquet"), "-c", str(files / "contract.yaml"),
        "--reference", str(path),
    )  # fmt: skip
    assert validated.exit_code == 1 and "amount.mean" in validated.stdout
    printed = cli.ok("data", "profile", str(files / "clean.csv"), "--print-json")
    assert json.loads(printed.stdout)["row_count"] == 500


def test_validate_a_registered_version_stores_the_result(cli: Cli, files: Path) -> None:
    import mloop

    mloop.register_dataset("tx", pd.read_parquet(files / "clean.parquet"), alias="golden")
    contract = str(files / "contract.yaml")
    result = cli.ok("data", "validate", "--dataset", "tx@golden", "-c", contract)
    assert "PASSED" in result.stdout
    stored = mloop.Client().list_dataset_validations("tx", 1)
    assert [v.passed for v in stored] == [True]
    missing = cli("data", "validate", "--dataset", "tx@nope", "-c", contract)
    assert missing.exit_code == 2 and "no alias 'nope'" in missing.stderr
    both = cli("data", "validate", "--dataset", "tx", "-c", contract, "--reference", contract)
    assert both.exit_code == 2
