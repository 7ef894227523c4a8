"""Prompt files: one prompt per YAML file in the product's repository, pushed by
``mloop prompts push DIR``.

A file holds ``name``, ``description``, ``template`` (``{messages: [...]}`` or
``{text: ...}``), ``variables``, ``params`` and ``output_schema``. Errors name the file,
the key and its line. The git commit of the repository holding the file, and whether the
file has uncommitted changes, are recorded with the version.
"""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pydantic
import yaml

from mloop.core.errors import ValidationError
from mloop.prompts.checks import check_prompt_name
from mloop.prompts.content import check_content
from mloop.prompts.schemas import PromptContent

MAX_FILE_BYTES = 1024 * 1024
MAX_FILES = 10_000
MAX_VALUES = 100_000
MAX_DEPTH = 64
_TOP_KEYS = ("name", "description", "template", "variables", "params", "output_schema")
_GIT_TIMEOUT = 10

Path_ = tuple[str | int, ...]


class PromptFileError(ValidationError):
    """A prompt file that cannot be read; the message starts with ``file:line``."""

    def __init__(self, filename: str, problem: str, *, key: str = "", line: int | None = None):
        where = f"{filename}:{line}" if line else filename
        super().__init__(f"{where}: {key + ': ' if key else ''}{problem}", field=key or None)
        self.filename = filename
        self.line = line


@dataclass(frozen=True)
class PromptFile:
    """A parsed prompt file."""

    path: Path
    name: str
    content: PromptContent


@dataclass(frozen=True)
class GitInfo:
    commit: str
    dirty: bool
    path: str  # the file's path relative to the repository root


def find_prompt_files(directory: Path) -> list[Path]:
    """``*.yaml`` and ``*.yml`` files under ``directory`` (hidden folders skipped), sorted."""
    if not directory.is_dir():
        raise ValidationError(f"{directory} is not a directory", field="dir")
    found = sorted(
        p
        for p in directory.rglob("*")
        if p.suffix in (".yaml", ".yml")
        and p.is_file()
        and not any(part.startswith(".") for part in p.relative_to(directory).parts)
    )
    if len(found) > MAX_FILES:
        raise ValidationError(f"{directory} holds over {MAX_FILES} YAML files", field="dir")
    return found


class _Reader:
    """YAML nodes to plain data, noting the line of every key path.

    YAML aliases make a small file stand for a huge value (a "billion laughs"), so the
    values are counted and the nesting is bounded.
    """

    def __init__(self, filename: str) -> None:
        self.filename = filename
        self.lines: dict[Path_, int] = {}
        self.count = 0

    def _fail(self, problem: str, node: yaml.Node, path: Path_ = ()) -> PromptFileError:
        return PromptFileError(
            self.filename, problem, key=_key(path), line=node.start_mark.line + 1
        )

    def read(self, node: yaml.Node, path: Path_ = ()) -> Any:
        self.count += 1
        if self.count > MAX_VALUES or len(path) > MAX_DEPTH:
            raise self._fail(
                f"the file holds over {MAX_VALUES} values or nests deeper than {MAX_DEPTH}", node
            )
        if isinstance(node, yaml.MappingNode):
            out: dict[str, Any] = {}
            for key_node, value_node in node.value:
                if not isinstance(key_node, yaml.ScalarNode) or key_node.tag.endswith(":merge"):
                    raise self._fail("keys must be plain text (no merge keys)", key_node, path)
                key = str(key_node.value)
                if key in out:
                    raise self._fail("duplicate key", key_node, (*path, key))
                self.lines[(*path, key)] = key_node.start_mark.line + 1
                out[key] = self.read(value_node, (*path, key))
            return out
        if isinstance(node, yaml.SequenceNode):
            items = []
            for i, child in enumerate(node.value):
                self.lines[(*path, i)] = child.start_mark.line + 1
                items.append(self.read(child, (*path, i)))
            return items
        return yaml.SafeLoader("").construct_object(node, deep=True)


def _line(lines: dict[Path_, int], path: Path_) -> int | None:
    for end in range(len(path), -1, -1):
        if path[:end] in lines:
            return lines[path[:end]]
    return None


def _key(path: Path_) -> str:
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


