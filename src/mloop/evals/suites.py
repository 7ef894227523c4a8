"""Evaluation suites: register (versioned by content), read, list and delete.

Registering resolves the dataset reference to one version and stores it in the spec, so a
suite version always means the same rows. The spec's digest (sha256 of its canonical JSON)
identifies the version: the same spec again is the same version; anything changed, the
dataset version included, is the next one. Deleting a suite (admin) deletes its versions;
gate decisions made with it stay, as history.
"""

from __future__ import annotations

import hashlib
import itertools
import json
from typing import Any

from sqlalchemy import delete, func, insert, select

from mloop.core.errors import ConflictError, ValidationError
from mloop.core.naming import check_asset_name
from mloop.core.operations import Empty
from mloop.core.timeutil import now_ms
from mloop.core.validation import check_text
from mloop.evals import tables as t
from mloop.evals.names import NEEDS_PROBABILITIES, check_scorer_ref, parse_metric
from mloop.evals.ops import operations
from mloop.evals.schemas import (
    ListSuites,
    SliceSpec,
    StoredSpec,
    SuiteList,
    SuiteName,
    SuiteRef,
    SuiteSpec,
    SuiteSummary,
    SuiteVersion,
    SuiteVersionList,
)
from mloop.store.assets import AssetRows
from mloop.store.context import Context

SUITES = AssetRows(
    assets=t.eval_suites,
    versions=t.eval_suite_versions,
    noun="eval suite",
    check_name=lambda name: check_asset_name(name, "name", what="suite name"),
)


def _check_scalar(value: Any, field: str) -> None:
    if isinstance(value, dict | list):
        raise ValidationError(f"{field} must be a string, number or boolean", field=field)


def _check_slices(slices: list[SliceSpec], spec: SuiteSpec) -> None:
    names: set[str] = set()
    for i, piece in enumerate(slices):
        field = f"slices[{i}]"
        given = [k for k in ("value", "values", "bins") if getattr(piece, k) is not None]
        if len(given) != 1:
            raise ValidationError(
                f"{field} needs exactly one of value, values or bins", field=field
            )
        if piece.value is not None:
            _check_scalar(piece.value, f"{field}.value")
        for j, value in enumerate(piece.values or []):
            _check_scalar(value, f"{field}.values[{j}]")
            if value is None:
                raise ValidationError(f"{field}.values[{j}] is null", field=f"{field}.values")
        if piece.values is not None and not piece.values:
            raise ValidationError(f"{field}.values is empty", field=f"{field}.values")
        if piece.bins is not None:
            edges = piece.bins
            if len(edges) < 2 or any(b <= a for a, b in itertools.pairwise(edges)):
                raise ValidationError(
                    f"{field}.bins must be at least two increasing edges", field=f"{field}.bins"
                )
            if piece.name is not None:
                raise ValidationError(
                    f"{field}: a binned slice is named by its bins; leave out name",
                    field=f"{field}.name",
                )
        if piece.metric is not None:
            parse_metric(piece.metric, spec.task, spec.scorers, f"{field}.metric")
        if piece.name is not None:
            if not piece.name.strip():
                raise ValidationError(f"{field}.name is empty", field=f"{field}.name")
            if piece.name in names:
                raise ValidationError(f"{field}.name {piece.name!r} is used twice", field=field)
            names.add(piece.name)


def check_spec(spec: SuiteSpec) -> None:
    """Every rule of a suite the fields' types do not state (the SDK checks it too, before
    it reads any data)."""
    check_asset_name(spec.name, "name", what="suite name")
    check_text(spec.description, "description", max_length=2000)
    for i, ref in enumerate(spec.scorers):
        check_scorer_ref(ref, f"scorers[{i}]")
    if len(set(spec.scorers)) != len(spec.scorers):
        raise ValidationError("scorers lists a reference twice", field="scorers")
    primary = parse_metric(spec.primary, spec.task, spec.scorers, "primary")
    for i, name in enumerate(spec.metrics):
        parse_metric(name, spec.task, spec.scorers, f"metrics[{i}]")
    if len(set(spec.metrics)) != len(spec.metrics):
        raise ValidationError("metrics lists a metric twice", field="metrics")
    for name in spec.guards:
        parse_metric(name, spec.task, spec.scorers, f"guards.{name}")
    if spec.task == "ranking" and spec.group is None:
        raise ValidationError("a ranking suite needs group: the query id column", field="group")
    if spec.task != "ranking" and spec.group is not None:
        raise ValidationError("group is for ranking suites only", field="group")
    if spec.method == "mcnemar" and (spec.task != "classification" or primary.base != "accuracy"):
        raise ValidationError(
            "method mcnemar compares classifiers' right and wrong answers: it needs task "
            "classification and primary accuracy",
            field="method",
        )
    if spec.fairness and spec.task != "classification":
        raise ValidationError("fairness constraints need task classification", field="fairness")
    _check_scalar(spec.positive_label, "positive_label")
    for i, rule in enumerate(spec.fairness):
        _check_scalar(rule.positive_label, f"fairness[{i}].positive_label")
    _check_slices(spec.slices, spec)
    if spec.features is not None:
        if not spec.features:
            raise ValidationError(
                "features is empty (leave it out for every column)", field="features"
            )
        clash = {spec.target, spec.group} & set(spec.features)
        if clash:
            raise ValidationError(
                f"features includes {sorted(c for c in clash if c)} (the target or group)",
                field="features",
            )


def needs_probabilities(spec: StoredSpec) -> bool:
    names = [spec.primary, *spec.metrics, *spec.guards, *(s.metric or "" for s in spec.slices)]
    return any(n in NEEDS_PROBABILITIES for n in names)


