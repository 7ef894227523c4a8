"""``mloop policies`` and ``mloop timeline`` against an embedded store: create, list, run,
approve (a run awaiting approval after a real pipeline and gate), show the trail, and the
timeline's chain; bad input names its option."""

from __future__ import annotations

import json

import pytest

from mloop.automation.worker import Worker
from mloop.core.config import Settings
from mloop.store.runtime import Runtime
from tests.automation.policies_testing import (
    ENDPOINT,
    MODEL,
    PIPELINE,
    POLICY,
    SUITE,
    prepare_store,
)
from tests.cli.cli_helpers import Cli


@pytest.fixture
def cli(settings: Settings) -> Cli:
    return Cli()


def test_a_policy_from_the_command_line(cli: Cli, runtime: Runtime) -> None:
    prepare_store(champion="poor")
    cli.ok(
        "policies", "create", POLICY, "--model", MODEL, "--pipeline", PIPELINE,
        "--suite", SUITE, "--endpoint", ENDPOINT, "--param", "quality=good",
        "--ramp", "50,100", "--min-seconds", "0", "--min-requests", "10", "--require-approval",
    )  # fmt: skip
    listed = json.loads(cli.ok("policies", "list", "--json").output)
    assert [(p["name"], p["params"], p["require_approval"]) for p in listed] == [
        (POLICY, {"quality": "good"}, True)
    ]
    started = json.loads(cli.ok("policies", "run", POLICY, "--json").output)
    Worker(runtime, worker_id="w1", lease_s=300, triggers=False).run_once()
    assert f"{MODEL} v2" in cli.ok("policies", "approvals").output
    result = cli.ok("policies", "approve", str(started["id"]), "--comment", "go")
    assert f"Run {started['id']} approved" in result.output
    result = cli.ok("policies", "show", str(started["id"]))
    for step in ("queued", "training", "gating", "awaiting_approval", "approved"):
        assert step in result.output
    result = cli.ok("timeline", MODEL, "--version", "2")
    assert "pipeline run" in result.output and "gate" in result.output
    entries = json.loads(cli.ok("timeline", MODEL, "--json").output)["entries"]
    assert {"gate", "alias", "policy"} <= {e["kind"] for e in entries}
    result = cli("policies", "reject", str(started["id"]))
    assert result.exit_code == 1 and "not awaiting approval" in result.output


def test_bad_options_name_themselves(cli: Cli) -> None:
    result = cli("policies", "run", POLICY, "--param", "novalue")
    assert result.exit_code == 1 and "param" in result.output
    result = cli(
        "policies", "create", POLICY, "--model", MODEL, "--pipeline", PIPELINE, "--suite",
        SUITE, "--endpoint", ENDPOINT, "--ramp", "ten,100",
    )  # fmt: skip
    assert result.exit_code == 1 and "ramp" in result.output
    result = cli("policies", "show", "99")
    assert result.exit_code == 1 and "policy run 99 does not exist" in result.output
