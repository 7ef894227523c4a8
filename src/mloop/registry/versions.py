"""Model versions: immutable copies of a run's model directory, numbered 1, 2, 3 per model.

mloop's own API registers only model directories it holds (``runs:/<run_id>/<path>``): every
version it creates can be loaded, and its digest checked. MLflow's API is more permissive, as
MLflow is: :func:`record_model_version` also records versions whose source mloop cannot read
(``s3://...``, a run it does not hold), with their source and no files.
"""

from __future__ import annotations

import json
import posixpath

from sqlalchemy import delete, func, insert, select, update
from sqlalchemy.exc import IntegrityError

from mloop.core.errors import ConflictError, NotFoundError, ValidationError
from mloop.core.operations import Empty
from mloop.core.timeutil import now_ms
from mloop.datasets.lineage import training_data_for_run
from mloop.models.metadata import MAX_METADATA_BYTES, MODEL_FILE, ModelMetadata, parse_metadata
from mloop.models.mlflow_format import MLMODEL_FILE, parse_mlmodel
from mloop.models.uris import parse_runs_uri
from mloop.registry import tables as t
from mloop.registry.checks import (
    check_description,
    check_model_name,
    check_tag,
    check_tags,
    decode_page_token,
    encode_page_token,
)
from mloop.registry.common import (
    ALIASES,
    DELETED,
    READY,
    load_model_row,
    load_version_row,
    version_message,
    version_messages,
)
from mloop.registry.files import (
    freeze_files,
    remove_stored_files,
    stored_locations,
)
from mloop.registry.models import touch_model
from mloop.registry.ops import operations
from mloop.registry.schemas import (
    CreateModelVersion,
    DeleteModelVersionTag,
    ListModelVersions,
    ModelVersion,
    ModelVersionList,
    ModelVersionRef,
    SetModelVersionTag,
    UpdateModelVersion,
)
from mloop.store.context import Context
from mloop.tracking.artifacts import run_artifact_path
from mloop.tracking.runs import check_run_id, load_run_row, load_runs


def _read_source_metadata(ctx: Context, source_dir: str, source: str) -> ModelMetadata:
    """The model's metadata, after checking that the files it names are there."""
    if not ctx.artifacts.exists(source_dir):
        raise NotFoundError(
            f"source {source} does not exist in the run's artifacts", field="source"
        )
    meta_path = posixpath.join(source_dir, MODEL_FILE)
    parse = parse_metadata
    if not ctx.artifacts.exists(meta_path):
        meta_path = posixpath.join(source_dir, MLMODEL_FILE)
        parse = parse_mlmodel
    if not ctx.artifacts.exists(meta_path):
        raise ValidationError(
            f"source {source} is not a model directory: it has neither {MODEL_FILE} nor "
            f"MLflow's {MLMODEL_FILE}. Log models with mloop.sklearn.log_model, "
            "mloop.pyfunc.log_model or mlflow.<flavor>.log_model",
            field="source",
        )
    with ctx.artifacts.open(meta_path) as handle:
        raw = handle.read(MAX_METADATA_BYTES + 1)
    try:
        metadata = parse(raw)
    except ValidationError as exc:
        raise ValidationError(f"source {source}: {exc.message}", field="source") from None
    named = [metadata.data, metadata.input_example, *metadata.code_paths]
    named += list(metadata.artifacts.values())
    for rel in named:
        if rel is not None and not ctx.artifacts.exists(posixpath.join(source_dir, rel)):
            raise ValidationError(
                f"source {source}: {MODEL_FILE} names {rel!r}, which is missing", field="source"
            )
    return metadata


def _run_exists(ctx: Context, run_id: str) -> bool:
    try:
        load_run_row(ctx, run_id)
    except (NotFoundError, ValidationError):
        return False
    return True


def _next_version(ctx: Context, name: str) -> int:
    # Deleted versions keep their rows, so a number is never handed out twice.
    current = ctx.conn.execute(
        select(func.max(t.model_versions.c.version)).where(t.model_versions.c.name == name)
    ).scalar()
    return int(current or 0) + 1


