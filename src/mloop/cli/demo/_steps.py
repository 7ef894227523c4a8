"""The demo's steps, in the order they run.

Each step is a module of this package that defines ``STEP``, a
:class:`~mloop.cli.demo._context.DemoStep`. Adding a step is writing its module and adding
one line here; the driver, the progress bars and the summary pick it up.
"""

from __future__ import annotations

from mloop.cli.demo import (
    continuous_training,
    data,
    features,
    gradient_boosting,
    llm,
    logistic_regression,
    mlflow_client,
    monitoring,
    random_forest,
    register,
    review,
    serving,
    sgd,
    verify,
)
from mloop.cli.demo._context import DemoStep

STEPS: tuple[DemoStep, ...] = (
    data.STEP,
    sgd.STEP,
    gradient_boosting.STEP,
    random_forest.STEP,
    logistic_regression.STEP,
    mlflow_client.STEP,
    register.STEP,
    verify.STEP,
    serving.STEP,
    features.STEP,
    monitoring.STEP,
    review.STEP,
    continuous_training.STEP,
    llm.STEP,
)
