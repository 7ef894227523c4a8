"""MLflow's tracking REST API as MLflow's own server answers it: endpoints, refusals and their
wording (which clients match on), the Default experiment, artifact locations, inputs.

Raw HTTP where the stock client would not send the body; the stock client where it does.
"""

from __future__ import annotations

import os
from typing import Any

import httpx
import mlflow
import pytest
from mlflow.entities import Dataset, DatasetInput, InputTag, Metric
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

import mloop

PREFIXES = ["/api/2.0/mlflow", "/ajax-api/2.0/mlflow"]


def _post(url: str, path: str, body: dict[str, Any], prefix: str = PREFIXES[0]) -> httpx.Response:
    return httpx.post(f"{url}{prefix}{path}", json=body)


def _refused(response: httpx.Response, code: str, text: str, status: int = 400) -> None:
    assert response.status_code == status, response.text
    assert response.json()["error_code"] == code
    assert text in response.json()["message"], response.json()["message"]


@pytest.mark.parametrize("prefix", PREFIXES)
def test_rename_experiment_and_delete_its_tag(mlflow_server: str, prefix: str) -> None:
    client = MlflowClient()
    experiment_id = client.create_experiment("BadName", tags={"a": "1", "b": "2"})
    client.rename_experiment(experiment_id, "GoodName")
    assert client.get_experiment(experiment_id).name == "GoodName"
    assert mloop.Client().get_experiment(experiment_id).name == "GoodName"
    client.delete_experiment_tag(experiment_id, "a")
    assert client.get_experiment(experiment_id).tags == {"b": "2"}

    body = {"experiment_id": experiment_id, "key": "a"}
    _refused(
        _post(mlflow_server, "/experiments/delete-experiment-tag", body, prefix),
        "RESOURCE_DOES_NOT_EXIST",
        "No tag with name: a",
        404,
    )
    client.create_experiment("taken")
    rename = {"experiment_id": experiment_id, "new_name": "taken"}
    _refused(
        _post(mlflow_server, "/experiments/update", rename, prefix),
        "RESOURCE_ALREADY_EXISTS",
        "Experiment(name=taken) already exists.",
        409,
    )
    assert client.get_experiment(experiment_id).name == "GoodName"
    missing = {"experiment_id": experiment_id}
    _refused(
        _post(mlflow_server, "/experiments/update", missing, prefix),
        "INVALID_PARAMETER_VALUE",
        "Missing value for required parameter 'new_name'",
    )


def test_duplicate_experiment_name_is_already_exists(mlflow_server: str) -> None:
    MlflowClient().create_experiment("twice")
    with pytest.raises(MlflowException, match=r"Experiment\(name=twice\) already exists") as e:
        MlflowClient().create_experiment("twice")
    assert e.value.error_code == "RESOURCE_ALREADY_EXISTS"


@pytest.mark.parametrize(
    ("path", "body", "message"),
    [
        ("/experiments/create", {"name": 123}, "Invalid value 123 for parameter 'name' supplied"),
        ("/experiments/create", {}, "Missing value for required parameter 'name'"),
        (
            "/experiments/create",
            {"name": "x", "artifact_location": 9.0},
            "Invalid value 9.0 for parameter 'artifact_location'",
        ),
        (
            "/experiments/create",
            {"name": "x", "tags": "5"},
            "Invalid value \"5\" for parameter 'tags'",
        ),
        ("/runs/log-metric", {"key": 31}, "Invalid value 31 for parameter 'key' supplied"),
        ("/runs/log-metric", {"step": "foo"}, "Invalid value \"foo\" for parameter 'step'"),
        ("/runs/log-metric", {"timestamp": "foo"}, "for parameter 'timestamp' supplied"),
        ("/runs/log-metric", {"timestamp": None}, "required parameter 'timestamp'"),
        ("/runs/log-metric", {"key": None}, "Missing value for required parameter 'key'"),
        ("/runs/log-metric", {"run_id": None}, "Missing value for required parameter 'run_id'"),
        ("/runs/log-metric", {"run_id": 31}, "Invalid value 31 for parameter 'run_id' supplied"),
        ("/runs/log-parameter", {"key": 31}, "Invalid value 31 for parameter 'key' supplied"),
        ("/runs/set-tag", {"value": 41}, "Invalid value 41 for parameter 'value' supplied"),
        ("/runs/log-batch", {"metrics": "foo"}, "Invalid value \"foo\" for parameter 'metrics'"),
        ("/runs/log-batch", {"params": "foo"}, "Invalid value \"foo\" for parameter 'params'"),
        ("/runs/log-batch", {"tags": "foo"}, "Invalid value \"foo\" for parameter 'tags'"),
        (
            "/runs/log-batch",
            {"metrics": [{"key": "mae", "value": 2.5}]},
            "Missing value for required parameter 'metrics[0].timestamp'",
        ),
    ],
)
def test_wrong_types_are_refused_in_mlflow_words(
    mlflow_server: str, path: str, body: dict[str, Any], message: str
) -> None:
    client = MlflowClient()
    run_id = client.create_run(client.create_experiment("validation")).info.run_id
    base = {"run_id": run_id, "key": "k", "value": "1", "timestamp": 59, "step": 26}
    if path == "/runs/log-metric":
        base["value"] = 41
    if path.startswith("/runs/log-batch"):
        base = {"run_id": run_id}
    if path.startswith("/experiments"):
        base = {}
    _refused(_post(mlflow_server, path, {**base, **body}), "INVALID_PARAMETER_VALUE", message)
    # Nothing was stored by a refused request, and a number was not coerced into a name.
    assert [e.name for e in client.search_experiments()] == ["validation", "Default"]
    run = client.get_run(run_id)
    assert run.data.metrics == {} and run.data.params == {}


