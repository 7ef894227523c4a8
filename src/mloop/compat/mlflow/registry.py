"""MLflow's model-registry REST endpoints over mloop's registry domain.

Registered models, versions, tags and aliases are mloop's own: an alias set through MLflow's
client is the same alias ``mloop.load_model("models:/name@alias")`` resolves, and it lands in
the same audit history. MLflow's stages are not kept (MLflow itself deprecated them in favour
of aliases).

``model-versions/create`` accepts the sources MLflow's server accepts, with its rules: no
``..`` in any source, a local path only inside the artifact directory of the run named by
``run_id`` (the server never copies other files of its own machine), ``runs:/`` and
``models:/m-...`` only of the ``run_id``/``model_id`` given with them. The source is recorded
as given. When mloop can read it (a run or logged model it holds, an ``mlflow-artifacts:/``
path, a local path inside its store), the model directory is copied into the registry;
otherwise (``s3://...``, a run mloop never saw) the version has no files, and loading it
fails with an error naming the version and its source.
"""

from __future__ import annotations

import os
import re
import urllib.parse
from pathlib import Path
from typing import Any

from mloop.compat.mlflow.artifacts import split_run_path
from mloop.compat.mlflow.http import Endpoint, integer, pairs, strings, text, value_text
from mloop.compat.mlflow.logged_models import load_logged_model
from mloop.core.errors import NotFoundError, ValidationError
from mloop.models.uris import parse_models_uri, parse_runs_uri
from mloop.registry import aliases, models, versions
from mloop.registry import schemas as rs
from mloop.registry.common import load_version_row
from mloop.registry.files import model_files_location
from mloop.store.context import Context
from mloop.tracking.artifacts import run_artifact_path

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


# Schemes whose files the MLflow client reads itself: a version with no files in mloop
# answers get-download-uri with its source, as MLflow's server does.
_CLIENT_READABLE = ("s3", "gs", "wasbs", "wasb", "abfss", "abfs", "hdfs", "dbfs", "http", "https")


def _invalid_source(source: str, detail: str) -> ValidationError:
    return ValidationError(f"Invalid model version source: '{source}'. {detail}", field="source")


def _not_identified(source: str, which: str) -> ValidationError:
    return _invalid_source(
        source, f"The {which} request parameter must identify the resource that contains it."
    )


def _refuse_relative(source: str) -> None:
    """No ``..`` segment or NUL in any source, however often it is percent-encoded."""
    decoded = source
    while (unquoted := urllib.parse.unquote_plus(decoded)) != decoded:
        decoded = unquoted
    if "\x00" in decoded or ".." in re.split(r"[/\\]", decoded):
        raise _invalid_source(
            source, "Give an absolute location without relative references ('..')."
        )


def _is_local(source: str) -> bool:
    scheme = urllib.parse.urlsplit(source).scheme.lower()
    return scheme == "" or scheme == "file" or bool(re.match(r"^[A-Za-z]:[\\/]", source))


def _local_files(ctx: Context, source: str, root: str, which: str) -> str:
    """The store path of a local-path source, which must lie inside ``root`` (a run's or a
    logged model's artifact directory in the store) on this server's own disk."""
    parsed = urllib.parse.urlsplit(source)
    path = parsed.path if parsed.scheme.lower() == "file" else source
    if parsed.scheme.lower() == "file" and parsed.netloc not in ("", "localhost"):
        raise _not_identified(source, which)
    if not ctx.artifacts.is_local:
        raise _not_identified(source, which)
    store_root = Path(ctx.artifacts.root)
    resolved = Path(os.path.realpath(urllib.parse.unquote(path)))
    allowed = Path(os.path.realpath(store_root / root))
    if resolved != allowed and allowed not in resolved.parents:
        raise _invalid_source(
            source,
            f"A local path is accepted only inside the artifact directory of the {which} "
            "given with it.",
        )
    return resolved.relative_to(store_root.resolve()).as_posix()


def _store_path(source: str) -> str:
    """The artifact-store path an ``mlflow-artifacts:`` source names (its host is ignored:
    it is this server's proxy)."""
    return urllib.parse.unquote(urllib.parse.urlsplit(source).path).strip("/")


def _within(path: str, root: str) -> bool:
    return path == root or path.startswith(root.rstrip("/") + "/")


def _run_root(ctx: Context, source: str, run_id: str) -> str:
    try:
        return run_artifact_path(ctx, run_id)
    except (NotFoundError, ValidationError):
        raise _not_identified(source, "run_id") from None


def _logged_model(ctx: Context, source: str, model_id: str) -> Any:
    try:
        return load_logged_model(ctx, model_id)
    except NotFoundError:
        raise _not_identified(source, "model_id") from None


def _from_logged_model(
    ctx: Context, source: str, model_id: str, run_id: str | None
) -> tuple[str | None, str | None]:
    """(files, run_id) for a version of a logged model (MLflow 3's ``model_id``)."""
    row = _logged_model(ctx, source, model_id)
    scheme = urllib.parse.urlsplit(source).scheme.lower()
    run_id = run_id or row.run_id
    if _is_local(source):
        return _local_files(ctx, source, row.storage_path, "model_id"), run_id
    if scheme == "models":
        if source.rstrip("/") != f"models:/{model_id}":
            raise _not_identified(source, "model_id")
        return str(row.storage_path), run_id
    if scheme == "mlflow-artifacts":
        path = _store_path(source)
        if not _within(path, row.storage_path):
            raise _not_identified(source, "model_id")
        return path, run_id
    return None, run_id


