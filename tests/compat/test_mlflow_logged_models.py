"""MLflow 3 logged models outside a run: created on their own, with their artifacts, tags,
params, metrics linked to them, search and finalize (issue 18)."""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any

import httpx
import mlflow
import numpy as np
import pandas as pd
import pytest
from alembic import command
from mlflow.entities import LoggedModelStatus
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient
from sklearn.linear_model import LogisticRegression
from sqlalchemy import insert, select, text
from tests.conftest import ServerHandle
from tests.store.test_asset_names import empty_database  # noqa: F401  (fixture)

from mloop.compat.mlflow import tables as t
from mloop.compat.mlflow.logged_models import (
    logged_model_files,
    logged_model_source,
    record_model_metrics,
)
from mloop.core.errors import NotFoundError, ValidationError
from mloop.store.db import Database
from mloop.store.migrate import alembic_config

API = "/api/2.0/mlflow"
ARTIFACTS = "/api/2.0/mlflow-artifacts/artifacts"


@pytest.fixture
def server(mlflow_server: str, remote: ServerHandle) -> Iterator[ServerHandle]:
    yield remote


def _data() -> tuple[pd.DataFrame, np.ndarray]:
    X = pd.DataFrame(np.random.default_rng(1).normal(size=(30, 2)), columns=["a", "b"])
    return X, (X["a"] > 0).to_numpy().astype(int)


def _metrics(server: ServerHandle, run_id: str | None, metrics: list[dict[str, Any]]) -> None:
    server.runtime.run(
        lambda ctx: record_model_metrics(ctx, run_id, metrics), write=True, actor="test"
    )


def _error(response: httpx.Response) -> tuple[int, str]:
    return response.status_code, response.json()["error_code"]


def test_log_model_outside_a_run_keeps_its_files_in_its_own_root(server: ServerHandle) -> None:
    X, y = _data()
    mlflow.set_experiment("loose-models")
    assert mlflow.active_run() is None
    fitted = LogisticRegression().fit(X, y)
    info = mlflow.sklearn.log_model(fitted, name="loose")
    model = MlflowClient().get_logged_model(info.model_id)
    assert model.status == LoggedModelStatus.READY and not model.source_run_id
    assert model.artifact_location.endswith(f"/models/{info.model_id}/artifacts")
    assert mlflow.active_run() is None  # logging did not start a run
    # The files came through the artifact proxy and load back with the stock client.
    loaded = mlflow.pyfunc.load_model(f"models:/{info.model_id}")
    assert list(loaded.predict(X.head(5))) == list(fitted.predict(X.head(5)))
    listed = httpx.get(
        f"{server.url}{ARTIFACTS}", params={"path": model.artifact_location.split(":/", 1)[1]}
    ).json()["files"]
    assert "MLmodel" in {f["path"] for f in listed}
    # The registry helper reads the same folder; the run URI is only for run models.
    files = server.runtime.run(
        lambda ctx: logged_model_files(ctx, info.model_id), write=False, actor="test"
    )
    assert model.artifact_location == f"mlflow-artifacts:/{files}"
    with pytest.raises(ValidationError, match="not logged inside a run"):
        server.runtime.run(
            lambda ctx: logged_model_source(ctx, info.model_id), write=False, actor="test"
        )


def test_a_model_logged_in_a_run_keeps_the_run_layout(server: ServerHandle) -> None:
    X, y = _data()
    with mlflow.start_run() as run:
        info = mlflow.sklearn.log_model(LogisticRegression().fit(X, y), name="model")
        # MLflow allows a second model of the same name in a run; it gets a root of its own
        # rather than overwriting the first one's files.
        second = mlflow.sklearn.log_model(LogisticRegression().fit(X, y), name="model")
    first = MlflowClient().get_logged_model(info.model_id)
    assert first.artifact_location.endswith(f"/{run.info.run_id}/artifacts/model")
    source = server.runtime.run(
        lambda ctx: logged_model_source(ctx, info.model_id), write=False, actor="test"
    )
    assert source == f"runs:/{run.info.run_id}/model"
    other = MlflowClient().get_logged_model(second.model_id)
    assert other.source_run_id == run.info.run_id
    assert other.artifact_location.endswith(f"/models/{second.model_id}/artifacts")
    assert mlflow.pyfunc.load_model(f"models:/{second.model_id}").predict(X.head(2)).shape == (2,)