def test_integers_may_come_as_strings_as_protobuf_json_sends_int64(mlflow_server: str) -> None:
    client = MlflowClient()
    run_id = client.create_run(client.create_experiment("int64")).info.run_id
    body = {"run_id": run_id, "key": "m", "value": "1.5", "timestamp": "123", "step": "7"}
    assert _post(mlflow_server, "/runs/log-metric", body).status_code == 200
    [point] = client.get_metric_history(run_id, "m")
    assert (point.value, point.timestamp, point.step) == (1.5, 123, 7)


def test_unknown_and_malformed_run_ids_are_not_found(mlflow_server: str) -> None:
    client = MlflowClient()
    for run_id in ("fake_run_id", "0" * 32):
        with pytest.raises(MlflowException, match=f"Run with id={run_id} not found") as e:
            client.get_run(run_id)
        assert e.value.error_code == "RESOURCE_DOES_NOT_EXIST"
        with pytest.raises(MlflowException, match=r"Run .+ not found"):
            client.delete_tag(run_id, "taggity")
    run_id = client.create_run("0").info.run_id
    with pytest.raises(MlflowException, match="No tag with name: fakeTag"):
        client.delete_tag(run_id, "fakeTag")
    client.delete_run(run_id)
    with pytest.raises(MlflowException, match=f"The run {run_id} must be in"):
        client.set_tag(run_id, "k", "v")


def test_experiment_ids_past_the_id_column_are_not_found(mlflow_server: str) -> None:
    """Experiment ids are 32-bit integer columns: a larger one names no experiment, on
    PostgreSQL as on SQLite (not a database error)."""
    client = MlflowClient()
    huge = "39999125039834071"
    with pytest.raises(MlflowException, match=f"experiment {huge} does not exist") as e:
        client.get_experiment(huge)
    assert e.value.error_code == "RESOURCE_DOES_NOT_EXIST"
    with pytest.raises(MlflowException) as e:
        client.create_run(huge)
    assert e.value.error_code == "RESOURCE_DOES_NOT_EXIST"
    assert client.search_runs([huge]) == []


def test_max_results_out_of_range(mlflow_server: str) -> None:
    client = MlflowClient()
    experiment_id = client.create_experiment("search_validation")
    with pytest.raises(
        MlflowException, match=r"Invalid value 123456789 for parameter 'max_results' supplied"
    ):
        client.search_runs([experiment_id], max_results=123456789)
    for bad in (0, 50_001):
        response = _post(mlflow_server, "/experiments/search", {"max_results": bad})
        _refused(response, "INVALID_PARAMETER_VALUE", f"Invalid value {bad} for parameter")


def test_default_experiment_is_visible_before_any_write(mlflow_server: str) -> None:
    client = MlflowClient()
    [default] = client.search_experiments()
    assert (default.experiment_id, default.name, default.lifecycle_stage) == (
        "0",
        "Default",
        "active",
    )
    assert client.get_experiment_by_name("Default").experiment_id == "0"
    assert client.get_experiment("0").name == "Default"
    assert client.search_runs(["0"]) == []
    assert client.search_experiments(view_type=mlflow.entities.ViewType.DELETED_ONLY) == []

    # Created for real by the first write, with the id it was shown with.
    run = client.create_run("0")
    assert run.info.experiment_id == "0"
    assert [r.info.run_id for r in client.search_runs(["0"])] == [run.info.run_id]
    assert mloop.Client().get_experiment("0").name == "Default"
    # Ids given after it are unaffected (PostgreSQL's sequence and SQLite's rowid).
    assert client.create_experiment("next") == "1"