def _from_registered_version(
    ctx: Context, source: str, run_id: str | None
) -> tuple[str, str | None, str | None]:
    """(recorded source, files, run_id) for ``models:/<name>/<version>``, MLflow's way: the
    source becomes the version's number and the run is the version's own."""
    parsed = parse_models_uri(source, "source")
    if parsed.alias is not None:
        found = aliases.get_model_version_by_alias(
            ctx, rs.AliasRef(name=parsed.name, alias=parsed.alias)
        )
    elif parsed.latest:
        latest = models.get_registered_model(ctx, rs.ModelName(name=parsed.name)).latest_version
        if latest is None:
            raise NotFoundError(f"model {parsed.name!r} has no versions", field="source")
        found = versions.get_model_version(
            ctx, rs.ModelVersionRef(name=parsed.name, version=latest)
        )
    else:
        found = versions.get_model_version(
            ctx, rs.ModelVersionRef(name=parsed.name, version=parsed.version or 0)
        )
    if run_id is not None and run_id != (found.run_id or ""):
        raise _invalid_source(
            source, "The run_id request parameter must match the referenced model version."
        )
    row = load_version_row(ctx, found.name, found.version)
    return f"models:/{found.name}/{found.version}", row.storage_path or None, found.run_id


def _resolve_source(
    ctx: Context, source: str, run_id: str | None, model_id: str | None
) -> tuple[str, str | None, str | None]:
    """(recorded source, store path of the files or None, run_id) by MLflow's rules."""
    _refuse_relative(source)
    parsed = urllib.parse.urlsplit(source)
    scheme = parsed.scheme.lower()
    if scheme == "models":
        if parsed.netloc:
            raise _invalid_source(source, "Use the registry of this server (no host).")
        target = source[len("models:/") :].strip("/")
        if re.fullmatch(r"m-[0-9a-f]{32}", target):
            # MLflow asks for model_id with it; mloop's older clients sent the source alone.
            model_id = model_id or target
        elif model_id is None:
            return _from_registered_version(ctx, source, run_id)
    if model_id is not None:
        files, run_id = _from_logged_model(ctx, source, model_id, run_id)
        return source, files, run_id
    if _is_local(source):
        if run_id is None:
            raise _invalid_source(
                source,
                "To use a local path, give the run_id of the run whose artifact directory "
                "contains it.",
            )
        return source, _local_files(ctx, source, _run_root(ctx, source, run_id), "run_id"), run_id
    if scheme == "runs":
        if parsed.netloc:
            raise _not_identified(source, "run_id")
        source_run, path = parse_runs_uri(source, "source")
        if run_id is not None and run_id != source_run:
            raise _not_identified(source, "run_id")
        try:
            # A run mloop holds: its files are copied; MLflow does not check the run exists.
            return source, run_artifact_path(ctx, source_run, path), source_run
        except (NotFoundError, ValidationError):
            return source, None, run_id
    if scheme == "mlflow-artifacts":
        path = _store_path(source)
        if run_id is not None:
            if not _within(path, _run_root(ctx, source, run_id)):
                raise _not_identified(source, "run_id")
            return source, path, run_id
        try:
            owner, _ = split_run_path(path)
        except ValidationError:
            owner = None
        return source, path, owner
    return source, None, run_id


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


def rename_registered_model(ctx: Context, body: dict[str, Any]) -> dict[str, Any]:
    req = rs.RenameRegisteredModel(name=_name(body), new_name=text(body, "new_name") or "")
    return {"registered_model": model_json(ctx, models.rename_registered_model(ctx, req))}


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
    name = _name(body)
    source = text(body, "source") or ""
    run_id = text(body, "run_id", required=False)
    model_id = text(body, "model_id", required=False)
    description = text(body, "description", required=False)
    tags = dict(pairs(body, "tags"))
    recorded, files, run_id = _resolve_source(ctx, source, run_id, model_id)
    created = versions.record_model_version(
        ctx, name, recorded, files=files, run_id=run_id, description=description, tags=tags
    )
    return {"model_version": version_json(created)}


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
    """The newest version: every version is in MLflow's stage "None", as stages are not kept."""
    found = models.get_registered_model(ctx, rs.ModelName(name=_name(body)))
    raw_stages = body.get("stages")
    stages = [raw_stages] if isinstance(raw_stages, str) else strings(body, "stages")
    if found.latest_version is None or (stages and "none" not in {s.lower() for s in stages}):
        return {"model_versions": []}
    ref = rs.ModelVersionRef(name=found.name, version=found.latest_version)
    return {"model_versions": [version_json(versions.get_model_version(ctx, ref))]}


def get_download_uri(ctx: Context, body: dict[str, Any]) -> dict[str, Any]:
    version = versions.get_model_version(
        ctx, rs.ModelVersionRef(name=_name(body), version=_version(body))
    )
    row = load_version_row(ctx, version.name, version.version)
    if not row.storage_path and urllib.parse.urlsplit(row.source).scheme in _CLIENT_READABLE:
        # No copy in mloop, but the client can fetch the source itself, as with MLflow.
        return {"artifact_uri": row.source}
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
    Endpoint("/registered-models/rename", "POST", rename_registered_model, "admin"),
    Endpoint("/registered-models/delete", "DELETE", delete_registered_model, "admin"),
    Endpoint("/registered-models/search", "GET", search_registered_models, "reader"),
    Endpoint("/registered-models/set-tag", "POST", set_registered_model_tag, "writer", quick=True),
    Endpoint("/registered-models/delete-tag", "DELETE", delete_registered_model_tag, "writer"),
    Endpoint("/registered-models/get-latest-versions", "POST", get_latest_versions, "reader"),
    Endpoint("/registered-models/get-latest-versions", "GET", get_latest_versions, "reader"),
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
