"""Run one page's examples in order, in a fresh working directory and store.

``python tests/docs/runner.py PLAN RESULT``: PLAN is the JSON the test writes (the page, its
blocks as ``examples.Block.to_dict()`` plus the commands of shell blocks, the working
directory and the environment); RESULT receives ``{"failure": null | {...}, "ran": [...]}``.
A separate process per page, so the examples' global state (the SDK's active run, the
working directory, the environment) cannot leak into the test process or another page, and
pages run side by side.

Python blocks share one namespace (a module named ``__main__``, so classes a page defines can
be pickled); shell commands run in ``bash`` one at a time, and the environment and working
directory they leave are what the next block, Python or shell, starts from.
"""

from __future__ import annotations

import ast
import asyncio
import contextlib
import functools
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import traceback
import types
from pathlib import Path
from typing import Any

import yaml

_DROPPED = {"_", "SHLVL", "OLDPWD", "PWD"}
_children: set[subprocess.Popen[bytes]] = set()


# Shell variables a command sets without exporting them (RUN_ID=$(...)) live on in a
# reader's terminal: each command saves those that a fresh bash does not have, and the next
# one starts by declaring them again.
_SAVE_VARIABLES = """for __example_name in $(compgen -v); do
  case " {baseline} " in *" $__example_name "*) continue;; esac
  case "$__example_name" in __example_*) continue;; esac
  __example_decl=$(declare -p "$__example_name" 2>/dev/null) || continue
  [[ $__example_decl =~ ^declare\\ -[a-zA-Z-]*[rx] ]] && continue  # exported, read-only
  printf '%s\\n' "$__example_decl"
done > "{out}"
"""


@functools.cache
def _baseline() -> str:
    """The variables a fresh bash has, as a space-separated list."""
    names = subprocess.run(["bash", "-c", "compgen -v"], capture_output=True, text=True)
    return " ".join(names.stdout.split())


