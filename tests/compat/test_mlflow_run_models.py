"""A run's links to logged models: ``log_inputs(models=...)`` and ``log_outputs``."""

from __future__ import annotations

import httpx
import pytest
from mlflow.entities import LoggedModelInput, LoggedModelOutput
from mlflow.tracking import MlflowClient

API = "/api/2.0/mlflow"


def test_models_a_run_read_come_back_on_get_and_search(mlflow_server: str) -> None:
    client = MlflowClient()
    experiment_id = client.create_experiment("inputs")
    run = client.create_run(experiment_id)
    model = client.create_logged_model(experiment_id=experiment_id)
    client.log_inputs(run.info.run_id, models=[LoggedModelInput(model_id=model.model_id)])
    # MLflow does not check the model: one created elsewhere, or later, may be named.
    client.log_inputs(run.info.run_id, models=[LoggedModelInput(model_id="m-elsewhere")])
    fetched = client.get_run(run.info.run_id)
    assert [m.model_id for m in fetched.inputs.model_inputs] == [model.model_id, "m-elsewhere"]
    (found,) = client.search_runs([experiment_id])
    assert [m.model_id for m in found.inputs.model_inputs] == [model.model_id, "m-elsewhere"]
    other = client.create_run(experiment_id)
    assert client.get_run(other.info.run_id).inputs.model_inputs == []


@pytest.mark.parametrize(
    ("models", "field"),
    [
        ({"model_id": "m-1"}, "models"),
        (["m-1"], "models[0]"),
        ([{"model_id": ""}], "model_id"),
        ([{"model_id": 7}], "models[0].model_id"),
        ([{"model_id": "m-" + "0" * 60}], "model_id"),
    ],
)
def test_malformed_model_inputs_are_refused_and_nothing_is_stored(
    mlflow_server: str, models: object, field: str
) -> None:
    client = MlflowClient()
    run = client.create_run(client.create_experiment("bad-inputs"))
    answer = httpx.post(
        f"{mlflow_server}{API}/runs/log-inputs",
        json={"run_id": run.info.run_id, "models": models},
    )
    assert answer.status_code == 400, answer.text
    assert answer.json()["error_code"] == "INVALID_PARAMETER_VALUE"
    assert field in answer.json()["message"]
    assert client.get_run(run.info.run_id).inputs.model_inputs == []


def test_a_finished_or_unknown_run_takes_no_links(mlflow_server: str) -> None:
    client = MlflowClient()
    run = client.create_run(client.create_experiment("closed"))
    client.delete_run(run.info.run_id)
    body = {"run_id": run.info.run_id, "models": [{"model_id": "m-1"}]}
    answer = httpx.post(f"{mlflow_server}{API}/runs/log-inputs", json=body)
    assert answer.status_code == 400 and "active" in answer.json()["message"]
    body["run_id"] = "0" * 32
    answer = httpx.post(f"{mlflow_server}{API}/runs/log-inputs", json=body)
    assert answer.status_code == 404
    assert answer.json()["error_code"] == "RESOURCE_DOES_NOT_EXIST"


def test_models_a_run_produced_come_back_with_their_step(mlflow_server: str) -> None:
    client = MlflowClient()
    experiment_id = client.create_experiment("outputs")
    run = client.create_run(experiment_id)
    # A model created on its own, not by this run: MLflow links it all the same.
    model = client.create_logged_model(experiment_id=experiment_id)
    client.log_outputs(run.info.run_id, [LoggedModelOutput(model.model_id, 3)])
    outputs = client.get_run(run.info.run_id).outputs.model_outputs
    assert [(o.model_id, o.step) for o in outputs] == [(model.model_id, 3)]
    big = {"run_id": run.info.run_id, "models": [{"model_id": model.model_id, "step": 2**40}]}
    assert httpx.post(f"{mlflow_server}{API}/runs/outputs", json=big).status_code == 200
    assert client.get_run(run.info.run_id).outputs.model_outputs[-1].step == 2**40
    for bad in ({"model_id": model.model_id, "step": "x"}, {"step": 1}, "m-1"):
        body = {"run_id": run.info.run_id, "models": [bad]}
        answer = httpx.post(f"{mlflow_server}{API}/runs/outputs", json=body)
        assert answer.status_code == 400, answer.text
    assert len(client.get_run(run.info.run_id).outputs.model_outputs) == 2
