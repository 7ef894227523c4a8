"""Alert history: filters, acknowledge and resolve with who and why, the audited events,
and the subscribers' durable cursor."""

from __future__ import annotations

from typing import Any

import pytest
from tests.alerts.alerts_testing import T0, add_rule, window

from mloop.alerts import AlertFeed
from mloop.alerts.events import list_alert_events
from mloop.alerts.history import (
    acknowledge_alert,
    count_open,
    get_alert,
    list_alerts,
    open_alerts,
    resolve_alert,
)
from mloop.alerts.schemas import AlertId, ChangeAlert, ListAlerts, ListEvents
from mloop.core.errors import ConflictError, NotFoundError, ValidationError
from mloop.store.runtime import Runtime


def _list(runtime: Runtime, **filters: object) -> list[tuple[str, str]]:
    found = runtime.run(lambda ctx: list_alerts(ctx, ListAlerts(**filters)), write=False)
    return [(a.rule, a.subject.get("endpoint", "")) for a in found.alerts]


def _change(runtime: Runtime, op: Any, alert_id: int, note: str = "", actor: str = "bob") -> Any:
    return runtime.run(
        lambda ctx: op(ctx, ChangeAlert(id=alert_id, note=note)), write=True, actor=actor
    )


@pytest.fixture
def three(runtime: Runtime) -> Runtime:
    """Three alerts: drift (warning) on churn and fraud, accuracy (critical) on churn."""
    add_rule(runtime, name="drift", threshold=0.3)
    add_rule(
        runtime,
        name="accuracy",
        source="perf*",
        metric="performance.accuracy",
        operator="<",
        threshold=0.8,
        severity="critical",
    )
    window(runtime, 0, {"drift.share": 0.5}, subject={"endpoint": "churn"})
    window(runtime, 0, {"drift.share": 0.5}, subject={"endpoint": "fraud"})
    window(
        runtime,
        1,
        {"performance.accuracy": 0.7},
        source="performance",
        subject={"endpoint": "churn", "slice": "eu"},
    )
    return runtime


def test_filters(three: Runtime) -> None:
    assert _list(three) == [("accuracy", "churn"), ("drift", "fraud"), ("drift", "churn")]
    assert _list(three, severity="critical") == [("accuracy", "churn")]
    assert _list(three, source="monitor") == [("drift", "fraud"), ("drift", "churn")]
    assert _list(three, rule="drift", subject="endpoint=churn") == [("drift", "churn")]
    assert _list(three, subject="slice=eu") == [("accuracy", "churn")]
    assert _list(three, subject="endpoint=chu") == []  # a whole value, not a prefix
    assert _list(three, since=T0 + 2 * 3600_000) == [("accuracy", "churn")]
    assert _list(three, until=T0 + 2 * 3600_000) == [("drift", "fraud"), ("drift", "churn")]
    assert _list(three, status="resolved") == []
    assert three.run(count_open, write=False) == {"warning": 2, "critical": 1}


def test_pages(three: Runtime) -> None:
    first = three.run(lambda ctx: list_alerts(ctx, ListAlerts(max_results=2)), write=False)
    assert len(first.alerts) == 2 and first.next_page_token
    rest = three.run(
        lambda ctx: list_alerts(ctx, ListAlerts(max_results=2, page_token=first.next_page_token)),
        write=False,
    )
    assert len(rest.alerts) == 1 and rest.next_page_token is None


def test_acknowledge_then_resolve_records_who_and_why(three: Runtime) -> None:
    alert_id = three.run(lambda ctx: open_alerts(ctx, source="monitor"), write=False)[0].id
    acked = _change(three, acknowledge_alert, alert_id, "looking at the EU feed", "bob")
    assert acked.status == "acknowledged" and acked.acknowledged_by == "bob"
    # Acknowledging again changes nothing and records nothing.
    _change(three, acknowledge_alert, alert_id, "again", "carol")
    resolved = _change(three, resolve_alert, alert_id, "feed fixed", "carol")
    assert resolved.status == "resolved" and resolved.resolved_by == "carol"
    detail = three.run(lambda ctx: get_alert(ctx, AlertId(id=alert_id)), write=False)
    assert [(e.kind, e.actor, e.note) for e in detail.events] == [
        ("raised", "monitor-bot", detail.events[0].note),
        ("acknowledged", "bob", "looking at the EU feed"),
        ("resolved", "carol", "feed fixed"),
    ]
    assert all(e.timestamp > 0 for e in detail.events)
    assert _list(three, status="resolved") == [("drift", "fraud")]


def test_changes_that_cannot_be_made(three: Runtime) -> None:
    alert_id = three.run(lambda ctx: open_alerts(ctx), write=False)[0].id
    _change(three, resolve_alert, alert_id)
    with pytest.raises(ConflictError, match="already resolved"):
        _change(three, resolve_alert, alert_id)
    with pytest.raises(ConflictError, match="nothing to acknowledge"):
        _change(three, acknowledge_alert, alert_id)
    with pytest.raises(NotFoundError, match="alert 999 does not exist"):
        _change(three, acknowledge_alert, 999)
    with pytest.raises(ValidationError, match="NUL") as caught:
        _change(three, acknowledge_alert, alert_id - 1, "a\x00b")
    assert caught.value.field == "note"


def test_bad_filters_name_the_field(runtime: Runtime) -> None:
    with pytest.raises(ValidationError) as caught:
        runtime.run(lambda ctx: list_alerts(ctx, ListAlerts(subject="endpoint")), write=False)
    assert caught.value.field == "subject"
    with pytest.raises(ValidationError) as caught:
        runtime.run(lambda ctx: list_alerts(ctx, ListAlerts(page_token="nope")), write=False)
    assert caught.value.field == "page_token"


def test_the_cursor_reads_every_event_once_in_order(three: Runtime) -> None:
    feed = AlertFeed(three, kind="raised")
    first = feed.poll()
    assert [(e.kind, a.rule) for e, a in first] == [
        ("raised", "drift"),
        ("raised", "drift"),
        ("raised", "accuracy"),
    ]
    assert feed.poll() == []
    saved = feed.after_id
    window(three, 3, {"drift.share": 0.9}, subject={"endpoint": "new"})
    # A subscriber restarted from its saved cursor sees only what is new.
    again = AlertFeed(three, after_id=saved, kind="raised").poll()
    assert [a.subject for _, a in again] == [{"endpoint": "new"}]
    everything = three.run(
        lambda ctx: list_alert_events(ctx, ListEvents(after_id=0, max_results=2)), write=False
    )
    assert len(everything.events) == 2 and everything.last_id == everything.events[-1].id
    tail = three.run(
        lambda ctx: list_alert_events(ctx, ListEvents(after_id=everything.last_id)), write=False
    )
    assert [e.id for e in tail.events] == sorted(e.id for e in tail.events)
    assert tail.events[0].id > everything.last_id
    with pytest.raises(ValueError, match="after_id"):
        AlertFeed(three, after_id=-1)
