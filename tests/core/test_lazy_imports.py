"""``import mloop`` stays light: the SDK loads its parts on first use."""

from __future__ import annotations

import subprocess
import sys

import pytest

import mloop

HEAVY = ("sqlalchemy", "pydantic", "duckdb", "pyarrow", "fastapi", "numpy", "mloop.tracking.runs")


def _modules_after(code: str) -> set[str]:
    script = f"{code}\nimport sys\nprint(' '.join(sorted(sys.modules)))"
    out = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True
    ).stdout
    return set(out.split())


@pytest.mark.parametrize(
    "code",
    [
        "import mloop",
        "import mloop.tracking, mloop.registry, mloop.datasets, mloop.prompts, mloop.auth",
        "import mloop.llm",
        "import mloop.domains",
    ],
)
def test_importing_loads_nothing_heavy(code: str) -> None:
    loaded = _modules_after(code)
    assert not [m for m in HEAVY if m in loaded]


def test_cli_help_loads_no_store() -> None:
    loaded = _modules_after(
        "import sys\nsys.argv = ['mloop', '--help']\nfrom mloop.cli.main import app\n"
        "try:\n    app()\nexcept SystemExit:\n    pass"
    )
    assert not [m for m in ("sqlalchemy", "duckdb", "mloop.tracking.runs") if m in loaded]


def test_every_exported_name_resolves() -> None:
    for name in mloop.__all__:
        assert getattr(mloop, name) is not None
    assert "log_metric" in dir(mloop)
    with pytest.raises(AttributeError, match="no attribute 'nothing_here'"):
        mloop.nothing_here  # noqa: B018
    assert mloop.sklearn.__name__ == "mloop.sklearn"


def test_a_server_starts_without_the_data_extras_modules() -> None:
    """Building the app loads every domain's handlers and pages: none may need pyarrow,
    DuckDB or pandas (extras) until a request uses them."""
    loaded = _modules_after(
        "import tempfile\nfrom mloop.core.config import Settings\n"
        "from mloop.store.runtime import open_runtime\nfrom mloop.server.app import create_app\n"
        "create_app(open_runtime(Settings.for_home(tempfile.mkdtemp())))"
    )
    assert not [m for m in ("pyarrow", "duckdb", "pandas", "scipy", "sklearn") if m in loaded]