def _resolve_dataset(ctx: Context, ref: str) -> tuple[str, int, str]:
    """Pin ``ref`` to (name, version, digest) through the datasets domain."""
    from mloop.datasets.aliases import get_dataset_version_by_alias
    from mloop.datasets.checks import parse_dataset_ref
    from mloop.datasets.schemas import DatasetAliasRef, GetDatasetVersion
    from mloop.datasets.versions import get_dataset_version

    parsed = parse_dataset_ref(ref, "dataset")
    if parsed.alias is not None:
        found = get_dataset_version_by_alias(
            ctx, DatasetAliasRef(name=parsed.name, alias=parsed.alias, include_profile=False)
        )
    else:
        found = get_dataset_version(
            ctx,
            GetDatasetVersion(name=parsed.name, version=parsed.version, include_profile=False),
        )
    return found.name, found.version, found.digest


def _canonical(spec: StoredSpec) -> str:
    return json.dumps(spec.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))


def _version_message(row: Any, description: str, *, created: bool = False) -> SuiteVersion:
    return SuiteVersion(
        name=row.name,
        version=row.version,
        digest=row.digest,
        description=description,
        spec=StoredSpec.model_validate_json(row.spec_json),
        dataset_name=row.dataset_name,
        dataset_version=row.dataset_version,
        dataset_digest=row.dataset_digest,
        created_by=row.created_by,
        creation_time=row.creation_time,
        created=created,
    )


@operations.post("/suites/register", SuiteSpec, SuiteVersion)
def register_eval_suite(ctx: Context, req: SuiteSpec) -> SuiteVersion:
    """Register a suite; the same spec again returns its existing version."""
    check_spec(req)
    name, version, digest = _resolve_dataset(ctx, req.dataset)
    fields = req.model_dump(exclude={"name", "description", "dataset"})
    stored = StoredSpec(dataset=f"{name}/{version}", **fields)
    spec_json = _canonical(stored)
    spec_digest = hashlib.sha256(spec_json.encode()).hexdigest()
    asset = SUITES.ensure(ctx, req.name, description=req.description, created_by=ctx.actor)
    if req.description and req.description != asset.description:
        SUITES.touch(ctx, asset.name, description=req.description)
    v = t.eval_suite_versions.c
    existing = ctx.conn.execute(
        select(t.eval_suite_versions).where(v.name == asset.name, v.digest == spec_digest)
    ).first()
    if existing is not None:
        return _version_message(existing, req.description or asset.description)
    latest = ctx.conn.execute(select(func.max(v.version)).where(v.name == asset.name)).scalar()
    number = int(latest or 0) + 1
    ctx.conn.execute(
        insert(t.eval_suite_versions).values(
            name=asset.name,
            version=number,
            digest=spec_digest,
            spec_json=spec_json,
            dataset_name=name,
            dataset_version=version,
            dataset_digest=digest,
            created_by=ctx.actor,
            creation_time=now_ms(),
        )
    )
    SUITES.touch(ctx, asset.name)
    row = SUITES.load_version(ctx, asset.name, number)
    return _version_message(row, req.description or asset.description, created=True)


def load_suite_version(ctx: Context, name: str, version: int | None) -> SuiteVersion:
    """A suite's version (its newest without ``version``); NotFoundError names which."""
    asset = SUITES.load(ctx, name)
    if version is None:
        version = SUITES.latest_version(ctx, asset.name)
        if version is None:  # pragma: no cover - a suite is created with its first version
            raise ConflictError(f"eval suite {name!r} has no versions", field="name")
    return _version_message(SUITES.load_version(ctx, asset.name, version), asset.description)


@operations.get("/suites/get", SuiteRef, SuiteVersion, quick=True)
def get_eval_suite(ctx: Context, req: SuiteRef) -> SuiteVersion:
    """One version of a suite; without a version, the newest."""
    return load_suite_version(ctx, req.name, req.version)


@operations.get("/suites/list", ListSuites, SuiteList)
def list_eval_suites(ctx: Context, req: ListSuites) -> SuiteList:
    """Suites by name, with their newest version number."""
    s, v = t.eval_suites.c, t.eval_suite_versions.c
    latest = select(v.name, func.max(v.version).label("latest")).group_by(v.name).subquery("latest")
    rows = ctx.conn.execute(
        select(t.eval_suites, latest.c.latest)
        .select_from(t.eval_suites.outerjoin(latest, latest.c.name == s.name))
        .order_by(s.name)
        .limit(req.max_results)
    )
    return SuiteList(
        suites=[
            SuiteSummary(
                name=r.name,
                description=r.description,
                latest_version=r.latest,
                created_by=r.created_by,
                creation_time=r.creation_time,
                last_update_time=r.last_update_time,
            )
            for r in rows
        ]
    )


@operations.get("/suites/versions", SuiteName, SuiteVersionList)
def list_eval_suite_versions(ctx: Context, req: SuiteName) -> SuiteVersionList:
    """Every version of a suite, newest first."""
    asset = SUITES.load(ctx, req.name)
    v = t.eval_suite_versions.c
    rows = ctx.conn.execute(
        select(t.eval_suite_versions).where(v.name == asset.name).order_by(v.version.desc())
    )
    return SuiteVersionList(versions=[_version_message(r, asset.description) for r in rows])


@operations.post("/suites/delete", SuiteName, Empty, role="admin")
def delete_eval_suite(ctx: Context, req: SuiteName) -> Empty:
    """Delete a suite and its versions (gate decisions made with it stay)."""
    asset = SUITES.load(ctx, req.name, lock=True)
    v = t.eval_suite_versions.c
    ctx.conn.execute(delete(t.eval_suite_versions).where(v.name == asset.name))
    ctx.conn.execute(delete(t.eval_suites).where(t.eval_suites.c.name == asset.name))
    return Empty()
