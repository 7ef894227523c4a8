"""Fixtures of the serving tests: registered models (a classifier in two versions, a
regressor) in a fresh store, and an app with the serving runtime."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
import pandas as pd
import pytest
from fastapi.testclient import TestClient
from sklearn.dummy import DummyClassifier
from sklearn.linear_model import LinearRegression, LogisticRegression

import mloop
from mloop.core.config import Settings
from mloop.store.runtime import Runtime


@pytest.fixture
def features() -> pd.DataFrame:
    rng = np.random.default_rng(7)
    return pd.DataFrame(rng.normal(size=(40, 3)), columns=["a", "b", "c"])


def _register(model: Any, example: pd.DataFrame, name: str) -> int:
    with mloop.start_run():
        info = mloop.sklearn.log_model(model, "model", input_example=example.iloc[:5])
    return mloop.register_model(info.model_uri, name).version


@pytest.fixture
def models(settings: Settings, features: pd.DataFrame) -> dict[str, Any]:
    """churn v1 (logistic regression), churn v2 (always class 1), price v1 (regression)."""
    labels = (features["a"] + 0.5 * features["b"] > 0).astype(int)
    v1 = _register(LogisticRegression().fit(features, labels), features, "churn")
    always = DummyClassifier(strategy="constant", constant=1).fit(features, labels)
    v2 = _register(always, features, "churn")
    price = _register(LinearRegression().fit(features, features["a"] * 2), features, "price")
    assert (v1, v2, price) == (1, 2, 1)
    return {"features": features}


@pytest.fixture
def http(runtime: Runtime, models: dict[str, Any]) -> Iterator[TestClient]:
    """The main server (no authentication) over the store with the registered models."""
    from mloop.server.app import create_app

    with TestClient(create_app(runtime)) as client:
        yield client
