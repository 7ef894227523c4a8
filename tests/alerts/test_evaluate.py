"""Evaluating rules on windows: thresholds, changes against the reference, N windows in a
row, deduplication, cool-down, auto-resolve, and bad input."""

from __future__ import annotations

import math
from typing import Any

import pytest
from tests.alerts.alerts_testing import HOUR, T0, add_rule, window

from mloop.alerts.evaluate import evaluate_rules
from mloop.alerts.events import events_since
from mloop.alerts.history import get_alert, list_alerts
from mloop.alerts.rules import update_alert_rule
from mloop.alerts.schemas import AlertId, ListAlerts, RuleSpec
from mloop.core.errors import ValidationError
from mloop.store.runtime import Runtime


def _alerts(runtime: Runtime, **filters: Any) -> list[Any]:
    return runtime.run(lambda ctx: list_alerts(ctx, ListAlerts(**filters)), write=False).alerts


def _events(runtime: Runtime) -> list[Any]:
    return runtime.run(lambda ctx: events_since(ctx, 0, limit=1000), write=False)


def test_a_threshold_breach_opens_one_alert_and_repeats_fold_into_it(runtime: Runtime) -> None:
    add_rule(runtime, threshold=0.3, severity="critical")
    first = window(runtime, 0, {"drift.share": 0.42}, links={"window": "/monitors/m?w=0"})
    assert len(first) == 1
    alert = first[0]
    assert (alert.status, alert.severity, alert.rule, alert.metric) == (
        "open",
        "critical",
        "drift",
        "drift.share",
    )
    assert alert.subject == {"endpoint": "churn"}
    assert alert.value == 0.42 and alert.count == 1
    assert (alert.window_start, alert.window_end) == (T0, T0 + HOUR)
    assert alert.links == {"window": "/monitors/m?w=0"}
    assert "0.42" in alert.message and "> 0.3" in alert.message

    again = window(runtime, 1, {"drift.share": 0.5})
    assert [a.id for a in again] == [alert.id]
    assert again[0].count == 2 and again[0].value == 0.5
    assert again[0].last_window_end == T0 + 2 * HOUR
    assert again[0].window_start == T0  # still the window that raised it
    assert again[0].last_seen > alert.last_seen
    assert len(_alerts(runtime)) == 1
    events = _events(runtime)
    assert [(e.kind, e.actor) for e in events] == [("raised", "monitor-bot")]
    assert events[0].detail["value"] == 0.42


@pytest.mark.parametrize(
    ("operator", "breaching", "within"),
    [(">", 0.31, 0.3), (">=", 0.3, 0.29), ("<", 0.29, 0.3), ("<=", 0.3, 0.31)],
)
def test_operators(runtime: Runtime, operator: str, breaching: float, within: float) -> None:
    add_rule(runtime, threshold=0.3, operator=operator)
    assert window(runtime, 0, {"drift.share": within}) == []
    assert len(window(runtime, 1, {"drift.share": breaching})) == 1


def test_a_change_rule_compares_with_the_reference(runtime: Runtime) -> None:
    add_rule(
        runtime,
        name="rejections-up",
        metric="fairness.region.*.rejection_rate",
        kind="change",
        operator=">",
        threshold=0.5,
    )
    metrics = {
        "fairness.region.north.rejection_rate": 0.16,  # +60%
        "fairness.region.south.rejection_rate": 0.12,  # +20%
        "fairness.region.east.rejection_rate": 0.05,  # no reference: no verdict
    }
    reference = {
        "fairness.region.north.rejection_rate": 0.1,
        "fairness.region.south.rejection_rate": 0.1,
    }
    raised = window(runtime, 0, metrics, reference=reference)
    assert [a.metric for a in raised] == ["fairness.region.north.rejection_rate"]
    assert raised[0].reference == 0.1
    assert "+60.0%" in raised[0].message


def test_a_change_from_a_reference_of_zero(runtime: Runtime) -> None:
    add_rule(runtime, metric="errors", kind="change", operator=">", threshold=1.0)
    assert window(runtime, 0, {"errors": 0.0}, reference={"errors": 0.0}) == []
    raised = window(runtime, 1, {"errors": 0.2}, reference={"errors": 0.0})
    assert len(raised) == 1 and "from 0" in raised[0].message


def test_a_fall_is_a_negative_change(runtime: Runtime) -> None:
    add_rule(runtime, metric="performance.accuracy", kind="change", operator="<", threshold=-0.1)
    assert (
        window(runtime, 0, {"performance.accuracy": 0.85}, reference={"performance.accuracy": 0.9})
        == []
    )
    raised = window(
        runtime, 1, {"performance.accuracy": 0.7}, reference={"performance.accuracy": 0.9}
    )
    assert len(raised) == 1 and "-22.2%" in raised[0].message


