"""Label Studio's own venv for the review benchmark: ``benchmarks/.venvs/label-studio``.

Created with ``python3.11 -m venv`` when missing and given ``requirements-label-studio.txt``
whenever that file changes (a SHA-256 stamp in the venv records what was installed), through
``data_validation.py``'s venv helper, as the other benchmarks' peers are. Needs the package
index the first time only. Import it from a script in ``benchmarks/`` (the directory is then on
``sys.path``); it runs in the project venv.
"""

from __future__ import annotations

from pathlib import Path

from data_validation import ensure_venv

BENCH_DIR = Path(__file__).resolve().parent
SIDE = BENCH_DIR / "_review_label_studio.py"


def ensure_label_studio_venv() -> Path:
    """Create or update Label Studio's venv; return its python, the one ``SIDE`` runs with."""
    return ensure_venv("label-studio")
