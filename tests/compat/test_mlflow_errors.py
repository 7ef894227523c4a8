"""Every answer under an MLflow path is in MLflow's error shape, with a code its client knows.

MLflow's client reads ``error_code`` from the body; mloop's own shape (``{"error": {...}}``)
or a code outside MLflow's enum makes it report INTERNAL_ERROR instead of the real cause.
"""

from __future__ import annotations

from typing import Any

import mlflow
import pytest
from fastapi.testclient import TestClient
from mlflow.exceptions import MlflowException, RestException
from mlflow.protos.databricks_pb2 import ErrorCode
from mlflow.tracking import MlflowClient
from mlflow.utils.rest_utils import MlflowHostCreds, call_endpoint

from mloop.server.app import create_app
from mloop.store.runtime import Runtime

MLFLOW_CODES = set(ErrorCode.keys())


@pytest.fixture
def http(runtime: Runtime) -> TestClient:
    return TestClient(create_app(runtime))


def _assert_mlflow_error(response: Any, status: int, code: str) -> None:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error_code", "message"}, body
    assert body["error_code"] == code and body["error_code"] in MLFLOW_CODES
    assert body["message"]


@pytest.mark.parametrize(
    "path",
    [
        "/api/2.0/mlflow/no-such-thing",
        "/api/2.0/mlflow/runs/no-such-op",
        "/ajax-api/2.0/mlflow/experiments/nope",
        "/api/3.0/mlflow/traces/tr-1",  # tracing comes with a later issue
        "/api/2.0/mlflow/logged-models/m-0123/nope/deeper",
    ],
)
@pytest.mark.parametrize("method", ["GET", "POST", "DELETE"])
def test_unknown_endpoints_are_endpoint_not_found(http: TestClient, path: str, method: str) -> None:
    _assert_mlflow_error(http.request(method, path), 404, "ENDPOINT_NOT_FOUND")


def test_a_wrong_method_is_mlflows_bad_request_with_allow(http: TestClient) -> None:
    answer = http.delete("/api/2.0/mlflow/runs/create")
    _assert_mlflow_error(answer, 405, "BAD_REQUEST")
    assert answer.headers["allow"] == "POST"
    # A templated path (logged models) goes through the router; same shape.
    answer = http.put("/api/2.0/mlflow/logged-models/m-" + "0" * 32)
    _assert_mlflow_error(answer, 405, "BAD_REQUEST")
    assert "GET" in answer.headers["allow"]


def test_an_oversized_body_is_resource_limit_exceeded(runtime: Runtime) -> None:
    limit = runtime.settings.max_request_bytes
    http = TestClient(create_app(runtime))
    answer = http.post(
        "/api/2.0/mlflow/runs/log-batch",
        content=b"{" + b" " * (limit + 10) + b"}",
        headers={"content-type": "application/json"},
    )
    _assert_mlflow_error(answer, 413, "RESOURCE_LIMIT_EXCEEDED")
    # mloop's own API keeps its own shape.
    own = http.post(
        "/api/2.0/mloop/runs/log-batch",
        content=b"{" + b" " * (limit + 10) + b"}",
        headers={"content-type": "application/json"},
    )
    assert own.status_code == 413 and own.json()["error"]["code"] == "PAYLOAD_TOO_LARGE"


def test_unknown_paths_elsewhere_keep_mloops_shape(http: TestClient) -> None:
    answer = http.get("/api/2.0/mloop/no-such-thing")
    assert answer.status_code == 404
    assert answer.json()["error"]["code"] == "ENDPOINT_NOT_FOUND"
    # A prefix that merely starts like MLflow's is not MLflow's.
    assert "error" in http.get("/api/2.0/mlflowish/x").json()


def test_the_stock_client_reports_endpoint_not_found(mlflow_server: str) -> None:
    creds = MlflowHostCreds(mlflow_server)
    with pytest.raises(RestException) as raised:
        call_endpoint(creds, "/api/2.0/mlflow/no-such-endpoint", "GET", None, None)
    assert raised.value.error_code == "ENDPOINT_NOT_FOUND"


def test_the_stock_client_sees_mloops_not_found_as_mlflows(mlflow_server: str) -> None:
    with pytest.raises(MlflowException) as raised:
        MlflowClient().get_run("0" * 32)
    assert raised.value.error_code == "RESOURCE_DOES_NOT_EXIST"
    assert mlflow.get_experiment_by_name("no such experiment") is None
