"""``/api/3.0/mlflow/server-info`` tells the stock client what this server offers."""

from __future__ import annotations

from fastapi.testclient import TestClient
from mlflow.utils.rest_utils import MlflowHostCreds
from mlflow.utils.server_info import (
    SERVER_INFO_MULTIPART_UPLOADS_ENABLED,
    SERVER_INFO_WORKSPACES_ENABLED,
    fetch_server_info,
)

from mloop.server.app import create_app
from mloop.store.runtime import Runtime


def test_the_client_reads_what_the_server_offers(mlflow_server: str) -> None:
    answer = fetch_server_info(MlflowHostCreds(mlflow_server))
    assert answer.status_code == 200 and answer.data is not None
    assert answer.data[SERVER_INFO_WORKSPACES_ENABLED] is False
    assert answer.data[SERVER_INFO_MULTIPART_UPLOADS_ENABLED] is False


def test_server_info_is_read_only_and_under_both_prefixes(runtime: Runtime) -> None:
    http = TestClient(create_app(runtime))
    for prefix in ("/api", "/ajax-api"):
        assert http.get(f"{prefix}/3.0/mlflow/server-info").json()["store_type"] is None
        refused = http.post(f"{prefix}/3.0/mlflow/server-info", json={})
        assert refused.status_code == 405 and refused.json()["error_code"] == "BAD_REQUEST"
