"""The registry over raw HTTP: error bodies and the model file download route."""

from __future__ import annotations

import httpx
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression
from tests.conftest import ServerHandle
from tests.registry.registry_testing import log_classifier

import mloop
from mloop.store.runtime import Runtime

Data = tuple[pd.DataFrame, pd.Series]
FILES = "/api/v1/registry/model-versions/files"


@pytest.fixture
def http(remote: ServerHandle, data: Data, classifier: LogisticRegression) -> httpx.Client:
    features, _ = data
    mloop.register_model(f"runs:/{log_classifier(classifier, features)}/model", "churn")
    # The first /api/openapi.json builds the whole document: seconds on a loaded machine.
    return httpx.Client(base_url=remote.url, timeout=60)


def _error(response: httpx.Response) -> dict[str, str]:
    body: dict[str, dict[str, str]] = response.json()
    return body["error"]


def test_operations_are_routes_with_field_errors(http: httpx.Client) -> None:
    ok = http.get("/api/v1/registry/model-versions/get", params={"name": "churn", "version": 1})
    assert ok.status_code == 200 and ok.json()["version"] == 1
    bad = http.get("/api/v1/registry/model-versions/get", params={"name": "churn", "version": "x"})
    assert bad.status_code == 400 and _error(bad)["field"] == "version"
    body = {"name": "churn", "alias": "champion", "version": "1; DROP TABLE"}
    bad = http.post("/api/v1/registry/aliases/set", json=body)
    assert bad.status_code == 400 and _error(bad)["field"] == "version"
    bad = http.post("/api/v1/registry/registered-models/create", json={"name": "a/b"})
    assert bad.status_code == 400 and _error(bad)["field"] == "name"
    bad = http.post("/api/v1/registry/registered-models/create", json={"name": "x", "owner": 1})
    assert bad.status_code == 400 and _error(bad)["field"] == "owner"
    missing = http.get("/api/v1/registry/aliases/get", params={"name": "churn", "alias": "gone"})
    assert missing.status_code == 404 and _error(missing)["field"] == "alias"
    spec = http.get("/api/openapi.json").json()
    assert "/api/v1/registry/model-versions/create" in spec["paths"]


def test_file_download_route(http: httpx.Client) -> None:
    listing = http.get(FILES, params={"name": "churn", "version": 1})
    assert sorted(listing.json()["files"]) == [
        "input_example.json",
        "mloop-model.json",
        "model.skops",
    ]
    meta = http.get(f"{FILES}/churn/1/mloop-model.json")
    assert meta.status_code == 200 and meta.json()["flavor"] == "sklearn"
    cases = [
        (f"{FILES}/churn/1/%2e%2e/%2e%2e/%2e%2e/mloop.db", 400, "path"),
        (f"{FILES}/churn/1/..%2f..%2f..%2fmloop.db", 400, "path"),
        (f"{FILES}/churn/1/%2fetc%2fpasswd", 400, "path"),
        (f"{FILES}/churn/1/absent.bin", 404, "path"),
        (f"{FILES}/churn/abc/model.skops", 400, "version"),
        (f"{FILES}/churn/9/model.skops", 404, "version"),
        (f"{FILES}/nope/1/model.skops", 404, "name"),
        (f"{FILES}/a%20b/1/model.skops", 400, "name"),
    ]
    for url, status, field in cases:
        response = http.get(url)
        assert response.status_code == status, (url, response.text)
        assert _error(response)["field"] == field, url


def test_file_route_requires_a_token_when_auth_is_on(
    runtime: Runtime, data: Data, classifier: LogisticRegression, settings: object
) -> None:
    features, _ = data
    mloop.register_model(f"runs:/{log_classifier(classifier, features)}/model", "churn")
    handle = ServerHandle(runtime, auth_enabled=True).start()
    try:
        response = httpx.get(f"{handle.url}{FILES}/churn/1/model.skops")
        assert response.status_code == 401
    finally:
        handle.stop()
