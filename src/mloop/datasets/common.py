"""Lookups and conversions shared by the datasets domain's handlers."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from sqlalchemy import func, select

from mloop.datasets import tables as t
from mloop.datasets.checks import check_dataset_name
from mloop.datasets.schemas import (
    Dataset,
    DatasetPolicy,
    DatasetValidation,
    DatasetVersion,
    SchemaField,
)
from mloop.store.assets import DELETED as DELETED
from mloop.store.assets import READY as READY
from mloop.store.assets import AssetRows
from mloop.store.context import Context
from mloop.store.pointers import Pointers

DATASETS = AssetRows(t.datasets, t.dataset_versions, noun="dataset", check_name=check_dataset_name)
"""Datasets and their versions (deleted versions are kept as ``DELETED``)."""

load_dataset_row = DATASETS.load
load_version_row = DATASETS.load_version
latest_version = DATASETS.latest_version
touch_dataset = DATASETS.touch


def ensure_dataset_row(ctx: Context, name: str, description: str | None = None) -> Any:
    """The dataset's row, locked; created (with ``description``) when it does not exist."""
    return DATASETS.ensure(ctx, name, description=description or "", policy_required=False)


ALIASES = Pointers(t.dataset_aliases, t.dataset_alias_history, "alias")
"""Dataset aliases and their history (kept even when versions are deleted)."""


def aliases_of(ctx: Context, name: str) -> dict[str, int]:
    return ALIASES.current(ctx, name)


def validation_message(row: Any, *, report: bool = False) -> DatasetValidation:
    return DatasetValidation(
        id=row.id,
        name=row.name,
        version=row.version,
        contract_name=row.contract_name,
        contract_version=row.contract_version,
        contract_digest=row.contract_digest,
        passed=bool(row.passed),
        errors=row.errors,
        warnings=row.warnings,
        created_by=row.created_by,
        created_time=row.created_time,
        contract_yaml=row.contract_yaml if report else None,
        report=json.loads(row.report_json) if report else None,
    )


def _latest_validations(ctx: Context, name: str, numbers: list[int]) -> dict[int, Any]:
    v = t.dataset_validations
    newest = (
        select(v.c.version, func.max(v.c.id).label("id"))
        .where(v.c.name == name, v.c.version.in_(numbers))
        .group_by(v.c.version)
        .subquery()
    )
    rows = ctx.conn.execute(select(v).join(newest, newest.c.id == v.c.id))
    return {r.version: r for r in rows}


def version_messages(
    ctx: Context, rows: Sequence[Any], *, include_profile: bool = False
) -> list[DatasetVersion]:
    """Messages for version rows of one dataset, with their aliases and latest validation."""
    if not rows:
        return []
    name = rows[0].name
    numbers = [r.version for r in rows]
    aliases = ALIASES.by_version(ctx, name, numbers)
    validations = _latest_validations(ctx, name, numbers)
    return [
        DatasetVersion(
            name=r.name,
            version=r.version,
            digest=r.digest,
            size=r.size,
            row_count=r.row_count,
            dataset_schema=[SchemaField(**f) for f in json.loads(r.schema_json)],
            profile=json.loads(r.profile_json) if include_profile else None,
            source=r.source,
            run_id=r.run_id,
            status=r.status,
            created_by=r.created_by,
            creation_time=r.creation_time,
            aliases=aliases[r.version],
            latest_validation=(
                validation_message(validations[r.version]) if r.version in validations else None
            ),
        )
        for r in rows
    ]


def version_message(
    ctx: Context, name: str, version: int, *, include_profile: bool = True
) -> DatasetVersion:
    row = load_version_row(ctx, name, version)
    return version_messages(ctx, [row], include_profile=include_profile)[0]


def policy_message(row: Any, *, include_yaml: bool = True) -> DatasetPolicy | None:
    if row.policy_contract is None:
        return None
    return DatasetPolicy(
        contract_name=row.policy_contract_name or "",
        contract_version=row.policy_contract_version or "",
        contract_digest=row.policy_digest or "",
        required=bool(row.policy_required),
        update_time=row.policy_update_time,
        contract_yaml=row.policy_contract if include_yaml else None,
    )


def dataset_message(ctx: Context, row: Any, *, include_policy_yaml: bool = True) -> Dataset:
    latest = latest_version(ctx, row.name)
    count = ctx.conn.execute(
        select(func.count()).where(
            t.dataset_versions.c.name == row.name, t.dataset_versions.c.status == READY
        )
    ).scalar()
    return Dataset(
        name=row.name,
        description=row.description or "",
        creation_time=row.creation_time,
        last_update_time=row.last_update_time,
        aliases=aliases_of(ctx, row.name),
        latest_version=latest,
        version_count=int(count or 0),
        latest=version_message(ctx, row.name, latest, include_profile=False) if latest else None,
        policy=policy_message(row, include_yaml=include_policy_yaml),
    )
