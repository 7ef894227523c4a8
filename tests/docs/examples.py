"""Find the fenced examples of a Markdown page and what their markers ask for.

The convention (documented in docs/architecture.md, "Examples that run"):

- ```` ```python ```` blocks run, in page order, in one namespace per page;
- ```` ```console ````, ```` ```bash ````, ```` ```sh ```` and ```` ```shell ```` blocks run in
  one shell session per page (exports and ``cd`` carry over to later blocks). A block with
  ``$ `` prompts is a transcript: each prompted line is a command (``\\`` continues it), and
  the lines under it are output the command must print (``...`` stands for any text);
  a block without prompts is a script;
- ```` ```yaml ```` and ```` ```json ```` blocks must parse; other blocks are text.

A marker on the line right before a fence changes that:

- ``<!-- example: syntax-only REASON -->``: checked for syntax only (Python ``compile``,
  ``bash -n``), for examples that need a provider key, a cluster or a running server;
- ``<!-- example: file PATH -->``: the block is a file the page's examples use; it is written
  to ``PATH`` (relative to the page's working directory, ``$MLOOP_HOME`` expanded) before the
  page's first example runs;
- ``<!-- example: fails -->``: the example shows an error: every command must exit non-zero,
  and the output shown must be printed; ``<!-- example: fails ValidationError -->`` on a
  Python block: it must raise that exception (or a subclass).
"""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

PYTHON = frozenset({"python", "py", "python3"})
SHELL = frozenset({"console", "bash", "sh", "shell", "shell-session"})
DATA = frozenset({"yaml", "yml", "json"})
DIRECTIVES = frozenset({"syntax-only", "file", "fails"})

_FENCE = re.compile(r"^(?P<indent>[ \t]*)(?P<fence>`{3,}|~{3,})\s*(?P<info>[^`\s]*)[^`]*$")
_MARKER = re.compile(r"^\s*<!--\s*example:\s*(?P<body>.*?)\s*-->\s*$")
_MARKER_START = re.compile(r"^\s*<!--\s*example\b")


class MarkerError(ValueError):
    """A malformed page: an unknown or misplaced marker, or an unclosed fence."""


@dataclasses.dataclass(frozen=True)
class Block:
    """One fenced block: where it is, its language, its text and its marker."""

    path: str  # the page, relative to the repository root
    line: int  # the line of the opening fence (1-based)
    lang: str
    text: str
    directive: str = ""  # "", "syntax-only", "file" or "fails"
    argument: str = ""  # the reason (syntax-only) or the path (file)

    @property
    def first_line(self) -> int:
        """The page's line number of the block's first line of text."""
        return self.line + 1

    @property
    def kind(self) -> str:
        """``python``, ``shell``, ``data`` or ``text``."""
        if self.lang in PYTHON:
            return "python"
        if self.lang in SHELL:
            return "shell"
        if self.lang in DATA:
            return "data"
        return "text"

    def to_dict(self) -> dict[str, object]:
        return {**dataclasses.asdict(self), "kind": self.kind}


def _marker(path: str, number: int, text: str) -> tuple[str, str]:
    match = _MARKER.match(text)
    if match is None:
        raise MarkerError(f"{path}:{number}: malformed marker {text.strip()!r}")
    directive, _, argument = match["body"].partition(" ")
    argument = argument.strip()
    if directive not in DIRECTIVES:
        raise MarkerError(
            f"{path}:{number}: unknown example marker {directive!r}; "
            f"expected one of {', '.join(sorted(DIRECTIVES))}"
        )
    if directive in ("syntax-only", "file") and not argument:
        what = "a reason" if directive == "syntax-only" else "a path"
        raise MarkerError(f"{path}:{number}: '{directive}' needs {what}")
    return directive, argument


