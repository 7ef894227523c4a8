"""The HTTP API: health, OpenAPI, and clear errors for bad requests."""

from __future__ import annotations

import dataclasses

import httpx
import pytest

from mloop.server.app import create_app
from mloop.store.runtime import Runtime, open_runtime


@pytest.fixture
def http(runtime: Runtime) -> httpx.Client:
    from fastapi.testclient import TestClient

    return TestClient(create_app(runtime))


def _error(response: httpx.Response) -> dict[str, str]:
    return response.json()["error"]  # type: ignore[no-any-return]


def test_health_ready_and_openapi(http: httpx.Client) -> None:
    assert http.get("/health").json()["status"] == "ok"
    ready = http.get("/ready")
    assert ready.status_code == 200 and ready.json()["status"] == "ready"
    spec = http.get("/api/openapi.json").json()
    assert "/api/v1/runs/search" in spec["paths"]
    body = spec["paths"]["/api/v1/runs/log-batch"]["post"]["requestBody"]
    assert "application/json" in body["content"]
    assert "MetricIn" in spec["components"]["schemas"]
    assert http.get("/api/docs").status_code == 200


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (b"{not json", "body"),
        (b'{"name": 5}', "name"),
        (b'{"name": "x", "surprise": 1}', "surprise"),
        (b"[]", "body"),
        (b'{"name": "bad\\u0000name"}', "name"),
    ],
)
def test_malformed_bodies_name_the_field(http: httpx.Client, body: bytes, field: str) -> None:
    response = http.post("/api/v1/experiments/create", content=body)
    assert response.status_code == 400
    assert _error(response)["code"] == "INVALID_PARAMETER_VALUE"
    assert _error(response)["field"] == field


def test_wrong_types_in_nested_fields(http: httpx.Client) -> None:
    run_id = http.post("/api/v1/runs/create", json={}).json()["info"]["run_id"]
    response = http.post(
        "/api/v1/runs/log-batch",
        json={"run_id": run_id, "metrics": [{"key": "a", "value": "high", "timestamp": 1}]},
    )
    assert response.status_code == 400
    assert _error(response)["field"] == "metrics[0].value"
    response = http.post(
        "/api/v1/runs/log-batch",
        json={"run_id": run_id, "metrics": [{"key": "a", "value": 1, "timestamp": 1, "step": 1.5}]},
    )
    assert _error(response)["field"] == "metrics[0].step"


def test_nan_and_infinity_over_json(http: httpx.Client) -> None:
    run_id = http.post("/api/v1/runs/create", json={}).json()["info"]["run_id"]
    response = http.post(
        "/api/v1/runs/log-batch",
        content=(
            f'{{"run_id": "{run_id}", "metrics": [{{"key": "a", "value": "NaN", "timestamp": 1}},'
            ' {"key": "b", "value": "Infinity", "timestamp": 1}]}'
        ).encode(),
    )
    assert response.status_code == 200, response.text
    metrics = http.get("/api/v1/runs/get", params={"run_id": run_id}).json()["data"]["metrics"]
    assert metrics == {"a": "NaN", "b": "Infinity"}


def test_unknown_ids_and_endpoints(http: httpx.Client) -> None:
    response = http.get("/api/v1/runs/get", params={"run_id": "f" * 32})
    assert response.status_code == 404 and _error(response)["code"] == "RESOURCE_DOES_NOT_EXIST"
    response = http.get("/api/v1/runs/get", params={"run_id": "../../etc"})
    assert response.status_code == 400 and _error(response)["field"] == "run_id"
    assert http.get("/api/v1/nothing-here").status_code == 404
    assert http.get("/api/v1/runs/create").status_code == 405
    response = http.get("/api/v1/runs/get")
    assert response.status_code == 400 and _error(response)["field"] == "run_id"


