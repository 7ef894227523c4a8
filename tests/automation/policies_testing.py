"""What the deployment policy tests share: a small churn data set, a training pipeline that
registers a candidate of chosen quality, the store a policy runs against (champion, endpoint,
eval suite) and simulated traffic for the canary."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

import mloop
import mloop.sklearn
from mloop.pipelines import pipeline, step

MODEL = "churn"
ENDPOINT = "churn-api"
SUITE = "churn-suite"
POLICY = "churn-zero-touch"
FEATURES = ["a", "b", "c"]
PIPELINE = "tests.automation.policies_testing:train"


def churn_frame(n: int = 400, seed: int = 0) -> pd.DataFrame:
    """Churn is decided by ``a`` and ``b``; ``c`` is noise."""
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(rng.normal(size=(n, 3)), columns=FEATURES)
    frame["churned"] = (frame["a"] + 0.5 * frame["b"] > 0).astype(np.int64)
    return frame


def fit_and_register(quality: str) -> int:
    """Register a churn model: ``good`` (logistic regression on every feature) or ``poor``
    (logistic regression on the noise feature alone); its version."""
    from sklearn.compose import ColumnTransformer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline

    frame = churn_frame(seed=1)
    columns = FEATURES if quality == "good" else ["c"]
    model = make_pipeline(
        ColumnTransformer([("keep", "passthrough", columns)]), LogisticRegression()
    ).fit(frame[FEATURES], frame["churned"])
    example = frame[FEATURES].iloc[:3]
    if mloop.active_run() is not None:  # a pipeline step: logged on the pipeline's run
        info = mloop.sklearn.log_model(model, registered_model_name=MODEL, input_example=example)
    else:
        with mloop.start_run():
            info = mloop.sklearn.log_model(
                model, registered_model_name=MODEL, input_example=example
            )
    assert info.registered_model_version is not None
    return int(info.registered_model_version.version)


@step(cache=False)
def fit(quality: str) -> str:
    return f"models:/{MODEL}/{fit_and_register(quality)}"


@pipeline
def train(quality: str = "good") -> str:
    """The policy's training pipeline: returns the candidate it registered."""
    return fit(quality)


def prepare_store(*, champion: str = "poor") -> int:
    """A champion of ``champion`` quality live on the endpoint, and the eval suite; the
    champion's version."""
    client = mloop.Client()
    version = fit_and_register(champion)
    client.set_alias(MODEL, "champion", version)
    holdout = churn_frame(n=300, seed=2)
    data = mloop.register_dataset("churn-holdout", holdout)
    import mloop.evals as evals

    evals.register_suite(
        SUITE,
        dataset=data.ref,
        target="churned",
        task="classification",
        primary="accuracy",
        features=FEATURES,
        resamples=200,
    )
    client.call("create_endpoint", name=ENDPOINT)
    client.call(
        "deploy",
        endpoint=ENDPOINT,
        variants=[{"model": MODEL, "alias": "champion"}],
        reason="the first champion",
    )
    return version


def policy_spec(**changes: Any) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "name": POLICY,
        "model": MODEL,
        "pipeline": PIPELINE,
        "params": {"quality": "good"},
        "suite": SUITE,
        "endpoint": ENDPOINT,
        "rollout": {
            "ramp": {"steps": [50, 100], "min_seconds": 0, "min_requests": 10},
            "rules": [{"kind": "error_rate", "threshold": 0.1, "min_samples": 10}],
        },
        "poll_seconds": 5,
    }
    spec.update(changes)
    return spec


def canary_traffic(runtime: Any, version: int, *, failing: bool = False, count: int = 30) -> None:
    """``count`` requests answered by the canary's candidate (the variant serving named) at
    the moment its step started, so the next check counts them all; ``failing``: every one
    an error."""
    from mloop.serving.rollouts import get_rollout
    from tests.serving.rollout_testing import traffic

    rollout = runtime.run(lambda ctx: get_rollout(ctx, ENDPOINT), write=False)
    assert rollout is not None and rollout.state == "running"
    traffic(
        runtime,
        ENDPOINT,
        rollout.candidate,
        version,
        start=rollout.step_started_at,
        count=count,
        spacing_ms=0,
        status="error" if failing else "ok",
    )
