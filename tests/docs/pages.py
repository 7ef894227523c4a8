"""Run a page's examples in a runner process against a fresh store, and say what failed."""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
from pathlib import Path

from tests.docs.examples import Block, MarkerError, parse_page, shell_commands

ROOT = Path(__file__).resolve().parents[2]
RUNNER = Path(__file__).with_name("runner.py")
PAGE_TIMEOUT = 600.0  # seconds for a whole page; the demo alone takes about ten
COMMAND_TIMEOUT = 300.0

# The reader's environment must not leak in: no server, token, store or provider key of the
# machine running the tests (the demo would call a real model with OPENAI_API_KEY).
_PREFIXES = ("MLOOP_", "MLFLOW_", "OPENAI_", "ANTHROPIC_", "AZURE_OPENAI_", "PYTEST_")


def documented_pages() -> list[Path]:
    """README.md and every page under docs/."""
    return [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]


@dataclasses.dataclass(frozen=True)
class PageResult:
    page: str
    failure: str | None  # the message naming the file, the line and the output
    ran: tuple[int, ...] = ()  # the lines of the blocks that ran


def page_environment(home: Path) -> dict[str, str]:
    """A fresh user's environment: ``HOME`` (so ``~/.mloop``) in a temporary directory,
    ``MLOOP_HOME`` naming that same default store, this interpreter's scripts first on
    ``PATH`` (``mloop``, ``python``)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(_PREFIXES)}
    env.pop("COLUMNS", None)
    bin_dir = str(Path(sys.executable).parent)
    env["PATH"] = os.pathsep.join([bin_dir, env.get("PATH", "/usr/bin:/bin")])
    env["HOME"] = str(home)
    env["MLOOP_HOME"] = str(home / ".mloop")
    env["COLUMNS"] = "120"  # tables as wide as the pages show them, whatever the terminal
    env["PYTHONUNBUFFERED"] = "1"
    return env


def _plan(page: str, page_file: Path, blocks: list[Block], scratch: Path) -> dict[str, object]:
    workdir, home = scratch / "work", scratch / "home"
    workdir.mkdir(parents=True)
    home.mkdir()
    items = []
    for block in blocks:
        item = block.to_dict()
        if block.kind == "shell":
            item["commands"] = [dataclasses.asdict(c) for c in shell_commands(block)]
        items.append(item)
    return {
        "page": page,
        "page_file": str(page_file),
        "workdir": str(workdir),
        "env": page_environment(home),
        "command_timeout": COMMAND_TIMEOUT,
        "progress": str(scratch / "progress"),
        "blocks": items,
    }


def _message(page: str, line: int | str, message: str, output: str) -> str:
    output = output.strip()
    if len(output) > 8000:
        output = "...\n" + output[-8000:]
    return f"{page}:{line}: {message}" + (f"\n--- output ---\n{output}" if output else "")


def run_page(page_file: Path, scratch: Path, root: Path = ROOT) -> PageResult:
    """Run the examples of ``page_file`` in a runner process; ``scratch`` is an empty
    directory for its working directory and home."""
    page = page_file.relative_to(root).as_posix()
    try:
        blocks = parse_page(page_file, root)
        for block in blocks:
            if block.kind == "shell":
                shell_commands(block)
    except MarkerError as exc:
        return PageResult(page, str(exc))
    plan_file, result_file = scratch / "plan.json", scratch / "result.json"
    plan = _plan(page, page_file, blocks, scratch)
    plan_file.write_text(json.dumps(plan))
    runner = subprocess.Popen(
        [sys.executable, str(RUNNER), str(plan_file), str(result_file)],
        cwd=str(plan["workdir"]),
        env=dict(plan["env"]),  # type: ignore[call-overload]
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        output, _ = runner.communicate(timeout=PAGE_TIMEOUT)
    except subprocess.TimeoutExpired:
        runner.terminate()  # the runner ends the command it is running, then itself
        try:
            output, _ = runner.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            runner.kill()
            output, _ = runner.communicate()
        progress = scratch / "progress"
        lines = progress.read_text().split() if progress.exists() else ["?"]
        return PageResult(
            page, _message(page, lines[-1], f"timed out after {PAGE_TIMEOUT:.0f} s", output)
        )
    if not result_file.exists():
        return PageResult(
            page,
            _message(page, "?", f"the runner exited {runner.returncode}", output),
        )
    result = json.loads(result_file.read_text())
    failure = result["failure"]
    ran = tuple(result["ran"])
    if failure is None:
        return PageResult(page, None, ran)
    return PageResult(
        page, _message(page, failure["line"], failure["message"], failure["output"]), ran
    )