def test_search_experiments_filters_orders_and_pages(mlflow_server: str) -> None:
    client = MlflowClient()
    assert client.search_experiments()[0].name == "Default"
    for name, tags in (("a", {"key": "value"}), ("ab", {"key": "vaLue"}), ("Abc", None)):
        client.create_experiment(name, tags=tags)

    def names(**kwargs: Any) -> list[str]:
        return [e.name for e in client.search_experiments(**kwargs)]

    assert names(filter_string="attribute.name = 'a'") == ["a"]
    assert names(filter_string="name LIKE 'a%'") == ["ab", "a"]
    assert names(filter_string="tag.key = 'value'") == ["a"]
    assert names(filter_string="tag.key != 'value'") == ["ab"]
    assert names(filter_string="tag.key ILIKE '%alu%'") == ["ab", "a"]
    assert names(order_by=["name DESC"]) == ["ab", "a", "Default", "Abc"]
    first = client.search_experiments(max_results=2)
    assert [e.name for e in first] == ["Abc", "ab"]
    assert names(page_token=first.token) == ["a", "Default"]


@pytest.mark.parametrize(
    "location",
    ["s3://bucket/path", "/abs/elsewhere", "file:///tmp/x", "my_location", "../up", "a/../../b"],
)
def test_artifact_location_is_returned_as_given(
    mlflow_server: str, location: str, tmp_path: Any
) -> None:
    client = MlflowClient()
    experiment_id = client.create_experiment("located", artifact_location=location)
    # A relative path is made absolute from the server's directory, as MLflow's server does;
    # mloop only records it (its files stay in mloop's store), so it leads nowhere.
    expected = location if location.startswith(("s3:", "/", "file:")) else os.path.abspath(location)
    assert client.get_experiment(experiment_id).artifact_location == expected
    # The run's files still go through mloop's artifact proxy, whatever the location says.
    run = client.create_run(experiment_id)
    assert run.info.artifact_uri.startswith("mlflow-artifacts:/")
    local = tmp_path / "f.txt"
    local.write_text("hello")
    client.log_artifact(run.info.run_id, str(local))
    assert [a.path for a in client.list_artifacts(run.info.run_id)] == ["f.txt"]


@pytest.mark.parametrize(
    "location", ["mlflow-artifacts:/../../x", "mlflow-artifacts:/a/../../b", "runs:/abc/model"]
)
def test_hostile_artifact_locations_are_refused(mlflow_server: str, location: str) -> None:
    response = _post(
        mlflow_server, "/experiments/create", {"name": "bad", "artifact_location": location}
    )
    _refused(response, "INVALID_PARAMETER_VALUE", "artifact_location")
    assert [e.name for e in MlflowClient().search_experiments()] == ["Default"]


def test_parent_run_id_tag_is_not_checked(mlflow_server: str) -> None:
    client = MlflowClient()
    experiment_id = client.create_experiment("nested")
    run = client.create_run(experiment_id, tags={"mlflow.parentRunId": "7"})
    assert client.get_run(run.info.run_id).data.tags["mlflow.parentRunId"] == "7"
    parent = client.create_run(experiment_id)
    child = client.create_run(experiment_id, tags={"mlflow.parentRunId": parent.info.run_id})
    assert mloop.Client().get_run(child.info.run_id).info.parent_run_id == parent.info.run_id
    assert mloop.Client().get_run(run.info.run_id).info.parent_run_id is None


def test_tracking_artifacts_list_refuses_escaping_paths(mlflow_server: str, tmp_path: Any) -> None:
    client = MlflowClient()
    run_id = client.create_run(client.create_experiment("listing")).info.run_id
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "f.txt").write_text("x")
    client.log_artifacts(run_id, str(tmp_path / "d"), "dir")
    url = f"{mlflow_server}/api/2.0/mlflow/artifacts/list"
    listed = httpx.get(url, params={"run_id": run_id, "path": "dir"}).json()
    assert listed["files"] == [{"path": "dir/f.txt", "is_dir": False, "file_size": 1}]
    assert listed["root_uri"].startswith("mlflow-artifacts:/")
    for bad in ("../path", "/etc", "dir/../../x"):
        response = httpx.get(url, params={"run_id": run_id, "path": bad})
        assert response.status_code == 400
        expected = {"error_code": "INVALID_PARAMETER_VALUE", "message": "Invalid path"}
        assert response.json() == expected


