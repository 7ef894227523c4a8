"""Fixtures for the CLI tests."""

from __future__ import annotations

import pytest
from tests.cli.cli_helpers import Cli

from mloop.core.config import Settings


@pytest.fixture
def cli(settings: Settings) -> Cli:
    """The ``mloop`` command, run in-process against the fresh store of ``settings``."""
    return Cli()
