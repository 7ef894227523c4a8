"""Malformed requests to the MLflow routes get MLflow's ``{"error_code", "message"}`` and a 400.

Raw HTTP, because the stock client never sends these bodies; other clients and scripts do.
"""

from __future__ import annotations

import contextlib
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from mloop.compat.mlflow import logged_models, registry, tracking
from mloop.compat.mlflow.http import Endpoint
from mloop.core.errors import MloopError
from mloop.server.app import create_app
from mloop.store.context import Context
from mloop.store.runtime import Runtime

API = "/api/2.0/mlflow"


@pytest.fixture
def http(runtime: Runtime) -> TestClient:
    return TestClient(create_app(runtime))


def _run_id(http: TestClient) -> str:
    answer = http.post(f"{API}/runs/create", json={"experiment_id": "0"})
    assert answer.status_code == 200, answer.text
    return str(answer.json()["run"]["info"]["run_id"])


def _assert_mlflow_400(response: Any, field: str) -> None:
    assert response.status_code == 400, response.text
    body = response.json()
    assert set(body) == {"error_code", "message"}
    assert body["error_code"] == "INVALID_PARAMETER_VALUE"
    assert field in body["message"], body["message"]


_DATASET = {"name": "d", "digest": "abc", "source_type": "local", "source": "/tmp/d"}


@pytest.mark.parametrize(
    ("datasets", "field"),
    [
        ("train.csv", "datasets"),
        ({"dataset": _DATASET}, "datasets"),
        (5, "datasets"),
        (["train.csv"], "datasets[0]"),
        ([{"tags": []}], "datasets[0].dataset"),
        ([{"dataset": "train.csv"}], "datasets[0].dataset"),
        ([{"dataset": [_DATASET]}], "datasets[0].dataset"),
        ([{"dataset": {**_DATASET, "name": {"a": 1}}}], "datasets[0].dataset.name"),
        ([{"dataset": {**_DATASET, "schema": {"a": 1}}}], "datasets[0].dataset.schema"),
        ([{"dataset": _DATASET, "tags": "training"}], "datasets[0].tags"),
        ([{"dataset": _DATASET, "tags": {"key": "mlflow.data.context"}}], "datasets[0].tags"),
        ([{"dataset": _DATASET, "tags": ["training"]}], "datasets[0].tags[0]"),
        ([{"dataset": _DATASET, "tags": [{"value": "training"}]}], "datasets[0].tags[0]"),
    ],
)
def test_log_inputs_refuses_malformed_datasets(http: TestClient, datasets: Any, field: str) -> None:
    run_id = _run_id(http)
    response = http.post(f"{API}/runs/log-inputs", json={"run_id": run_id, "datasets": datasets})
    _assert_mlflow_400(response, field)
    run = http.get(f"{API}/runs/get", params={"run_id": run_id}).json()["run"]
    assert run["inputs"]["dataset_inputs"] == []  # nothing half-stored


def test_log_inputs_error_names_the_item(http: TestClient) -> None:
    # The message docs/mlflow.md quotes.
    body = {"run_id": _run_id(http), "datasets": [{"dataset": "train.csv"}]}
    response = http.post(f"{API}/runs/log-inputs", json=body)
    assert response.json() == {
        "error_code": "INVALID_PARAMETER_VALUE",
        "message": "Invalid value \"train.csv\" for parameter 'datasets[0].dataset' "
        "supplied: it must be an object, got a string",
    }


def test_log_inputs_still_takes_what_mlflow_sends(http: TestClient) -> None:
    run_id = _run_id(http)
    item = {"dataset": _DATASET, "tags": [{"key": "mlflow.data.context", "value": "eval"}]}
    response = http.post(f"{API}/runs/log-inputs", json={"run_id": run_id, "datasets": [item]})
    assert response.status_code == 200, response.text
    run = http.get(f"{API}/runs/get", params={"run_id": run_id}).json()["run"]
    assert run["inputs"]["dataset_inputs"] == [item]


# -- every endpoint, every field it reads, every wrong type -------------------------------

ENDPOINTS = [*tracking.ENDPOINTS, *registry.ENDPOINTS, *logged_models.ENDPOINTS]
# Values that no MLflow client sends; a field of another shape must be refused, not coerced.
WRONG = ["x", "", 5, -1, 1.5, 10**30, True, None, {"a": 1}, [{"a": 1}]]
# A GET endpoint reads the query string, so only the text of its fields can be wrong.
WRONG_QUERY = ["x", "", "-1", "1.5", str(10**30), "true"]
MLMODEL = b"flavors:\n  python_function:\n    loader_module: mloop_fuzz\n    data: data\n"


