"""Batch scoring unchanged on a real local Ray instance (started once for the module)."""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Iterator

import numpy as np
import pytest

import mloop
from mloop.pipelines import RayExecutor, batch_score, get_run
from tests.conftest import require_service
from tests.pipelines.test_scoring import _frame, _train

pytestmark = pytest.mark.usefixtures("settings")


@pytest.fixture(scope="module")
def ray_executor() -> Iterator[RayExecutor]:
    require_service(importlib.util.find_spec("ray") is not None, "the 'ray' extra (Ray)")
    os.environ.pop("RAY_ADDRESS", None)
    executor = RayExecutor(workers=2)
    executor.start()
    yield executor
    import ray

    ray.shutdown()


def test_scores_on_ray_as_on_the_local_executor(ray_executor: RayExecutor) -> None:
    frame = _frame(500)
    mloop.register_dataset("customers", frame)
    model = _train(frame)
    version = batch_score(
        "models:/churn/1",
        "customers/1",
        output="churn-scores",
        partitions=4,
        keep=["id"],
        executor=ray_executor,
    )
    scored = version.to_pandas()
    assert scored["row"].tolist() == list(range(500))
    assert scored["id"].tolist() == frame["id"].tolist()
    expected = model.predict(frame[["x1", "x2"]])  # type: ignore[attr-defined]
    assert np.array_equal(scored["prediction"].to_numpy(), expected)
    tags = mloop.Client().get_run(version.run_id).data.tags
    detail = get_run(int(tags["mloop.pipeline.run"]))
    assert detail.executor == "ray"
    assert [(d.name, d.version) for d in detail.datasets] == [("customers", 1)]
    assert {s.status for s in detail.steps} == {"succeeded"}
