"""Lineage of a pipeline run, embedded and through a server: the dataset version its step
read, the model version it registered, and the runs found by model."""

from __future__ import annotations

import pandas as pd
import pytest

import mloop
from mloop.core.errors import NotFoundError
from mloop.pipelines import get_run, list_pipelines, list_runs, run_pipeline
from mloop.pipelines.queries import pipeline_runs_for_model
from mloop.store.runtime import open_runtime
from tests.pipelines import flows


def test_datasets_in_and_models_out(sdk: str, settings: object) -> None:
    frame = pd.DataFrame({"x": [0.0, 1.0, 2.0, 3.0, 4.0, 5.0], "y": [0, 0, 0, 1, 1, 1]})
    mloop.register_dataset("loans", frame)
    run = run_pipeline(flows.training, {"dataset": "loans/1"}, workers=1)
    assert run.status == "succeeded", run.error
    assert run.outputs == "models:/credit/1"  # what a deployment policy reads
    detail = get_run(run.id)
    assert [(m.name, m.version) for m in detail.models] == [("credit", 1)]
    assert [(d.name, d.version, d.context) for d in detail.datasets] == [("loans", 1, "training")]
    version = mloop.Client().get_model_version("credit", 1)
    assert version.run_id == run.run_id
    assert [d["name"] for d in version.training_data] == ["loans"]
    assert "accuracy" in mloop.Client().get_run(run.run_id).data.metrics
    assert [r.id for r in list_runs(model="credit")] == [run.id]
    assert list_runs(model="credit", status="failed") == []
    assert [p.name for p in list_pipelines()] == ["training"]


def test_pipeline_runs_for_model_in_process(settings: object) -> None:
    frame = pd.DataFrame({"x": [0.0, 1.0, 2.0, 3.0], "y": [0, 0, 1, 1]})
    mloop.register_dataset("loans", frame)
    first = run_pipeline(flows.training, {"dataset": "loans"}, workers=1)
    second = run_pipeline(flows.training, {"dataset": "loans"}, workers=1)
    # the second run's train step is a cache hit: it registered nothing
    assert second.outputs == first.outputs == "models:/credit/1"
    runtime = open_runtime(settings)  # type: ignore[arg-type]
    try:
        found = runtime.run(lambda ctx: pipeline_runs_for_model(ctx, "credit"), write=False)
        assert [r.id for r in found] == [first.id]
        with pytest.raises(NotFoundError) as info:
            runtime.run(lambda ctx: pipeline_runs_for_model(ctx, "other"), write=False)
        assert info.value.field == "model"
    finally:
        runtime.close()
    with pytest.raises(NotFoundError):
        list_runs(model="absent")