class _Reads(dict[str, Any]):
    """A request body that notes which fields the handler reads."""

    def __init__(self, body: dict[str, Any], seen: set[str]) -> None:
        super().__init__(body)
        self.seen = seen

    def get(self, key: str, default: Any = None) -> Any:
        self.seen.add(key)
        return super().get(key, default)

    def __getitem__(self, key: str) -> Any:
        self.seen.add(key)
        return super().__getitem__(key)

    def __contains__(self, key: object) -> bool:
        self.seen.add(str(key))
        return super().__contains__(key)


class _Undo(Exception):
    """Raised after a handler ran, so its transaction rolls back."""


def _world(http: TestClient) -> dict[str, Any]:
    """An experiment, a run with a model directory, a registered model with a version and an
    alias, and a logged model: every id a well-formed request can name."""

    def ok(method: str, path: str, **kwargs: Any) -> dict[str, Any]:
        answer = http.request(method, path, **kwargs)
        assert answer.status_code == 200, (path, answer.text)
        return dict(answer.json())

    exp_id = ok("POST", f"{API}/experiments/create", json={"name": "fuzz"})["experiment_id"]
    info = ok("POST", f"{API}/runs/create", json={"experiment_id": exp_id})["run"]["info"]
    run_id, root = info["run_id"], info["artifact_uri"].split(":", 1)[1].lstrip("/")
    for name, data in (("MLmodel", MLMODEL), ("data", b"x")):
        ok("PUT", f"/api/2.0/mlflow-artifacts/artifacts/{root}/model/{name}", content=data)
    ok("POST", f"{API}/registered-models/create", json={"name": "fuzz-model"})
    source = f"runs:/{run_id}/model"
    ok("POST", f"{API}/model-versions/create", json={"name": "fuzz-model", "source": source})
    alias = {"name": "fuzz-model", "alias": "champion", "version": "1"}
    ok("POST", f"{API}/registered-models/alias", json=alias)
    created = {"experiment_id": exp_id, "source_run_id": run_id, "name": "lm"}
    model_id = ok("POST", f"{API}/logged-models", json=created)["model"]["info"]["model_id"]
    dataset = {"name": "d", "digest": "abc", "source_type": "local", "source": "/d", "schema": "{}"}
    return {
        "experiment_id": exp_id,
        "experiment_ids": [exp_id],
        "experiment_name": "fuzz",
        "artifact_location": "elsewhere",
        "run_id": run_id,
        "run_uuid": run_id,
        "source_run_id": run_id,
        "run_name": "r",
        "user_id": "u",
        "start_time": 1,
        "end_time": 2,
        "status": "FINISHED",
        "name": "fuzz-model",
        "version": "1",
        "alias": "champion",
        "description": "d",
        "source": source,
        "model_id": model_id,
        "tag_key": "t",
        "key": "k",
        "value": "v",
        "timestamp": 1,
        "step": 0,
        "metric_key": "m",
        "tags": [{"key": "t", "value": "v"}],
        "params": [{"key": "p", "value": "1"}],
        "metrics": [{"key": "m", "value": 1.0, "timestamp": 1, "step": 0}],
        "datasets": [{"dataset": dataset, "tags": [{"key": "mlflow.data.context", "value": "t"}]}],
        "models": [{"model_id": model_id, "step": 0}],
        "model_json": json.dumps({"artifact_path": "m", "flavors": {}, "utc_time_created": "t"}),
        "filter": "",
        "order_by": ["start_time DESC"],
        "max_results": 10,
        "view_type": "ACTIVE_ONLY",
        "run_view_type": "ACTIVE_ONLY",
        "allow_deleted": "false",
        "stage": "Staging",
        "archive_existing_versions": False,
    }


def _base(endpoint: Endpoint, world: dict[str, Any]) -> dict[str, Any]:
    body = dict(world)
    if endpoint.path.startswith("/logged-models"):
        body.update(status="LOGGED_MODEL_READY", name="lm2")
    if endpoint.path == "/runs/log-metric":
        body.update(value=1.0)
    if endpoint.path == "/runs/log-inputs":  # a model input is its id alone (no step)
        body.update(models=[{"model_id": m["model_id"]} for m in body["models"]])
    if endpoint.method == "GET":
        body = {k: str(v) for k, v in body.items() if not isinstance(v, list | dict)}
    return body


def _fields_read(runtime: Runtime, endpoint: Endpoint, body: dict[str, Any]) -> set[str]:
    """The fields ``endpoint`` reads from a well-formed body (its writes are rolled back)."""
    seen: set[str] = set()

    def call(ctx: Context) -> None:
        with contextlib.suppress(MloopError):  # a refusal still shows what was read
            endpoint.handler(ctx, _Reads(body, seen))
        raise _Undo

    with contextlib.suppress(_Undo):
        runtime.run(call, write=True)
    return seen - set(re.findall(r"{(\w+)}", endpoint.path))  # the URL carries those


def _is_shape(value: Any) -> str:
    return "list" if isinstance(value, list) else "object" if isinstance(value, dict) else "scalar"


