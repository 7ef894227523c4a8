"""Model URIs: ``runs:/<run_id>/<path>``, ``models:/<name>/<version>`` and ``@<alias>``."""

from __future__ import annotations

from dataclasses import dataclass

from mloop.core.errors import ValidationError
from mloop.store.artifacts import clean_relative_path

RUNS_SCHEME = "runs:/"
MODELS_SCHEME = "models:/"


@dataclass(frozen=True)
class ModelsUri:
    """A parsed ``models:/`` URI: exactly one of version, alias or latest is set."""

    name: str
    version: int | None = None
    alias: str | None = None
    latest: bool = False


def parse_runs_uri(uri: str, field: str = "source") -> tuple[str, str]:
    """``(run_id, path)`` of ``runs:/<run_id>/<path>``; the path may be empty."""
    if not isinstance(uri, str) or not uri.startswith(RUNS_SCHEME):
        raise ValidationError(
            f"{field} must look like runs:/<run_id>/<path>, got {uri!r}", field=field
        )
    run_id, _, path = uri[len(RUNS_SCHEME) :].partition("/")
    if not run_id or not run_id.isalnum() or len(run_id) > 32:
        raise ValidationError(
            f"{field} {uri!r} must name a run id after runs:/ (runs:/<run_id>/<path>)", field=field
        )
    return run_id, clean_relative_path(path, field, allow_empty=True)


def parse_models_uri(uri: str, field: str = "model_uri") -> ModelsUri:
    """Parse ``models:/name/3``, ``models:/name/latest`` or ``models:/name@alias``."""
    if not isinstance(uri, str) or not uri.startswith(MODELS_SCHEME):
        raise ValidationError(
            f"{field} must look like models:/<name>/<version> or models:/<name>@<alias>, "
            f"got {uri!r}",
            field=field,
        )
    rest = uri[len(MODELS_SCHEME) :]
    if "/" in rest:
        name, _, version = rest.partition("/")
        if version == "latest":
            return ModelsUri(name=name, latest=True)
        if not version.isdigit() or len(version) > 9 or not name:
            raise ValidationError(
                f"{field} {uri!r}: the part after the name must be a version number, 'latest' "
                "or @alias (models:/<name>/<version>)",
                field=field,
            )
        return ModelsUri(name=name, version=int(version))
    if "@" in rest:
        name, _, alias = rest.partition("@")
        if name and alias:
            return ModelsUri(name=name, alias=alias)
    raise ValidationError(
        f"{field} {uri!r} must name a version or an alias: models:/<name>/<version> or "
        "models:/<name>@<alias>",
        field=field,
    )
