"""The geometry of the model timeline's drawing and a policy run's step strip, on made-up
trails: which version held an alias when, where entries land on the time axis, which step
is done, current, stopped, skipped or still to come, and how long each took."""

from __future__ import annotations

from mloop.automation.policy_schemas import PolicyRun, PolicyRunEvent, TimelineEntry
from mloop.server.ui.policy_steps import Step, run_steps
from mloop.server.ui.timeline_views import LABEL_W, PAD, WIDTH, holdings, timeline_chart
from mloop.store.versions import AliasMove

T0 = 1_700_000_000_000
MIN = 60_000


def _move(alias: str, before: int | None, after: int | None, at: int) -> AliasMove:
    return AliasMove(
        name="m", alias=alias, from_version=before, to_version=after, actor="a", timestamp=at
    )


def _entry(at: int, kind: str = "gate", version: int | None = None) -> TimelineEntry:
    return TimelineEntry(at=at, kind=kind, title=f"{kind} at {at}", version=version)


def _url(entry: TimelineEntry) -> str:
    return f"/x/{entry.at}"


def _version_url(version: int) -> str:
    return f"/v/{version}"


def test_holdings_follow_moves_and_deletions() -> None:
    moves = [
        _move("champion", None, 1, T0),
        _move("challenger", None, 2, T0 + MIN),
        _move("champion", 1, 2, T0 + 2 * MIN),
        _move("challenger", 2, None, T0 + 3 * MIN),  # deleted: ends v2's time, starts none
    ]
    found = [(h.alias, h.version, h.start, h.end) for h in holdings(list(reversed(moves)))]
    assert found == [
        ("challenger", 2, T0 + MIN, T0 + 3 * MIN),
        ("champion", 1, T0, T0 + 2 * MIN),
        ("champion", 2, T0 + 2 * MIN, None),
    ]


def test_the_chart_places_entries_and_bands_on_one_axis() -> None:
    entries = [_entry(T0, "alias", 1), _entry(T0 + 10 * MIN, "gate", 2), _entry(T0 + 20 * MIN)]
    moves = [
        _move("shadow", None, 5, T0 - 60 * MIN),  # before the window: clipped to its edge
        _move("champion", None, 1, T0),
        _move("champion", 1, 2, T0 + 10 * MIN),
    ]
    chart = timeline_chart(entries, moves, url_of=_url, version_url=_version_url, chosen=2)
    assert chart is not None
    assert [row["alias"] for row in chart["bands"]] == ["champion", "shadow"]
    v1, v2 = chart["bands"][0]["bands"]
    assert (v1["version"], v1["still"], v1["url"]) == (1, False, "/v/1")
    assert (v2["version"], v2["still"], v2["chosen"]) == (2, True, True)
    assert v1["x"] + v1["width"] == v2["x"]  # v2 takes over where v1 ends
    assert v2["x"] + v2["width"] == WIDTH - PAD  # still holding: to the right edge
    shadow = chart["bands"][1]["bands"][0]
    assert shadow["x"] == LABEL_W and shadow["still"]
    lanes = {lane["kind"]: lane for lane in chart["lanes"]}
    assert list(lanes) == ["gate", "alias"]  # the fixed order of kinds, only those present
    gate = lanes["gate"]["markers"]
    assert [m["url"] for m in gate] == [f"/x/{T0 + 10 * MIN}", f"/x/{T0 + 20 * MIN}"]
    assert [m["chosen"] for m in gate] == [True, False]
    # equal times, equal x; the middle of the window is in the middle of the plot
    assert lanes["alias"]["markers"][0]["x"] == v1["x"]
    middle = (LABEL_W + WIDTH - PAD) / 2
    assert abs(gate[0]["x"] - middle) < 1
    assert all(LABEL_W <= t["x"] <= WIDTH - PAD for t in chart["ticks"])
    assert [t["label"] for t in chart["ticks"]][:2] == ["11-14 22:15", "11-14 22:20"]


def test_dots_at_one_moment_alternate_off_the_line() -> None:
    entries = [_entry(T0), _entry(T0), _entry(T0), _entry(T0 + 30 * MIN)]
    chart = timeline_chart(entries, [], url_of=_url, version_url=_version_url)
    assert chart is not None and chart["bands"] == []
    assert [m["dy"] for m in chart["lanes"][0]["markers"]] == [0, 5, -5, 0]


def test_one_entry_gets_a_window_and_no_entries_no_chart() -> None:
    chart = timeline_chart([_entry(T0)], [], url_of=_url, version_url=_version_url)
    assert chart is not None and chart["end"] - chart["start"] >= 10_000
    assert chart["ticks"] and chart["ticks"][0]["label"].count(":") == 2  # seconds shown
    assert timeline_chart([], [], url_of=_url, version_url=_version_url) is None