def _insert_version(ctx: Context, row: dict[str, object], tags: dict[str, str]) -> None:
    now = now_ms()
    try:
        with ctx.conn.begin_nested():
            ctx.conn.execute(
                insert(t.model_versions).values(
                    **row,
                    status=READY,
                    user_id=ctx.actor[:256],
                    creation_time=now,
                    last_update_time=now,
                )
            )
    except IntegrityError as exc:
        raise ConflictError(
            f"version {row['version']} of model {row['name']!r} was created concurrently; retry",
            field="name",
        ) from exc
    if tags:
        ctx.conn.execute(
            insert(t.model_version_tags),
            [
                {"name": row["name"], "version": row["version"], "key": k, "value": v}
                for k, v in tags.items()
            ],
        )


@operations.post("/model-versions/create", CreateModelVersion, ModelVersion)
def create_model_version(ctx: Context, req: CreateModelVersion) -> ModelVersion:
    """Register a run's model directory (``runs:/<run_id>/<path>``) as the next version."""
    name = check_model_name(req.name)
    description = check_description(req.description)
    tags = check_tags(req.tags)
    run_id, path = parse_runs_uri(req.source, "source")
    if req.run_id is not None and check_run_id(req.run_id) != run_id:
        raise ValidationError(
            f"run_id {req.run_id} does not match the run in source {req.source}", field="run_id"
        )
    load_model_row(ctx, name, lock=True)
    source_dir = run_artifact_path(ctx, run_id, path)
    metadata = _read_source_metadata(ctx, source_dir, req.source)
    source = f"runs:/{run_id}/{path}" if path else f"runs:/{run_id}"
    return _store_version(
        ctx, name, source, run_id, (source_dir, metadata), description=description, tags=tags
    )


def _store_version(
    ctx: Context,
    name: str,
    source: str,
    run_id: str | None,
    files: tuple[str, ModelMetadata] | None,
    *,
    description: str,
    tags: dict[str, str],
) -> ModelVersion:
    """Insert the next version of ``name`` (its row locked by the caller), copying the model
    directory ``files`` (store path and its metadata) or, with None, recording no files."""
    version = _next_version(ctx, name)
    location, digest, metadata = "", "", None
    if files is not None:
        location, digest = freeze_files(ctx, files[0], name, version)
        metadata = files[1]
    try:
        # The run's metrics and training data when mloop holds the run; MLflow sources may
        # name a run it never saw.
        known_run = run_id is not None and _run_exists(ctx, run_id)
        row = {
            "name": name,
            "version": version,
            "description": description,
            "source": source,
            "storage_path": location,
            "run_id": run_id,
            "flavor": metadata.flavor if metadata else "",
            "signature_json": json.dumps(metadata.signature)
            if metadata and metadata.signature
            else None,
            "metrics_json": json.dumps(load_runs(ctx, [run_id])[0].data.metrics)
            if known_run and run_id
            else "{}",
            "sha256": digest,
            "training_data_json": json.dumps(training_data_for_run(ctx, run_id))
            if known_run and run_id
            else "[]",
        }
        _insert_version(ctx, row, tags)
    except BaseException:
        if location:
            remove_stored_files(ctx, [location])
        raise
    touch_model(ctx, name)
    return version_message(ctx, name, version)


def is_model_directory(ctx: Context, source_dir: str) -> bool:
    """Whether the store path holds a model directory (mloop's or MLflow's model file)."""
    return ctx.artifacts.exists(posixpath.join(source_dir, MODEL_FILE)) or ctx.artifacts.exists(
        posixpath.join(source_dir, MLMODEL_FILE)
    )


