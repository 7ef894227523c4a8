"""Demo step: the training data, registered under a data contract.

The clean breast-cancer table passes the contract and becomes version 1 of dataset
``breast-cancer`` (alias ``training``); every training run then reads that version, so its
lineage and the model versions record it. A corrupted batch (nulls, out-of-range values, a
renamed column) is refused by the dataset's policy, with a report, and never stored.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.markup import escape

import mloop
from mloop.cli._output import print_table
from mloop.cli.demo._context import Dataset, DemoContext, DemoStep
from mloop.core.errors import DataContractError

if TYPE_CHECKING:
    import pandas as pd
    from rich.console import Console

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


@dataclass
class Refused:
    """The report of the corrupted batch the contract refused."""

    report: ValidationReport | None


def load_data(ctx: DemoContext) -> None:
    """Load scikit-learn's breast-cancer dataset (shipped offline), register it under its
    data contract (a corrupted batch is refused), read the registered version back, split it
    75/25, and make the demo experiment active."""
    from sklearn.datasets import load_breast_cancer
    from sklearn.model_selection import train_test_split

    ctx.begin(2)
    bunch = load_breast_cancer(as_frame=True)
    table: pd.DataFrame = bunch.data.assign(**{TARGET: bunch.target})
    version, rejected = register_training_data(ctx.home, table, ctx.config.seed)
    ctx.keep(Refused(rejected))
    ctx.advance()
    # Train on what the registry holds, not on the in-memory copy.
    stored = mloop.get_dataset(f"{DATASET}@{ALIAS}").to_pandas()
    frame = stored.drop(columns=[TARGET])
    target = stored[TARGET].to_numpy()
    X_train, X_val, y_train, y_val = train_test_split(
        frame, target, test_size=0.25, stratify=target, random_state=ctx.config.seed
    )
    ctx.data = Dataset(
        X_train=X_train,
        X_val=X_val,
        y_train=y_train,
        y_val=y_val,
        feature_names=[str(c) for c in frame.columns],
        class_names=[str(c) for c in bunch.target_names],
        digest=version.digest,
    )
    ctx.dataset_ref = f"{DATASET}/{version.version}"
    mloop.set_experiment(ctx.config.experiment)
    ctx.advance()


def summarise(ctx: DemoContext, out: Console) -> None:
    """The training data's version and the batch its contract refused."""
    out.print(
        f"Training data: dataset [bold]{escape(ctx.dataset_ref)}[/bold], registered after "
        f"passing contract [bold]{CONTRACT_NAME}[/bold] "
        f"({escape(str(ctx.home / 'contracts'))}); every run below read it."
    )
    refused = ctx.kept(Refused)
    failed = failed_checks(refused.report if refused else None)
    if failed:
        print_table(
            "A corrupted batch was refused by the contract and never stored or trained on",
            ["check", "failing rows", "found"],
            failed,
        )


STEP = DemoStep(
    "data", "Registering the breast-cancer dataset under its contract", load_data, summarise
)
