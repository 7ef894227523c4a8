"""Experiments: named groups of runs."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete, func, insert, select, update
from sqlalchemy.exc import IntegrityError

from mloop.core.errors import ConflictError, NotFoundError, ValidationError
from mloop.core.operations import Empty
from mloop.core.timeutil import now_ms
from mloop.core.validation import MAX_TAG_VALUE_LENGTH, check_key, check_name, check_text
from mloop.store.context import Context
from mloop.tracking import tables as t
from mloop.tracking.ops import operations
from mloop.tracking.schemas import (
    CreateExperiment,
    DeleteExperimentTag,
    Experiment,
    ExperimentId,
    ExperimentList,
    ExperimentName,
    ListExperiments,
    RenameExperiment,
    SetExperimentTag,
)

DEFAULT_EXPERIMENT_NAME = "Default"


# The id column is a 32-bit integer (PostgreSQL's INTEGER): a larger id names no experiment.
MAX_EXPERIMENT_ID = 2**31 - 1


def parse_experiment_id(value: object, field: str = "experiment_id") -> int:
    """Experiment ids travel as strings of digits (as in MLflow). A well-formed id past the
    id column's range is not found (NotFoundError), as any other unknown id."""
    text = str(value)
    # ASCII digits only, as the OpenAPI document states (``int`` would take other digits).
    if isinstance(value, bool) or not (text.isascii() and text.isdigit()) or len(text) > 18:
        raise ValidationError(f"{field} must be a string of digits, got {value!r}", field=field)
    number = int(text)
    if number > MAX_EXPERIMENT_ID:
        raise NotFoundError(f"experiment {number} does not exist", field=field)
    return number


def _to_message(row: Any, tags: dict[str, str]) -> Experiment:
    return Experiment(
        experiment_id=str(row.experiment_id),
        name=row.name,
        artifact_location=row.artifact_location,
        lifecycle_stage=row.lifecycle_stage,
        creation_time=row.creation_time,
        last_update_time=row.last_update_time,
        tags=tags,
        declared_location=row.declared_location,
    )


def _tags_for(ctx: Context, ids: list[int]) -> dict[int, dict[str, str]]:
    found: dict[int, dict[str, str]] = {i: {} for i in ids}
    if ids:
        rows = ctx.conn.execute(
            select(t.experiment_tags).where(t.experiment_tags.c.experiment_id.in_(ids))
        )
        for row in rows:
            found[row.experiment_id][row.key] = row.value
    return found


def load_experiment(ctx: Context, experiment_id: int) -> Experiment:
    row = ctx.conn.execute(
        select(t.experiments).where(t.experiments.c.experiment_id == experiment_id)
    ).first()
    if row is None:
        raise NotFoundError(f"experiment {experiment_id} does not exist", field="experiment_id")
    return _to_message(row, _tags_for(ctx, [experiment_id])[experiment_id])


def _name_taken(name: str) -> ConflictError:
    # MLflow's wording ("Experiment(name=...) already exists."): its clients match on it.
    return ConflictError(f"Experiment(name={name}) already exists.", field="name")


def _insert_experiment(
    ctx: Context, name: str, artifact_location: str | None, declared: str | None = None
) -> int:
    now = now_ms()
    try:
        with ctx.conn.begin_nested():
            result = ctx.conn.execute(
                insert(t.experiments).values(
                    name=name,
                    artifact_location=artifact_location or "",
                    lifecycle_stage="active",
                    creation_time=now,
                    last_update_time=now,
                    declared_location=declared,
                )
            )
    except IntegrityError as exc:
        raise _name_taken(name) from exc
    experiment_id = int(result.inserted_primary_key[0])  # type: ignore[index]
    if not artifact_location:
        ctx.conn.execute(
            update(t.experiments)
            .where(t.experiments.c.experiment_id == experiment_id)
            .values(artifact_location=f"experiments/{experiment_id}")
        )
    return experiment_id


DEFAULT_EXPERIMENT_ID = 0


