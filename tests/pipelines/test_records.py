"""The pipelines API refuses bad input, naming the field, and stores nothing half-way."""

from __future__ import annotations

from typing import Any

import pytest

import mloop
from mloop.core.errors import ConflictError, NotFoundError, ValidationError

pytestmark = pytest.mark.usefixtures("settings")

GRAPH = {
    "nodes": [
        {"id": "a", "step": "a", "ref": "m:a"},
        {"id": "b", "step": "b", "ref": "m:b", "upstream": ["a"]},
    ]
}


def _start(**changes: Any) -> Any:
    client = mloop.Client()
    run = client.create_run(run_name="p")
    fields = {
        "pipeline": "p",
        "ref": "m:p",
        "run_id": run.info.run_id,
        "executor": "local",
        "graph": GRAPH,
        **changes,
    }
    return client.call("start_pipeline_run", **fields)


def _field(exc: pytest.ExceptionInfo[Any]) -> str | None:
    return exc.value.field


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"pipeline": "a b"}, "pipeline"),
        ({"ref": "no-colon"}, "ref"),
        ({"graph": {"nodes": []}}, "graph.nodes"),
        (
            {"graph": {"nodes": [{"id": "a", "step": "a", "ref": "m:a", "upstream": ["z"]}]}},
            "graph.nodes[0].upstream",
        ),
        ({"graph": {"nodes": [{"id": "a", "step": "a", "ref": "m:a"}] * 2}}, "graph.nodes[1].id"),
        ({"graph": {"nodes": [{"id": "a", "step": "a/b", "ref": "m:a"}]}}, "graph.nodes[0].step"),
        ({"trigger": "x\x00"}, "trigger"),
    ],
)
def test_start_refuses_bad_input(changes: dict[str, Any], field: str) -> None:
    with pytest.raises(ValidationError) as info:
        _start(**changes)
    assert _field(info) == field


def test_record_refuses_unknown_nodes_bad_cache_entries_and_ended_runs() -> None:
    started = _start()
    client = mloop.Client()
    with pytest.raises(ValidationError) as info:
        client.call(
            "record_pipeline_run", id=started.id, steps=[{"node": "zz", "status": "running"}]
        )
    assert _field(info) == "steps[0].node"
    entry = {
        "key": "0" * 64,
        "step": "a",
        "format": "npy",
        "run_id": started.run_id,
        "digest": "1" * 64,
        "inline": "[1]",
    }
    with pytest.raises(ValidationError) as info:
        client.call("record_pipeline_run", id=started.id, cache=[entry])
    assert _field(info) == "cache[0].format"  # only JSON outputs are stored inline
    with pytest.raises(ValidationError) as info:
        client.call("record_pipeline_run", id=started.id, steps=[{"node": "a", "status": "done"}])
    assert _field(info) == "steps[0].status"
    # nothing of the refused batches was stored
    assert {s.status for s in client.call("get_pipeline_run", id=started.id).steps} == {"pending"}
    assert client.call("lookup_pipeline_cache", keys=["0" * 64]).entries == []
    client.call(
        "record_pipeline_run",
        id=started.id,
        status="succeeded",
        outputs=[1],
        steps=[{"node": "a", "status": "succeeded"}, {"node": "b", "status": "succeeded"}],
    )
    with pytest.raises(ConflictError):
        client.call("record_pipeline_run", id=started.id, status="failed")
    with pytest.raises(NotFoundError) as missing:
        client.call("get_pipeline_run", id=started.id + 1)
    assert _field(missing) == "id"
    detail = client.call("get_pipeline_run", id=started.id)
    assert detail.outputs == [1] and detail.status == "succeeded"
