"""Lineage of dataset versions: the run that registered a version (its producer), the runs
that read it (inputs logged by ``mloop.get_dataset`` inside a run), and, for the model
registry, the registered datasets a training run read with the contract each passed.

Runs are reached only through the tracking domain's public functions.
"""

from __future__ import annotations

from typing import Any

from mloop.core.errors import ValidationError
from mloop.datasets.checks import check_dataset_name
from mloop.datasets.common import load_dataset_row, load_version_row
from mloop.datasets.ops import operations
from mloop.datasets.schemas import DatasetLineage, GetDatasetLineage, LineageRun
from mloop.datasets.validations import latest_passing_validation
from mloop.datasets.versions import dataset_versions_with_digests
from mloop.store.context import Context
from mloop.tracking.runs import load_runs, runs_with_input
from mloop.tracking.schemas import Run

SOURCE_TYPE = "mloop-dataset"
"""The ``source_type`` of run inputs logged by ``mloop.get_dataset``."""


def source_of(name: str, version: int) -> str:
    """The ``source`` of a run input that is a registered dataset version."""
    return f"{SOURCE_TYPE}:{name}/{version}"


def _lineage_run(run: Run, name: str | None = None, digest: str | None = None) -> LineageRun:
    contexts = sorted(
        {i.context for i in run.inputs if i.name == name and i.digest == digest}
        if name is not None
        else set()
    )
    return LineageRun(
        run_id=run.info.run_id,
        run_name=run.info.run_name,
        experiment_id=run.info.experiment_id,
        status=run.info.status,
        start_time=run.info.start_time,
        end_time=run.info.end_time,
        contexts=contexts,
    )


@operations.get("/versions/lineage", GetDatasetLineage, DatasetLineage)
def get_dataset_lineage(ctx: Context, req: GetDatasetLineage) -> DatasetLineage:
    """The run that registered a version and the runs that read it (newest first)."""
    name = load_dataset_row(ctx, req.name).name
    row = load_version_row(ctx, name, req.version)
    producer = None
    if row.run_id:
        found = load_runs(ctx, [row.run_id])
        producer = _lineage_run(found[0]) if found else None
    readers = load_runs(
        ctx, runs_with_input(ctx, row.digest, name=name, max_results=req.max_results)
    )
    return DatasetLineage(
        name=name,
        version=row.version,
        digest=row.digest,
        source=row.source,
        producer=producer,
        read_by=[_lineage_run(r, name, row.digest) for r in readers],
    )


def registered_versions(ctx: Context, inputs: list[tuple[str, str]]) -> dict[tuple[str, str], int]:
    """The registered dataset version of each run input given as (name, digest) that is one
    (the oldest live version with that digest); inputs logged by other tools are left out."""
    wanted = []
    for name, digest in inputs:
        try:
            check_dataset_name(name)
        except ValidationError:
            continue  # not a registered dataset's name (an input logged by other tools)
        wanted.append((name, digest))
    return {(r.name, r.digest): r.version for r in dataset_versions_with_digests(ctx, wanted)}


def training_data_for_run(ctx: Context, run_id: str) -> list[dict[str, Any]]:
    """The registered dataset versions a run read, each with the contract its newest passing
    validation checked (None fields when none passed).

    Each entry: ``name``, ``version``, ``digest``, ``context``, ``contract_name``,
    ``contract_version``, ``contract_digest``, ``validation_id``.
    """
    runs = load_runs(ctx, [run_id])
    if not runs:
        return []
    wanted: dict[tuple[str, str], str] = {}
    for item in runs[0].inputs:
        try:
            check_dataset_name(item.name)
        except ValidationError:
            continue  # not a registered dataset's name (an input logged by other tools)
        wanted.setdefault((item.name, item.digest), item.context)
    out = []
    for row in dataset_versions_with_digests(ctx, list(wanted)):
        passing = latest_passing_validation(ctx, row.name, row.version)
        out.append(
            {
                "name": row.name,
                "version": row.version,
                "digest": row.digest,
                "context": wanted[(row.name, row.digest)],
                "contract_name": passing.contract_name if passing else None,
                "contract_version": passing.contract_version if passing else None,
                "contract_digest": passing.contract_digest if passing else None,
                "validation_id": passing.id if passing else None,
            }
        )
    return out