def test_metric_history_longer_than_a_page(mlflow_server: str, monkeypatch: Any) -> None:
    """The stock client and mloop's SDK both page through the same server operation."""
    from mloop.tracking import ingest

    monkeypatch.setattr(ingest, "MAX_HISTORY_PAGE", 7)
    client = MlflowClient()
    run_id = client.create_run(client.create_experiment("long")).info.run_id
    client.log_batch(run_id, metrics=[Metric("m", i / 2, 1000 + i, i) for i in range(40)])
    assert [m.step for m in client.get_metric_history(run_id, "m")] == list(range(40))
    native = mloop.Client().get_metric_history(run_id, "m")
    assert [m.step for m in native] == list(range(40))


def test_log_input_keeps_profile_and_tag_order(mlflow_server: str) -> None:
    client = MlflowClient()
    run_id = client.create_run(client.create_experiment("inputs")).info.run_id
    dataset = Dataset(
        name="name1",
        digest="digest1",
        source_type="local",
        source='{"uri": "/d.csv"}',
        schema='{"mlflow_colspec": []}',
        profile='{"num_rows": 2, "num_elements": 6}',
    )
    tags = [InputTag("foo", "baz"), InputTag("mlflow.data.context", "train"), InputTag("a", "b")]
    client.log_inputs(run_id, [DatasetInput(dataset=dataset, tags=tags)])
    [logged] = client.get_run(run_id).inputs.dataset_inputs
    assert logged.dataset.profile == '{"num_rows": 2, "num_elements": 6}'
    assert [(t.key, t.value) for t in logged.tags] == [
        ("foo", "baz"),
        ("mlflow.data.context", "train"),
        ("a", "b"),
    ]
    native = mloop.Client().get_run(run_id).inputs[0]
    assert native.context == "train" and native.profile == dataset.profile


def test_metrics_with_a_model_id_are_the_models_too(mlflow_server: str) -> None:
    client = MlflowClient()
    experiment_id = client.create_experiment("model-metrics")
    run_id = client.create_run(experiment_id).info.run_id
    created = _post(
        mlflow_server,
        "/logged-models",
        {"experiment_id": experiment_id, "source_run_id": run_id, "name": "m"},
    )
    assert created.status_code == 200, created.text
    model_id = created.json()["model"]["info"]["model_id"]
    metric = {"key": "acc", "value": 0.9, "timestamp": 5, "step": 1, "model_id": model_id}
    body = {"run_id": run_id, "metrics": [metric, {**metric, "key": "plain", "model_id": ""}]}
    assert _post(mlflow_server, "/runs/log-batch", body).status_code == 200
    assert client.get_run(run_id).data.metrics == {"acc": 0.9, "plain": 0.9}
    model = client.get_logged_model(model_id)
    assert [(m.key, m.value, m.step) for m in model.metrics] == [("acc", 0.9, 1)]
    # An unknown model refuses the whole request: the run's metrics are not stored either.
    unknown = {"run_id": run_id, "metrics": [{**metric, "key": "x", "model_id": "m-missing"}]}
    assert _post(mlflow_server, "/runs/log-batch", unknown).status_code == 404
    assert "x" not in client.get_run(run_id).data.metrics


def test_a_metric_logged_for_a_model_keeps_its_dataset(mlflow_server: str) -> None:
    client = MlflowClient()
    experiment_id = client.create_experiment("model-metrics")
    run = client.create_run(experiment_id)
    model = client.create_logged_model(experiment_id)
    client.log_metric(
        run.info.run_id,
        "auc",
        0.8,
        timestamp=1000,
        step=2,
        dataset_name="holdout",
        dataset_digest="d1",
        model_id=model.model_id,
    )
    [metric] = client.get_logged_model(model.model_id).metrics
    assert (metric.key, metric.value, metric.step, metric.run_id) == (
        "auc",
        0.8,
        2,
        run.info.run_id,
    )
    assert (metric.dataset_name, metric.dataset_digest) == ("holdout", "d1")
    found = client.search_logged_models(
        [experiment_id], datasets=[{"dataset_name": "holdout", "dataset_digest": "d1"}]
    )
    assert [m.model_id for m in found] == [model.model_id]
    assert client.search_logged_models([experiment_id], datasets=[{"dataset_name": "other"}]) == []
    # The run has the value too, as in MLflow.
    assert client.get_run(run.info.run_id).data.metrics == {"auc": 0.8}