def test_initialize_external_and_active_models(server: ServerHandle) -> None:
    mlflow.set_experiment("initialized")
    pending = mlflow.initialize_logged_model(
        name="agent", model_type="agent", tags={"team": "a"}, params={"lr": "0.1"}
    )
    assert pending.status == LoggedModelStatus.PENDING and not pending.source_run_id
    assert pending.tags["team"] == "a" and pending.params == {"lr": "0.1"}
    client = MlflowClient()
    client.set_logged_model_tags(pending.model_id, {"team": "b", "stage": "dev"})
    client.delete_logged_model_tag(pending.model_id, "stage")
    client.log_model_params(pending.model_id, {"depth": "3"})
    ready = client.finalize_logged_model(pending.model_id, LoggedModelStatus.READY)
    assert ready.status == LoggedModelStatus.READY
    got = client.get_logged_model(pending.model_id)
    assert (
        got.tags["team"] == "b"
        and "stage" not in got.tags
        and got.params == {"lr": "0.1", "depth": "3"}
    )
    with pytest.raises(MlflowException) as info:
        client.delete_logged_model_tag(pending.model_id, "stage")
    assert info.value.error_code == "RESOURCE_DOES_NOT_EXIST"

    external = mlflow.create_external_model(name="hosted", params={"endpoint": "x"})
    assert client.get_logged_model(external.model_id).status == LoggedModelStatus.READY

    active = mlflow.set_active_model(name="chat-bot")
    assert mlflow.get_active_model_id() == active.model_id
    again = mlflow.set_active_model(name="chat-bot")  # found by name, not created twice
    assert again.model_id == active.model_id
    mlflow.clear_active_model()