def test_n_consecutive_windows(runtime: Runtime) -> None:
    add_rule(runtime, threshold=0.3, consecutive=3)
    assert window(runtime, 0, {"drift.share": 0.5}) == []
    assert window(runtime, 1, {"drift.share": 0.5}) == []
    assert window(runtime, 2, {"drift.share": 0.1}) == []  # the streak breaks
    assert window(runtime, 3, {"drift.share": 0.5}) == []
    assert window(runtime, 4, {"drift.share": 0.5}) == []
    raised = window(runtime, 5, {"drift.share": 0.5})
    assert len(raised) == 1
    assert raised[0].window_start == T0 + 5 * HOUR
    assert "3 windows in a row" in raised[0].message


def test_evaluating_a_window_again_counts_it_once(runtime: Runtime) -> None:
    add_rule(runtime, threshold=0.3, consecutive=2)
    assert window(runtime, 0, {"drift.share": 0.5}) == []
    assert window(runtime, 0, {"drift.share": 0.5}) == []  # the monitor ran again
    assert window(runtime, 0, {"drift.share": 0.6}) == []
    assert len(window(runtime, 1, {"drift.share": 0.5})) == 1


def test_a_window_evaluated_again_replaces_its_verdict(runtime: Runtime) -> None:
    add_rule(runtime, threshold=0.3, consecutive=2)
    assert window(runtime, 0, {"drift.share": 0.5}) == []
    assert window(runtime, 1, {"drift.share": 0.1}) == []
    # Window 1 recomputed (late data): now it breaches, after window 0 that did.
    assert len(window(runtime, 1, {"drift.share": 0.5})) == 1


def test_a_backfilled_window_is_judged_alone(runtime: Runtime) -> None:
    add_rule(runtime, name="single", threshold=0.3)
    add_rule(runtime, name="double", threshold=0.3, consecutive=2)
    window(runtime, 5, {"drift.share": 0.1})
    raised = window(runtime, 2, {"drift.share": 0.5})  # an older window, backfilled
    assert [a.rule for a in raised] == ["single"]
    # The backfill left the newer windows' streak alone: one more breach is not two.
    raised = window(runtime, 6, {"drift.share": 0.5})
    assert [a.rule for a in raised] == ["single"]  # folded into the open one
    assert sorted(a.rule for a in window(runtime, 7, {"drift.share": 0.5})) == ["double", "single"]


def test_auto_resolve_when_a_later_window_no_longer_breaches(runtime: Runtime) -> None:
    add_rule(runtime, threshold=0.3)
    alert = window(runtime, 0, {"drift.share": 0.5})[0]
    assert window(runtime, 1, {"drift.share": None}) == []  # no value: nothing changes
    assert window(runtime, 2, {"drift.share": math.nan}) == []
    assert _alerts(runtime)[0].status == "open"
    assert window(runtime, 3, {"drift.share": 0.2}) == []
    detail = runtime.run(lambda ctx: get_alert(ctx, AlertId(id=alert.id)), write=False)
    assert detail.alert.status == "resolved"
    assert detail.alert.resolved_by == "mloop"
    assert [e.kind for e in detail.events] == ["raised", "resolved"]
    assert "no longer breaches" in detail.events[1].note
    assert detail.events[1].detail["value"] == 0.2


def test_without_auto_resolve_the_alert_stays_open(runtime: Runtime) -> None:
    add_rule(runtime, threshold=0.3, auto_resolve=False)
    window(runtime, 0, {"drift.share": 0.5})
    window(runtime, 1, {"drift.share": 0.1})
    assert _alerts(runtime)[0].status == "open"


def test_cool_down_after_a_resolution(runtime: Runtime) -> None:
    add_rule(runtime, threshold=0.3, cooldown_seconds=3 * 3600)
    first = window(runtime, 0, {"drift.share": 0.5})[0]
    window(runtime, 1, {"drift.share": 0.1})  # resolves at the end of window 1 (T0 + 2h)
    assert window(runtime, 2, {"drift.share": 0.5}) == []  # within 3 h of the resolution
    assert window(runtime, 3, {"drift.share": 0.5}) == []
    second = window(runtime, 4, {"drift.share": 0.5})  # T0 + 5h: 3 h after it
    assert len(second) == 1 and second[0].id != first.id
    assert [a.status for a in _alerts(runtime)] == ["open", "resolved"]


def test_one_alert_per_subject_and_metric(runtime: Runtime) -> None:
    add_rule(runtime, metric="drift.column.*.score", threshold=0.3)
    metrics = {"drift.column.age.score": 0.4, "drift.column.income.score": 0.9}
    churn = window(runtime, 0, metrics, subject={"endpoint": "churn"})
    fraud = window(runtime, 0, metrics, subject={"endpoint": "fraud"})
    assert len(churn) == 2 and len(fraud) == 2
    assert {a.id for a in churn}.isdisjoint(a.id for a in fraud)
    again = window(runtime, 1, metrics, subject={"endpoint": "churn"})
    assert {a.id for a in again} == {a.id for a in churn}
    assert len(_alerts(runtime, subject="endpoint=churn")) == 2