def test_oversized_payloads_get_413(settings, tmp_path) -> None:  # type: ignore[no-untyped-def]
    from fastapi.testclient import TestClient

    small = dataclasses.replace(settings, max_request_bytes=10_000, max_artifact_bytes=1_000)
    runtime = open_runtime(small)
    try:
        http = TestClient(create_app(runtime))
        run_id = http.post("/api/v1/runs/create", json={}).json()["info"]["run_id"]
        metrics = [{"key": "k", "value": 1.0, "timestamp": 1, "step": i} for i in range(1000)]
        response = http.post("/api/v1/runs/log-batch", json={"run_id": run_id, "metrics": metrics})
        assert response.status_code == 413
        assert _error(response)["code"] == "PAYLOAD_TOO_LARGE"
        assert (
            http.get("/api/v1/runs/get", params={"run_id": run_id}).json()["data"]["metrics"] == {}
        )

        def chunks():  # type: ignore[no-untyped-def]
            for _ in range(10):
                yield b"x" * 500

        response = http.put(f"/api/v1/artifacts/files/{run_id}/big.bin", content=chunks())
        assert response.status_code == 413
        listing = http.get("/api/v1/artifacts/list", params={"run_id": run_id}).json()
        assert listing["files"] == []
    finally:
        runtime.close()


def test_too_many_metrics_in_one_batch(http: httpx.Client) -> None:
    run_id = http.post("/api/v1/runs/create", json={}).json()["info"]["run_id"]
    response = http.post(
        "/api/v1/runs/log-batch",
        json={"run_id": run_id, "params": [{"key": f"p{i}", "value": "v"} for i in range(1001)]},
    )
    assert response.status_code == 400 and _error(response)["field"] == "params"


def test_api_docs_need_a_token_when_auth_is_on(settings, runtime) -> None:  # type: ignore[no-untyped-def]
    from fastapi.testclient import TestClient

    from mloop.auth.tokens import create_token

    secret = runtime.run(lambda ctx: create_token(ctx, "r", "reader"), write=True)
    http = TestClient(create_app(runtime, auth_enabled=True))
    for path in ("/api/openapi.json", "/api/docs"):
        refused = http.get(path)
        assert refused.status_code == 401 and _error(refused)["field"] == "Authorization"
        assert http.get(path, headers={"Authorization": f"Bearer {secret}"}).status_code == 200
    public = open_runtime(dataclasses.replace(settings, public_api_docs=True))
    try:
        open_http = TestClient(create_app(public, auth_enabled=True))
        assert open_http.get("/api/openapi.json").status_code == 200
    finally:
        public.close()


def test_public_api_docs_setting_is_read_strictly(monkeypatch: pytest.MonkeyPatch) -> None:
    from mloop.core.config import get_settings

    monkeypatch.setenv("MLOOP_PUBLIC_API_DOCS", "true")
    assert get_settings().public_api_docs
    monkeypatch.setenv("MLOOP_PUBLIC_API_DOCS", "maybe")
    with pytest.raises(ValueError, match="MLOOP_PUBLIC_API_DOCS must be true or false"):
        get_settings()


def test_openapi_documents_errors_parameters_and_optional_bodies(http: httpx.Client) -> None:
    spec = http.get("/api/openapi.json").json()
    get_run = spec["paths"]["/api/v1/runs/get"]["get"]
    assert {"400", "401", "403", "404", "409", "413"} <= set(get_run["responses"])
    run_id = next(p for p in get_run["parameters"] if p["name"] == "run_id")
    assert run_id["required"] and run_id["schema"]["type"] == "string"
    create = spec["paths"]["/api/v1/runs/create"]["post"]
    assert create["requestBody"]["required"] is False  # every field has a default
    assert http.post("/api/v1/runs/create").status_code == 200
    log_batch = spec["paths"]["/api/v1/runs/log-batch"]["post"]
    assert log_batch["requestBody"]["required"] is True
    error = log_batch["responses"]["400"]["content"]["application/json"]["schema"]
    assert error["properties"]["error"]["required"] == ["code", "message"]
