"""Dataset versions: immutable Parquet files identified by the sha256 of their bytes,
numbered 1, 2, 3 per dataset. Registering content a dataset already holds returns that
version instead of creating another.
"""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import delete, func, insert, select, update
from sqlalchemy.exc import IntegrityError

from mloop.core.errors import ConflictError, NotFoundError, ValidationError
from mloop.core.operations import Empty
from mloop.core.timeutil import now_ms
from mloop.datasets import tables as t
from mloop.datasets.checks import (
    check_alias,
    check_dataset_name,
    check_description,
    check_digest,
    check_source,
    decode_page_token,
    encode_page_token,
)
from mloop.datasets.common import (
    ALIASES,
    DELETED,
    READY,
    ensure_dataset_row,
    latest_version,
    load_dataset_row,
    load_version_row,
    touch_dataset,
    version_message,
    version_messages,
)
from mloop.datasets.files import (
    claim_upload,
    discard_upload,
    place_upload,
    remove_version_files,
    version_location,
)
from mloop.datasets.ops import operations
from mloop.datasets.policies import enforce_policy
from mloop.datasets.schemas import (
    MAX_PROFILE_BYTES,
    CreateDatasetVersion,
    DatasetVersion,
    DatasetVersionByDigest,
    DatasetVersionList,
    DatasetVersionRef,
    GetDatasetVersion,
    ListDatasetVersions,
    RegisteredDatasetVersion,
    SchemaField,
)
from mloop.datasets.validations import check_validation, insert_validation
from mloop.store.context import Context
from mloop.tracking.runs import check_run_id, load_run_row


def check_schema(fields: list[SchemaField]) -> list[dict[str, Any]]:
    names: set[str] = set()
    out = []
    for i, f in enumerate(fields):
        if not f.name or len(f.name) > 10_000 or "\x00" in f.name:
            raise ValidationError(
                f"dataset_schema[{i}].name must be 1 to 10,000 characters without NUL bytes",
                field=f"dataset_schema[{i}].name",
            )
        if f.name in names:
            raise ValidationError(
                f"dataset_schema names column {f.name[:80]!r} twice", field="dataset_schema"
            )
        if not f.type or len(f.type) > 10_000:
            raise ValidationError(
                f"dataset_schema[{i}].type must be an Arrow type as text",
                field=f"dataset_schema[{i}].type",
            )
        names.add(f.name)
        out.append({"name": f.name, "type": f.type, "nullable": f.nullable})
    return out


def check_profile(profile: dict[str, Any], row_count: int, schema: list[dict[str, Any]]) -> str:
    """The profile as JSON text, after checking it describes this data (no mloop.data needed:
    the server may run without the data extra)."""
    try:
        text = json.dumps(profile, allow_nan=False, ensure_ascii=False, separators=(",", ":"))
    except (TypeError, ValueError) as exc:
        raise ValidationError(f"profile is not JSON data: {exc}", field="profile") from None
    if len(text.encode()) > MAX_PROFILE_BYTES:
        raise ValidationError(
            f"profile is {len(text.encode())} bytes of JSON; the limit is {MAX_PROFILE_BYTES}. "
            "Profile with a smaller max_categories or top_k",
            field="profile",
        )
    version = profile.get("format_version")
    if isinstance(version, bool) or not isinstance(version, int) or version < 1:
        raise ValidationError(
            "profile is not a dataset profile: it needs an integer format_version "
            "(send DatasetProfile.to_dict())",
            field="profile.format_version",
        )
    if profile.get("row_count") != row_count:
        raise ValidationError(
            f"profile.row_count is {str(profile.get('row_count'))[:40]}, but the version has "
            f"{row_count} rows: the profile is of other data",
            field="profile.row_count",
        )
    columns = profile.get("columns")
    if not isinstance(columns, list) or not all(
        isinstance(c, dict) and isinstance(c.get("name"), str) for c in columns
    ):
        raise ValidationError(
            "profile.columns must be a list of column profiles, each with a name",
            field="profile.columns",
        )
    profiled = [c["name"] for c in columns]
    expected = [f["name"] for f in schema]
    if profiled != expected:
        raise ValidationError(
            f"profile.columns are {profiled[:5]}..., but the schema's columns are "
            f"{expected[:5]}...: the profile must cover every column, in order",
            field="profile.columns",
        )
    return text


def _next_version(ctx: Context, name: str) -> int:
    # Deleted versions keep their rows, so a number is never handed out twice.
    current = ctx.conn.execute(
        select(func.max(t.dataset_versions.c.version)).where(t.dataset_versions.c.name == name)
    ).scalar()
    return int(current or 0) + 1


def _row_with_digest(ctx: Context, name: str, digest: str) -> Any:
    return ctx.conn.execute(
        select(t.dataset_versions)
        .where(
            t.dataset_versions.c.name == name,
            t.dataset_versions.c.digest == digest,
            t.dataset_versions.c.status == READY,
        )
        .order_by(t.dataset_versions.c.version)
        .limit(1)
    ).first()


def set_alias_row(ctx: Context, name: str, alias: str, version: int) -> None:
    ALIASES.set(ctx, name, alias, version)


