"""``mloop endpoints`` and ``mloop serve``: the commands, and real server processes that an
MLflow scoring client calls unchanged and that follow deployment changes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from typing import Any

import pandas as pd
import pytest
import requests
from tests.cli.cli_helpers import Cli
from tests.conftest import free_port, port_open
from tests.serving.serving_testing import call, variant


@pytest.fixture
def cli(models: dict[str, Any]) -> Cli:
    return Cli()


def test_endpoint_commands(cli: Cli) -> None:
    cli.ok("endpoints", "create", "churn-api", "-d", "churn scores")
    cli.ok("alias", "set", "churn", "champion", "1")
    deployed = cli.ok(
        "endpoints",
        "deploy",
        "churn-api",
        "--model",
        "models:/churn@champion",
        "--candidate",
        "models:/churn/2",
        "--strategy",
        "canary",
        "--weight",
        "10",
        "--json",
        "--reason",
        "try v2",
    )
    body = json.loads(deployed.stdout)
    assert [(v["name"], v["version"], v["weight"]) for v in body["variants"]] == [
        ("stable", 1, 90),
        ("candidate", 2, 10),
    ]
    shown = cli.ok("endpoints", "weights", "churn-api", "stable=60", "candidate=40").stdout
    assert "60%" in shown and "40%" in shown
    cli.ok("endpoints", "promote", "churn-api")
    cli.ok("endpoints", "rollback", "churn-api", "--reason", "worse")
    status = json.loads(cli.ok("endpoints", "status", "churn-api", "--json").stdout)
    assert {v["name"]: v["weight"] for v in status["deployment"]["variants"]} == {
        "stable": 60,
        "candidate": 40,
    }
    history = json.loads(cli.ok("endpoints", "events", "churn-api", "--json").stdout)
    assert [(e["kind"], e["reason"]) for e in history] == [
        ("rollback", "worse"),
        ("promote", ""),
        ("weights", ""),
        ("deploy", "try v2"),
    ]
    table = cli.ok("endpoints", "events", "churn-api").stdout
    assert "rollback" in table and "worse" in table
    assert "churn-api" in cli.ok("endpoints", "list").stdout


def test_endpoint_commands_refuse_bad_input(cli: Cli) -> None:
    cli.ok("endpoints", "create", "churn-api")
    latest = cli("endpoints", "deploy", "churn-api", "--model", "models:/churn/latest")
    assert latest.exit_code == 1 and "not 'latest'" in latest.output
    weights = cli("endpoints", "weights", "churn-api", "stable:50")
    assert weights.exit_code == 1 and "must look like VARIANT=PERCENT" in weights.output
    missing = cli("endpoints", "rollback", "churn-api")
    assert missing.exit_code == 1 and "has no deployment yet" in missing.output


class Replica:
    """``mloop serve ENDPOINT`` in its own process, over the test store."""

    def __init__(self, endpoint: str, *extra: str) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        code = "from mloop.cli.main import app; app()"
        self.process = subprocess.Popen(
            [sys.executable, "-c", code, "serve", endpoint, "--port", str(self.port), *extra],
            env={**os.environ},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        deadline = time.monotonic() + 60
        while not port_open("127.0.0.1", self.port):
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"mloop serve did not start: {self.stderr()}")
            time.sleep(0.1)

    def version(self, frame: pd.DataFrame) -> int:
        """The version that answers (from mloop's own answer)."""
        body = {"inputs": frame.to_dict(orient="records")}
        return int(
            requests.post(f"{self.url}/invocations", json=body, timeout=30).json()["version"]
        )

    def stderr(self) -> str:
        return self.process.stderr.read().decode() if self.process.stderr else ""

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


@pytest.fixture
def replicas(models: dict[str, Any]) -> Iterator[list[Replica]]:
    call("create_endpoint", name="churn-api")
    call("deploy", endpoint="churn-api", variants=[variant("churn", version=1)])
    started: list[Replica] = []
    try:
        started.append(Replica("churn-api"))
        started.append(Replica("churn-api", "--workers", "2"))
        yield started
    finally:
        for replica in started:
            replica.stop()


def _wait_for(check: Any, what: str) -> float:
    """Seconds until ``check()`` holds; fails after a minute (a bound, not a measurement)."""
    start = time.monotonic()
    while not check():
        if time.monotonic() - start > 60:
            pytest.fail(f"{what} did not happen within a minute")
        time.sleep(0.05)
    return time.monotonic() - start


def test_mlflow_scoring_client_and_replicas_follow_deployments(
    replicas: list[Replica], models: dict[str, Any]
) -> None:
    from mlflow.pyfunc.scoring_server.client import ScoringServerClient

    frame = models["features"].iloc[:5]
    expected = (frame["a"] + 0.5 * frame["b"] > 0).astype(int).tolist()
    for replica in replicas:
        client = ScoringServerClient("127.0.0.1", replica.port)
        client.wait_server_ready(timeout=30)
        assert client.invoke(frame)["predictions"] == expected  # dataframe_split
        assert replica.version(frame) == 1
    bad = requests.post(f"{replicas[0].url}/invocations", json={"inputs": [{"a": 1.0}]}, timeout=30)
    assert bad.status_code == 422 and bad.json()["error"]["field"] == "inputs.b"

    call("deploy", endpoint="churn-api", variants=[variant("churn", version=2)])
    for replica in replicas:
        # A replica with two workers answers from either: both must have switched.
        took = _wait_for(lambda r=replica: {r.version(frame) for _ in range(8)} == {2}, "switch")
        print(f"deploy reached replica {replica.port} after {took:.2f} s")
    call("rollback", endpoint="churn-api")
    for replica in replicas:
        took = _wait_for(lambda r=replica: {r.version(frame) for _ in range(8)} == {1}, "rollback")
        print(f"rollback reached replica {replica.port} after {took:.2f} s")
