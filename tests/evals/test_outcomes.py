"""The gate's defined outcomes and the suites' versioning and input checks (embedded)."""

from __future__ import annotations

from typing import Any

import pytest

import mloop
import mloop.evals as evals
from mloop.core.config import Settings
from mloop.core.errors import NotFoundError, ValidationError
from mloop.store.runtime import Runtime
from tests.evals.evals_testing import register_classifier, register_data

SPEC: dict[str, Any] = {
    "dataset": "credit-test@golden",
    "target": "default",
    "task": "classification",
    "primary": "accuracy",
    "resamples": 200,
}


@pytest.fixture
def models(settings: Settings) -> tuple[int, int]:
    register_data()
    return register_classifier("credit", ["income", "debt"]), register_classifier(
        "credit", ["noise"]
    )


def test_same_spec_same_version_changed_spec_next(models: tuple[int, int]) -> None:
    first = evals.register_suite("s", **SPEC)
    again = evals.register_suite("s", **SPEC)
    assert first.created and not again.created and again.version == first.version == 1
    changed = evals.register_suite("s", **{**SPEC, "margin": 0.01})
    assert changed.version == 2 and changed.digest != first.digest
    assert changed.spec.dataset == f"credit-test/{first.dataset_version}"
    assert evals.get_suite("s").version == 2 and evals.get_suite("s/1").spec.margin == 0.0


def test_no_champion_passes_on_absolute_checks_only(models: tuple[int, int]) -> None:
    good, _ = models
    evals.register_suite("s", **SPEC)
    decision = evals.gate(f"models:/credit/{good}", "models:/credit@champion", "s")
    assert decision.outcome == "no_champion" and decision.passed and decision.champion is None
    assert decision.primary.difference is None
    small = evals.register_suite("s", **{**SPEC, "max_size_mb": 1e-6})
    failed = evals.gate(f"models:/credit/{good}", None, small)
    assert failed.outcome == "failed" and any("size_mb" in r for r in failed.reasons)


def test_the_champion_itself_is_not_promoted(models: tuple[int, int]) -> None:
    good, _ = models
    evals.register_suite("s", **SPEC)
    mloop.set_alias("credit", "champion", good)
    decision = evals.gate(f"models:/credit/{good}", "models:/credit@champion", "s")
    assert decision.outcome == "same_version" and not decision.passed


def test_a_tie_fails(models: tuple[int, int]) -> None:
    good, _ = models
    twin = register_classifier("credit", ["income", "debt"])  # the same fit: the same answers
    evals.register_suite("s", **SPEC)
    decision = evals.gate(f"models:/credit/{twin}", f"models:/credit/{good}", "s")
    assert not decision.passed and decision.primary.difference == 0.0
    assert "ties" in decision.reasons[0]
    mcnemar = evals.register_suite("m", **{**SPEC, "method": "mcnemar"})
    again = evals.gate(f"models:/credit/{twin}", f"models:/credit/{good}", mcnemar)
    assert not again.passed and again.primary.p_value == 1.0


def test_guards_slices_and_fairness_are_judged(models: tuple[int, int]) -> None:
    good, poor = models
    suite = evals.register_suite(
        "s",
        **SPEC,
        metrics=["f1"],
        guards={"f1": 0.0},
        slices=[
            {"column": "region", "value": "east"},  # no such rows: empty, not judged
            {"column": "age", "bins": [18, 50, 80]},
        ],
        fairness=[{"column": "region", "metric": "demographic_parity_difference", "bound": 0.0}],
    )
    decision = evals.gate(f"models:/credit/{poor}", f"models:/credit/{good}", suite)
    assert not decision.passed
    empty = decision.slices[0]
    assert empty.rows == 0 and empty.passed is None and "empty" in empty.note
    assert [s.name for s in decision.slices[1:]] == ["age in [18, 50)", "age in [50, 80]"]
    assert any(r.startswith("guard f1") for r in decision.reasons)
    assert decision.fairness[0].passed is False


def test_gate_decisions_for_model_reads_in_process(
    models: tuple[int, int], runtime: Runtime
) -> None:
    good, poor = models
    evals.register_suite("s", **SPEC)
    decision = evals.gate(f"models:/credit/{good}", f"models:/credit/{poor}", "s")
    found = runtime.run(lambda ctx: evals.gate_decisions_for_model(ctx, "credit"), write=False)
    assert [d.id for d in found] == [decision.id]


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"primary": "rmse"}, "primary"),
        ({"metrics": ["ndcg@5"]}, "metrics[0]"),
        ({"method": "mcnemar", "primary": "f1"}, "method"),
        ({"guards": {"auc": 0.1}}, "guards.auc"),
        ({"dataset": "credit-test/x"}, "dataset"),
        ({"slices": [{"column": "age"}]}, "slices[0]"),
        ({"slices": [{"column": "age", "bins": [3, 1]}]}, "slices[0].bins"),
        ({"primary": "pkg.mod:fn"}, "primary"),
        ({"scorers": ["not a ref"]}, "scorers[0]"),
        ({"resamples": 5}, "resamples"),
        ({"group": "region"}, "group"),
    ],
)
def test_bad_suites_are_refused_naming_the_field(
    models: tuple[int, int], change: dict[str, Any], field: str
) -> None:
    with pytest.raises(ValidationError) as err:
        evals.register_suite("s", **{**SPEC, **change})
    assert err.value.field == field


def test_unknown_things_are_not_found(models: tuple[int, int]) -> None:
    good, _ = models
    with pytest.raises(NotFoundError):
        evals.register_suite("s", **{**SPEC, "dataset": "nope/1"})
    evals.register_suite("s", **SPEC)
    with pytest.raises(NotFoundError):
        evals.gate(f"models:/credit/{good}", "models:/credit/99", "s")
    with pytest.raises(NotFoundError):
        evals.gate(f"models:/credit/{good}", None, "s/9")
    with pytest.raises(NotFoundError):
        evals.get_gate_decision(12345)


def test_listing_checks_the_names_it_filters_by(settings: Settings) -> None:
    with pytest.raises(ValidationError) as err:
        evals.list_gate_decisions(model="a/b")
    assert err.value.field == "model"
    with pytest.raises(ValidationError) as err:
        evals.list_gate_decisions(suite="\u00d7\u00f8")
    assert err.value.field == "suite"
