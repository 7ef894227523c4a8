"""What the training steps share: scores, and starting and finishing a run the same way.

The code uses the public SDK exactly as a user would (``mloop.start_run``,
``mloop.sklearn.log_model``...), so it doubles as an example.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import mloop
from mloop.cli.demo._context import Dataset, DemoContext, TrainedRun
from mloop.core.timeutil import now_ms

if TYPE_CHECKING:
    import numpy as np


def scores(y_true: np.ndarray, proba: np.ndarray) -> dict[str, float]:
    """Log loss, accuracy and ROC AUC of positive-class probabilities.

    Written with numpy: scikit-learn's metric functions validate their input on every call,
    which costs more than the training when logged at every step.
    """
    import numpy as np
    from scipy.stats import rankdata

    y = np.asarray(y_true, dtype=bool)
    eps = float(np.finfo(float).eps)
    p = np.clip(np.asarray(proba, dtype=float), eps, 1 - eps)
    loss = -float(np.mean(np.where(y, np.log(p), np.log1p(-p))))
    accuracy = float(np.mean((p >= 0.5) == y))
    n_pos = int(y.sum())
    n_neg = y.size - n_pos
    ranks = rankdata(p)  # ties get their average rank, as in the Mann-Whitney U statistic
    auc = (float(ranks[y].sum()) - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg)
    return {"loss": loss, "accuracy": accuracy, "auc": auc}


def split_scores(data: Dataset, train_proba: np.ndarray, val_proba: np.ndarray) -> dict[str, float]:
    """The five metrics every run logs: loss and accuracy on both sets, AUC on validation."""
    train = scores(data.y_train, train_proba)
    val = scores(data.y_val, val_proba)
    return {
        "train_loss": train["loss"],
        "train_accuracy": train["accuracy"],
        "val_loss": val["loss"],
        "val_accuracy": val["accuracy"],
        "val_auc": val["auc"],
    }


def log_steps(steps: Mapping[int, Mapping[str, float]]) -> None:
    """Log the metrics of several steps in one call (one transaction embedded)."""
    run = mloop.active_run()
    if run is None:
        raise RuntimeError("no active run")
    timestamp = now_ms()
    batch = [
        mloop.Metric(key, float(value), timestamp, step)
        for step, metrics in steps.items()
        for key, value in metrics.items()
    ]
    mloop.Client().log_batch(run.info.run_id, metrics=batch)


def log_step(metrics: Mapping[str, float], step: int) -> None:
    """Log one step's metrics as they are computed, so a live UI can follow the run."""
    log_steps({step: metrics})


def start_run(ctx: DemoContext, run_name: str, family: str, params: Mapping[str, Any]) -> str:
    """Start a run in the demo experiment with the common params, tags and dataset input."""
    data = ctx.dataset()
    run = mloop.start_run(
        run_name=run_name,
        tags={"model_family": family, "dataset": "breast_cancer", "demo": "true"},
    )
    mloop.log_params(
        {
            **params,
            "seed": ctx.config.seed,
            "n_train": len(data.y_train),
            "n_val": len(data.y_val),
        }
    )
    mloop.get_dataset(ctx.dataset_ref)  # records the registered version as the run's input
    return run.info.run_id


def finish_run(ctx: DemoContext, run_id: str, run_name: str, family: str, model: Any) -> None:
    """Evaluate, log the evaluation artifacts and the model, end the run, record it."""
    from sklearn.metrics import confusion_matrix

    from mloop import sklearn as mloop_sklearn

    data = ctx.dataset()
    val_proba = model.predict_proba(data.X_val)[:, 1]
    val = scores(data.y_val, val_proba)
    matrix = confusion_matrix(data.y_val, (val_proba >= 0.5).astype(int), labels=[0, 1])
    with tempfile.TemporaryDirectory(prefix="mloop-demo-") as tmp:
        root = Path(tmp)
        (root / "evaluation").mkdir()
        lines = ["actual,predicted_" + ",predicted_".join(data.class_names)]
        for name, row in zip(data.class_names, matrix.tolist(), strict=True):
            lines.append(f"{name}," + ",".join(str(n) for n in row))
        (root / "evaluation" / "confusion_matrix.csv").write_text("\n".join(lines) + "\n")
        (root / "evaluation" / "summary.json").write_text(
            json.dumps({"split": "validation", **val, "n": len(data.y_val)}, indent=2)
        )
        (root / "features.json").write_text(json.dumps(data.feature_names, indent=2))
        mloop.log_artifacts(root)
    mloop_sklearn.log_model(model, "model", input_example=data.X_val.iloc[:5])
    mloop.end_run()
    ctx.runs.append(trained_run(run_id, run_name, family, val))


def trained_run(run_id: str, run_name: str, family: str, val: Mapping[str, float]) -> TrainedRun:
    """The record of a finished run, from its validation :func:`scores`."""
    return TrainedRun(
        run_id=run_id,
        run_name=run_name,
        family=family,
        val_auc=val["auc"],
        val_accuracy=val["accuracy"],
        val_loss=val["loss"],
    )
