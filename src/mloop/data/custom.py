"""Custom checks written in Python, declared with the ``@check`` decorator.

A custom check is a function of one batch of rows. Validation streams the data through it
in Arrow record batches (up to 65,536 rows each; as pandas DataFrames with
``batch_format="pandas"``), so it works on data larger than memory. The function returns
either

- a boolean mask with one entry per row, True where the row **passes** (a pyarrow boolean
  array, a NumPy array, a pandas Series or a list); a null entry passes, as a null does in
  an SQL rule; failing rows are counted and the first few become the report's examples; or
- an ``int``: the number of failing rows in the batch (no examples then).

The check passes when no row fails. An exception is reported as the check's error, not
raised. Decorated functions are registered by name, so a YAML contract can name them
under ``custom:`` once the module defining them has been imported; a Python contract can
pass the function itself.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal, overload

from mloop.core.errors import ValidationError

Severity = Literal["error", "warn"]
BatchFormat = Literal["arrow", "pandas"]

_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_.\-]{0,127}$")


@dataclass(frozen=True)
class CustomCheck:
    """A registered Python check. Calling it calls the function."""

    name: str
    fn: Callable[[Any], Any]
    columns: tuple[str, ...] | None = None
    severity: Severity = "error"
    batch_format: BatchFormat = "arrow"
    description: str = ""

    def __call__(self, batch: Any) -> Any:
        return self.fn(batch)


_REGISTRY: dict[str, CustomCheck] = {}


@overload
def check(fn: Callable[[Any], Any], /) -> CustomCheck: ...


@overload
def check(
    fn: None = None,
    /,
    *,
    name: str | None = None,
    columns: Sequence[str] | None = None,
    severity: Severity = "error",
    batch_format: BatchFormat = "arrow",
    description: str | None = None,
) -> Callable[[Callable[[Any], Any]], CustomCheck]: ...


def check(
    fn: Callable[[Any], Any] | None = None,
    /,
    *,
    name: str | None = None,
    columns: Sequence[str] | None = None,
    severity: Severity = "error",
    batch_format: BatchFormat = "arrow",
    description: str | None = None,
) -> CustomCheck | Callable[[Callable[[Any], Any]], CustomCheck]:
    """Declare and register a custom check; usable bare (``@check``) or with options.

    ``name`` defaults to the function's name; ``columns`` limits the batch to those columns
    (all columns by default); ``severity`` is the default a contract may override;
    ``description`` defaults to the first line of the docstring. Registering a name again
    replaces the earlier check (so re-running a notebook cell works).
    """

    def wrap(func: Callable[[Any], Any]) -> CustomCheck:
        check_name = name or getattr(func, "__name__", "")
        if not isinstance(check_name, str) or not _NAME_RE.match(check_name):
            raise ValidationError(
                f"custom check name {check_name!r} must start with a letter or _ and contain "
                "only letters, digits and _ . -",
                field="name",
            )
        if severity not in ("error", "warn"):
            raise ValidationError(
                f"severity must be 'error' or 'warn', got {severity!r}", field="severity"
            )
        if batch_format not in ("arrow", "pandas"):
            raise ValidationError(
                f"batch_format must be 'arrow' or 'pandas', got {batch_format!r}",
                field="batch_format",
            )
        cols = None
        if columns is not None:
            if isinstance(columns, str) or not all(isinstance(c, str) for c in columns):
                raise ValidationError("columns must be a list of column names", field="columns")
            cols = tuple(columns)
        doc = (func.__doc__ or "").strip().splitlines()
        result = CustomCheck(
            name=check_name,
            fn=func,
            columns=cols,
            severity=severity,
            batch_format=batch_format,
            description=description if description is not None else (doc[0] if doc else ""),
        )
        _REGISTRY[check_name] = result
        return result

    if fn is not None:
        return wrap(fn)
    return wrap


def registered_checks() -> dict[str, CustomCheck]:
    """The custom checks registered so far, by name."""
    return dict(_REGISTRY)


def find_check(name: str) -> CustomCheck | None:
    return _REGISTRY.get(name)
