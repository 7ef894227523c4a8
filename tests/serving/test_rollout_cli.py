"""``mloop endpoints deploy --ramp --rule``, ``check``, ``rollouts``, ``labels`` and
``compare``: a canary that advances, a broken one rolled back (exit 1), labels from a file
with bad rows named, the comparison table."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from tests.cli.cli_helpers import Cli
from tests.serving.rollout_testing import current, traffic

from mloop.store.runtime import Runtime


@pytest.fixture
def cli(models: dict[str, Any]) -> Cli:
    cli = Cli()
    cli.ok("endpoints", "create", "churn-api")
    cli.ok("endpoints", "deploy", "churn-api", "--model", "models:/churn/1")
    return cli


def test_a_ramp_from_the_command_line_advances_and_a_breach_exits_1(
    cli: Cli, runtime: Runtime
) -> None:
    out = cli.ok(
        "endpoints",
        "deploy",
        "churn-api",
        "--model",
        "models:/churn/1",
        "--strategy",
        "canary",
        "--candidate",
        "models:/churn/2",
        "--ramp",
        "25,100",
        "--step-seconds",
        "0",
        "--step-requests",
        "10",
        "--rule",
        "error_rate>0.2",
        "--rule",
        "latency_p99>500",
        "--min-samples",
        "5",
    )
    assert "25%" in out.output and "75%" in out.output
    rollout = current("churn-api")
    assert [r.kind for r in rollout.rules] == ["error_rate", "latency"]
    assert rollout.rules[1].quantile == 0.99 and rollout.rules[0].window_seconds == 300
    waiting = cli.ok("endpoints", "check", "churn-api")
    assert "wait" in waiting.output and "0 of 10 requests" in waiting.output
    traffic(runtime, "churn-api", "candidate", 2, start=rollout.started_at, count=20, spacing_ms=1)
    assert "promote" in cli.ok("endpoints", "check", "churn-api").output
    listed = cli.ok("endpoints", "rollouts", "churn-api")
    assert "completed" in listed.output and "25,100" in listed.output

    cli.ok(
        "endpoints",
        "deploy",
        "churn-api",
        "--model",
        "models:/churn/2",
        "--strategy",
        "canary",
        "--candidate",
        "models:/churn/1",
        "--weight",
        "10",
        "--rule",
        "error_rate>0.2",
        "--min-samples",
        "5",
    )
    broken = current("churn-api")
    traffic(
        runtime,
        "churn-api",
        "candidate",
        1,
        start=broken.started_at,
        count=10,
        spacing_ms=1,
        status="error",
    )
    result = cli("endpoints", "check", "churn-api")
    assert result.exit_code == 1
    assert "rollback" in result.output and "(error_rate) breached: 1 > 0.2" in result.output
    assert "rollback" in cli.ok("endpoints", "events", "churn-api").output


@pytest.mark.parametrize(
    ("rule", "message"),
    [
        ("error_rate<0.2", "write error_rate>0.2"),
        ("p99>3", "unknown rule 'p99'"),
        ("accuracy", "must look like NAME>THRESHOLD"),
    ],
)
def test_bad_rules_are_refused(cli: Cli, rule: str, message: str) -> None:
    result = cli(
        "endpoints",
        "deploy",
        "churn-api",
        "--model",
        "models:/churn/1",
        "--strategy",
        "canary",
        "--candidate",
        "models:/churn/2",
        "--weight",
        "10",
        "--rule",
        rule,
    )
    assert result.exit_code != 0 and message in result.output


def test_labels_from_a_file_and_the_comparison(cli: Cli, runtime: Runtime, tmp_path: Path) -> None:
    ids = traffic(
        runtime, "churn-api", "stable", 1, start=current_time(), count=30, prediction=lambda i: 1
    )
    bad = tmp_path / "bad.csv"
    bad.write_text("request_id,label\n" + f"{ids[0]},1\n" + ",0\n")
    result = cli("endpoints", "labels", "churn-api", str(bad))
    assert result.exit_code == 1 and "line 3: request_id is empty" in result.output
    good = tmp_path / "labels.csv"
    good.write_text(
        "request_id,label\n" + "".join(f"{r},{1 if i < 24 else 0}\n" for i, r in enumerate(ids))
    )
    assert "Attached 30 labels" in cli.ok("endpoints", "labels", "churn-api", str(good)).output
    table = cli.ok("endpoints", "compare", "churn-api").output
    assert "churn/1" in table and "0.8" in table and "accuracy" in table


def current_time() -> int:
    from mloop.core.timeutil import now_ms

    return now_ms() - 60_000