def _insert_default(ctx: Context) -> int:
    """The Default experiment, with id 0 as in MLflow when that id is free.

    Autoincrement keys start at 1 on both databases, so 0 is free in every store mloop made;
    an explicit id leaves PostgreSQL's sequence (and SQLite's next rowid) where it was.
    """
    taken = ctx.conn.execute(
        select(t.experiments.c.experiment_id).where(
            t.experiments.c.experiment_id == DEFAULT_EXPERIMENT_ID
        )
    ).first()
    if taken is not None:
        return _insert_experiment(ctx, DEFAULT_EXPERIMENT_NAME, None)
    now = now_ms()
    try:
        with ctx.conn.begin_nested():
            ctx.conn.execute(
                insert(t.experiments).values(
                    experiment_id=DEFAULT_EXPERIMENT_ID,
                    name=DEFAULT_EXPERIMENT_NAME,
                    artifact_location=f"experiments/{DEFAULT_EXPERIMENT_ID}",
                    lifecycle_stage="active",
                    creation_time=now,
                    last_update_time=now,
                )
            )
    except IntegrityError as exc:
        raise _name_taken(DEFAULT_EXPERIMENT_NAME) from exc
    return DEFAULT_EXPERIMENT_ID


def default_experiment_id(ctx: Context) -> int | None:
    """The id of the ``Default`` experiment, or None before it is first used (no write)."""
    row = ctx.conn.execute(
        select(t.experiments.c.experiment_id).where(t.experiments.c.name == DEFAULT_EXPERIMENT_NAME)
    ).first()
    return None if row is None else int(row.experiment_id)


def ensure_default_experiment(ctx: Context) -> int:
    """The id of the ``Default`` experiment, created on first use."""
    row = ctx.conn.execute(
        select(t.experiments.c.experiment_id).where(t.experiments.c.name == DEFAULT_EXPERIMENT_NAME)
    ).first()
    if row is not None:
        return int(row.experiment_id)
    try:
        return _insert_default(ctx)
    except ConflictError:  # another writer created it a moment ago
        row = ctx.conn.execute(
            select(t.experiments.c.experiment_id).where(
                t.experiments.c.name == DEFAULT_EXPERIMENT_NAME
            )
        ).one()
        return int(row.experiment_id)


@operations.post("/experiments/create", CreateExperiment, ExperimentId)
def create_experiment(ctx: Context, req: CreateExperiment) -> ExperimentId:
    """Create an experiment with a unique name."""
    name = check_name(req.name, "name")
    for key, value in req.tags.items():
        check_key(key, "tags")
        check_text(value, f"tags.{key}", max_length=MAX_TAG_VALUE_LENGTH)
    if req.artifact_location is not None:
        from mloop.store.artifacts import clean_relative_path

        clean_relative_path(req.artifact_location, "artifact_location")
    declared = req.declared_location
    if declared is not None:
        check_text(declared, "declared_location", max_length=2048)
        if not declared:
            raise ValidationError(
                "declared_location must not be empty: leave it out instead",
                field="declared_location",
            )
    experiment_id = _insert_experiment(ctx, name, req.artifact_location, declared)
    if req.tags:
        ctx.conn.execute(
            insert(t.experiment_tags),
            [{"experiment_id": experiment_id, "key": k, "value": v} for k, v in req.tags.items()],
        )
    return ExperimentId(experiment_id=str(experiment_id))


@operations.get("/experiments/get", ExperimentId, Experiment, quick=True)
def get_experiment(ctx: Context, req: ExperimentId) -> Experiment:
    """Get an experiment by id."""
    return load_experiment(ctx, parse_experiment_id(req.experiment_id))


@operations.get("/experiments/get-by-name", ExperimentName, Experiment, quick=True)
def get_experiment_by_name(ctx: Context, req: ExperimentName) -> Experiment:
    """Get an experiment by its name."""
    # Checked as created, so that a name no experiment can have (NUL, which PostgreSQL
    # refuses in a query) is a 400 rather than a database error.
    name = check_name(req.name, "name")
    row = ctx.conn.execute(
        select(t.experiments.c.experiment_id).where(t.experiments.c.name == name)
    ).first()
    if row is None:
        raise NotFoundError(f"experiment {req.name!r} does not exist", field="name")
    return load_experiment(ctx, int(row.experiment_id))


@operations.get("/experiments/list", ListExperiments, ExperimentList)
def list_experiments(ctx: Context, req: ListExperiments) -> ExperimentList:
    """List experiments, newest first."""
    # Newer ids first among experiments created in the same millisecond.
    query = select(t.experiments).order_by(
        t.experiments.c.creation_time.desc(), t.experiments.c.experiment_id.desc()
    )
    if req.view != "all":
        query = query.where(t.experiments.c.lifecycle_stage == req.view)
    rows = list(ctx.conn.execute(query))
    tags = _tags_for(ctx, [r.experiment_id for r in rows])
    return ExperimentList(experiments=[_to_message(r, tags[r.experiment_id]) for r in rows])