def record_model_version(
    ctx: Context,
    name: str,
    source: str,
    *,
    files: str | None,
    run_id: str | None = None,
    description: str | None = None,
    tags: dict[str, str] | None = None,
) -> ModelVersion:
    """Register the next version of ``name`` from a source as MLflow's API accepts it.

    ``source`` is recorded exactly as given. ``files`` is the store path of the model
    directory when mloop can read the source: a model directory there is checked and copied
    as :func:`create_model_version` does (a malformed model file is refused). Otherwise
    (None, a missing directory, a directory without a model file) the version is created
    with no files: loading it fails with an error naming the version and its source.
    """
    name = check_model_name(name)
    checked_description = check_description(description)
    checked_tags = check_tags(tags or {})
    if len(source) > 4096:
        raise ValidationError("source is longer than 4096 characters", field="source")
    if run_id is not None and (not run_id or len(run_id) > 32):
        raise ValidationError("run_id must be 1 to 32 characters", field="run_id")
    load_model_row(ctx, name, lock=True)
    frozen: tuple[str, ModelMetadata] | None = None
    if files is not None and ctx.artifacts.exists(files) and is_model_directory(ctx, files):
        frozen = (files, _read_source_metadata(ctx, files, source))
    return _store_version(
        ctx,
        name,
        source,
        run_id,
        frozen,
        description=checked_description,
        tags=checked_tags,
    )


@operations.get("/model-versions/get", ModelVersionRef, ModelVersion, quick=True)
def get_model_version(ctx: Context, req: ModelVersionRef) -> ModelVersion:
    """Get one version with its signature, metrics, tags and aliases."""
    load_model_row(ctx, req.name)
    return version_message(ctx, req.name, req.version)


@operations.get("/model-versions/list", ListModelVersions, ModelVersionList)
def list_model_versions(ctx: Context, req: ListModelVersions) -> ModelVersionList:
    """The versions of a model, newest first."""
    load_model_row(ctx, req.name)
    offset = decode_page_token(req.page_token)
    rows = list(
        ctx.conn.execute(
            select(t.model_versions)
            .where(t.model_versions.c.name == req.name, t.model_versions.c.status == READY)
            .order_by(t.model_versions.c.version.desc())
            .limit(req.max_results + 1)
            .offset(offset)
        )
    )
    token = encode_page_token(offset + req.max_results) if len(rows) > req.max_results else None
    return ModelVersionList(
        model_versions=version_messages(ctx, rows[: req.max_results]), next_page_token=token
    )


def _touch_version(ctx: Context, name: str, version: int) -> None:
    ctx.conn.execute(
        update(t.model_versions)
        .where(t.model_versions.c.name == name, t.model_versions.c.version == version)
        .values(last_update_time=now_ms())
    )


@operations.post("/model-versions/update", UpdateModelVersion, ModelVersion)
def update_model_version(ctx: Context, req: UpdateModelVersion) -> ModelVersion:
    """Change a version's description (its files and metadata never change)."""
    load_model_row(ctx, req.name, lock=True)
    load_version_row(ctx, req.name, req.version)
    description = check_description(req.description)
    ctx.conn.execute(
        update(t.model_versions)
        .where(t.model_versions.c.name == req.name, t.model_versions.c.version == req.version)
        .values(description=description, last_update_time=now_ms())
    )
    return version_message(ctx, req.name, req.version)


@operations.post("/model-versions/delete", ModelVersionRef, Empty, role="admin")
def delete_model_version(ctx: Context, req: ModelVersionRef) -> Empty:
    """Delete a version: its aliases are removed (and logged), its files deleted.

    The row stays, marked deleted, so the version number is never reused.
    """
    name = load_model_row(ctx, req.name, lock=True).name
    load_version_row(ctx, name, req.version)
    locations = stored_locations(ctx, name, req.version)
    pointing = ctx.conn.execute(
        select(t.model_aliases.c.alias).where(
            t.model_aliases.c.name == name, t.model_aliases.c.version == req.version
        )
    ).scalars()
    for alias in sorted(pointing):
        ALIASES.record(ctx, name, alias, req.version, None)
    ctx.conn.execute(
        delete(t.model_aliases).where(
            t.model_aliases.c.name == name, t.model_aliases.c.version == req.version
        )
    )
    ctx.conn.execute(
        delete(t.model_version_tags).where(
            t.model_version_tags.c.name == name, t.model_version_tags.c.version == req.version
        )
    )
    ctx.conn.execute(
        update(t.model_versions)
        .where(t.model_versions.c.name == name, t.model_versions.c.version == req.version)
        .values(status=DELETED, last_update_time=now_ms())
    )
    touch_model(ctx, name)
    remove_stored_files(ctx, locations)
    return Empty()


