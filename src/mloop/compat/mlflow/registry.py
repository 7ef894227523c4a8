"""MLflow's model-registry REST endpoints over mloop's registry domain.

Registered models, versions, tags and aliases are mloop's own: an alias set through MLflow's
client is the same alias ``mloop.load_model("models:/name@alias")`` resolves, and it lands in
the same audit history. Versions are created from run artifacts in mloop's model format
(``mloop.sklearn.log_model`` and friends); MLflow's stages are not kept (MLflow itself
deprecated them in favour of aliases).
"""

from __future__ import annotations

import re
from typing import Any

from mloop.compat.mlflow.artifacts import split_run_path
from mloop.compat.mlflow.http import Endpoint, integer, pairs, text, value_text
from mloop.compat.mlflow.logged_models import logged_model_source
from mloop.core.errors import NotFoundError, ValidationError
from mloop.registry import aliases, models, versions
from mloop.registry import schemas as rs
from mloop.registry.files import model_files_location
from mloop.store.context import Context

_CLAUSE = re.compile(
    r"^\s*(name|tags?\.(?:`[^`]+`|\"[^\"]+\"|[\w.]+))\s*(=|!=|LIKE|ILIKE)\s*'((?:[^']|'')*)'\s*$",
    re.IGNORECASE,
)


def version_json(v: rs.ModelVersion) -> dict[str, Any]:
    return {
        "name": v.name,
        "version": str(v.version),
        "creation_timestamp": v.creation_time,
        "last_updated_timestamp": v.last_update_time,
        "description": v.description,
        "user_id": v.user_id,
        "current_stage": "None",
        "source": v.source,
        "run_id": v.run_id or "",
        "status": v.status,
        "tags": [{"key": k, "value": val} for k, val in v.tags.items()],
        "aliases": list(v.aliases),
    }


def model_json(ctx: Context, m: rs.RegisteredModel) -> dict[str, Any]:
    body: dict[str, Any] = {
        "name": m.name,
        "creation_timestamp": m.creation_time,
        "last_updated_timestamp": m.last_update_time,
        "description": m.description,
        "tags": [{"key": k, "value": v} for k, v in m.tags.items()],
        "aliases": [{"alias": a, "version": str(v)} for a, v in m.aliases.items()],
    }
    if m.latest_version is not None:
        latest = versions.get_model_version(
            ctx, rs.ModelVersionRef(name=m.name, version=m.latest_version)
        )
        body["latest_versions"] = [version_json(latest)]
    return body


def _name(body: dict[str, Any]) -> str:
    return text(body, "name") or ""


def _version(body: dict[str, Any]) -> int:
    return integer(body, "version") or 0


def _source(ctx: Context, body: dict[str, Any]) -> str:
    """MLflow clients send ``runs:/...``, ``models:/<model_id>`` or a resolved
    ``mlflow-artifacts:/...`` location; mloop's registry copies from ``runs:/...``."""
    source = text(body, "source") or ""
    model_id = text(body, "model_id", required=False)
    if source.startswith("models:/m-") or (model_id and not source.startswith("runs:/")):
        # A logged model (MLflow 3): its files are a directory in its source run.
        return logged_model_source(ctx, model_id or source[len("models:/") :].rstrip("/"))
    if source.startswith("mlflow-artifacts:"):
        path = source.split(":", 1)[1].lstrip("/")
        run_id, inside = split_run_path(path)
        return f"runs:/{run_id}/{inside}" if inside else f"runs:/{run_id}"
    return source


def _page_size(body: dict[str, Any]) -> int:
    # MLflow's clients ask for up to 10,000 per page; mloop pages at most MAX_LIST_RESULTS.
    wanted = integer(body, "max_results", rs.MAX_LIST_RESULTS) or rs.MAX_LIST_RESULTS
    return max(1, min(wanted, rs.MAX_LIST_RESULTS))


Clause = tuple[str, str, str]  # (field: "name" or a tag key, operator, value)


def _clauses(body: dict[str, Any]) -> list[Clause]:
    """MLflow's registry filter: ``name`` and ``tags.<key>`` comparisons joined by AND."""
    raw = (text(body, "filter", required=False) or "").strip()
    clauses: list[Clause] = []
    for part in re.split(r"\s+AND\s+", raw, flags=re.IGNORECASE) if raw else []:
        match = _CLAUSE.match(part)
        if match is None:
            raise ValidationError(
                f"unsupported filter clause {part!r}: use name or tags.<key> with "
                "=, !=, LIKE or ILIKE and a quoted value",
                field="filter",
            )
        field, op, value = match.group(1), match.group(2).upper(), match.group(3)
        if field.lower() != "name":
            field = "tag:" + field.split(".", 1)[1].strip('`"')
        clauses.append((field, op, value.replace("''", "'")))
    return clauses


