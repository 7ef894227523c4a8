"""``mloop gateway check``: a configuration validated without starting the gateway."""

from __future__ import annotations

import json
from pathlib import Path

from tests.cli.cli_helpers import Cli

GOOD = """\
providers:
  sim: {kind: simulated}
routes:
  support:
    targets: [{provider: sim, model: small}]
    guardrails:
      input: [{check: pii, action: redact}]
"""


def test_a_valid_file(cli: Cli, tmp_path: Path) -> None:
    path = tmp_path / "gateway.yaml"
    path.write_text(GOOD)
    result = cli.ok("gateway", "check", str(path))
    assert "valid, 1 providers, 1 routes" in result.stdout and "sim/small" in result.stdout
    data = json.loads(cli.ok("gateway", "check", str(path), "--json").stdout)
    assert data["routes"][0]["guardrails"] == ["pii"]


def test_invalid_files_exit_2_naming_the_problem(cli: Cli, tmp_path: Path) -> None:
    path = tmp_path / "gateway.yaml"
    path.write_text(GOOD.replace("provider: sim,", "provider: nobody,"))
    result = cli("gateway", "check", str(path))
    assert result.exit_code == 2 and "unknown provider 'nobody'" in result.stderr
    path.write_text(GOOD.replace("check: pii", "check: pi"))
    result = cli("gateway", "check", str(path))
    assert result.exit_code == 2 and "did you mean" in result.stderr
    path.write_text("routes: [unclosed")
    result = cli("gateway", "check", str(path))
    assert result.exit_code == 2 and "not valid YAML" in result.stderr
    result = cli("gateway", "check", str(tmp_path / "missing.yaml"))
    assert result.exit_code == 2 and "does not exist" in result.stderr
