"""A policy run's state machine as a strip of steps: queued -> training -> gate -> approval
-> canary -> promoted or stopped, each with when it started, how long it took and whether
it is done, current, where the run stopped, skipped or still to come.

The steps are read from the run's trail (its events, oldest first): each event moves the
run to a state, and each state belongs to one step.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from mloop.automation.policy_schemas import PolicyRun, PolicyRunEvent
from mloop.server.ui.formatting import duration

STEPS: tuple[tuple[str, str], ...] = (
    ("queued", "Queued"),
    ("training", "Training"),
    ("gating", "Gate"),
    ("approval", "Approval"),
    ("canary", "Canary"),
)
FINAL = "final"

# Events named after what happened rather than the state they moved the run to.
_STATE_AFTER = {
    "approved": "rolling_out",
    "canary_started": "rolling_out",
    "canary_advanced": "rolling_out",
}
_STEP_OF = {
    "queued": "queued",
    "training": "training",
    "gating": "gating",
    "awaiting_approval": "approval",
    "rolling_out": "canary",
}


@dataclass(frozen=True)
class Step:
    """One box of the strip. ``status``: done, current, stopped (the run ended here),
    promoted, skipped (passed over or never reached) or waiting (still to come)."""

    key: str
    label: str
    status: str
    started_at: int | None = None
    ended_at: int | None = None
    took: str = ""
    note: str = ""


def _step_of(kind: str) -> str:
    return _STEP_OF.get(_STATE_AFTER.get(kind, kind), FINAL)


def _entered(events: Sequence[PolicyRunEvent]) -> dict[str, int]:
    """When the run first entered each step."""
    found: dict[str, int] = {}
    for e in sorted(events, key=lambda e: e.at):
        found.setdefault(_step_of(e.kind), e.at)
    return found


def _note(key: str, events: Sequence[PolicyRunEvent], require_approval: bool) -> str:
    if key == "approval":
        decided = [e for e in events if e.kind in ("approved", "rejected")]
        if decided:
            return f"{decided[-1].kind} by {decided[-1].actor}"
        return "" if require_approval else "not required"
    if key == "canary":
        advanced = sum(e.kind == "canary_advanced" for e in events)
        if advanced:
            return f"{advanced} step{'s' if advanced != 1 else ''} advanced"
    return ""


def run_steps(
    run: PolicyRun, events: Sequence[PolicyRunEvent], *, require_approval: bool, now: int
) -> list[Step]:
    """The strip of ``run`` from its trail; a step still running reaches ``now``."""
    entered = _entered(events)
    order = [key for key, _ in STEPS] + [FINAL]
    reached = [key for key in order if key in entered]
    last = reached[-1] if reached else None
    # The step the run was in when it ended without being promoted: where it stopped.
    stopped_in = None
    if not run.active and run.state != "promoted":
        before = [key for key in reached if key != FINAL]
        stopped_in = before[-1] if before else None
    steps = []
    for index, (key, label) in enumerate(STEPS):
        started = entered.get(key)
        later = [entered[k] for k in order[index + 1 :] if k in entered]
        ended = min(later) if later and started is not None else None
        note = _note(key, events, require_approval)
        if started is None:
            status = "waiting" if run.active else "skipped"
            if key == "approval" and not require_approval:
                status = "skipped"
            elif status == "skipped":
                note = note or "not reached"
        elif key == stopped_in:
            status = "stopped"
        elif run.active and key == last:
            status = "current"
            note = note or "so far"
        else:
            status = "done"
        took = duration(started, now if status == "current" else ended)
        steps.append(Step(key, label, status, started, ended, took, note))
    final_at = entered.get(FINAL)
    if run.active:
        steps.append(Step(FINAL, "Promoted or stopped", "waiting"))
    elif run.state == "promoted":
        steps.append(Step(FINAL, "Promoted", "promoted", final_at, note=_total(run)))
    else:
        label = run.state.replace("_", " ").capitalize()
        steps.append(Step(FINAL, label, "stopped", final_at, note=_total(run)))
    return steps


def _total(run: PolicyRun) -> str:
    if run.finished_at is None:
        return ""
    return f"{duration(run.created_at, run.finished_at)} in all"
