"""Ids, names and version numbers the pages take from their URL.

A bad value in the path names nothing, so it is a 404 (not a 400): ``/runs/../x`` is a page
that does not exist. A bad value in the query string is the asker's mistake, a 400.
"""

from __future__ import annotations

from collections.abc import Callable

from mloop.core.errors import NotFoundError, ValidationError
from mloop.tracking.experiments import MAX_EXPERIMENT_ID

MAX_VERSION = 999_999_999


def checked_experiment_id(raw: str) -> str:
    """Experiment ids are digits in the id column's range; anything else names none."""
    if not (raw.isascii() and raw.isdigit()) or len(raw) > 18 or int(raw) > MAX_EXPERIMENT_ID:
        raise NotFoundError(f"experiment {raw!r} does not exist", field="experiment_id")
    return raw


def checked_run_id(raw: str) -> str:
    """Run ids are short alphanumeric strings; anything else names no run."""
    if not raw or len(raw) > 32 or not raw.isalnum():
        raise NotFoundError(f"run {raw!r} does not exist", field="run_id")
    return raw


def checked_name(raw: str, check: Callable[[str], str], what: str) -> str:
    """A name ``check`` accepts (a domain's name rule); anything else names no ``what``."""
    try:
        return check(raw)
    except ValidationError:
        raise NotFoundError(f"{what} {raw[:80]!r} does not exist", field="name") from None


def checked_version(raw: str, what: str) -> int:
    """A version number from the path; anything else names no ``what`` (``"model version"``)."""
    if not raw.isdigit() or not 1 <= int(raw) <= MAX_VERSION:
        raise NotFoundError(f"{what} {raw[:20]!r} does not exist", field="version")
    return int(raw)


def query_version(raw: str, field: str) -> int:
    """A version number from the query string (``?a=1``) of a compare or diff page."""
    if not raw:
        raise ValidationError(
            f"choose two versions to compare (?a=1&b=2): {field} is missing", field=field
        )
    if not raw.isdigit() or not 1 <= int(raw) <= MAX_VERSION:
        raise ValidationError(f"{field} must be a version number, got {raw[:20]!r}", field=field)
    return int(raw)
