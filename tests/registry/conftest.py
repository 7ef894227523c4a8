"""Fixtures of the registry tests: a tiny classifier and the SDK embedded or remote."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression

from mloop.core.config import Settings


@pytest.fixture(params=["embedded", "remote"])
def mode(request: pytest.FixtureRequest, settings: Settings) -> str:
    """Run a test once against the embedded store and once through a real server."""
    if request.param == "remote":
        request.getfixturevalue("remote")
    return str(request.param)


@pytest.fixture
def data() -> tuple[pd.DataFrame, pd.Series]:
    rng = np.random.default_rng(7)
    features = pd.DataFrame(rng.normal(size=(20, 3)), columns=["a", "b", "c"])
    labels = (features["a"] + 0.5 * features["b"] > 0).astype(int)
    return features, labels


@pytest.fixture
def classifier(data: tuple[pd.DataFrame, pd.Series]) -> LogisticRegression:
    features, labels = data
    return LogisticRegression().fit(features, labels)
