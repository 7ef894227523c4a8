"""``mloop version``, usage errors, the console script, and the server's refusals."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

from tests.cli.cli_helpers import Cli

import mloop


def test_version(cli: Cli) -> None:
    result = cli.ok("version")
    assert result.stdout.strip() == f"mloop {mloop.__version__}"


def test_console_script_runs(settings: object) -> None:
    script = Path(sys.executable).with_name("mloop")
    exe = str(script) if script.exists() else shutil.which("mloop")
    assert exe, "the mloop console script is not installed"
    done = subprocess.run([exe, "version"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == f"mloop {mloop.__version__}"


def test_bad_usage_exits_2(cli: Cli) -> None:
    assert cli("runs", "list", "--max", "0").exit_code == 2
    assert cli("no-such-command").exit_code == 2
    assert cli("tokens", "create", "x", "--role", "owner").exit_code == 2


def test_server_refuses_public_host_without_auth(cli: Cli) -> None:
    result = cli("server", "--host", "0.0.0.0")
    assert result.exit_code == 2
    assert "refusing to listen on 0.0.0.0 without authentication" in result.stderr
    assert "Traceback" not in result.output


def test_server_with_auth_needs_a_token(cli: Cli) -> None:
    result = cli("server", "--host", "0.0.0.0", "--auth", "--port", "1")
    assert result.exit_code == 2
    assert "no token exists" in result.stderr
