"""Gates end to end through the SDK, embedded and against a server."""

from __future__ import annotations

import pytest

import mloop
import mloop.evals as evals
from tests.evals.evals_testing import register_classifier, register_data


def test_a_better_candidate_passes_and_a_worse_one_fails(sdk: str) -> None:
    data = register_data()
    good = register_classifier("credit", ["income", "debt"])
    poor = register_classifier("credit", ["noise"])
    suite = evals.register_suite(
        "credit-v2",
        dataset="credit-test@golden",
        target="default",
        task="classification",
        primary="roc_auc",
        metrics=["accuracy", "f1"],
        guards={"accuracy": 0.0},
        slices=[{"column": "region", "value": "north"}],
        resamples=200,
    )
    assert suite.version == 1 and suite.dataset_version == int(data.split("/")[1])
    mloop.set_alias("credit", "champion", poor)
    passed = evals.gate(f"models:/credit/{good}", "models:/credit@champion", "credit-v2")
    assert passed.passed and passed.outcome == "passed", passed.reasons
    assert passed.champion is not None and passed.champion.version == poor
    assert passed.primary.ci_low is not None and passed.primary.ci_low > 0
    failed = evals.gate(f"models:/credit/{poor}", f"models:/credit/{good}", "credit-v2")
    assert not failed.passed and failed.outcome == "failed"
    assert any("roc_auc" in r for r in failed.reasons)
    stored = evals.get_gate_decision(failed.id)
    assert stored == failed
    listed = evals.list_gate_decisions(model="credit")
    assert [d.id for d in listed] == [failed.id, passed.id]
    run = mloop.Client().get_run(passed.candidate_run_id or "")
    assert run.data.tags["mloop.evals.suite"] == "credit-v2"
    assert run.data.metrics["roc_auc"] == pytest.approx(passed.primary.candidate)
