"""MLflow's model-registry REST endpoints over mloop's registry domain.

Registered models, versions, tags and aliases are mloop's own: an alias set through MLflow's
client is the same alias ``mloop.load_model("models:/name@alias")`` resolves, and it lands in
the same audit history. MLflow's stages, which MLflow deprecated in favour of aliases, are
kept for its clients only: ``transition-stage``, ``get-latest-versions`` per stage and each
version's ``current_stage``; mloop's own API does not show them.

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

import json
import os
import re
import urllib.parse
from pathlib import Path
from typing import Any

from sqlalchemy import exists, or_, select

from mloop.compat.mlflow import tables as mt
from mloop.compat.mlflow.artifacts import split_run_path
from mloop.compat.mlflow.http import (
    Endpoint,
    Handler,
    integer,
    invalid,
    pairs,
    strings,
    text,
    unquote,
    value_text,
)
from mloop.compat.mlflow.logged_models import load_logged_model, set_logged_model_tags
from mloop.core.errors import ConflictError, NotFoundError, ValidationError
from mloop.models.uris import parse_models_uri, parse_runs_uri
from mloop.registry import aliases, models, versions
from mloop.registry import schemas as rs
from mloop.registry import tables as vt
from mloop.registry.checks import decode_page_token, encode_page_token
from mloop.registry.common import READY, load_version_row, version_messages
from mloop.registry.files import model_files_location
from mloop.store.context import Context
from mloop.tracking.artifacts import run_artifact_path
from mloop.tracking.search_sql import case_sensitive_like

_CLAUSE = re.compile(
    r"^\s*(name|tags?\.(?:`[^`]+`|\"[^\"]+\"|[\w.]+))\s*(=|!=|LIKE|ILIKE)\s*'((?:[^']|'')*)'\s*$",
    re.IGNORECASE,
)


def version_json(v: rs.ModelVersion, stage: str = "None") -> dict[str, Any]:
    """MLflow's JSON of a version; ``stage`` is its MLflow stage (see :func:`_with_stages`)."""
    return {
        "name": v.name,
        "version": str(v.version),
        "creation_timestamp": v.creation_time,
        "last_updated_timestamp": v.last_update_time,
        "description": v.description,
        "user_id": v.user_id,
        "current_stage": stage,
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
        # MLflow's latest_versions: the newest version of each stage, oldest first.
        newest = sorted(versions.latest_by_stage(ctx, m.name).values())
        body["latest_versions"] = _with_stages(ctx, _versions(ctx, m.name, newest))
    return body


def _versions(ctx: Context, name: str, numbers: list[int]) -> list[rs.ModelVersion]:
    return [
        versions.get_model_version(ctx, rs.ModelVersionRef(name=name, version=n)) for n in numbers
    ]


def _with_stages(ctx: Context, found: list[rs.ModelVersion]) -> list[dict[str, Any]]:
    """MLflow's JSON of versions, each with the stage it is in."""
    stages: dict[tuple[str, int], str] = {}
    for name in {v.name for v in found}:
        numbers = [v.version for v in found if v.name == name]
        stages.update(
            ((name, n), stage) for n, stage in versions.stages_of(ctx, name, numbers).items()
        )
    return [version_json(v, stages.get((v.name, v.version), "None")) for v in found]


def _one(ctx: Context, found: rs.ModelVersion) -> dict[str, Any]:
    return {"model_version": _with_stages(ctx, [found])[0]}


def _name(body: dict[str, Any]) -> str:
    return text(body, "name") or ""


def _version(body: dict[str, Any]) -> int:
    raw = body.get("version")
    try:
        if isinstance(raw, bool) or raw is None:
            raise ValueError
        return min(max(int(raw), 0), 2**31 - 1)
    except (TypeError, ValueError):
        # MLflow's wording: its clients and tests match on it.
        raise ValidationError(
            f"Parameter 'version' must be an integer, got '{raw}'.", field="version"
        ) from None


# The registry's own sentences (mloop.store.assets), from which MLflow's are written: the
# model or version they name may be another than the request's (a models:/ source, a copy).
_MODEL_MISSING = re.compile(r"registered model '([^']+)' does not exist")
_VERSION_MISSING = re.compile(r"version (\d+) of model '([^']+)' (?:does not exist|was deleted)")
_MODEL_TAKEN = re.compile(r"registered model '([^']+)' already exists")


def _mlflow_words(handler: Handler) -> Handler:
    """The handler, with the registry's not-found and duplicate-name errors worded as
    MLflow's server words them (its clients and tests match on these sentences)."""

    def call(ctx: Context, body: dict[str, Any]) -> dict[str, Any]:
        try:
            return handler(ctx, body)
        except NotFoundError as exc:
            if missing := _MODEL_MISSING.match(exc.message):
                raise NotFoundError(
                    f"Registered Model with name={missing.group(1)} not found", field=exc.field
                ) from None
            if missing := _VERSION_MISSING.match(exc.message):
                raise NotFoundError(
                    f"Model Version (name={missing.group(2)}, version={missing.group(1)}) "
                    f"not found: {exc.message}",
                    field=exc.field,
                ) from None
            raise
        except ConflictError as exc:
            if taken := _MODEL_TAKEN.match(exc.message):
                raise ConflictError(
                    f"Registered Model (name={taken.group(1)}) already exists", field=exc.field
                ) from None
            raise

    call.__name__ = getattr(handler, "__name__", "handler")
    call.__doc__ = handler.__doc__
    return call


# Schemes whose files the MLflow client reads itself: a version with no files in mloop
# answers get-download-uri with its source, as MLflow's server does.
# runs:/ is among them: the client resolves it through the tracking API, which names the
# run when mloop does not hold it.
_CLIENT_READABLE = (
    *("s3", "gs", "wasbs", "wasb", "abfss", "abfs", "hdfs", "dbfs", "http", "https", "runs"),
)
_COPY_SOURCE = re.compile(r"models:/([^/]+)/(\d{1,9})")
_MAX_COPY_CHAIN = 32
_MODEL_VERSIONS_TAG = "mlflow.modelVersions"


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
        # MLflow's clients and tests match on the start of this sentence.
        raise _invalid_source(
            source,
            "If supplying a source as an http, https, local file path, ftp, object store or "
            "mlflow-artifacts URI, give an absolute path without relative references ('..').",
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


def _held_run_files(ctx: Context, source: str) -> tuple[str, str] | None:
    """(run id, store path) of a ``runs:/`` source naming a run mloop holds, else None."""
    try:
        source_run, path = parse_runs_uri(source, "source")
        return source_run, run_artifact_path(ctx, source_run, path)
    except (NotFoundError, ValidationError):
        return None


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
        held = _held_run_files(ctx, source)
        if held is None:
            # MLflow records a runs:/ source unchecked, whatever follows runs:/ and whatever
            # run_id comes with it; the version has no files and loading it names its source.
            return source, None, run_id
        source_run, files = held
        if run_id is not None and run_id != source_run:
            # A run mloop holds: its lineage must be true, so run_id has to be that run.
            raise _not_identified(source, "run_id")
        return source, files, source_run
    if scheme == "mlflow-artifacts":
        path = _store_path(source)
        if run_id is not None:
            # Files are copied only from inside the run named with the source; any other
            # mlflow-artifacts location is recorded as given, as MLflow does.
            try:
                inside = _within(path, run_artifact_path(ctx, run_id))
            except (NotFoundError, ValidationError):
                inside = False
            return source, path if inside else None, run_id
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
    if model_id is not None:
        _tag_logged_model(ctx, model_id, created.name, created.version)
    return _one(ctx, created)


def _tag_logged_model(ctx: Context, model_id: str, name: str, version: int) -> None:
    """Add the version to the logged model's ``mlflow.modelVersions`` tag (a JSON list of
    {"name", "version"}), as MLflow's server does: the MLflow UI and clients read it."""
    tags = mt.logged_model_tags
    where = (tags.c.model_id == model_id, tags.c.key == _MODEL_VERSIONS_TAG)
    current = ctx.conn.execute(select(tags.c.value).where(*where)).scalar()
    try:
        listed = json.loads(current) if current else []
    except ValueError:
        listed = []  # a hand-set value that is no list is replaced
    entry = {"name": name, "version": version}
    listed = listed if isinstance(listed, list) else []
    if entry not in listed:
        listed.append(entry)
    set_logged_model_tags(
        ctx,
        {"model_id": model_id, "tags": [{"key": _MODEL_VERSIONS_TAG, "value": json.dumps(listed)}]},
    )


def get_model_version(ctx: Context, body: dict[str, Any]) -> dict[str, Any]:
    ref = rs.ModelVersionRef(name=_name(body), version=_version(body))
    return _one(ctx, versions.get_model_version(ctx, ref))


def update_model_version(ctx: Context, body: dict[str, Any]) -> dict[str, Any]:
    req = rs.UpdateModelVersion(
        name=_name(body), version=_version(body), description=value_text(body, "description")
    )
    return _one(ctx, versions.update_model_version(ctx, req))


def delete_model_version(ctx: Context, body: dict[str, Any]) -> dict[str, Any]:
    versions.delete_model_version(ctx, rs.ModelVersionRef(name=_name(body), version=_version(body)))
    return {}


# MLflow's model-version search: attributes and the comparisons each allows.
_MV_STRING = {"name": "name", "run_id": "run_id", "source_path": "source"}
_MV_STRING_OPS = ("=", "!=", "LIKE", "ILIKE", "IN", "NOT IN")
_MV_NUMBER_OPS = ("=", "!=", "<", "<=", ">", ">=")
_MV_TAG_OPS = ("=", "!=", "LIKE", "ILIKE")
_MV_ORDER = {
    "name": "name",
    "version_number": "version",
    "creation_timestamp": "creation_time",
    "last_updated_timestamp": "last_update_time",
}
_QUOTED = r"'(?:[^']|'')*'|\"(?:[^\"]|\"\")*\""
_MV_CLAUSE = re.compile(
    r"\s*(?P<key>tags?\.(?:`[^`]+`|\"[^\"]+\"|[\w.]+)|(?:attributes?\.)?\w+)\s*"
    r"(?P<op>!=|<=|>=|=|<|>|NOT\s+IN\b|IN\b|ILIKE\b|LIKE\b)\s*"
    rf"(?P<value>{_QUOTED}|-?\d+|\(\s*(?:{_QUOTED})(?:\s*,\s*(?:{_QUOTED}))*\s*,?\s*\))\s*",
    re.IGNORECASE,
)
_AND = re.compile(r"AND\s+", re.IGNORECASE)
# MLflow's clients filter prompts out with this tag; a model version without it is no prompt.
_PROMPT_TAG = "mlflow.prompt.is_prompt"
_MAX_SEARCH_RESULTS = 200_000


def _string_condition(column: Any, op: str, raw: str, field: str) -> Any:
    if op in ("IN", "NOT IN"):
        if not raw.startswith("("):
            raise ValidationError(f"{op} needs a list of quoted values: ('a', 'b')", field=field)
        values = [unquote(v) for v in re.findall(_QUOTED, raw)]
        return column.in_(values) if op == "IN" else column.not_in(values)
    if raw.startswith("(") or raw[0] not in "'\"":
        raise ValidationError(f"{op} needs a quoted value", field=field)
    value = unquote(raw)
    if op == "=":
        return column == value
    if op == "!=":
        return column != value
    if op == "LIKE":
        return case_sensitive_like(column, value)
    return column.ilike(value)


def _version_condition(op: str, raw: str) -> Any:
    column = vt.model_versions.c.version
    if op not in _MV_NUMBER_OPS or not re.fullmatch(r"-?\d+", raw.strip("'\"")):
        raise ValidationError(
            f"version_number takes {', '.join(_MV_NUMBER_OPS)} and a number", field="filter"
        )
    value = min(max(int(raw.strip("'\"")), -(2**31)), 2**31 - 1)
    return {
        "=": column == value,
        "!=": column != value,
        "<": column < value,
        "<=": column <= value,
        ">": column > value,
        ">=": column >= value,
    }[op]


def _tag_condition(key: str, op: str, raw: str) -> Any:
    if op not in _MV_TAG_OPS:
        raise ValidationError(f"tags take {', '.join(_MV_TAG_OPS)}", field="filter")
    tags, mv = vt.model_version_tags, vt.model_versions
    matched = exists().where(
        tags.c.name == mv.c.name,
        tags.c.version == mv.c.version,
        tags.c.key == key,
        _string_condition(tags.c.value, op, raw, "filter"),
    )
    value = unquote(raw)
    if key == _PROMPT_TAG and (op, value) in (("=", "false"), ("!=", "true")):
        present = exists().where(
            tags.c.name == mv.c.name, tags.c.version == mv.c.version, tags.c.key == key
        )
        return or_(matched, ~present)
    return matched


def _version_filter(raw: str) -> list[Any]:
    """SQL conditions for MLflow's model-version filter: clauses joined by AND."""
    conditions: list[Any] = []
    text_left, pos = raw.strip(), 0
    while pos < len(text_left):
        match = _MV_CLAUSE.match(text_left, pos)
        if match is None:
            raise ValidationError(
                f"unsupported filter {raw!r} near {text_left[pos : pos + 40]!r}: use name, "
                "run_id, source_path, version_number or tags.<key> with a comparison, "
                "joined by AND",
                field="filter",
            )
        key = match.group("key")
        op = re.sub(r"\s+", " ", match.group("op").upper())
        value = match.group("value")
        attribute = key.split(".", 1)[1] if key.lower().startswith("attribute") else key
        if key.lower().startswith(("tag.", "tags.")):
            tag = key.split(".", 1)[1].strip('`"')
            conditions.append(_tag_condition(tag, op, value))
        elif attribute.lower() == "version_number":
            conditions.append(_version_condition(op, value))
        elif attribute.lower() in _MV_STRING and op in _MV_STRING_OPS:
            column = vt.model_versions.c[_MV_STRING[attribute.lower()]]
            conditions.append(_string_condition(column, op, value, "filter"))
        else:
            raise ValidationError(
                f"cannot filter model versions by {key!r} with {op}: use name, run_id or "
                f"source_path with {', '.join(_MV_STRING_OPS)}, version_number or tags.<key>",
                field="filter",
            )
        pos = match.end()
        if pos < len(text_left):
            joined = _AND.match(text_left, pos)
            if joined is None:
                raise ValidationError(
                    f"unsupported filter {raw!r}: join clauses with AND", field="filter"
                )
            pos = joined.end()
    return conditions


def _version_order(body: dict[str, Any]) -> list[Any]:
    """ORDER BY for MLflow's order_by: the given keys, then name ASC and version DESC
    (newest first by last update when none is given), so that pages never overlap."""
    mv = vt.model_versions.c
    order: list[Any] = []
    used: set[str] = set()
    # A GET with one order_by parameter carries a string rather than a list.
    raw = body.get("order_by")
    for entry in [raw] if isinstance(raw, str) else strings(body, "order_by"):
        parts = entry.split()
        key = parts[0].lower() if parts else ""
        key = key.split(".", 1)[1] if key.startswith("attribute") and "." in key else key
        direction = parts[1].upper() if len(parts) == 2 else "ASC"
        if key not in _MV_ORDER or len(parts) > 2 or direction not in ("ASC", "DESC"):
            raise ValidationError(
                f"invalid order_by clause {entry!r}: use one of {', '.join(_MV_ORDER)} "
                "with an optional ASC or DESC",
                field="order_by",
            )
        column = mv[_MV_ORDER[key]]
        order.append(column.desc() if direction == "DESC" else column.asc())
        used.add(key)
    if not order:
        order.append(mv.last_update_time.desc())
    if "name" not in used:
        order.append(mv.name.asc())
    if "version_number" not in used:
        order.append(mv.version.desc())
    return order


def _search_page_size(body: dict[str, Any]) -> int:
    wanted = integer(body, "max_results", rs.MAX_LIST_RESULTS)
    if wanted is None or wanted < 1:
        raise ValidationError(
            f"Invalid value for max_results. It must be a positive integer, but got {wanted}",
            field="max_results",
        )
    if wanted > _MAX_SEARCH_RESULTS:
        raise ValidationError(
            "Invalid value for request parameter max_results. It must be at most "
            f"{_MAX_SEARCH_RESULTS}, but got value {wanted}",
            field="max_results",
        )
    # A page holds at most MAX_LIST_RESULTS versions; the token carries on from there.
    return min(wanted, rs.MAX_LIST_RESULTS)


def _messages_in_order(ctx: Context, rows: list[Any]) -> list[rs.ModelVersion]:
    """Version messages for rows of any models, in the rows' order."""
    by_model: dict[str, list[Any]] = {}
    for row in rows:
        by_model.setdefault(row.name, []).append(row)
    found = {
        (m.name, m.version): m for group in by_model.values() for m in version_messages(ctx, group)
    }
    return [found[(r.name, r.version)] for r in rows]


def search_model_versions(ctx: Context, body: dict[str, Any]) -> dict[str, Any]:
    """Versions of every model matching MLflow's filter, in its order, paged by offset."""
    conditions = _version_filter(text(body, "filter", required=False) or "")
    order = _version_order(body)
    size = _search_page_size(body)
    offset = min(decode_page_token(text(body, "page_token", required=False)), 2**31 - 1)
    mv = vt.model_versions
    rows = list(
        ctx.conn.execute(
            select(mv)
            .where(mv.c.status == READY, *conditions)
            .order_by(*order)
            .limit(size + 1)
            .offset(offset)
        )
    )
    page = rows[:size]
    answer: dict[str, Any] = {
        "model_versions": [
            version_json(v, row.stage)
            for v, row in zip(_messages_in_order(ctx, page), page, strict=True)
        ]
    }
    if len(rows) > size:
        answer["next_page_token"] = encode_page_token(offset + size)
    return answer


def get_latest_versions(ctx: Context, body: dict[str, Any]) -> dict[str, Any]:
    """The newest version of each stage asked for (of every stage when none is)."""
    found = models.get_registered_model(ctx, rs.ModelName(name=_name(body)))
    raw_stages = body.get("stages")
    stages = [raw_stages] if isinstance(raw_stages, str) else strings(body, "stages")
    newest = sorted(versions.latest_by_stage(ctx, found.name, stages).values())
    return {"model_versions": _with_stages(ctx, _versions(ctx, found.name, newest))}


def transition_stage(ctx: Context, body: dict[str, Any]) -> dict[str, Any]:
    """MLflow's stages (deprecated by MLflow in favour of aliases) for its clients."""
    archive = body.get("archive_existing_versions", False)
    if isinstance(archive, str) and archive.lower() in ("true", "false"):  # a query string
        archive = archive.lower() == "true"
    elif archive is None:
        archive = False
    elif not isinstance(archive, bool):
        raise invalid("archive_existing_versions", archive, "a boolean")
    moved = versions.transition_stage(
        ctx,
        _name(body),
        _version(body),
        text(body, "stage") or "",
        archive_existing=archive,
    )
    return _one(ctx, moved)


def get_download_uri(ctx: Context, body: dict[str, Any]) -> dict[str, Any]:
    version = versions.get_model_version(
        ctx, rs.ModelVersionRef(name=_name(body), version=_version(body))
    )
    row = load_version_row(ctx, version.name, version.version)
    # A copy (models:/<name>/<version>) of a version with no files answers as that version
    # does; the chain is bounded because each copy names an older, existing version.
    for _ in range(_MAX_COPY_CHAIN):
        copied = _COPY_SOURCE.fullmatch(row.source)
        if row.storage_path or copied is None:
            break
        try:
            row = load_version_row(ctx, copied.group(1), int(copied.group(2)))
        except NotFoundError:
            break
    if not row.storage_path and urllib.parse.urlsplit(row.source).scheme in _CLIENT_READABLE:
        # No copy in mloop, but the client can fetch the source itself, as with MLflow.
        return {"artifact_uri": row.source}
    location = model_files_location(ctx, row.name, row.version)
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
    return _one(ctx, aliases.get_model_version_by_alias(ctx, ref))


ENDPOINTS: list[Endpoint] = [
    Endpoint("/registered-models/create", "POST", _mlflow_words(create_registered_model), "writer"),
    Endpoint(
        "/registered-models/get", "GET", _mlflow_words(get_registered_model), "reader", quick=True
    ),
    Endpoint(
        "/registered-models/update", "PATCH", _mlflow_words(update_registered_model), "writer"
    ),
    Endpoint("/registered-models/rename", "POST", _mlflow_words(rename_registered_model), "admin"),
    Endpoint(
        "/registered-models/delete", "DELETE", _mlflow_words(delete_registered_model), "admin"
    ),
    Endpoint("/registered-models/search", "GET", _mlflow_words(search_registered_models), "reader"),
    Endpoint(
        "/registered-models/set-tag",
        "POST",
        _mlflow_words(set_registered_model_tag),
        "writer",
        quick=True,
    ),
    Endpoint(
        "/registered-models/delete-tag",
        "DELETE",
        _mlflow_words(delete_registered_model_tag),
        "writer",
    ),
    Endpoint(
        "/registered-models/get-latest-versions",
        "POST",
        _mlflow_words(get_latest_versions),
        "reader",
    ),
    Endpoint(
        "/registered-models/get-latest-versions",
        "GET",
        _mlflow_words(get_latest_versions),
        "reader",
    ),
    Endpoint("/registered-models/alias", "POST", _mlflow_words(set_alias), "writer", quick=True),
    Endpoint(
        "/registered-models/alias", "DELETE", _mlflow_words(delete_alias), "writer", quick=True
    ),
    Endpoint("/registered-models/alias", "GET", _mlflow_words(get_by_alias), "reader", quick=True),
    Endpoint("/model-versions/create", "POST", _mlflow_words(create_model_version), "writer"),
    Endpoint("/model-versions/get", "GET", _mlflow_words(get_model_version), "reader", quick=True),
    Endpoint("/model-versions/update", "PATCH", _mlflow_words(update_model_version), "writer"),
    Endpoint("/model-versions/transition-stage", "POST", _mlflow_words(transition_stage), "writer"),
    Endpoint("/model-versions/delete", "DELETE", _mlflow_words(delete_model_version), "admin"),
    Endpoint("/model-versions/search", "GET", _mlflow_words(search_model_versions), "reader"),
    Endpoint(
        "/model-versions/get-download-uri",
        "GET",
        _mlflow_words(get_download_uri),
        "reader",
        quick=True,
    ),
    Endpoint(
        "/model-versions/set-tag",
        "POST",
        _mlflow_words(set_model_version_tag),
        "writer",
        quick=True,
    ),
    Endpoint(
        "/model-versions/delete-tag", "DELETE", _mlflow_words(delete_model_version_tag), "writer"
    ),
]