@operations.post("/versions/create", CreateDatasetVersion, RegisteredDatasetVersion)
def create_dataset_version(ctx: Context, req: CreateDatasetVersion) -> RegisteredDatasetVersion:
    """Make an uploaded Parquet file the dataset's next version (creating the dataset on
    first use), with its schema, profile, source, producing run and validations.

    When the dataset already holds a version with the same digest, that version is returned
    (``created`` is false) and the upload is discarded.
    """
    name = check_dataset_name(req.name)
    digest = check_digest(req.digest)
    schema = check_schema(req.dataset_schema)
    profile_json = check_profile(req.profile, req.row_count, schema)
    source = check_source(req.source)
    description = check_description(req.description) if req.description is not None else None
    alias = check_alias(req.alias) if req.alias is not None else None
    if req.run_id is not None:
        load_run_row(ctx, check_run_id(req.run_id))
    validations = [check_validation(v, f"validations[{i}]") for i, v in enumerate(req.validations)]
    dataset = ensure_dataset_row(ctx, name, description)
    upload_path, size = claim_upload(ctx, req.upload_id, name, digest)
    existing = _row_with_digest(ctx, name, digest)
    if existing is not None:
        discard_upload(ctx, upload_path)
        if alias is not None:
            set_alias_row(ctx, name, alias, existing.version)
            touch_dataset(ctx, name)
        return RegisteredDatasetVersion(
            dataset_version=version_message(ctx, name, existing.version), created=False
        )
    enforce_policy(dataset, {v["contract_digest"] for v in validations if v["passed"]})
    version = _next_version(ctx, name)
    try:
        with ctx.conn.begin_nested():
            ctx.conn.execute(
                insert(t.dataset_versions).values(
                    name=name,
                    version=version,
                    digest=digest,
                    storage_path=version_location(name, version),
                    size=size,
                    row_count=req.row_count,
                    schema_json=json.dumps(schema, ensure_ascii=False),
                    profile_json=profile_json,
                    source=source,
                    run_id=req.run_id,
                    status=READY,
                    created_by=ctx.actor[:256],
                    creation_time=now_ms(),
                )
            )
    except IntegrityError as exc:
        raise ConflictError(
            f"version {version} of dataset {name!r} was created concurrently; retry",
            field="name",
        ) from exc
    for values in validations:
        insert_validation(ctx, name, version, values)
    if alias is not None:
        set_alias_row(ctx, name, alias, version)
    if description is not None:
        touch_dataset(ctx, name, description=description)
    else:
        touch_dataset(ctx, name)
    # The file moves last: a database error above leaves the upload where it was.
    place_upload(ctx, upload_path, name, version)
    return RegisteredDatasetVersion(
        dataset_version=version_message(ctx, name, version), created=True
    )


# Version reads are not "quick": a profile can be megabytes of JSON.
@operations.get("/versions/get", GetDatasetVersion, DatasetVersion)
def get_dataset_version(ctx: Context, req: GetDatasetVersion) -> DatasetVersion:
    """One version with its schema, profile, aliases and latest validation; without a
    version number, the newest."""
    name = load_dataset_row(ctx, req.name).name
    version = req.version
    if version is None:
        version = latest_version(ctx, name)
        if version is None:
            raise NotFoundError(f"dataset {name!r} has no versions", field="name")
    return version_message(ctx, name, version, include_profile=req.include_profile)


@operations.get("/versions/by-digest", DatasetVersionByDigest, DatasetVersion)
def get_dataset_version_by_digest(ctx: Context, req: DatasetVersionByDigest) -> DatasetVersion:
    """The version of a dataset whose Parquet bytes have this sha256."""
    name = load_dataset_row(ctx, req.name).name
    row = _row_with_digest(ctx, name, check_digest(req.digest))
    if row is None:
        raise NotFoundError(
            f"dataset {name!r} has no version with digest {req.digest}", field="digest"
        )
    return version_messages(ctx, [row], include_profile=True)[0]


@operations.get("/versions/list", ListDatasetVersions, DatasetVersionList)
def list_dataset_versions(ctx: Context, req: ListDatasetVersions) -> DatasetVersionList:
    """The versions of a dataset, newest first (without profiles)."""
    load_dataset_row(ctx, req.name)
    offset = decode_page_token(req.page_token)
    rows = list(
        ctx.conn.execute(
            select(t.dataset_versions)
            .where(t.dataset_versions.c.name == req.name, t.dataset_versions.c.status == READY)
            .order_by(t.dataset_versions.c.version.desc())
            .limit(req.max_results + 1)
            .offset(offset)
        )
    )
    token = encode_page_token(offset + req.max_results) if len(rows) > req.max_results else None
    return DatasetVersionList(
        dataset_versions=version_messages(ctx, rows[: req.max_results]), next_page_token=token
    )


@operations.post("/versions/delete", DatasetVersionRef, Empty, role="admin")
def delete_dataset_version(ctx: Context, req: DatasetVersionRef) -> Empty:
    """Delete a version: its aliases are removed (and logged) and its file deleted. The row
    and its validations stay, marked deleted, so the number is never reused."""
    name = load_dataset_row(ctx, req.name, lock=True).name
    load_version_row(ctx, name, req.version)
    pointing = ctx.conn.execute(
        select(t.dataset_aliases.c.alias).where(
            t.dataset_aliases.c.name == name, t.dataset_aliases.c.version == req.version
        )
    ).scalars()
    for alias in sorted(pointing):
        ALIASES.record(ctx, name, alias, req.version, None)
    ctx.conn.execute(
        delete(t.dataset_aliases).where(
            t.dataset_aliases.c.name == name, t.dataset_aliases.c.version == req.version
        )
    )
    ctx.conn.execute(
        update(t.dataset_versions)
        .where(t.dataset_versions.c.name == name, t.dataset_versions.c.version == req.version)
        .values(status=DELETED)
    )
    touch_dataset(ctx, name)
    remove_version_files(ctx, name, req.version)
    return Empty()


def dataset_versions_with_digests(ctx: Context, pairs: list[tuple[str, str]]) -> list[Any]:
    """Live version rows matching (name, digest) pairs (for lineage)."""
    rows = []
    for name, digest in pairs:
        row = _row_with_digest(ctx, name, digest)
        if row is not None:
            rows.append(row)
    return rows
