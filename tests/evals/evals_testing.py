"""A small credit data set and models of known quality, registered through the SDK."""

from __future__ import annotations

import numpy as np
import pandas as pd

import mloop
import mloop.sklearn


def credit_frame(n: int = 600, seed: int = 0) -> pd.DataFrame:
    """Two informative features, a noise feature, a region and an age band."""
    rng = np.random.default_rng(seed)
    income = rng.normal(size=n)
    debt = rng.normal(size=n)
    noise = rng.normal(size=n)
    logit = 2.0 * income - 1.5 * debt
    default = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(np.int64)
    return pd.DataFrame(
        {
            "income": income,
            "debt": debt,
            "noise": noise,
            "region": rng.choice(["north", "south"], size=n),
            "age": rng.integers(18, 80, size=n),
            "default": default,
        }
    )


def register_data(name: str = "credit-test", frame: pd.DataFrame | None = None) -> str:
    frame = credit_frame() if frame is None else frame
    version = mloop.register_dataset(name, frame, alias="golden")
    return version.ref


def register_classifier(name: str, features: list[str], frame: pd.DataFrame | None = None) -> int:
    """A logistic regression on ``features`` (income and debt: good; noise: poor)."""
    from sklearn.linear_model import LogisticRegression

    frame = credit_frame(seed=1) if frame is None else frame
    model = LogisticRegression().fit(frame[features], frame["default"])
    info = mloop.sklearn.log_model(model, registered_model_name=name)
    mloop.end_run()
    assert info.registered_model_version is not None
    return info.registered_model_version.version