def parse_prompt_file(text: str, filename: str) -> tuple[str, PromptContent]:
    """The prompt name and content a file's text holds."""
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as exc:
        line = exc.problem_mark.line + 1 if exc.problem_mark is not None else None
        raise PromptFileError(filename, f"invalid YAML: {exc.problem}", line=line) from None
    except yaml.YAMLError as exc:
        raise PromptFileError(filename, f"invalid YAML: {exc}") from None
    except RecursionError:
        raise PromptFileError(filename, f"the file nests deeper than {MAX_DEPTH}") from None
    reader = _Reader(filename)
    data = reader.read(node) if node is not None else None
    lines = reader.lines
    if not isinstance(data, dict):
        raise PromptFileError(filename, "a prompt file must be a mapping with name and template")
    for key in data:
        if key not in _TOP_KEYS:
            raise PromptFileError(
                filename,
                f"unknown key; a prompt file has {', '.join(_TOP_KEYS)}",
                key=key,
                line=lines.get((key,)),
            )
    for key in ("name", "template"):
        if key not in data:
            raise PromptFileError(filename, "is missing", key=key, line=1)
    try:
        name = check_prompt_name(data["name"])
    except ValidationError as exc:
        raise PromptFileError(
            filename, exc.message, key="name", line=lines.get(("name",))
        ) from None
    template = data["template"]
    if not isinstance(template, dict) or set(template) - {"messages", "text"}:
        raise PromptFileError(
            filename,
            "must be {messages: [{role, content}, ...]} or {text: ...}",
            key="template",
            line=lines.get(("template",)),
        )
    body = {k: v for k, v in data.items() if k not in ("name", "template")}
    body.update(template)
    # Where each content field came from in the file, for error messages.
    origin: dict[str, Path_] = {"messages": ("template", "messages"), "text": ("template", "text")}
    try:
        content = check_content(PromptContent(**body))
    except pydantic.ValidationError as exc:
        first = exc.errors()[0]
        loc = tuple(first["loc"])
        path = (*origin.get(str(loc[0]), (str(loc[0]),)), *loc[1:]) if loc else ()
        raise PromptFileError(
            filename, first["msg"], key=_key(path), line=_line(lines, path)
        ) from None
    except ValidationError as exc:
        path = _field_path(exc.field or "", origin)
        raise PromptFileError(
            filename, exc.message, key=_key(path), line=_line(lines, path)
        ) from None
    return name, content


def _field_path(field: str, origin: dict[str, Path_]) -> Path_:
    """``messages[1].content`` -> ``("template", "messages", 1, "content")``."""
    parts: list[str | int] = []
    for piece in field.replace("[", ".[").split("."):
        if piece.startswith("[") and piece.endswith("]") and piece[1:-1].isdigit():
            parts.append(int(piece[1:-1]))
        elif piece:
            parts.append(piece)
    if parts and isinstance(parts[0], str) and parts[0] in origin:
        return (*origin[parts[0]], *parts[1:])
    return tuple(parts)


def load_prompt_file(path: Path) -> PromptFile:
    """Read and check one prompt file."""
    filename = str(path)
    try:
        size = path.stat().st_size
        if size > MAX_FILE_BYTES:
            raise PromptFileError(
                filename, f"the file is {size} bytes; the limit is {MAX_FILE_BYTES}"
            )
        text = path.read_bytes().decode("utf-8")
    except OSError as exc:
        raise PromptFileError(filename, f"cannot read the file: {exc.strerror or exc}") from None
    except UnicodeDecodeError as exc:
        raise PromptFileError(filename, f"the file is not UTF-8 text ({exc.reason})") from None
    name, content = parse_prompt_file(text, filename)
    return PromptFile(path=path, name=name, content=content)


def _git(cwd: Path, *args: str) -> str | None:
    try:
        done = subprocess.run(
            ["git", *args],
            cwd=cwd,
            capture_output=True,
            text=True,
            timeout=_GIT_TIMEOUT,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout.strip() if done.returncode == 0 else None


def git_info(path: Path) -> GitInfo | None:
    """The commit checked out in the repository holding ``path``, whether the file differs
    from it, and its path in the repository; None outside a git repository."""
    folder = path.resolve().parent
    root = _git(folder, "rev-parse", "--show-toplevel")
    commit = _git(folder, "rev-parse", "HEAD")
    if root is None or commit is None:
        return None
    relative = path.resolve().relative_to(Path(root).resolve()).as_posix()
    status = _git(Path(root), "status", "--porcelain", "--", relative)
    return GitInfo(commit=commit, dirty=bool(status), path=relative)
