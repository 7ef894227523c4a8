"""The one dispatcher: every surface routed, refused and failed the same way, in its own shape."""

from __future__ import annotations

import dataclasses
import threading

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from mloop.core.http import QUICK_BODY_BYTES, Route, Surface
from mloop.server.app import create_app
from mloop.server.dispatch import Dispatcher, templated_routes
from mloop.store.runtime import Runtime, open_runtime


@pytest.fixture
def http(runtime: Runtime) -> TestClient:
    return TestClient(create_app(runtime))


@pytest.mark.parametrize(
    ("path", "allowed", "read_error"),
    [
        ("/api/v1/runs/create", "POST", lambda body: body["error"]["code"]),
        ("/api/2.0/mlflow/runs/create", "POST", lambda body: body["error_code"]),
        ("/ajax-api/2.0/mlflow/experiments/search", "GET, POST", lambda body: body["error_code"]),
        ("/v1/chat/completions", "POST", lambda body: body["error"]["code"]),
    ],
)
def test_wrong_method_gets_405_in_the_surface_shape(
    http: TestClient, path: str, allowed: str, read_error: object
) -> None:
    response = http.put(path, content=b"{}")
    assert response.status_code == 405
    assert sorted(response.headers["allow"].split(", ")) == sorted(allowed.split(", "))
    assert read_error(response.json())  # type: ignore[operator]


def test_templated_mlflow_routes_answer_in_mlflow_shape(http: TestClient) -> None:
    response = http.get("/api/2.0/mlflow/logged-models/m-" + "0" * 32)
    assert response.status_code == 404
    assert response.json()["error_code"] == "RESOURCE_DOES_NOT_EXIST"
    response = http.get("/api/2.0/mlflow/logged-models/not-an-id")  # not found, as in MLflow
    assert response.status_code == 404
    assert response.json()["error_code"] == "RESOURCE_DOES_NOT_EXIST"


def test_file_routes_are_served_and_documented(http: TestClient) -> None:
    run_id = http.post("/api/v1/runs/create", json={}).json()["info"]["run_id"]
    stored = http.put(f"/api/v1/artifacts/files/{run_id}/a/b.txt", content=b"hello")
    assert stored.status_code == 200 and stored.json()["path"] == "a/b.txt"
    assert http.get(f"/api/v1/artifacts/files/{run_id}/a/b.txt").content == b"hello"
    missing = http.get(f"/api/v1/artifacts/files/{run_id}/nothing.txt")
    assert missing.status_code == 404 and missing.json()["error"]["code"]
    spec = http.get("/api/openapi.json").json()
    assert "/api/v1/artifacts/files/{run_id}/{path}" in spec["paths"]
    assert "/api/v1/datasets/uploads/{name}/{digest}" in spec["paths"]
    assert not [p for p in spec["paths"] if p.startswith("/api/2.0/mlflow")]


def test_uploads_get_the_artifact_limit_and_other_bodies_the_request_limit(settings) -> None:  # type: ignore[no-untyped-def]
    """The body limit reads the declared file routes: an upload may be larger than a JSON
    request may, and a dataset upload over the artifact limit names the setting to raise."""
    limited = dataclasses.replace(settings, max_request_bytes=2_000, max_artifact_bytes=50_000)
    runtime = open_runtime(limited)
    try:
        http = TestClient(create_app(runtime))
        run_id = http.post("/api/v1/runs/create", json={}).json()["info"]["run_id"]
        ok = http.put(f"/api/v1/artifacts/files/{run_id}/big.bin", content=b"x" * 10_000)
        assert ok.status_code == 200
        too_big_json = http.post("/api/v1/experiments/create", content=b" " * 10_000)
        assert too_big_json.status_code == 413
        digest = "0" * 64
        too_big = http.put(f"/api/v1/datasets/uploads/tx/{digest}", content=b"x" * 60_000)
        assert too_big.status_code == 413
        assert too_big.json()["error"]["code"] == "PAYLOAD_TOO_LARGE"
        bad_name = http.put(f"/api/v1/datasets/uploads/bad%20name/{digest}", content=b"x")
        assert bad_name.status_code == 400 and bad_name.json()["error"]["field"] == "name"
    finally:
        runtime.close()


def _app(routes: list[Route]) -> TestClient:
    def error(exc: BaseException) -> Response:
        return JSONResponse({"oops": type(exc).__name__}, status_code=500)

    def not_allowed(allowed: list[str]) -> Response:
        return JSONResponse({"use": allowed}, status_code=405)

    surface = Surface("test", routes, error, not_allowed)
    app = FastAPI()
    app.include_router(templated_routes(surface))
    app.add_middleware(Dispatcher, surfaces=[surface])
    return TestClient(app)


def test_quick_routes_run_on_the_event_loop_only_with_small_bodies() -> None:
    seen: list[str] = []

    def handler(_request: Request, body: bytes) -> Response:
        seen.append(threading.current_thread().name)
        return JSONResponse({"size": len(body)})

    http = _app(
        [Route("POST", "/q", handler, None, quick=True), Route("POST", "/slow", handler, None)]
    )
    assert http.post("/q", content=b"x").json() == {"size": 1}
    assert http.post("/q", content=b"x" * (QUICK_BODY_BYTES + 1)).status_code == 200
    assert http.post("/slow", content=b"x").status_code == 200
    loop_thread = seen[0]
    assert seen[1] != loop_thread and seen[2] != loop_thread


def test_errors_and_methods_use_the_surface_writers() -> None:
    def boom(_request: Request, _body: bytes) -> Response:
        raise KeyError("x")

    async def echo(request: Request) -> Response:
        return JSONResponse(dict(request.path_params))

    http = _app(
        [
            Route("GET", "/boom", boom, None),
            Route("GET", "/items/{item}", echo, None, is_async=True),
        ]
    )
    assert http.get("/boom").json() == {"oops": "KeyError"}
    assert http.post("/boom").json() == {"use": ["GET"]}
    assert http.get("/items/7").json() == {"item": "7"}


def test_a_path_declared_twice_is_refused() -> None:
    def handler(_request: Request, _body: bytes) -> Response:
        return Response()

    with pytest.raises(RuntimeError, match="declared twice"):
        Dispatcher(
            FastAPI(),
            surfaces=[
                Surface(
                    "a",
                    [Route("GET", "/x", handler, None)],
                    lambda e: Response(),
                    lambda a: Response(),
                ),
                Surface(
                    "b",
                    [Route("GET", "/x", handler, None)],
                    lambda e: Response(),
                    lambda a: Response(),
                ),
            ],
        )


def test_leading_repeated_slashes_name_the_same_route(runtime: Runtime) -> None:
    http = TestClient(create_app(runtime))
    # Full URLs: httpx reads a path that starts with "//" as a host.
    assert http.get("http://testserver//health").json()["status"] == "ok"
    answer = http.get(
        "http://testserver//model-versions/get-artifact",
        params={"name": "m", "version": 1, "path": "../x"},
    )
    assert answer.status_code == 400 and answer.json()["message"] == "Invalid path"
    # Further in, a double slash is part of what was sent (an absolute path to refuse).
    inner = http.post("/api/2.0/mlflow//experiments/create", json={"name": "slashes"})
    assert inner.status_code == 404 and inner.json()["error_code"] == "ENDPOINT_NOT_FOUND"