@operations.post("/experiments/set-tag", SetExperimentTag, Empty)
def set_experiment_tag(ctx: Context, req: SetExperimentTag) -> Empty:
    """Set (or overwrite) a tag on an experiment."""
    experiment_id = parse_experiment_id(req.experiment_id)
    load_experiment(ctx, experiment_id)
    key = check_key(req.key, "key")
    check_text(req.value, "value", max_length=MAX_TAG_VALUE_LENGTH)
    ctx.conn.execute(
        delete(t.experiment_tags).where(
            t.experiment_tags.c.experiment_id == experiment_id, t.experiment_tags.c.key == key
        )
    )
    ctx.conn.execute(
        insert(t.experiment_tags).values(experiment_id=experiment_id, key=key, value=req.value)
    )
    return Empty()


def _set_stage(ctx: Context, experiment_id: int, stage: str) -> None:
    load_experiment(ctx, experiment_id)
    ctx.conn.execute(
        update(t.experiments)
        .where(t.experiments.c.experiment_id == experiment_id)
        .values(lifecycle_stage=stage, last_update_time=now_ms())
    )


@operations.post("/experiments/delete", ExperimentId, Empty)
def delete_experiment(ctx: Context, req: ExperimentId) -> Empty:
    """Mark an experiment deleted (restorable; its runs are kept)."""
    _set_stage(ctx, parse_experiment_id(req.experiment_id), "deleted")
    return Empty()


@operations.post("/experiments/restore", ExperimentId, Empty)
def restore_experiment(ctx: Context, req: ExperimentId) -> Empty:
    """Restore a deleted experiment."""
    _set_stage(ctx, parse_experiment_id(req.experiment_id), "active")
    return Empty()


@operations.post("/experiments/rename", RenameExperiment, Empty)
def rename_experiment(ctx: Context, req: RenameExperiment) -> Empty:
    """Give an experiment a new (unique) name; its runs and tags stay."""
    experiment_id = parse_experiment_id(req.experiment_id)
    load_experiment(ctx, experiment_id)
    name = check_name(req.new_name, "new_name")
    try:
        with ctx.conn.begin_nested():
            ctx.conn.execute(
                update(t.experiments)
                .where(t.experiments.c.experiment_id == experiment_id)
                .values(name=name, last_update_time=now_ms())
            )
    except IntegrityError as exc:
        raise _name_taken(name) from exc
    return Empty()


@operations.post("/experiments/delete-tag", DeleteExperimentTag, Empty)
def delete_experiment_tag(ctx: Context, req: DeleteExperimentTag) -> Empty:
    """Remove a tag from an experiment."""
    experiment_id = parse_experiment_id(req.experiment_id)
    load_experiment(ctx, experiment_id)
    key = check_key(req.key, "key")
    result = ctx.conn.execute(
        delete(t.experiment_tags).where(
            t.experiment_tags.c.experiment_id == experiment_id, t.experiment_tags.c.key == key
        )
    )
    if result.rowcount == 0:
        raise NotFoundError(
            f"No tag with name: {key} in experiment with id {experiment_id}", field="key"
        )
    return Empty()


@dataclass(frozen=True)
class ExperimentStats:
    """How many active runs an experiment has and when one last started or ended."""

    run_count: int
    last_activity: int | None


def experiment_stats(ctx: Context) -> dict[str, ExperimentStats]:
    """Active run count and the latest run start or end time per experiment id."""
    runs = t.runs
    rows = ctx.conn.execute(
        select(
            runs.c.experiment_id,
            func.count().label("n"),
            func.max(runs.c.start_time).label("last_start"),
            func.max(runs.c.end_time).label("last_end"),
        )
        .where(runs.c.lifecycle_stage == "active")
        .group_by(runs.c.experiment_id)
    )
    stats = {}
    for row in rows:
        times = [v for v in (row.last_start, row.last_end) if v is not None]
        stats[str(row.experiment_id)] = ExperimentStats(
            run_count=int(row.n), last_activity=max(times) if times else None
        )
    return stats