def test_metrics_linked_to_models_search_and_order(server: ServerHandle) -> None:
    experiment_id = mlflow.set_experiment("searching").experiment_id
    a = mlflow.initialize_logged_model(name="a", params={"lr": "0.1"}, tags={"kind": "tree"})
    b = mlflow.initialize_logged_model(name="b", params={"lr": "0.2"}, tags={"kind": "Linear"})
    c = mlflow.initialize_logged_model(name="c")
    with mlflow.start_run() as run:
        run_id = run.info.run_id
    _metrics(
        server,
        run_id,
        [
            {"key": "acc", "value": 0.5, "timestamp": 1, "step": 0, "model_id": a.model_id},
            {"key": "acc", "value": 0.9, "timestamp": 2, "step": 1, "model_id": a.model_id},
            {"key": "acc", "value": 0.7, "timestamp": 1, "step": 0, "model_id": b.model_id},
            {
                "key": "loss",
                "value": "NaN",
                "timestamp": 3,
                "step": 0,
                "model_id": b.model_id,
                "dataset_name": "eval",
                "dataset_digest": "d1",
            },
            {"key": "acc", "value": 0.1, "timestamp": 1, "step": 0},  # run-only: skipped
        ],
    )
    # The same metric again is not stored twice.
    _metrics(
        server,
        run_id,
        [{"key": "acc", "value": 0.7, "timestamp": 1, "step": 0, "model_id": b.model_id}],
    )
    got = MlflowClient().get_logged_model(b.model_id)
    by_key = {m.key: m for m in got.metrics}
    assert len(got.metrics) == 2 and by_key["acc"].value == 0.7
    assert by_key["acc"].run_id == run_id and by_key["acc"].model_id == b.model_id
    assert math.isnan(by_key["loss"].value) and by_key["loss"].dataset_name == "eval"
    assert by_key["loss"].dataset_digest == "d1"

    def names(**kwargs: Any) -> list[str]:
        found = mlflow.search_logged_models(
            experiment_ids=[experiment_id], output_format="list", **kwargs
        )
        return [m.name for m in found]

    assert names(filter_string="metrics.acc > 0.6") == ["b", "a"]  # newest first
    assert names(filter_string="metrics.acc > 0.6 AND params.lr = '0.1'") == ["a"]
    assert names(filter_string="tags.kind LIKE 'L%'") == ["b"]
    assert names(filter_string="tags.kind ILIKE 'l%'") == ["b"]
    assert names(filter_string="name IN ('a', 'c')") == ["c", "a"]
    assert names(filter_string="status = 'LOGGED_MODEL_PENDING' AND name != 'b'") == ["c", "a"]
    assert names(filter_string=f"source_run_id = '{run_id}'") == []
    # Ordered by the newest value of the metric (a: 0.9, b: 0.7), models without it last.
    assert names(order_by=[{"field_name": "metrics.acc", "ascending": False}]) == ["a", "b", "c"]
    assert names(order_by=[{"field_name": "metrics.acc", "ascending": True}]) == ["b", "a", "c"]
    assert names(order_by=[{"field_name": "name", "ascending": True}]) == ["a", "b", "c"]
    assert names(datasets=[{"dataset_name": "eval"}]) == ["b"]
    assert names(datasets=[{"dataset_name": "eval", "dataset_digest": "other"}]) == []
    # Paging: two pages of one and two, nothing lost or repeated.
    client = MlflowClient()
    page = client.search_logged_models(
        [experiment_id], max_results=2, order_by=[{"field_name": "name"}]
    )
    rest = client.search_logged_models(
        [experiment_id], max_results=2, order_by=[{"field_name": "name"}], page_token=page.token
    )
    assert [m.name for m in page] == ["a", "b"] and [m.name for m in rest] == ["c"]
    assert rest.token is None
    # A deleted model leaves search, and keeps refusing metrics.
    client.delete_logged_model(c.model_id)
    assert names() == ["b", "a"]
    with pytest.raises(NotFoundError):
        _metrics(server, run_id, [{"key": "x", "value": 1, "model_id": c.model_id}])


def test_record_model_metrics_refuses_bad_metrics(server: ServerHandle) -> None:
    model = mlflow.initialize_logged_model(name="m")
    good = {"key": "k", "value": 1.0, "timestamp": 1, "step": 0, "model_id": model.model_id}
    with pytest.raises(NotFoundError, match="not found"):
        _metrics(server, None, [{**good, "model_id": "m-" + "0" * 32}])
    with pytest.raises(NotFoundError):
        _metrics(server, None, [{**good, "model_id": "../etc"}])
    for bad in ({"value": "high"}, {"key": ""}, {"key": "k" * 251}, {"step": "x"}, {"value": None}):
        with pytest.raises(ValidationError):
            _metrics(server, None, [good, {**good, **bad}])
    # Nothing of a refused batch was stored.
    assert MlflowClient().get_logged_model(model.model_id).metrics == []