def parse_markdown(text: str, path: str) -> list[Block]:
    """Every fenced block of a page, with the marker on the line before it (if any)."""
    lines = text.splitlines()
    blocks: list[Block] = []
    index = 0
    pending: tuple[int, str, str] | None = None  # the marker's line, directive, argument
    while index < len(lines):
        line = lines[index]
        number = index + 1
        if _MARKER_START.match(line):
            if pending is not None:
                raise MarkerError(f"{path}:{pending[0]}: marker not followed by a fence")
            pending = (number, *_marker(path, number, line))
            index += 1
            continue
        fence = _FENCE.match(line)
        if fence is None:
            if pending is not None:
                raise MarkerError(
                    f"{path}:{pending[0]}: a marker must be on the line right before a fence"
                )
            index += 1
            continue
        indent, marks = fence["indent"], fence["fence"]
        body: list[str] = []
        end = index + 1
        while end < len(lines):
            closing = lines[end].strip()
            if closing.startswith(marks) and not closing.strip(marks[0]):
                break
            raw = lines[end]
            body.append(raw[len(indent) :] if raw.startswith(indent) else raw.lstrip())
            end += 1
        else:
            raise MarkerError(f"{path}:{number}: the fence opened here is never closed")
        directive, argument = ("", "") if pending is None else pending[1:]
        block = Block(path, number, fence["info"].lower(), "\n".join(body) + "\n")
        block = dataclasses.replace(block, directive=directive, argument=argument)
        if directive == "file" and block.kind == "python" and not argument.endswith(".py"):
            raise MarkerError(f"{path}:{number}: a Python file block must name a .py file")
        if directive == "fails" and block.kind not in ("python", "shell"):
            raise MarkerError(f"{path}:{number}: 'fails' applies to Python and shell blocks")
        if directive == "fails" and block.kind == "python" and not argument.isidentifier():
            raise MarkerError(
                f"{path}:{number}: a Python block marked 'fails' names the exception it raises"
            )
        if directive == "fails" and block.kind == "shell" and argument:
            raise MarkerError(
                f"{path}:{number}: 'fails' on a shell block takes no argument (show the output)"
            )
        blocks.append(block)
        pending = None
        index = end + 1
    if pending is not None:
        raise MarkerError(f"{path}:{pending[0]}: marker not followed by a fence")
    paths = [b.argument for b in blocks if b.directive == "file"]
    duplicates = sorted({p for p in paths if paths.count(p) > 1})
    if duplicates:
        raise MarkerError(f"{path}: a page may show each file once: {', '.join(duplicates)}")
    return blocks


@dataclasses.dataclass(frozen=True)
class Command:
    """One command of a shell block, with the output lines the page shows under it."""

    line: int  # the page's line of the command's first line
    text: str
    expected: tuple[str, ...] = ()


def shell_commands(block: Block) -> list[Command]:
    """A transcript's commands (``$ `` lines, ``\\`` continuing them) with their output
    lines; a block without prompts is one script."""
    lines = block.text.splitlines()
    if not any(line.startswith("$ ") or line == "$" for line in lines):
        return [Command(block.first_line, block.text)]
    commands: list[Command] = []
    current: list[str] = []
    expected: list[str] = []
    start = 0
    continued = False
    for offset, line in enumerate(lines):
        if continued:
            current.append(line)
        elif line.startswith("$ "):
            if current:
                commands.append(Command(start, "\n".join(current), tuple(expected)))
            current, expected, start = [line[2:]], [], block.first_line + offset
        elif not current:
            if line.strip():
                raise MarkerError(
                    f"{block.path}:{block.first_line + offset}: output before the first "
                    "'$ ' command of a transcript"
                )
            continue
        elif line.strip():
            expected.append(line)
        continued = bool(current) and not expected and line.endswith("\\")
    if current:
        commands.append(Command(start, "\n".join(current), tuple(expected)))
    return commands


def parse_page(page: Path, root: Path) -> list[Block]:
    """The blocks of the page at ``page``, named relative to ``root``."""
    return parse_markdown(page.read_text(encoding="utf-8"), page.relative_to(root).as_posix())
