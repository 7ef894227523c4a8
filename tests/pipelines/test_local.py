"""Running pipelines on the local executor: outputs, records, the cache, retries, timeouts
and failures."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

import mloop
from mloop.core.errors import ValidationError
from mloop.pipelines import LocalExecutor, PipelineFailed, get_run, run_pipeline
from mloop.pipelines.driver import resolve_pipeline
from mloop.pipelines.params import validate_params
from tests.pipelines import flows

pytestmark = pytest.mark.usefixtures("settings")


def test_outputs_steps_and_tracking_run(local: LocalExecutor) -> None:
    run = run_pipeline(flows.fan, {"x": 5, "n": 3}, executor=local, trigger="manual")
    assert run.status == "succeeded", run.error
    assert run.outputs == {"total": 10 + 12 + 14, "first": 10}
    detail = get_run(run.id)
    assert detail.status == "succeeded" and detail.trigger == "manual"
    assert detail.params == {"x": 5, "n": 3}
    assert detail.outputs == run.outputs
    assert [s.node for s in detail.steps] == ["double", "double_2", "double_3", "add", "add_2"]
    assert {s.status for s in detail.steps} == {"succeeded"}
    assert detail.steps[0].log_tail == "doubling 5\n"
    assert all(s.attempts[0].status == "succeeded" for s in detail.steps)
    graph = {n.id: n.upstream for n in detail.graph.nodes}
    assert graph["add"] == ["double", "double_2"] and graph["add_2"] == ["add", "double_3"]
    tracked = mloop.Client().get_run(run.run_id)
    assert tracked.info.status == "FINISHED"
    assert tracked.data.params == {"x": "5", "n": "3"}
    assert tracked.data.tags["mloop.pipeline"] == "fan"
    assert tracked.data.tags["mloop.pipeline.run"] == str(run.id)


def test_params_are_converted_by_type_hints_and_checked() -> None:
    pipe = resolve_pipeline("tests.pipelines.flows:fan")
    assert validate_params(pipe, {"x": "4"})[0] == {"x": 4, "n": 3}
    with pytest.raises(ValidationError, match=r"params\.x") as info:
        validate_params(pipe, {"x": "four"})
    assert info.value.field == "params.x"
    with pytest.raises(ValidationError) as info:
        validate_params(pipe, {"y": 1})
    assert info.value.field == "params.y"
    with pytest.raises(ValidationError) as info:
        validate_params(resolve_pipeline("tests.pipelines.flows:retrying"), {})
    assert info.value.field == "params.marker"
    with pytest.raises(ValidationError) as info:
        run_pipeline(flows.fan, {"x": 1}, executor="threads")
    assert info.value.field == "executor"
    for bad in (
        "tests.pipelines.flows",
        "tests.pipelines.flows:nothing",
        "tests.pipelines.flows:double",
    ):
        with pytest.raises(ValidationError) as info:
            resolve_pipeline(bad)
        assert info.value.field == "pipeline"


def test_a_pipeline_cannot_branch_on_a_step_output(local: LocalExecutor) -> None:
    with pytest.raises(ValidationError, match="known only when the step runs"):
        run_pipeline(flows.branching, executor=local)


def test_cache_hits_for_same_code_and_inputs(local: LocalExecutor) -> None:
    first = run_pipeline(flows.fan, {"x": 1}, executor=local)
    second = run_pipeline(flows.fan, {"x": 1}, executor=local)
    assert second.outputs == first.outputs
    statuses = {n: s.status for n, s in second.steps.items()}
    # double is cached; add (cache=False) runs again on the cached inputs
    assert statuses == {
        "double": "cached",
        "double_2": "cached",
        "double_3": "cached",
        "add": "succeeded",
        "add_2": "succeeded",
    }
    assert get_run(second.id).steps[0].cache_hit
    changed = run_pipeline(flows.fan, {"x": 2}, executor=local)
    # x + i: 2, 3 were cached as 1 + 1 and 1 + 2 by the first run; 4 is new
    assert [changed.steps[n].status for n in ("double", "double_2", "double_3")] == [
        "cached",
        "cached",
        "succeeded",
    ]


def test_arrays_and_frames_are_cached_as_npy_and_parquet(local: LocalExecutor) -> None:
    first = run_pipeline(flows.tables, {"n": 4}, executor=local)
    assert first.outputs == 12.0
    files = {f.path for f in mloop.Client().list_artifacts(first.run_id, "pipeline-cache")}
    assert files == {"pipeline-cache/as_array.npy", "pipeline-cache/as_frame.parquet"}
    second = run_pipeline(flows.tables, {"n": 4}, executor=local)
    assert {s.status for s in second.steps.values()} == {"cached"}
    assert second.outputs == 12.0


def test_objects_without_a_safe_format_are_not_cached_unless_trusted(
    local: LocalExecutor,
) -> None:
    assert run_pipeline(flows.objects, executor=local).outputs == [7, 7]
    again = run_pipeline(flows.objects, executor=local)
    assert again.outputs == [7, 7]
    status = {n: s.status for n, s in again.steps.items()}
    assert status["opaque"] == "succeeded"  # no safe format: runs again
    assert status["value_of"] == "succeeded"  # its input has no digest, so no key
    assert status["trusted_opaque"] == "cached"  # pickled, and loaded back: trusted
    assert status["value_of_2"] == "cached"


def test_retries_are_recorded_per_attempt(local: LocalExecutor, tmp_path: Path) -> None:
    run = run_pipeline(flows.retrying, {"marker": str(tmp_path / "count")}, executor=local)
    assert run.status == "succeeded" and run.outputs == 2
    step = get_run(run.id).steps[0]
    assert [a.status for a in step.attempts] == ["failed", "succeeded"]
    assert "attempt 1 fails" in step.attempts[0].error
    assert step.error == ""


def test_a_step_past_its_timeout_is_killed(tmp_path: Path) -> None:
    pidfile = tmp_path / "pids"
    run = run_pipeline(flows.sleeping, {"pidfile": str(pidfile)}, workers=1)
    assert run.status == "failed"
    step = get_run(run.id).steps[0]
    assert step.status == "failed" and len(step.attempts) == 2  # one retry
    assert "timeout of 1.5 s" in step.error
    # Each attempt's worker wrote its pid and was killed; the retry ran on a new worker. On a
    # loaded machine an attempt may time out before its step writes the pid (CI once saw
    # neither write), so the kill is checked for the pids that were written.
    pids = [int(p) for p in pidfile.read_text().split()] if pidfile.exists() else []
    assert len(pids) <= 2 and len(set(pids)) == len(pids)
    for pid in pids:
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)


def test_a_failed_step_fails_the_run_and_skips_what_follows(local: LocalExecutor) -> None:
    run = run_pipeline(flows.failing, {"x": 3}, executor=local)
    assert run.status == "failed"
    assert run.error.startswith("step 'boom' failed: RuntimeError: boom 3")
    detail = get_run(run.id)
    steps = {s.node: s for s in detail.steps}
    assert steps["boom"].status == "failed" and "about to fail" in steps["boom"].log_tail
    assert steps["add"].status == "skipped"
    assert detail.status == "failed" and detail.outputs is None
    assert mloop.Client().get_run(run.run_id).info.status == "FAILED"
    with pytest.raises(PipelineFailed, match="boom 3"):
        run.result()


def test_calling_a_pipeline_runs_it() -> None:
    assert flows.fan(x=2, n=2) == {"total": 4 + 6, "first": 4}
    # a step called outside a pipeline is the plain function
    assert flows.double(4) == 8
