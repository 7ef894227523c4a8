"""Where a run's code came from: git commit, dirty flag and entry point."""

from __future__ import annotations

import functools
import os
import subprocess
import sys
from pathlib import Path

SOURCE_COMMIT = "mloop.source.git.commit"
SOURCE_DIRTY = "mloop.source.git.dirty"
SOURCE_BRANCH = "mloop.source.git.branch"
SOURCE_ENTRY_POINT = "mloop.source.entry_point"
SOURCE_TYPE = "mloop.source.type"


def _git(args: list[str], cwd: Path) -> str | None:
    try:
        out = subprocess.run(
            ["git", *args], cwd=cwd, capture_output=True, text=True, timeout=5, check=False
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() if out.returncode == 0 else None


@functools.cache
def _git_tags(where: Path) -> tuple[tuple[str, str], ...]:
    # Looked up once per process and directory: a training script does not change commit
    # while it runs, and three git calls per run would dominate quick runs.
    tags: dict[str, str] = {}
    commit = _git(["rev-parse", "HEAD"], where)
    if commit:
        tags[SOURCE_COMMIT] = commit
        status = _git(["status", "--porcelain", "--untracked-files=no"], where)
        tags[SOURCE_DIRTY] = "true" if status else "false"
        branch = _git(["rev-parse", "--abbrev-ref", "HEAD"], where)
        if branch:
            tags[SOURCE_BRANCH] = branch
    return tuple(tags.items())


def capture_source() -> dict[str, str]:
    """Tags that describe the running program; git tags only inside a repository."""
    entry = sys.argv[0] if sys.argv and sys.argv[0] else "<interactive>"
    tags = {SOURCE_ENTRY_POINT: entry, SOURCE_TYPE: "LOCAL"}
    if os.environ.get("MLOOP_DISABLE_GIT_CAPTURE"):
        return tags
    where = Path(entry).resolve().parent if Path(entry).exists() else Path.cwd()
    tags.update(_git_tags(where))
    return tags