def _like(value: str, pattern: str, *, fold: bool) -> bool:
    regex = "".join(".*" if c == "%" else "." if c == "_" else re.escape(c) for c in pattern)
    return re.fullmatch(regex, value, re.IGNORECASE if fold else 0) is not None


def _matches(name: str, tags: dict[str, str], clauses: list[Clause]) -> bool:
    for field, op, value in clauses:
        actual = name if field == "name" else tags.get(field[4:])
        if op == "=" and actual != value:
            return False
        if op == "!=" and actual == value:
            return False
        if op in ("LIKE", "ILIKE") and (
            actual is None or not _like(actual, value, fold=op == "ILIKE")
        ):
            return False
    return True


def _exact_name(clauses: list[Clause]) -> str | None:
    return next((v for f, op, v in clauses if f == "name" and op == "="), None)


# -- registered models ------------------------------------------------------------------


def create_registered_model(ctx: Context, body: dict[str, Any]) -> dict[str, Any]:
    req = rs.CreateRegisteredModel(
        name=_name(body),
        description=text(body, "description", required=False),
        tags=dict(pairs(body, "tags")),
    )
    return {"registered_model": model_json(ctx, models.create_registered_model(ctx, req))}


def get_registered_model(ctx: Context, body: dict[str, Any]) -> dict[str, Any]:
    found = models.get_registered_model(ctx, rs.ModelName(name=_name(body)))
    return {"registered_model": model_json(ctx, found)}


def update_registered_model(ctx: Context, body: dict[str, Any]) -> dict[str, Any]:
    req = rs.UpdateRegisteredModel(name=_name(body), description=value_text(body, "description"))
    return {"registered_model": model_json(ctx, models.update_registered_model(ctx, req))}


def delete_registered_model(ctx: Context, body: dict[str, Any]) -> dict[str, Any]:
    models.delete_registered_model(ctx, rs.ModelName(name=_name(body)))
    return {}


def search_registered_models(ctx: Context, body: dict[str, Any]) -> dict[str, Any]:
    clauses = _clauses(body)
    exact = _exact_name(clauses)
    if exact is not None:
        try:
            found = [models.get_registered_model(ctx, rs.ModelName(name=exact))]
        except NotFoundError:
            found = []
        next_token = None
    else:
        page = models.list_registered_models(
            ctx,
            rs.ListRegisteredModels(
                max_results=_page_size(body),
                page_token=text(body, "page_token", required=False),
            ),
        )
        found, next_token = page.registered_models, page.next_page_token
    selected = [m for m in found if _matches(m.name, m.tags, clauses)]
    answer: dict[str, Any] = {"registered_models": [model_json(ctx, m) for m in selected]}
    if next_token:
        answer["next_page_token"] = next_token
    return answer


def set_registered_model_tag(ctx: Context, body: dict[str, Any]) -> dict[str, Any]:
    req = rs.SetRegisteredModelTag(
        name=_name(body), key=text(body, "key") or "", value=value_text(body, "value")
    )
    models.set_registered_model_tag(ctx, req)
    return {}


def delete_registered_model_tag(ctx: Context, body: dict[str, Any]) -> dict[str, Any]:
    req = rs.DeleteRegisteredModelTag(name=_name(body), key=text(body, "key") or "")
    models.delete_registered_model_tag(ctx, req)
    return {}


# -- versions ---------------------------------------------------------------------------


def create_model_version(ctx: Context, body: dict[str, Any]) -> dict[str, Any]:
    req = rs.CreateModelVersion(
        name=_name(body),
        source=_source(ctx, body),
        run_id=text(body, "run_id", required=False),
        description=text(body, "description", required=False),
        tags=dict(pairs(body, "tags")),
    )
    return {"model_version": version_json(versions.create_model_version(ctx, req))}


def get_model_version(ctx: Context, body: dict[str, Any]) -> dict[str, Any]:
    ref = rs.ModelVersionRef(name=_name(body), version=_version(body))
    return {"model_version": version_json(versions.get_model_version(ctx, ref))}


def update_model_version(ctx: Context, body: dict[str, Any]) -> dict[str, Any]:
    req = rs.UpdateModelVersion(
        name=_name(body), version=_version(body), description=value_text(body, "description")
    )
    return {"model_version": version_json(versions.update_model_version(ctx, req))}


def delete_model_version(ctx: Context, body: dict[str, Any]) -> dict[str, Any]:
    versions.delete_model_version(ctx, rs.ModelVersionRef(name=_name(body), version=_version(body)))
    return {}