def _variants(value: Any, where: str) -> Iterator[tuple[str, Any, bool]]:
    """``(where, wrong value, of the wrong shape)`` for a value and each value inside it."""
    for wrong in WRONG:
        yield where, wrong, wrong is not None and _is_shape(wrong) != _is_shape(value)
    if isinstance(value, list) and value:
        for inner, wrong, shape in _variants(value[0], f"{where}[0]"):
            yield inner, [wrong, *value[1:]], shape
    if isinstance(value, dict):
        for key in value:
            yield f"{where}.{key} missing", {k: v for k, v in value.items() if k != key}, False
            for inner, wrong, shape in _variants(value[key], f"{where}.{key}"):
                yield inner, {**value, key: wrong}, shape


def _url(endpoint: Endpoint, body: dict[str, Any]) -> str:
    return API + re.sub(r"{(\w+)}", lambda m: str(body[m.group(1)]), endpoint.path)


def _send(http: TestClient, endpoint: Endpoint, body: dict[str, Any]) -> Any:
    url = _url(endpoint, body)
    if endpoint.method == "GET":
        return http.get(url, params=body)
    return http.request(endpoint.method, url, json=body)


@pytest.mark.parametrize("endpoint", ENDPOINTS, ids=[f"{e.method} {e.path}" for e in ENDPOINTS])
def test_wrong_types_get_mlflow_400_never_500(
    http: TestClient, runtime: Runtime, endpoint: Endpoint
) -> None:
    base = _base(endpoint, _world(http))
    fields = _fields_read(runtime, endpoint, base)
    in_path = re.findall(r"{(\w+)}", endpoint.path)
    assert fields or in_path, "the handler read no field: the discovery is broken"
    problems = []
    for field in in_path:
        for wrong in [w for w in WRONG_QUERY if w]:  # an empty segment is another URL
            problem = _problem(_send(http, endpoint, {**base, field: wrong}), field, False)
            if problem:
                problems.append(f"{field} (in the path) = {wrong!r}: {problem}")
    for field in sorted(fields):
        if endpoint.method == "GET":
            cases = [(field, wrong, False) for wrong in WRONG_QUERY]
        else:
            cases = list(_variants(base.get(field), field))
        for where, wrong, wrong_shape in cases:
            response = _send(http, endpoint, {**base, field: wrong})
            problem = _problem(response, field, wrong_shape)
            if problem:
                problems.append(f"{where} = {wrong!r}: {problem}")
    assert not problems, "\n".join(problems)


def _problem(response: Any, field: str, wrong_shape: bool) -> str | None:
    """What is wrong with the answer to a malformed request, if anything."""
    if response.status_code == 200 and not wrong_shape:
        return None
    if response.status_code == 200:
        return "accepted a value of the wrong shape"
    body = response.json()
    if set(body) != {"error_code", "message"}:
        return f"{response.status_code} not in MLflow's error shape: {body}"
    if response.status_code >= 500:
        return f"{response.status_code} {body['message']}"
    if wrong_shape and (response.status_code != 400 or field not in body["message"]):
        return f"{response.status_code} does not name the field: {body['message']}"
    if response.status_code not in (400, 404, 409):
        return f"unexpected status {response.status_code}: {body['message']}"
    return None


# -- the artifact proxy -----------------------------------------------------------------

ARTIFACTS = "/api/2.0/mlflow-artifacts/artifacts"
# Percent-encoded in the URL so that the HTTP client sends them as they are.
BAD_PATHS = ["..", "../x", "a/../../x", "/etc/passwd", "a\x00b", "a\\..\\..\\x", "~/x", "x" * 5000]


def _encoded(path: str) -> str:
    return "".join(c if c.isalnum() or c == "/" else f"%{ord(c):02X}" for c in path)


@pytest.mark.parametrize("path", BAD_PATHS)
@pytest.mark.parametrize("method", ["list", "download", "upload"])
def test_artifact_proxy_refuses_bad_paths_in_mlflow_shape(
    http: TestClient, tmp_path: Path, method: str, path: str
) -> None:
    _run_id(http)
    before = _files(tmp_path)
    if method == "list":
        response = http.get(ARTIFACTS, params={"path": path})
    elif method == "download":
        response = http.get(f"{ARTIFACTS}/{_encoded(path)}")
    else:
        response = http.put(f"{ARTIFACTS}/{_encoded(path)}", content=b"x")
    if response.status_code == 200:  # a path that cleans to an empty listing is harmless
        assert method == "list" and response.json() == {"files": []}, response.text
        return
    assert response.status_code in (400, 404), response.text
    assert set(response.json()) == {"error_code", "message"}
    assert _files(tmp_path) == before  # nothing written, inside the store or beside it


def _files(root: Path) -> set[Path]:
    # The database's own files change with every request; everything else must not.
    return {p for p in root.rglob("*") if p.is_file() and ".db" not in p.name}
