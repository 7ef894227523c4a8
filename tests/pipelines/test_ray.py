"""The same pipelines, and batch scoring, on a real local Ray instance: started once for the
module, and the module's tests kept on one test process (``xdist_group``; ``make test`` runs
``--dist loadgroup``) so that a run starts one Ray, not one per process."""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

import mloop
from mloop.pipelines import RayExecutor, batch_score, get_run, run_pipeline
from tests.conftest import require_service
from tests.pipelines import flows
from tests.pipelines.test_scoring import _frame, _train

pytestmark = [pytest.mark.usefixtures("settings"), pytest.mark.xdist_group("ray")]


@pytest.fixture(scope="module")
def ray_executor() -> Iterator[RayExecutor]:
    require_service(importlib.util.find_spec("ray") is not None, "the 'ray' extra (Ray)")
    os.environ.pop("RAY_ADDRESS", None)
    executor = RayExecutor(workers=2)
    executor.start()
    yield executor
    import ray

    ray.shutdown()


def test_outputs_cache_and_records_match_the_local_executor(ray_executor: RayExecutor) -> None:
    run = run_pipeline(flows.fan, {"x": 5, "n": 3}, executor=ray_executor)
    assert run.status == "succeeded", run.error
    assert run.outputs == {"total": 36, "first": 10}
    detail = get_run(run.id)
    assert detail.executor == "ray"
    assert detail.steps[0].log_tail == "doubling 5\n"
    again = run_pipeline(flows.fan, {"x": 5, "n": 3}, executor=ray_executor)
    assert again.steps["double"].status == "cached"
    tables = run_pipeline(flows.tables, {"n": 4}, executor=ray_executor)
    assert tables.outputs == 12.0


def test_retries_and_failures(ray_executor: RayExecutor, tmp_path: Path) -> None:
    run = run_pipeline(flows.retrying, {"marker": str(tmp_path / "n")}, executor=ray_executor)
    assert run.outputs == 2
    assert [a.status for a in get_run(run.id).steps[0].attempts] == ["failed", "succeeded"]
    failed = run_pipeline(flows.failing, {"x": 3}, executor=ray_executor)
    assert failed.status == "failed" and "boom 3" in failed.error
    assert failed.steps["add"].status == "skipped"


def test_a_step_past_its_timeout_is_cancelled_and_its_worker_killed(
    ray_executor: RayExecutor, tmp_path: Path
) -> None:
    pidfile = tmp_path / "pids"
    run = run_pipeline(flows.sleeping, {"pidfile": str(pidfile)}, executor=ray_executor)
    assert run.status == "failed"
    step = get_run(run.id).steps[0]
    assert len(step.attempts) == 2 and "timeout" in step.error
    import time

    # a forced cancel kills the worker; give the raylet a moment to reap it
    deadline = time.monotonic() + 30
    pids = [int(p) for p in pidfile.read_text().split()] if pidfile.exists() else []
    while time.monotonic() < deadline and any(_alive(p) for p in pids):
        time.sleep(0.2)
    assert not any(_alive(p) for p in pids)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"


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