def search_model_versions(ctx: Context, body: dict[str, Any]) -> dict[str, Any]:
    clauses = _clauses(body)
    exact = _exact_name(clauses)
    if exact is None:
        raise ValidationError(
            "search model versions with a filter name = '<model>'", field="filter"
        )
    page = versions.list_model_versions(
        ctx,
        rs.ListModelVersions(
            name=exact,
            max_results=_page_size(body),
            page_token=text(body, "page_token", required=False),
        ),
    )
    selected = [v for v in page.model_versions if _matches(v.name, v.tags, clauses)]
    answer: dict[str, Any] = {"model_versions": [version_json(v) for v in selected]}
    if page.next_page_token:
        answer["next_page_token"] = page.next_page_token
    return answer


def get_latest_versions(ctx: Context, body: dict[str, Any]) -> dict[str, Any]:
    found = models.get_registered_model(ctx, rs.ModelName(name=_name(body)))
    if found.latest_version is None:
        return {"model_versions": []}
    ref = rs.ModelVersionRef(name=found.name, version=found.latest_version)
    return {"model_versions": [version_json(versions.get_model_version(ctx, ref))]}


def get_download_uri(ctx: Context, body: dict[str, Any]) -> dict[str, Any]:
    version = versions.get_model_version(
        ctx, rs.ModelVersionRef(name=_name(body), version=_version(body))
    )
    location = model_files_location(ctx, version.name, version.version)
    return {"artifact_uri": f"mlflow-artifacts:/{location}"}


def set_model_version_tag(ctx: Context, body: dict[str, Any]) -> dict[str, Any]:
    req = rs.SetModelVersionTag(
        name=_name(body),
        version=_version(body),
        key=text(body, "key") or "",
        value=value_text(body, "value"),
    )
    versions.set_model_version_tag(ctx, req)
    return {}


def delete_model_version_tag(ctx: Context, body: dict[str, Any]) -> dict[str, Any]:
    req = rs.DeleteModelVersionTag(
        name=_name(body), version=_version(body), key=text(body, "key") or ""
    )
    versions.delete_model_version_tag(ctx, req)
    return {}


# -- aliases ----------------------------------------------------------------------------


def set_alias(ctx: Context, body: dict[str, Any]) -> dict[str, Any]:
    req = rs.SetAlias(name=_name(body), alias=text(body, "alias") or "", version=_version(body))
    aliases.set_alias(ctx, req)
    return {}


def delete_alias(ctx: Context, body: dict[str, Any]) -> dict[str, Any]:
    aliases.delete_alias(ctx, rs.AliasRef(name=_name(body), alias=text(body, "alias") or ""))
    return {}


def get_by_alias(ctx: Context, body: dict[str, Any]) -> dict[str, Any]:
    ref = rs.AliasRef(name=_name(body), alias=text(body, "alias") or "")
    return {"model_version": version_json(aliases.get_model_version_by_alias(ctx, ref))}


ENDPOINTS: list[Endpoint] = [
    Endpoint("/registered-models/create", "POST", create_registered_model, "writer"),
    Endpoint("/registered-models/get", "GET", get_registered_model, "reader", quick=True),
    Endpoint("/registered-models/update", "PATCH", update_registered_model, "writer"),
    Endpoint("/registered-models/delete", "DELETE", delete_registered_model, "admin"),
    Endpoint("/registered-models/search", "GET", search_registered_models, "reader"),
    Endpoint("/registered-models/set-tag", "POST", set_registered_model_tag, "writer", quick=True),
    Endpoint("/registered-models/delete-tag", "DELETE", delete_registered_model_tag, "writer"),
    Endpoint("/registered-models/get-latest-versions", "POST", get_latest_versions, "reader"),
    Endpoint("/registered-models/alias", "POST", set_alias, "writer", quick=True),
    Endpoint("/registered-models/alias", "DELETE", delete_alias, "writer", quick=True),
    Endpoint("/registered-models/alias", "GET", get_by_alias, "reader", quick=True),
    Endpoint("/model-versions/create", "POST", create_model_version, "writer"),
    Endpoint("/model-versions/get", "GET", get_model_version, "reader", quick=True),
    Endpoint("/model-versions/update", "PATCH", update_model_version, "writer"),
    Endpoint("/model-versions/delete", "DELETE", delete_model_version, "admin"),
    Endpoint("/model-versions/search", "GET", search_model_versions, "reader"),
    Endpoint("/model-versions/get-download-uri", "GET", get_download_uri, "reader", quick=True),
    Endpoint("/model-versions/set-tag", "POST", set_model_version_tag, "writer", quick=True),
    Endpoint("/model-versions/delete-tag", "DELETE", delete_model_version_tag, "writer"),
]
