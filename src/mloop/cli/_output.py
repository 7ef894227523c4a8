"""Output helpers shared by the commands: Rich tables for people, JSON for scripts."""

from __future__ import annotations

import json
import math
import os
import sys
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any, NoReturn

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from mloop.core import humanize

# Without a terminal Rich would wrap at 80 columns; run ids alone take 32.
_PIPE_WIDTH = 160
# Columns that are copied and pasted: never wrapped (other columns shrink instead).
_NO_WRAP = frozenset(
    {"run id", "id", "prefix", "version", "status", "start", "duration", "created", "when"}
)


def _width() -> int | None:
    if os.environ.get("COLUMNS") or sys.stdout.isatty():
        return None
    return _PIPE_WIDTH


def console() -> Console:
    """A console on the current stdout (looked up per call, so test runners can capture it)."""
    return Console(width=_width(), highlight=False)


def err_console() -> Console:
    """A console on the current stderr."""
    return Console(stderr=True, width=_width(), highlight=False)


def fail(message: str, field: str | None = None, *, code: int = 1) -> NoReturn:
    """Print ``error: message`` (and the field) on stderr and exit with ``code``."""
    text = f"error: {message}"
    if field:
        text += f" (field: {field})"
    err_console().print(text, style="red", markup=False, soft_wrap=True)
    raise typer.Exit(code)


def warn(message: str) -> None:
    err_console().print(message, style="yellow", markup=False, soft_wrap=True)


def info(message: str) -> None:
    """A line for people, on stderr, so stdout stays clean for scripts."""
    err_console().print(message, markup=False, soft_wrap=True)


def jsonable(value: Any) -> Any:
    """``value`` with NaN and infinities replaced by None, recursively."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    return value


def print_json(value: Any) -> None:
    """Print machine-readable JSON on stdout (NaN becomes null)."""
    typer.echo(json.dumps(jsonable(value), indent=2, allow_nan=False))


def make_table(title: str | None, columns: Sequence[str]) -> Table:
    table = Table(title=escape(title) if title else None, title_justify="left")
    for name in columns:
        if name in _NO_WRAP:
            table.add_column(name, no_wrap=True, min_width=len(name))
        else:
            table.add_column(name, overflow="fold")
    return table


def print_table(title: str | None, columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> None:
    table = make_table(title, columns)
    for row in rows:
        table.add_row(*(Text(cell(v)) for v in row))
    console().print(table)


def print_mapping(
    title: str, mapping: Mapping[str, Any], key: str = "key", *, sort: bool = True
) -> None:
    """A two-column table of ``mapping`` (sorted by key unless told), or a dim 'none' line."""
    if not mapping:
        console().print(f"[dim]{escape(title)}: none[/dim]")
        return
    items = sorted(mapping.items()) if sort else list(mapping.items())
    print_table(title, [key, "value"], items)


def cell(value: Any) -> str:
    """How one value reads in a table."""
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return fmt_number(value)
    return str(value)


def fmt_number(value: float) -> str:
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "inf" if value > 0 else "-inf"
    return f"{value:.6g}"


def fmt_time(ms: int | None) -> str:
    """Epoch milliseconds as local time, to the second."""
    if ms is None:
        return "-"
    return datetime.fromtimestamp(ms / 1000).strftime("%Y-%m-%d %H:%M:%S")


def fmt_duration(start_ms: int | None, end_ms: int | None) -> str:
    """A short duration such as ``850 ms``, ``12.3 s`` or ``4m 05s``; ``-`` when unknown."""
    return humanize.duration(start_ms, end_ms) or "-"


def fmt_size(size: int | None) -> str:
    return humanize.filesize(size) or "-"
