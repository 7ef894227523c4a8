"""``mloop gate`` and ``mloop test models``: exit 0 on pass, 1 on failure, 2 on usage errors."""

from __future__ import annotations

import sys
import textwrap
from pathlib import Path

import pytest
from typer.testing import CliRunner

import mloop.evals as evals
from mloop.cli.main import app
from mloop.core.config import Settings
from tests.evals.evals_testing import register_classifier, register_data


@pytest.fixture
def models(settings: Settings) -> tuple[int, int]:
    register_data()
    good = register_classifier("credit", ["income", "debt"])
    poor = register_classifier("credit", ["noise"])
    evals.register_suite(
        "credit-v2",
        dataset="credit-test@golden",
        target="default",
        task="classification",
        primary="accuracy",
        resamples=200,
    )
    return good, poor


def test_gate_exit_codes(models: tuple[int, int]) -> None:
    good, poor = models
    runner = CliRunner(env={"COLUMNS": "200"})  # wide enough that no check name wraps
    ok = runner.invoke(
        app,
        [
            "gate",
            "--candidate",
            f"models:/credit/{good}",
            "--champion",
            f"models:/credit/{poor}",
            "--suite",
            "credit-v2",
        ],
    )
    assert ok.exit_code == 0, ok.output
    assert "PASSED" in ok.output and "accuracy (primary)" in ok.output
    bad = runner.invoke(
        app,
        [
            "gate",
            "--candidate",
            f"models:/credit/{poor}",
            "--champion",
            f"models:/credit/{good}",
            "--suite",
            "credit-v2",
        ],
    )
    assert bad.exit_code == 1 and "FAILED" in bad.output
    usage = runner.invoke(app, ["gate", "--candidate", "credit/1", "--suite", "credit-v2"])
    assert usage.exit_code == 2


def test_test_models_runs_the_checks(models: tuple[int, int], tmp_path: Path) -> None:
    good, _ = models
    (tmp_path / "credit_checks.py").write_text(
        textwrap.dedent(
            """
            from mloop.evals import Directional, Invariance, MinimumFunctionality

            ROWS = [{"income": 0.5, "debt": 0.1}, {"income": -1.0, "debt": 1.0}]
            CHECKS = [
                Directional("more income, more default score", ROWS, "income", 1.0, "up"),
                MinimumFunctionality("clear cases", [{"income": 4.0, "debt": -4.0}], [1]),
            ]
            FAILING = [Invariance("debt does not matter", ROWS, "debt", [5.0])]
            """
        )
    )
    runner = CliRunner(env={"COLUMNS": "200"})  # wide enough that no check name wraps
    try:
        ok = runner.invoke(
            app,
            [
                "test",
                "models",
                f"models:/credit/{good}",
                "--checks",
                "credit_checks:CHECKS",
                "--path",
                str(tmp_path),
            ],
        )
        assert ok.exit_code == 0, ok.output
        bad = runner.invoke(
            app,
            [
                "test",
                "models",
                f"models:/credit/{good}",
                "--checks",
                "credit_checks:FAILING",
                "--path",
                str(tmp_path),
            ],
        )
        assert bad.exit_code == 1 and "debt does not matter" in bad.output
        missing = runner.invoke(
            app,
            [
                "test",
                "models",
                f"models:/credit/{good}",
                "--checks",
                "credit_checks:NOPE",
                "--path",
                str(tmp_path),
            ],
        )
        assert missing.exit_code == 2
    finally:
        sys.modules.pop("credit_checks", None)