@operations.post("/model-versions/set-tag", SetModelVersionTag, Empty)
def set_model_version_tag(ctx: Context, req: SetModelVersionTag) -> Empty:
    """Set (or overwrite) a tag on a model version."""
    load_model_row(ctx, req.name)
    load_version_row(ctx, req.name, req.version)
    key, value = check_tag(req.key, req.value)
    where = (
        t.model_version_tags.c.name == req.name,
        t.model_version_tags.c.version == req.version,
        t.model_version_tags.c.key == key,
    )
    ctx.conn.execute(delete(t.model_version_tags).where(*where))
    ctx.conn.execute(
        insert(t.model_version_tags).values(
            name=req.name, version=req.version, key=key, value=value
        )
    )
    _touch_version(ctx, req.name, req.version)
    return Empty()


@operations.post("/model-versions/delete-tag", DeleteModelVersionTag, Empty)
def delete_model_version_tag(ctx: Context, req: DeleteModelVersionTag) -> Empty:
    """Remove a tag from a model version."""
    load_model_row(ctx, req.name)
    load_version_row(ctx, req.name, req.version)
    result = ctx.conn.execute(
        delete(t.model_version_tags).where(
            t.model_version_tags.c.name == req.name,
            t.model_version_tags.c.version == req.version,
            t.model_version_tags.c.key == req.key,
        )
    )
    if result.rowcount == 0:
        raise NotFoundError(
            f"version {req.version} of model {req.name!r} has no tag {req.key[:80]!r}", field="key"
        )
    _touch_version(ctx, req.name, req.version)
    return Empty()


STAGES = ("None", "Staging", "Production", "Archived")
"""MLflow's model-version stages, kept only for MLflow's API (mloop's own API uses aliases)."""


def canonical_stage(value: object, field: str = "stage") -> str:
    """One of :data:`STAGES`, given in any case."""
    found = next((s for s in STAGES if isinstance(value, str) and value.lower() == s.lower()), None)
    if found is None:
        raise ValidationError(
            f"Invalid Model Version stage: {value!r}. Value must be one of {', '.join(STAGES)}.",
            field=field,
        )
    return found


def transition_stage(
    ctx: Context, name: str, version: int, stage: str, *, archive_existing: bool
) -> ModelVersion:
    """Move a version to an MLflow stage; with ``archive_existing``, the model's other
    versions in Staging or Production (whichever the version enters) move to Archived."""
    stage = canonical_stage(stage)
    name = load_model_row(ctx, name, lock=True).name
    load_version_row(ctx, name, version)
    now = now_ms()
    mv = t.model_versions
    if archive_existing and stage in ("Staging", "Production"):
        ctx.conn.execute(
            update(mv)
            .where(
                mv.c.name == name,
                mv.c.version != version,
                mv.c.stage == stage,
                mv.c.status == READY,
            )
            .values(stage="Archived", last_update_time=now)
        )
    ctx.conn.execute(
        update(mv)
        .where(mv.c.name == name, mv.c.version == version)
        .values(stage=stage, last_update_time=now)
    )
    touch_model(ctx, name)
    return version_message(ctx, name, version)


def latest_by_stage(ctx: Context, name: str, stages: list[str] | None = None) -> dict[str, int]:
    """The newest live version of each stage that has one (of ``stages``, or of all)."""
    wanted = [canonical_stage(s, "stages") for s in stages] if stages else list(STAGES)
    mv = t.model_versions
    rows = ctx.conn.execute(
        select(mv.c.stage, func.max(mv.c.version))
        .where(mv.c.name == name, mv.c.status == READY, mv.c.stage.in_(wanted))
        .group_by(mv.c.stage)
    )
    return {stage: int(number) for stage, number in rows}


def stages_of(ctx: Context, name: str, numbers: list[int]) -> dict[int, str]:
    """The MLflow stage of each of the given versions of one model."""
    mv = t.model_versions
    rows = ctx.conn.execute(
        select(mv.c.version, mv.c.stage).where(mv.c.name == name, mv.c.version.in_(numbers))
    )
    return {int(number): stage for number, stage in rows}
