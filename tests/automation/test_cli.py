"""``mloop triggers``, ``mloop jobs`` and ``mloop worker --once``."""

from __future__ import annotations

import json

import pytest

from mloop.core.config import Settings
from tests.cli.cli_helpers import Cli


@pytest.fixture
def cli(settings: Settings) -> Cli:
    return Cli()


def test_a_trigger_fired_from_the_cli_runs_in_a_worker(cli: Cli) -> None:
    cli.ok(
        "triggers", "create", "retrain", "--kind", "manual",
        "--pipeline", "tests.automation.flows:retrain", "--params", '{"model": "churn"}',
    )  # fmt: skip
    hook = cli.ok(
        "triggers", "create", "hook", "--kind", "webhook", "--pipeline", "a.b:c", "--json"
    )
    assert json.loads(hook.stdout)["secret"].startswith("whs_")
    fired = json.loads(cli.ok("triggers", "fire", "retrain", "--json").stdout)
    assert fired["event"]["outcome"] == "fired"
    again = cli.ok("triggers", "fire", "retrain")
    assert "skipped" in again.output and f"job {fired['job']['id']}" in again.output
    assert "1 job run" in cli.ok("worker", "--once").output
    (job,) = json.loads(cli.ok("jobs", "list", "--json").stdout)
    assert job["status"] == "succeeded" and job["result"]["outputs"] == "trained churn"
    shown = cli.ok("jobs", "show", str(job["id"])).stdout
    assert "succeeded" in shown
    events = json.loads(cli.ok("triggers", "events", "retrain", "--json").stdout)
    assert [e["outcome"] for e in events] == ["fired", "skipped"]
    assert "whs_" in cli.ok("triggers", "rotate-secret", "hook").output
    cli.ok("triggers", "disable", "retrain")
    assert json.loads(cli.ok("triggers", "show", "retrain", "--json").stdout)["enabled"] is False
    cli.ok("triggers", "delete", "retrain", "--yes")
    assert [t["name"] for t in json.loads(cli.ok("triggers", "list", "--json").stdout)] == ["hook"]


def test_bad_command_lines_fail_naming_the_field(cli: Cli) -> None:
    bad = cli("triggers", "create", "n", "--kind", "cron", "--pipeline", "a:b", "--config", "{}")
    assert bad.exit_code != 0 and "config.schedule" in bad.output
    bad = cli("triggers", "create", "n", "--kind", "manual", "--pipeline", "a:b", "--params", "[1]")
    assert bad.exit_code == 2 and "--params must be a JSON object" in bad.output
    bad = cli("jobs", "retry", "5")
    assert bad.exit_code != 0 and "job 5 does not exist" in bad.output
