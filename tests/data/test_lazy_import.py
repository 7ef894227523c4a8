"""``mloop.data`` imports its parts on first use: the PSI needs neither DuckDB nor pyarrow."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import mloop.data


def _run(code: str) -> str:
    """Run ``code`` in a fresh interpreter where DuckDB and pyarrow cannot be imported."""
    prelude = "import sys\nfor name in ('duckdb', 'pyarrow'):\n    sys.modules[name] = None\n"
    done = subprocess.run(
        [sys.executable, "-c", prelude + textwrap.dedent(code)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def test_psi_needs_neither_duckdb_nor_pyarrow() -> None:
    out = _run(
        """
        import mloop.data
        from mloop.data.stats import population_stability_index as direct
        psi = mloop.data.population_stability_index([10, 20, 30], [30, 20, 10])
        assert psi == direct([10, 20, 30], [30, 20, 10]) and psi > 0.25
        try:
            from mloop.data import validate
        except ImportError:
            print("validate needs the data extra")
        """
    )
    assert out == "validate needs the data extra"


def test_every_exported_name_resolves() -> None:
    assert set(mloop.data.__all__) == set(mloop.data._EXPORTS)
    for name in mloop.data.__all__:
        value = getattr(mloop.data, name)
        assert getattr(value, "__name__", name) == name, name
    assert set(mloop.data.__all__) <= set(dir(mloop.data))


def test_the_validate_function_keeps_its_name_after_its_module_is_imported() -> None:
    done = subprocess.run(
        [
            sys.executable,
            "-c",
            "import mloop.data.validate, mloop.data; print(callable(mloop.data.validate))",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.stdout.strip() == "True", done.stderr
