"""Registration policies: a contract that every new version of a dataset is checked
against. With ``required``, a version that does not pass it is refused.

The SDK validates the data before it uploads anything (only it has the data and the
custom checks the contract may name); the server refuses to create a version of a
dataset with a required policy unless a passing validation of exactly that contract (by
digest) comes with it.
"""

from __future__ import annotations

from typing import Any

from mloop.core.errors import DataContractError
from mloop.core.timeutil import now_ms
from mloop.datasets.checks import check_dataset_name
from mloop.datasets.common import (
    dataset_message,
    ensure_dataset_row,
    load_dataset_row,
    touch_dataset,
)
from mloop.datasets.contracts import parse_policy_contract
from mloop.datasets.ops import operations
from mloop.datasets.schemas import Dataset, DatasetName, SetDatasetPolicy
from mloop.store.context import Context


@operations.post("/policy/set", SetDatasetPolicy, Dataset, role="admin")
def set_dataset_policy(ctx: Context, req: SetDatasetPolicy) -> Dataset:
    """Set the contract new versions are checked against (creating the dataset if needed)."""
    name = check_dataset_name(req.name)
    contract, digest = parse_policy_contract(req.contract_yaml)
    ensure_dataset_row(ctx, name)
    touch_dataset(
        ctx,
        name,
        policy_contract=req.contract_yaml,
        policy_contract_name=contract.name[:256],
        policy_contract_version=str(contract.version)[:256],
        policy_digest=digest,
        policy_required=bool(req.required),
        policy_update_time=now_ms(),
    )
    return dataset_message(ctx, load_dataset_row(ctx, name))


@operations.post("/policy/delete", DatasetName, Dataset, role="admin")
def delete_dataset_policy(ctx: Context, req: DatasetName) -> Dataset:
    """Remove a dataset's registration policy (stored validations are kept)."""
    load_dataset_row(ctx, req.name, lock=True)
    touch_dataset(
        ctx,
        req.name,
        policy_contract=None,
        policy_contract_name=None,
        policy_contract_version=None,
        policy_digest=None,
        policy_required=False,
        policy_update_time=now_ms(),
    )
    return dataset_message(ctx, load_dataset_row(ctx, req.name))


def enforce_policy(row: Any, passing_digests: set[str]) -> None:
    """Refuse a new version of a dataset whose required contract did not pass."""
    if row.policy_contract is None or not row.policy_required:
        return
    if row.policy_digest in passing_digests:
        return
    raise DataContractError(
        f"dataset {row.name!r} requires contract {row.policy_contract_name!r} "
        f"(version {row.policy_contract_version}) to pass, and no passing validation of it "
        "came with this version. Register with mloop.register_dataset or `mloop datasets "
        "register`, which validate the data against the policy before uploading",
        field="validations",
    )
