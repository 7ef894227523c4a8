"""A live mloop server that the stock mlflow client is pointed at."""

from __future__ import annotations

from collections.abc import Iterator

import mlflow
import pytest
from tests.conftest import ServerHandle


@pytest.fixture
def mlflow_server(remote: ServerHandle, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    monkeypatch.setenv("MLFLOW_TRACKING_URI", remote.url)
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    mlflow.set_tracking_uri(remote.url)
    # mlflow remembers the last experiment per process; each test has a fresh store.
    monkeypatch.setattr(mlflow.tracking.fluent, "_active_experiment_id", None)
    monkeypatch.setenv("MLFLOW_EXPERIMENT_ID", "")  # set_experiment writes it; undo at teardown
    monkeypatch.delenv("MLFLOW_EXPERIMENT_ID")
    yield remote.url
    if mlflow.active_run():
        mlflow.end_run()