def _kill(child: subprocess.Popen[bytes]) -> None:
    """End a command and everything it started (its process group)."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(child.pid, signal.SIGKILL)


def _terminated(signum: int, frame: object) -> None:
    # The test gave up on this page (its timeout): take the running command down with us.
    for child in list(_children):
        _kill(child)
    os._exit(128 + signum)


class ExampleFailed(Exception):
    """The example at ``line`` failed; ``output`` is what it printed."""

    def __init__(self, line: int, message: str, output: str = "") -> None:
        super().__init__(message)
        self.line = line
        self.message = message
        self.output = output


def _python_source(block: dict[str, Any]) -> str:
    # Padding keeps the page's line numbers in tracebacks and syntax errors.
    return "\n" * (int(block["line"])) + str(block["text"])


def _compile(block: dict[str, Any], filename: str) -> types.CodeType:
    try:
        return compile(
            _python_source(block), filename, "exec", flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT
        )
    except SyntaxError as exc:
        raise ExampleFailed(
            exc.lineno or int(block["line"]), f"Python syntax error: {exc.msg}"
        ) from exc


def check_syntax(block: dict[str, Any], filename: str) -> None:
    """Raise ExampleFailed if the block does not parse."""
    kind = block["kind"]
    if kind == "python":
        _compile(block, filename)
    elif kind == "shell" and block["directive"] != "file":
        for command in block["commands"]:
            done = subprocess.run(
                ["bash", "-n", "-c", command["text"]], capture_output=True, text=True
            )
            if done.returncode != 0:
                raise ExampleFailed(command["line"], "shell syntax error", done.stderr)
    elif kind == "data":
        try:
            if block["lang"] == "json":
                json.loads(block["text"])
            else:
                yaml.safe_load(block["text"])
        except (ValueError, yaml.YAMLError) as exc:
            raise ExampleFailed(block["line"], f"{block['lang']} does not parse: {exc}") from exc


def _pattern(expected: list[str]) -> re.Pattern[str]:
    """The shown output as a pattern: whitespace (line breaks included) matches any
    whitespace, ``...`` any text."""
    text = " ".join(" ".join(line.split()) for line in expected)
    parts = [r"\s+".join(map(re.escape, piece.split())) for piece in text.split("...")]
    return re.compile(r".*?".join(parts), re.S)


def output_matches(expected: list[str], output: str) -> bool:
    """Whether ``output`` contains the lines shown, in order (see ``_pattern``)."""
    return not expected or _pattern(expected).search(output) is not None


class Session:
    """The state a reader's terminal and Python prompt would keep across one page."""

    def __init__(self, plan: dict[str, Any]) -> None:
        self.page = str(plan["page"])
        self.filename = str(plan["page_file"])
        self.env: dict[str, str] = dict(plan["env"])
        self.cwd = str(plan["workdir"])
        self.timeout = float(plan["command_timeout"])
        self.progress = Path(plan["progress"])
        self.namespace = types.ModuleType("__main__")
        self.namespace.__dict__["__builtins__"] = __builtins__
        self.ran: list[int] = []
        self.shell_variables = ""  # `declare` lines: what commands set without exporting

    def note(self, line: int) -> None:
        with self.progress.open("a") as out:
            out.write(f"{line}\n")

    # -- files -------------------------------------------------------------------------

    def write_file(self, block: dict[str, Any]) -> None:
        variables = {**self.env, "MLOOP_HOME": self.home()}
        name = re.sub(
            r"\$(?:\{(\w+)\}|(\w+))",
            lambda m: variables.get(m[1] or m[2], m[0]),
            block["argument"],
        )
        target = Path(self.cwd, name)  # an absolute name stays absolute
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(block["text"], encoding="utf-8")

    def home(self) -> str:
        return str(Path(self.cwd, self.env.get("MLOOP_HOME", "")).resolve())

    # -- shell ---------------------------------------------------------------------------

    def run_shell(self, block: dict[str, Any]) -> None:
        fails = block["directive"] == "fails"
        for command in block["commands"]:
            self.note(command["line"])
            status, output = self._bash(command["text"])
            shown = f"$ {command['text']}\n{output}"
            if fails and status == 0:
                raise ExampleFailed(
                    command["line"], "the command should fail (marked 'fails') but exited 0", shown
                )
            if not fails and status != 0:
                raise ExampleFailed(command["line"], f"the command exited {status}", shown)
            if not output_matches(command["expected"], output):
                want = "\n".join(command["expected"])
                raise ExampleFailed(
                    command["line"],
                    f"the command did not print the output the page shows:\n{want}",
                    shown,
                )

    def _bash(self, command: str) -> tuple[int, str]:
        with tempfile.TemporaryDirectory() as scratch:
            env_file, cwd_file = Path(scratch, "env"), Path(scratch, "cwd")
            vars_file = Path(scratch, "vars")
            script = (
                f"{self.shell_variables}\nset -o pipefail\n{command}\n__example_status=$?\n"
                f'env -0 > "{env_file}"\npwd > "{cwd_file}"\n'
                f"{_SAVE_VARIABLES.format(baseline=_baseline(), out=vars_file)}"
                "exit $__example_status\n"
            )
            # Its own process group, so a timeout ends what the command started too.
            child = subprocess.Popen(
                ["bash", "-c", script],
                cwd=self.cwd,
                env=self.env,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                process_group=0,
            )
            _children.add(child)
            try:
                out, _ = child.communicate(timeout=self.timeout)
            except subprocess.TimeoutExpired:
                _kill(child)
                out, _ = child.communicate()
                output = out.decode(errors="replace")
                return 124, f"{output}\n(timed out after {self.timeout:.0f} s)"
            finally:
                _children.discard(child)
            if env_file.exists():
                pairs = env_file.read_bytes().split(b"\0")
                env = dict(p.decode(errors="replace").partition("=")[::2] for p in pairs if p)
                self.env = {k: v for k, v in env.items() if k not in _DROPPED}
            if cwd_file.exists():
                self.cwd = cwd_file.read_text().strip() or self.cwd
            if vars_file.exists():
                self.shell_variables = vars_file.read_text()
            return child.returncode, out.decode(errors="replace")

    # -- python --------------------------------------------------------------------------

    def run_python(self, block: dict[str, Any]) -> None:
        code = _compile(block, self.filename)
        self.note(block["line"])
        os.chdir(self.cwd)
        os.environ.clear()
        os.environ.update(self.env)
        sys.modules["__main__"] = self.namespace
        error: BaseException | None = None
        with tempfile.TemporaryFile() as capture:
            sys.stdout.flush()
            sys.stderr.flush()
            saved = os.dup(1), os.dup(2)
            os.dup2(capture.fileno(), 1)
            os.dup2(capture.fileno(), 2)
            try:
                result = eval(code, self.namespace.__dict__)
                if asyncio.iscoroutine(result):
                    asyncio.run(result)
            except BaseException as exc:
                error = exc
                tb = exc.__traceback__
                while tb is not None and tb.tb_frame.f_code.co_filename != self.filename:
                    tb = tb.tb_next  # the runner's own frames say nothing to the reader
                traceback.print_exception(type(exc), exc, tb or exc.__traceback__)
            finally:
                sys.stdout.flush()
                sys.stderr.flush()
                os.dup2(saved[0], 1)
                os.dup2(saved[1], 2)
                os.close(saved[0])
                os.close(saved[1])
            capture.seek(0)
            output = capture.read().decode(errors="replace")
        self.env = dict(os.environ)
        self.cwd = os.getcwd()
        if block["directive"] == "fails":
            wanted = block["argument"]
            if error is None:
                raise ExampleFailed(
                    block["line"], f"the block should raise {wanted} (marked 'fails')", output
                )
            if wanted not in {cls.__name__ for cls in type(error).__mro__}:
                raise ExampleFailed(
                    block["line"],
                    f"the block should raise {wanted} but raised {type(error).__name__}",
                    output,
                )
        elif error is not None:
            line = block["line"]
            for frame in traceback.extract_tb(error.__traceback__):
                if frame.filename == self.filename and frame.lineno:
                    line = frame.lineno  # the innermost line of the page
            raise ExampleFailed(line, f"raised {type(error).__name__}: {error}", output)

    # -- the page ------------------------------------------------------------------------

    def run(self, blocks: list[dict[str, Any]]) -> None:
        for block in blocks:
            check_syntax(block, self.filename)
        for block in blocks:
            if block["directive"] == "file":
                self.write_file(block)
        for block in blocks:
            if block["directive"] in ("file", "syntax-only"):
                continue
            if block["kind"] == "python":
                self.run_python(block)
            elif block["kind"] == "shell":
                self.run_shell(block)
            else:
                continue
            self.ran.append(int(block["line"]))


def main(plan_path: str, result_path: str) -> int:
    signal.signal(signal.SIGTERM, _terminated)
    sys.path[0] = ""  # as in an interactive interpreter: modules in the working directory
    plan = json.loads(Path(plan_path).read_text())
    session = Session(plan)
    failure: dict[str, Any] | None = None
    try:
        session.run(plan["blocks"])
    except ExampleFailed as exc:
        failure = {"line": exc.line, "message": exc.message, "output": exc.output}
    Path(result_path).write_text(json.dumps({"failure": failure, "ran": session.ran}))
    # Background threads of the examples (metric batchers, servers) must not keep the
    # process alive, nor their exit handlers hang it.
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2]))