def test_artifacts_of_a_logged_model_root(server: ServerHandle) -> None:
    model = mlflow.initialize_logged_model(name="files")
    root = model.artifact_location.split(":/", 1)[1]
    url = f"{server.url}{ARTIFACTS}"
    assert httpx.put(f"{url}/{root}/sub/a.txt", content=b"hello").status_code == 200
    assert httpx.get(f"{url}/{root}/sub/a.txt").content == b"hello"
    assert httpx.get(url, params={"path": f"{root}/sub"}).json()["files"] == [
        {"path": "a.txt", "is_dir": False, "file_size": 5}
    ]
    # Traversal out of the root, a root of a model that does not exist, a made-up root.
    assert _error(httpx.put(f"{url}/{root}/../../x.txt", content=b"x"))[0] == 400
    assert _error(httpx.get(url, params={"path": f"{root}/../.."}))[0] == 400
    missing = root.replace(model.model_id, "m-" + "1" * 32)
    assert _error(httpx.put(f"{url}/{missing}/a.txt", content=b"x")) == (
        404,
        "RESOURCE_DOES_NOT_EXIST",
    )
    elsewhere = "experiments/999/models/" + model.model_id + "/artifacts/a.txt"
    assert _error(httpx.put(f"{url}/{elsewhere}", content=b"x"))[0] == 400
    # A model that failed its upload, or was deleted, takes no more files.
    client = MlflowClient()
    client.finalize_logged_model(model.model_id, LoggedModelStatus.FAILED)
    assert _error(httpx.put(f"{url}/{root}/b.txt", content=b"x"))[0] == 400
    other = mlflow.initialize_logged_model(name="gone")
    client.delete_logged_model(other.model_id)
    gone_root = other.artifact_location.split(":/", 1)[1]
    assert _error(httpx.put(f"{url}/{gone_root}/b.txt", content=b"x"))[0] == 404
    # A run's artifacts still must sit in that run's root.
    with mlflow.start_run() as run:
        pass
    run_root = run.info.artifact_uri.split(":/", 1)[1]
    assert httpx.put(f"{url}/{run_root}/ok.txt", content=b"1").status_code == 200
    assert _error(httpx.put(f"{url}/experiments/1/nowhere.txt", content=b"1"))[0] == 400


def test_raw_requests_with_bad_input(server: ServerHandle) -> None:
    base = f"{server.url}{API}/logged-models"
    # MLflow's Default experiment "0" is searchable before anything was logged to it.
    fresh = httpx.post(f"{base}/search", json={"experiment_ids": ["0"]})
    assert fresh.status_code == 200 and fresh.json().get("models", []) == []
    experiment_id = mlflow.set_experiment("raw").experiment_id
    created = httpx.post(base, json={"experiment_id": experiment_id})
    assert created.status_code == 200
    model_id = created.json()["model"]["info"]["model_id"]
    assert created.json()["model"]["info"]["name"]  # a generated name
    # An unknown source run is recorded as given (MLflow does not check it).
    loose = httpx.post(
        base, json={"experiment_id": experiment_id, "name": "x", "source_run_id": "f" * 32}
    ).json()["model"]["info"]
    assert loose["source_run_id"] == "f" * 32 and "/models/" in loose["artifact_uri"]
    for body in (
        {"experiment_id": experiment_id, "name": "a/b"},
        {"experiment_id": experiment_id, "name": "a.b"},
        {"experiment_id": experiment_id, "name": 12},
        {"experiment_id": experiment_id, "tags": "x"},
        {"experiment_id": experiment_id, "params": [{"key": "", "value": "1"}]},
        {"experiment_id": experiment_id, "source_run_id": "r" * 40},
        {"experiment_id": "abc"},
    ):
        assert _error(httpx.post(base, json=body)) == (400, "INVALID_PARAMETER_VALUE"), body
    assert _error(httpx.post(base, json={"experiment_id": "12345"}))[0] == 404
    for bad_id in ("m-" + "0" * 32, "not-an-id", "m-XYZ"):
        assert _error(httpx.get(f"{base}/{bad_id}")) == (404, "RESOURCE_DOES_NOT_EXIST")
    assert (
        _error(httpx.patch(f"{base}/{model_id}", json={"status": "LOGGED_MODEL_PENDING"}))[0] == 400
    )
    assert _error(httpx.patch(f"{base}/{model_id}", json={"status": [2]}))[0] == 400
    assert (
        httpx.patch(f"{base}/{model_id}", json={"status": 2}).json()["model"]["info"]["status"]
        == "LOGGED_MODEL_READY"
    )
    params = f"{base}/{model_id}/params"
    assert httpx.post(params, json={"params": [{"key": "a", "value": "1"}]}).status_code == 200
    assert _error(httpx.post(params, json={"params": [{"key": "a", "value": "2"}]}))[0] == 400
    search = f"{base}/search"
    for body in (
        {"experiment_ids": [experiment_id], "filter": "metrics.acc > 'high'"},
        {"experiment_ids": [experiment_id], "filter": "nonsense = 'x'"},
        {"experiment_ids": [experiment_id], "filter": "name > 'a'"},
        {"experiment_ids": [experiment_id], "filter": "name = 'a' AND"},
        {"experiment_ids": [experiment_id], "filter": "name = 'a' OR name = 'b'"},
        {"experiment_ids": [experiment_id], "max_results": 5000},
        {"experiment_ids": [experiment_id], "max_results": -1},
        {"experiment_ids": [experiment_id], "page_token": str(2**40)},
        {"experiment_ids": [experiment_id], "order_by": [{"field_name": "params.x"}]},
        {"experiment_ids": [experiment_id], "order_by": [{"field_name": "bogus"}]},
        {"experiment_ids": [experiment_id], "datasets": [{"dataset_digest": "d"}]},
        {"experiment_ids": experiment_id},
        {"experiment_ids": []},
    ):
        assert _error(httpx.post(search, json=body)) == (400, "INVALID_PARAMETER_VALUE"), body
    # A filter value with a quote inside, doubled as in SQL.
    httpx.post(base, json={"experiment_id": experiment_id, "name": "o'k"})
    found = httpx.post(search, json={"experiment_ids": [experiment_id], "filter": "name = 'o''k'"})
    assert _error(httpx.post(base, json={"experiment_id": experiment_id, "name": "o'k"}))[0] == 400
    assert found.json().get("models", []) == []


