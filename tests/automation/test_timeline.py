"""The automation timeline of a model: a trigger fires the policy, the candidate is
trained, gated, rolled out and promoted; the timeline shows every step newest first, and
"why is version 2 the champion?" is the chain trigger -> pipeline run -> gate -> rollout ->
alias move."""

from __future__ import annotations

from mloop.automation.worker import Worker
from mloop.store.runtime import Runtime
from tests.automation.automation_testing import call
from tests.automation.policies_testing import (
    ENDPOINT,
    MODEL,
    POLICY,
    canary_traffic,
    policy_spec,
    prepare_store,
)
from tests.automation.test_policies_flow import _Later


def test_why_is_version_2_the_champion(runtime: Runtime) -> None:
    prepare_store(champion="poor")
    clock = _Later()
    worker = Worker(runtime, worker_id="w1", lease_s=300, triggers=False, clock=clock)
    call(runtime, "create_deployment_policy", actor="root", **policy_spec())
    call(
        runtime,
        "create_trigger",
        name="drift",
        kind="manual",
        target={"policy": POLICY},
        concurrency="skip",
    )
    fired = call(runtime, "fire_policy_trigger", actor="dee", name="drift", payload={"why": "psi"})
    worker.run_once()  # the firing's job creates the run and queues the run's job
    worker.run_once()
    run = call(runtime, "list_policy_runs", policy=POLICY).runs[0]
    assert run.trigger == "drift" and run.trigger_event_id == fired.event.id
    assert run.state == "rolling_out", run.reason
    canary_traffic(runtime, 2)
    clock.skip(5)
    worker.run_once()

    timeline = call(runtime, "get_model_timeline", model=MODEL)
    kinds = [e.kind for e in timeline.entries]
    for kind in ("trigger", "policy", "pipeline", "gate", "rollout", "alias", "deployment"):
        assert kind in kinds, kind
    times = [e.at for e in timeline.entries]
    assert times == sorted(times, reverse=True)
    promoted = next(e for e in timeline.entries if e.title.endswith("promoted"))
    assert promoted.version == 2 and promoted.link == "policy_run"
    assert promoted.ids == {"run_id": run.id}
    endpoint_events = [e for e in timeline.entries if e.link == "endpoint_event"]
    assert {e.ids["name"] for e in endpoint_events} == {ENDPOINT}

    why = call(runtime, "get_model_timeline", model=MODEL, version=2)
    assert [e.kind for e in why.chain] == [
        "trigger",
        "policy",
        "pipeline",
        "gate",
        "rollout",
        "alias",
    ]
    assert why.chain[0].link == "automation_trigger" and why.chain[0].ids == {"name": "drift"}
    assert why.chain[2].link == "pipeline_run"
    assert why.chain[3].link == "gate" and why.chain[3].ids == {
        "decision_id": run_gate(runtime, run.id)
    }
    assert why.chain[-1].link == "model_version" and why.chain[-1].ids == {
        "name": MODEL,
        "version": 2,
    }
    assert f"by policy {POLICY}" in why.explanation and "drift" in why.explanation
    assert all(e.version == 2 for e in why.entries)

    by_hand = call(runtime, "get_model_timeline", model=MODEL, version=1)
    assert [e.kind for e in by_hand.chain] == ["alias"]
    assert "no policy run produced it" in by_hand.explanation


def run_gate(runtime: Runtime, run_id: int) -> int:
    gate = call(runtime, "get_policy_run", id=run_id).run.gate_id
    assert gate is not None
    return int(gate)


def test_a_model_without_history_has_an_empty_timeline(runtime: Runtime) -> None:
    assert call(runtime, "get_model_timeline", model="nothing").entries == []
    why = call(runtime, "get_model_timeline", model="nothing", version=3)
    assert why.chain == [] and "no alias ever pointed at it" in why.explanation
