"""The error a malformed contract raises: it names the key path, and the file and line
when the contract came from YAML."""

from __future__ import annotations

import re
from collections.abc import Sequence

from mloop.core.errors import ValidationError

Path = tuple[str | int, ...]

_PLAIN_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_\-]*$")


def format_path(path: Sequence[str | int]) -> str:
    """``("columns", "amount", "min")`` as ``columns.amount.min``; odd keys are quoted."""
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
            continue
        text = part if _PLAIN_KEY.match(part) else '"' + part.replace('"', '\\"') + '"'
        out += f".{text}" if out else text
    return out


class ContractError(ValidationError):
    """A contract that cannot be used: ``file:line: key.path: problem``.

    ``path`` is the key path as a tuple, ``field`` the same as text, and ``filename`` and
    ``line`` (1-based) say where in a YAML file the key is.
    """

    def __init__(
        self,
        problem: str,
        path: Sequence[str | int] = (),
        *,
        filename: str | None = None,
        line: int | None = None,
    ) -> None:
        self.problem = problem
        self.path: Path = tuple(path)
        self.filename = filename
        self.line = line
        super().__init__(self._render(), field=format_path(self.path) or None)

    def _render(self) -> str:
        where = ""
        if self.filename is not None:
            where = f"{self.filename}:{self.line}: " if self.line else f"{self.filename}: "
        key = format_path(self.path)
        return f"{where}{key}: {self.problem}" if key else f"{where}{self.problem}"

    def prefixed(self, prefix: Sequence[str | int]) -> ContractError:
        """The same error one level deeper in the contract."""
        return ContractError(
            self.problem, (*prefix, *self.path), filename=self.filename, line=self.line
        )

    def located(self, filename: str, line: int | None) -> ContractError:
        """The same error placed in a file."""
        return ContractError(self.problem, self.path, filename=filename, line=line)
