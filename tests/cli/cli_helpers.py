"""Helpers for the CLI tests."""

from __future__ import annotations

from typer.testing import CliRunner, Result

from mloop.cli.main import app


class Cli:
    """Invokes ``mloop`` in-process; tables get room enough to be read whole."""

    def __init__(self) -> None:
        self._runner = CliRunner()

    def __call__(self, *args: str) -> Result:
        return self._runner.invoke(app, list(args), env={"COLUMNS": "240"})

    def ok(self, *args: str) -> Result:
        """Invoke and assert success, showing the output if it failed."""
        result = self(*args)
        assert result.exit_code == 0, (result.exit_code, result.output, result.exception)
        return result