def test_rules_match_source_metric_and_subject_globs(runtime: Runtime) -> None:
    add_rule(runtime, name="churn-only", subject={"endpoint": "churn*"}, threshold=0.3)
    add_rule(runtime, name="any-source", source="*", metric="drift.*", threshold=0.3)
    add_rule(runtime, name="off", threshold=0.3, enabled=False)
    raised = window(runtime, 0, {"drift.share": 0.5}, subject={"endpoint": "churn-eu"})
    assert sorted(a.rule for a in raised) == ["any-source", "churn-only"]
    raised = window(runtime, 0, {"drift.share": 0.5}, subject={"endpoint": "fraud"})
    assert [a.rule for a in raised] == ["any-source"]
    raised = window(runtime, 0, {"drift.share": 0.5}, source="dataset", subject={"dataset": "x"})
    assert [a.rule for a in raised] == ["any-source"]
    # The match is on the whole name, case-sensitively.
    assert window(runtime, 1, {"Drift.share": 0.5}, subject={"endpoint": "other"}) == []


def test_an_acknowledged_alert_still_folds_breaches_and_auto_resolves(runtime: Runtime) -> None:
    from mloop.alerts.history import acknowledge_alert
    from mloop.alerts.schemas import ChangeAlert

    add_rule(runtime, threshold=0.3)
    alert = window(runtime, 0, {"drift.share": 0.5})[0]
    runtime.run(
        lambda ctx: acknowledge_alert(ctx, ChangeAlert(id=alert.id, note="looking")),
        write=True,
        actor="bob",
    )
    again = window(runtime, 1, {"drift.share": 0.6})
    assert [(a.id, a.status, a.count) for a in again] == [(alert.id, "acknowledged", 2)]
    window(runtime, 2, {"drift.share": 0.1})
    assert _alerts(runtime)[0].status == "resolved"


def test_changing_a_rule_restarts_its_streaks(runtime: Runtime) -> None:
    add_rule(runtime, threshold=0.3, consecutive=2)
    window(runtime, 0, {"drift.share": 0.5})
    spec = RuleSpec(
        name="drift", source="monitor", metric="drift.share", threshold=0.4, consecutive=2
    )
    runtime.run(lambda ctx: update_alert_rule(ctx, spec), write=True)
    assert window(runtime, 1, {"drift.share": 0.5}) == []
    assert len(window(runtime, 2, {"drift.share": 0.5})) == 1


def test_no_matching_rule_writes_nothing(runtime: Runtime) -> None:
    assert window(runtime, 0, {"drift.share": 0.9}) == []
    assert _alerts(runtime) == [] and _events(runtime) == []


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"window_end": T0 - 1}, "window_end"),
        ({"window_start": -5}, "window_start"),
        ({"metrics": {"drift\x00share": 1.0}}, "metrics"),
        ({"metrics": {"x" * 251: 1.0}}, "metrics"),
        ({"metrics": {"": 1.0}}, "metrics"),
        ({"metrics": {"drift.share": "high"}}, "metrics.drift.share"),
        ({"metrics": {f"m{i}": 1.0 for i in range(10_001)}}, "metrics"),
        ({"subject": {"endpoint": "a\nb"}}, "subject.endpoint"),
        ({"subject": {"1bad key": "x"}}, "subject"),
        ({"subject": {"endpoint": "x" * 257}}, "subject.endpoint"),
        ({"links": {"window": "javascript:alert(1)"}}, "links.window"),
        ({"links": {"window": "//evil.example/x"}}, "links.window"),
        ({"source": ""}, "source"),
        ({"source": "s" * 129}, "source"),
    ],
)
def test_bad_evaluations_name_the_field(
    runtime: Runtime, change: dict[str, object], field: str
) -> None:
    add_rule(runtime, threshold=0.3)
    call: dict[str, object] = {
        "source": "monitor",
        "metrics": {"drift.share": 0.5},
        "window_start": T0,
        "window_end": T0 + HOUR,
        "subject": {"endpoint": "churn"},
        **change,
    }
    source = call.pop("source")
    metrics = call.pop("metrics")
    with pytest.raises(ValidationError) as caught:
        runtime.run(
            lambda ctx: evaluate_rules(ctx, source, metrics, **call),  # type: ignore[arg-type]
            write=True,
        )
    assert caught.value.field == field, caught.value.message
    assert _alerts(runtime) == []


def test_concurrent_evaluations_of_one_series_open_one_alert(runtime: Runtime) -> None:
    """Monitors on several replicas evaluating the same window at once: the series' row lock
    (and on PostgreSQL the timeline lock) lets exactly one of them open the alert."""
    from concurrent.futures import ThreadPoolExecutor

    add_rule(runtime, threshold=0.3)
    with ThreadPoolExecutor(max_workers=6) as pool:
        results = list(
            pool.map(lambda i: window(runtime, 0, {"drift.share": 0.5 + i / 100}), range(12))
        )
    assert len({a.id for found in results for a in found}) == 1
    [alert] = _alerts(runtime)
    assert alert.count == 12
    assert [e.kind for e in _events(runtime)] == ["raised"]