# -- the step strip ---------------------------------------------------------------------------


def _run(state: str, *, active: bool, finished: int | None = None) -> PolicyRun:
    return PolicyRun(
        id=1,
        policy="p",
        model="m",
        endpoint="e",
        state=state,
        active=active,
        trigger="manual",
        created_by="dee",
        created_at=T0,
        updated_at=T0,
        finished_at=finished,
    )


def _trail(*kinds_and_offsets: tuple[str, int]) -> list[PolicyRunEvent]:
    return [
        PolicyRunEvent(
            id=i, run_id=1, policy="p", model="m", kind=k, reason="", actor="ann", at=T0 + at
        )
        for i, (k, at) in enumerate(kinds_and_offsets, 1)
    ]


def _table(steps: list[Step]) -> list[tuple[str, str, str, str]]:
    return [(s.key, s.status, s.took, s.note) for s in steps]


def test_a_promoted_run_without_approval() -> None:
    events = _trail(
        ("queued", 0),
        ("training", 500),
        ("gating", 3000),
        ("rolling_out", 4000),
        ("canary_started", 4000),
        ("canary_advanced", 64_000),
        ("promoted", 125_000),
    )
    steps = run_steps(
        _run("promoted", active=False, finished=T0 + 125_000),
        events,
        require_approval=False,
        now=T0 + 10 * MIN,
    )
    assert _table(steps) == [
        ("queued", "done", "500 ms", ""),
        ("training", "done", "2.5 s", ""),
        ("gating", "done", "1.0 s", ""),
        ("approval", "skipped", "", "not required"),
        ("canary", "done", "2m 01s", "1 step advanced"),
        ("final", "promoted", "", "2m 05s in all"),
    ]


def test_a_run_waiting_for_approval_then_rejected() -> None:
    events = _trail(("queued", 0), ("training", 0), ("gating", 1000), ("awaiting_approval", 2000))
    steps = run_steps(
        _run("awaiting_approval", active=True), events, require_approval=True, now=T0 + 62_000
    )
    assert _table(steps)[3:] == [
        ("approval", "current", "1m 00s", "so far"),
        ("canary", "waiting", "", ""),
        ("final", "waiting", "", ""),
    ]
    events += _trail(("rejected", 90_000))
    steps = run_steps(
        _run("rejected", active=False, finished=T0 + 90_000),
        events,
        require_approval=True,
        now=T0 + 95_000,
    )
    assert _table(steps)[3:] == [
        ("approval", "stopped", "1m 28s", "rejected by ann"),
        ("canary", "skipped", "", "not reached"),
        ("final", "stopped", "", "1m 30s in all"),
    ]
    assert steps[-1].label == "Rejected"


def test_a_run_that_failed_while_training() -> None:
    events = _trail(("queued", 0), ("training", 100), ("failed", 5100))
    steps = run_steps(
        _run("failed", active=False, finished=T0 + 5100), events, require_approval=True, now=T0
    )
    assert [s.status for s in steps] == [
        "done",
        "stopped",
        "skipped",
        "skipped",
        "skipped",
        "stopped",
    ]
    assert steps[1].took == "5.0 s" and steps[-1].label == "Failed"


# -- links to other domains' pages ---------------------------------------------------------------


def test_a_link_kind_missing_or_taking_other_arguments_links_nothing() -> None:
    from mloop.server.ui.automation import result_links
    from mloop.server.ui.links import link_to
    from mloop.server.ui.optional_links import link_or_none
    from mloop.server.ui.policies import entry_url

    assert link_or_none("policy_run", run_id=3) == link_to("policy_run", run_id=3)
    assert link_or_none("no_such_page", run_id=3) is None
    assert link_or_none("policy_run", pipeline_run_id=3) is None  # the page's argument differs
    assert link_or_none(None) is None
    entry = TimelineEntry(at=T0, kind="pipeline", title="p", link="pipeline_run", ids={"id": 1})
    assert entry_url(entry) is None
    entry.ids = {"run_id": 1}
    assert entry_url(entry) == link_to("pipeline_run", run_id=1)
    found = result_links("pipeline", {"pipeline_run": 4, "run_id": "abc"}, {})
    assert found == [
        ("pipeline run", "4", link_to("pipeline_run", run_id=4)),
        ("tracking run", "abc", link_to("run", run_id="abc")),
    ]
    assert result_links("policy", None, {"run_id": 9}) == [
        ("policy run", "9", link_to("policy_run", run_id=9))
    ]
    assert result_links("pipeline", "not a dict", {}) == []
