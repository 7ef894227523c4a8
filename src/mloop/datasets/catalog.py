"""Registered datasets: named containers of versions, with a description, aliases and an
optional registration policy. A dataset is created by its first version (or policy)."""

from __future__ import annotations

from sqlalchemy import func, select

from mloop.datasets import tables as t
from mloop.datasets.checks import check_description, decode_page_token, encode_page_token
from mloop.datasets.common import dataset_message, load_dataset_row, touch_dataset
from mloop.datasets.ops import operations
from mloop.datasets.schemas import Dataset, DatasetList, DatasetName, ListDatasets, UpdateDataset
from mloop.store.context import Context


@operations.get("/get", DatasetName, Dataset)
def get_dataset(ctx: Context, req: DatasetName) -> Dataset:
    """A dataset with its aliases, newest version and policy (with the contract's YAML)."""
    return dataset_message(ctx, load_dataset_row(ctx, req.name))


@operations.get("/list", ListDatasets, DatasetList)
def list_datasets(ctx: Context, req: ListDatasets) -> DatasetList:
    """Datasets by name, optionally those whose name contains a text."""
    offset = decode_page_token(req.page_token)
    query = select(t.datasets).order_by(t.datasets.c.name)
    if req.name_contains:
        query = query.where(
            func.lower(t.datasets.c.name).contains(req.name_contains.lower(), autoescape=True)
        )
    rows = list(ctx.conn.execute(query.limit(req.max_results + 1).offset(offset)))
    token = encode_page_token(offset + req.max_results) if len(rows) > req.max_results else None
    return DatasetList(
        datasets=[
            dataset_message(ctx, r, include_policy_yaml=False) for r in rows[: req.max_results]
        ],
        next_page_token=token,
    )


@operations.post("/update", UpdateDataset, Dataset)
def update_dataset(ctx: Context, req: UpdateDataset) -> Dataset:
    """Change a dataset's description."""
    load_dataset_row(ctx, req.name, lock=True)
    touch_dataset(ctx, req.name, description=check_description(req.description))
    return dataset_message(ctx, load_dataset_row(ctx, req.name))