def test_migration_moves_tags_and_params_to_rows(empty_database: Database) -> None:  # noqa: F811
    db = empty_database
    config = alembic_config(db)
    command.upgrade(config, "0019")
    with db.write() as conn:
        conn.execute(
            text(
                "INSERT INTO mlflow_logged_models (model_id, experiment_id, run_id, name, "
                "storage_path, model_type, status, status_message, lifecycle_stage, user_id, "
                "tags_json, params_json, creation_time, last_update_time) VALUES (:id, '1', "
                ":run, 'model', 'experiments/1/r/artifacts/model', '', 'LOGGED_MODEL_READY', "
                "'', 'active', '', :tags, :params, 1, 1)"
            ),
            {
                "id": "m-" + "a" * 32,
                "run": "b" * 32,
                "tags": '{"team": "a", "k": "v"}',
                "params": '{"lr": "0.1"}',
            },
        )
    command.upgrade(config, "0020")
    with db.read() as conn:
        tags = conn.execute(select(t.logged_model_tags.c.key, t.logged_model_tags.c.value)).all()
        params = conn.execute(select(t.logged_model_params.c.key)).scalars().all()
    assert sorted(tags) == [("k", "v"), ("team", "a")] and params == ["lr"]
    with db.write() as conn:  # a model without a run, which the older schema cannot hold
        conn.execute(
            insert(t.logged_models).values(
                model_id="m-" + "c" * 32,
                experiment_id="1",
                run_id=None,
                name="loose",
                storage_path="experiments/1/models/x/artifacts",
                model_type="",
                status="LOGGED_MODEL_READY",
                status_message="",
                lifecycle_stage="active",
                user_id="",
                creation_time=1,
                last_update_time=1,
            )
        )
    command.downgrade(config, "0019")
    with db.read() as conn:
        rows = conn.execute(
            text("SELECT model_id, tags_json, params_json FROM mlflow_logged_models")
        ).all()
    assert [(r[0], r[1].count('"'), r[2]) for r in rows] == [("m-" + "a" * 32, 8, '{"lr": "0.1"}')]
