"""The demo's data step: a contract guards the training data.

The clean breast-cancer table passes the contract and becomes version 1 of dataset
``breast-cancer`` (alias ``training``); every training run then reads that version, so its
lineage and the model versions record it. A corrupted batch (nulls, out-of-range values, a
renamed column) is refused by the dataset's policy, with a report, and never stored.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING, Any

import mloop
from mloop.core.errors import DataContractError

if TYPE_CHECKING:
    import pandas as pd

    from mloop.data import ValidationReport

DATASET = "breast-cancer"
ALIAS = "training"
CONTRACT_NAME = "breast-cancer-features"
TARGET = "target"
# The column a "schema change upstream" renames in the corrupted batch.
RENAMED = ("worst radius", "worst_radius")


def _quote(name: str) -> str:
    return "'" + name.replace("'", "''") + "'"


def contract_yaml(frame: pd.DataFrame) -> str:
    """The contract a team would keep next to its training code for this table: every
    feature a non-null, non-negative float below a generous bound, a binary target, and
    enough rows."""
    lines = [
        f"contract: {CONTRACT_NAME}",
        "version: 1",
        "description: Features of the breast-cancer table the demo trains on.",
        "columns:",
    ]
    for name in frame.columns:
        if name == TARGET:
            lines.append(f"  {TARGET}: {{type: int, nullable: false, allowed: [0, 1]}}")
            continue
        ceiling = 10 ** math.ceil(math.log10(float(frame[name].max()) * 2))
        lines.append(f"  {_quote(name)}: {{type: float, nullable: false, min: 0, max: {ceiling}}}")
    lines += ["rows: {min: 50}", ""]
    return "\n".join(lines)


def corrupt(batch: pd.DataFrame) -> pd.DataFrame:
    """A batch as a broken upstream job might deliver it."""
    broken = batch.copy()
    broken.loc[broken.index[:5], "mean texture"] = None  # nulls
    broken.loc[broken.index[5:8], "mean area"] = -broken["mean area"].iloc[5:8]  # negative
    return broken.rename(columns=dict([RENAMED]))


def register_training_data(home: Path, frame: pd.DataFrame, seed: int) -> tuple[Any, Any]:
    """Put the contract under a required policy, register the clean table, and try the
    corrupted batch; returns (the registered version, the rejected batch's report)."""
    contracts = home / "contracts"
    contracts.mkdir(exist_ok=True)
    path = contracts / f"{DATASET}.yaml"
    path.write_text(contract_yaml(frame), encoding="utf-8")
    mloop.set_dataset_policy(DATASET, str(path), required=True)
    version = mloop.register_dataset(
        DATASET,
        frame,
        alias=ALIAS,
        description="scikit-learn's breast-cancer table: 30 features and the target",
        source="sklearn.datasets.load_breast_cancer",
    )
    batch = frame.sample(n=120, random_state=seed)
    report: ValidationReport | None = None
    try:
        mloop.register_dataset(DATASET, corrupt(batch), source="demo: a corrupted batch")
    except DataContractError as exc:
        report = exc.report
    else:
        raise RuntimeError("the corrupted batch passed the contract; the demo's contract is wrong")
    return version, report


def failed_checks(report: ValidationReport | None) -> list[tuple[str, str, str]]:
    """(check, failing rows, what was found) of each failed error-severity check."""
    if report is None:
        return []
    return [
        (
            c.name,
            "" if c.failing_count is None else f"{c.failing_count:,}",
            c.message,
        )
        for c in report.errors
    ]
