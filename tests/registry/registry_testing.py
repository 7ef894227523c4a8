"""Importable helpers for the registry tests (skops records functions by module name)."""

from __future__ import annotations

from typing import Any

import pandas as pd

import mloop


def double(values: Any) -> Any:
    return values * 2


def log_classifier(model: Any, example: pd.DataFrame, metric: float = 0.9) -> str:
    """Log ``model`` into a new run with one metric; returns the run id."""
    with mloop.start_run() as run:
        mloop.log_metric("accuracy", metric)
        mloop.sklearn.log_model(model, "model", input_example=example.iloc[:5])
    return run.info.run_id
