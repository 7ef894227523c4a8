"""Review data in and out: JSONL round trips, files refused line by line with nothing
stored, Label Studio tasks and their labeling config, and the labelled dataset version
(rows, columns, lineage, the same labels giving the same version)."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest

import mloop
import mloop.review as review
from mloop.core.errors import NotFoundError, PayloadTooLargeError, ValidationError
from mloop.core.timeutil import now_ms
from mloop.review import exchange
from mloop.store.runtime import Runtime
from tests.review.review_testing import call, make_queue

# Fields that differ between a queue and its copy by construction.
_PER_QUEUE = {"id", "queue", "reason", "created_at", "updated_at", "completed_at"}


def _cases() -> list[dict[str, Any]]:
    return [
        {
            "request_id": "r1",
            "source": "endpoint",
            "target": "credit-api",
            "payload": {
                "inputs": [{"income": 1200, "region": "north"}],
                "probabilities": [[0.55, 0.45]],
            },
            "prediction": "approve",
            "confidence": 0.55,
            "model_name": "credit",
            "model_version": 3,
        },
        {
            "request_id": "r2",
            "source": "endpoint",
            "target": "credit-api",
            "payload": {
                "inputs": [{"income": 300, "region": "south"}, {"income": 5000, "region": "north"}],
                "probabilities": [[0.4, 0.6], [0.8, 0.2]],
            },
            "prediction": ["reject", "approve"],
            "confidence": 0.6,
            "model_name": "credit",
            "model_version": 3,
        },
        {
            "request_id": "r3",
            "payload": {"inputs": [{"income": 800, "region": "south"}]},
            "prediction": "approve",
            "confidence": 0.65,
        },
    ]


def _after(moment: int) -> None:
    """Wait for the clock to pass ``moment`` (completion times are milliseconds)."""
    while now_ms() <= moment:
        pass


@pytest.fixture
def loans(runtime: Runtime) -> dict[str, int]:
    """Queue ``loans`` (two answers a case): r1 done (both reject), then r2 done (per-row
    labels that disagree on row 1; the first answer wins the tie), r3 half answered.
    Returns the item ids by request id."""
    make_queue(runtime, "loans", overlap=2, rating_scale=5)
    ids = call(runtime, "add_review_items", queue="loans", items=_cases()).ids
    by_request = dict(zip(["r1", "r2", "r3"], ids, strict=True))
    call(runtime, "submit_review_answer", actor="ann", id=by_request["r1"], label="reject")
    call(
        runtime,
        "submit_review_answer",
        actor="bob",
        id=by_request["r1"],
        label="reject",
        rating=4,
        comment="income too low",
    )
    done = call(runtime, "get_review_item", id=by_request["r1"]).item.completed_at
    _after(done)
    call(
        runtime,
        "submit_review_answer",
        actor="ann",
        id=by_request["r2"],
        label=["approve", "approve"],
    )
    call(
        runtime,
        "submit_review_answer",
        actor="bob",
        id=by_request["r2"],
        label=["approve", "reject"],
    )
    call(runtime, "submit_review_answer", actor="ann", id=by_request["r3"], label="approve")
    return by_request


def _lines(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def _folder(tmp_path: Path) -> Path:
    """A folder of its own (the store lives in tmp_path too)."""
    folder = tmp_path / "files"
    folder.mkdir()
    return folder


def _comparable(line: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in line.items() if k not in _PER_QUEUE}


# -- JSONL --------------------------------------------------------------------------------


def test_jsonl_round_trip_reproduces_items_and_answers(
    runtime: Runtime, loans: dict[str, int], tmp_path: Path
) -> None:
    first = tmp_path / "loans.jsonl"
    assert review.export_jsonl("loans", first) == 3
    exported = _lines(first)
    assert [line["request_id"] for line in exported] == ["r3", "r2", "r1"]  # newest first
    r1 = next(line for line in exported if line["request_id"] == "r1")
    assert r1["status"] == "done" and r1["final_label"] == "reject"
    assert [(a["reviewer"], a["label"], a["rating"], a["comment"]) for a in r1["answers"]] == [
        ("ann", "reject", None, ""),
        ("bob", "reject", 4, "income too low"),
    ]
    assert set(r1["answers"][0]) == {"reviewer", "label", "rating", "comment", "created_at"}

    make_queue(runtime, "copy", overlap=2, rating_scale=5)
    added = review.import_jsonl("copy", first)
    assert (added.added, added.existing, len(added.ids)) == (3, 0, 3)
    second = tmp_path / "copy.jsonl"
    review.export_jsonl("copy", second)
    copied = {line["request_id"]: line for line in _lines(second)}
    assert {line["reason"] for line in copied.values()} == {"import"}
    for line in exported:
        assert _comparable(copied[line["request_id"]]) == _comparable(line)

    again = review.import_jsonl("copy", first)
    assert (again.added, again.existing) == (0, 3)
    assert sorted(again.ids) == sorted(added.ids)


def test_export_filters_by_status_and_replaces_the_file_whole(
    loans: dict[str, int], tmp_path: Path
) -> None:
    target = _folder(tmp_path) / "done.jsonl"
    target.write_text("an older export\n")
    assert review.export_jsonl("loans", target, status="done") == 2
    assert {line["request_id"] for line in _lines(target)} == {"r1", "r2"}
    assert [p.name for p in target.parent.iterdir()] == ["done.jsonl"]


def test_an_export_that_fails_leaves_the_old_file(
    loans: dict[str, int], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = _folder(tmp_path) / "loans.jsonl"
    target.write_text("the previous export\n")
    written = 0

    def failing(answer: Any) -> dict[str, Any]:
        nonlocal written
        written += 1
        if written > 2:
            raise OSError("disk full")
        return {"reviewer": answer.reviewer}

    monkeypatch.setattr(exchange, "_answer_dict", failing)
    with pytest.raises(OSError, match="disk full"):
        review.export_jsonl("loans", target)
    assert target.read_text() == "the previous export\n"
    assert [p.name for p in target.parent.iterdir()] == ["loans.jsonl"]


def test_export_of_an_unknown_queue_writes_nothing(settings: Any, tmp_path: Path) -> None:
    folder = _folder(tmp_path)
    with pytest.raises(NotFoundError, match="nope"):
        review.export_jsonl("nope", folder / "x.jsonl")
    assert list(folder.iterdir()) == []


_GOOD = '{"request_id": "g%d", "payload": {"inputs": [{"income": 1}]}, "prediction": "approve"}'


@pytest.mark.parametrize(
    ("bad", "error", "message"),
    [
        ('{"payload": {"inputs": [', ValidationError, "line 3 is not valid JSON"),
        ("[1, 2]", ValidationError, "line 3 must be a JSON object, not an array"),
        ('"text"', ValidationError, "line 3 must be a JSON object, not a string"),
        ('{"payload": {"x": "' + "y" * 1_000_001 + '"}}', PayloadTooLargeError, "line 3 is over"),
        ('{"request_id": "x"}', ValidationError, "line 3 needs payload"),
        ('{"payload": {}, "data": {}}', ValidationError, "line 3 needs payload"),
        ('{"payload": {}, "confidance": 0.3}', ValidationError, "unknown key 'confidance'"),
        ('{"payload": [1]}', ValidationError, "line 3: payload"),
        ('{"payload": {}, "confidence": 1.5}', ValidationError, "line 3: confidence"),
        ('{"payload": {}, "model_name": "no spaces"}', ValidationError, "line 3: model_name"),
        (
            '{"payload": {}, "answers": [{"reviewer": "ann", "label": "maybe"}]}',
            ValidationError,
            "line 3: answers[0].label",
        ),
        (
            '{"payload": {}, "answers": [{"reviewer": "ann", "label": "approve", "rating": 9}]}',
            ValidationError,
            "line 3: answers[0].rating must be 1 to 5",
        ),
        (
            '{"payload": {}, "answers": [{"reviewer": "a", "label": "approve"}, '
            '{"reviewer": "a", "label": "reject"}]}',
            ValidationError,
            "two answers by one reviewer",
        ),
    ],
)
def test_a_bad_line_is_named_and_nothing_is_stored(
    runtime: Runtime, tmp_path: Path, bad: str, error: type[Exception], message: str
) -> None:
    make_queue(runtime, "loans", rating_scale=5)
    path = tmp_path / "cases.jsonl"
    path.write_text("\n".join([_GOOD % 1, _GOOD % 2, bad, _GOOD % 4]) + "\n")
    with pytest.raises(error, match=message.replace("[", r"\[").replace("]", r"\]")) as caught:
        review.import_jsonl("loans", path)
    assert str(caught.value.field).startswith("line 3")  # type: ignore[attr-defined]
    assert "cases.jsonl" in str(caught.value)
    counts = review.get_queue("loans").counts
    assert (counts.open, counts.done, counts.escalated) == (0, 0, 0)


def test_a_bad_line_past_the_first_thousand_stores_nothing(
    runtime: Runtime, tmp_path: Path
) -> None:
    make_queue(runtime, "loans")
    lines = [_GOOD % n for n in range(1, 1500)]
    lines.append('{"payload": {}, "answers": [{"reviewer": "ann", "label": "maybe"}]}')
    path = tmp_path / "many.jsonl"
    path.write_text("\n".join(lines))
    with pytest.raises(ValidationError, match="line 1500"):
        review.import_jsonl("loans", path)
    assert review.get_queue("loans").counts.open == 0

    path.write_text("\n".join(lines[:-1]))
    result = review.import_jsonl("loans", path)
    assert (result.added, result.existing) == (1499, 0)


def test_import_reads_data_skips_blank_lines_and_marks_the_reason(
    runtime: Runtime, tmp_path: Path
) -> None:
    make_queue(runtime, "texts", choices=["spam", "ham"])
    path = tmp_path / "texts.jsonl"
    path.write_bytes(
        b'\xef\xbb\xbf{"data": {"text": "win a prize"}, "request_id": "t1"}\n\n'
        b'{"payload": {"text": "lunch?"}, "source": "manual", '
        b'"answers": [{"reviewer": "ann", "label": "ham"}]}\n'
    )
    result = review.import_jsonl("texts", path)
    assert result.added == 2
    first = review.get_item(result.ids[0]).item
    assert (first.payload, first.request_id, first.reason, first.source) == (
        {"text": "win a prize"},
        "t1",
        "import",
        "import",
    )
    second = review.get_item(result.ids[1])
    assert (second.item.source, second.item.status, second.item.final_label) == (
        "manual",
        "done",
        "ham",
    )
    assert [a.reviewer for a in second.answers] == ["ann"]


def test_import_into_an_unknown_queue_is_refused(settings: Any, tmp_path: Path) -> None:
    path = tmp_path / "x.jsonl"
    path.write_text(_GOOD % 1)
    with pytest.raises(NotFoundError, match="nope"):
        review.import_jsonl("nope", path)


# -- Label Studio -------------------------------------------------------------------------


def _controls(config: ET.Element) -> tuple[set[str], set[str], set[str]]:
    """The config's object names, control names, and the data keys it reads ($key)."""
    objects = {e.get("name") for e in config.iter() if e.get("value", "").startswith("$")}
    controls = {e.get("name") for e in config.iter() if e.get("toName")}
    keys = {e.get("value", "")[1:] for e in config.iter() if e.get("value", "").startswith("$")}
    return objects, controls, keys  # type: ignore[return-value]


def test_label_studio_tasks_predictions_and_annotations(
    loans: dict[str, int], tmp_path: Path
) -> None:
    path, config_path = tmp_path / "tasks.json", tmp_path / "config.xml"
    assert review.export_label_studio("loans", path, config_path=config_path) == 4
    tasks = json.loads(path.read_text())
    assert len(tasks) == 4  # r2's two rows are two tasks

    by_row = {(t["meta"]["mloop"]["request_id"], t["meta"]["mloop"]["row"]): t for t in tasks}
    r1 = by_row[("r1", 0)]
    assert r1["data"] == {"income": 1200, "region": "north", "text": "income: 1200\nregion: north"}
    assert r1["meta"]["mloop"]["item_id"] == loans["r1"]
    assert r1["meta"]["mloop"]["annotators"] == ["ann", "bob"]
    [prediction] = r1["predictions"]
    assert prediction["model_version"] == "credit/3"
    assert prediction["score"] == 0.55
    [result] = prediction["result"]
    assert {k: result[k] for k in ("from_name", "to_name", "type", "value")} == {
        "from_name": "label",
        "to_name": "text",
        "type": "choices",
        "value": {"choices": ["approve"]},
    }
    assert [[r["value"] for r in a["result"]] for a in r1["annotations"]] == [
        [{"choices": ["reject"]}],
        [{"choices": ["reject"]}, {"rating": 4}],
    ]
    assert all(a["ground_truth"] is False for a in r1["annotations"])
    assert "completed_by" not in r1["annotations"][0]

    second_row = by_row[("r2", 1)]
    assert second_row["predictions"][0]["result"][0]["value"] == {"choices": ["approve"]}
    assert second_row["predictions"][0]["score"] == 0.8
    assert [a["result"][0]["value"]["choices"] for a in second_row["annotations"]] == [
        ["approve"],
        ["reject"],
    ]
    result_ids = [
        r["id"] for t in tasks for p in t["predictions"] + t["annotations"] for r in p["result"]
    ]
    assert len(result_ids) == len(set(result_ids))

    config = ET.fromstring(config_path.read_text())
    objects, controls, keys = _controls(config)
    assert objects == {"text"} and controls == {"label", "rating"}
    choices = config.find("Choices")
    assert choices is not None and choices.get("toName") == "text"
    assert [c.get("value") for c in choices.iter("Choice")] == ["approve", "reject"]
    rating = config.find("Rating")
    assert rating is not None and rating.get("maxRating") == "5"
    for task in tasks:
        assert keys <= set(task["data"])
        for result in [r for p in task.get("predictions", []) for r in p["result"]] + [
            r for a in task.get("annotations", []) for r in a["result"]
        ]:
            assert result["from_name"] in controls and result["to_name"] in objects


def test_label_studio_gateway_calls_free_text_and_ratings(runtime: Runtime, tmp_path: Path) -> None:
    make_queue(runtime, "answers", choices=[], free_text=True, rating_scale=5)
    [item_id] = call(
        runtime,
        "add_review_items",
        queue="answers",
        items=[
            {
                "request_id": "call-1",
                "source": "gateway",
                "target": "support",
                "payload": {
                    "messages": [{"role": "user", "content": "When do you open?"}],
                    "answer": "At 9.",
                    "model": "gpt-x",
                },
                "prediction": "At 9.",
                "prompt_name": "support-answer",
                "prompt_version": 2,
            }
        ],
    ).ids
    call(runtime, "submit_review_answer", actor="ann", id=item_id, label="At 8.", rating=2)
    review.export_label_studio("answers", tmp_path / "t.json", config_path=tmp_path / "c.xml")
    [task] = json.loads((tmp_path / "t.json").read_text())
    assert task["data"]["text"] == "user: When do you open?\n\nanswer: At 9."
    assert task["data"]["messages"] == [{"role": "user", "content": "When do you open?"}]
    assert task["predictions"][0]["model_version"] == "support-answer/2"
    assert "score" not in task["predictions"][0]
    assert task["predictions"][0]["result"][0]["value"] == {"text": ["At 9."]}
    [annotation] = task["annotations"]
    assert [(r["from_name"], r["type"], r["value"]) for r in annotation["result"]] == [
        ("correction", "textarea", {"text": ["At 8."]}),
        ("rating", "rating", {"rating": 2}),
    ]
    config = ET.fromstring((tmp_path / "c.xml").read_text())
    assert config.find("Choices") is None
    assert _controls(config)[1] == {"correction", "rating"}


def test_label_studio_config_escapes_choices(runtime: Runtime, tmp_path: Path) -> None:
    make_queue(runtime, "odd", choices=['say "yes" & <go>', 1, True], instructions="Pick one")
    written = review.export_label_studio("odd", tmp_path / "t.json", config_path=tmp_path / "c.xml")
    assert written == 0
    config = ET.fromstring((tmp_path / "c.xml").read_text())
    assert [c.get("value") for c in config.iter("Choice")] == ['say "yes" & <go>', "1", "true"]
    header = config.find("Header")
    assert header is not None and header.get("value") == "Pick one"
    assert json.loads((tmp_path / "t.json").read_text()) == []


# -- the labelled dataset -----------------------------------------------------------------


def test_labels_become_a_dataset_version_with_lineage(loans: dict[str, int]) -> None:
    version = review.labels_to_dataset("loans")
    assert (version.name, version.version, version.created) == ("loans-labels", 1, True)
    assert version.source == "mloop-review:loans"
    table = version.to_arrow()
    assert table.column_names == [
        "income",
        "region",
        "label",
        "prediction",
        "confidence",
        "rating",
        "request_id",
        "row",
        "endpoint",
        "model_name",
        "model_version",
        "reviewers",
        "answered_at",
        "item_id",
    ]
    rows = table.to_pylist()
    keys = ("request_id", "row", "income", "label", "prediction")
    assert [tuple(r[k] for k in keys) for r in rows] == [
        ("r1", 0, 1200, "reject", "approve"),
        ("r2", 0, 300, "approve", "reject"),
        ("r2", 1, 5000, "approve", "approve"),
    ]
    assert [r["confidence"] for r in rows] == [0.55, 0.6, 0.8]
    assert {r["reviewers"] for r in rows} == {"ann,bob"}
    assert {r["endpoint"] for r in rows} == {"credit-api"}
    assert [r["item_id"] for r in rows] == [loans["r1"], loans["r2"], loans["r2"]]
    assert [r["rating"] for r in rows] == [4.0, None, None]
    assert [r["model_version"] for r in rows] == [3, 3, 3]
    r1 = review.get_item(loans["r1"]).item
    assert rows[0]["answered_at"] == r1.completed_at

    again = review.labels_to_dataset("loans")
    assert (again.version, again.created, again.digest) == (1, False, version.digest)


def test_new_labels_make_a_new_version_and_since_keeps_the_later_ones(
    runtime: Runtime, loans: dict[str, int]
) -> None:
    r1 = review.get_item(loans["r1"]).item
    later = review.labels_to_dataset("loans", since=r1.completed_at)
    assert set(later.to_pandas()["request_id"]) == {"r2"}
    call(runtime, "submit_review_answer", actor="bob", id=loans["r3"], label="reject")
    every = review.labels_to_dataset("loans")
    assert every.created and every.row_count == 4
    assert mloop.get_dataset("loans-labels").version == every.version


def test_labels_to_a_named_dataset_with_an_alias(loans: dict[str, int]) -> None:
    version = review.labels_to_dataset("loans", "loan-labels", alias="training")
    assert version.name == "loan-labels" and version.aliases == ["training"]
    assert mloop.get_dataset("loan-labels@training").digest == version.digest


def test_a_queue_without_labels_registers_nothing(runtime: Runtime, loans: Any) -> None:
    make_queue(runtime, "empty")
    with pytest.raises(ValidationError, match="no completed item"):
        review.labels_to_dataset("empty")
    with pytest.raises(ValidationError, match="no completed item"):
        review.labels_to_dataset("loans", since=now_ms() + 60_000)
    with pytest.raises(NotFoundError):
        review.labels_to_dataset("nope")


def test_gateway_labels_and_inputs_named_like_the_columns(runtime: Runtime, tmp_path: Path) -> None:
    make_queue(runtime, "answers", choices=[], free_text=True, rating_scale=5)
    ids = call(
        runtime,
        "add_review_items",
        queue="answers",
        items=[
            {
                "request_id": f"call-{n}",
                "source": "gateway",
                "target": "support",
                "payload": {"messages": [{"role": "user", "content": f"q{n}"}], "answer": "a"},
                "prediction": "a",
                "prompt_name": "support-answer",
                "prompt_version": 2,
            }
            for n in range(2)
        ],
    ).ids
    call(runtime, "submit_review_answer", actor="ann", id=ids[0], label="better", rating=2)
    call(runtime, "submit_review_answer", actor="ann", id=ids[1], rating=5)
    table = review.labels_to_dataset("answers").to_arrow()
    assert table.column_names == [
        "messages",
        "answer",
        "correction",
        "rating",
        "request_id",
        "route",
        "model",
        "prompt_name",
        "prompt_version",
        "reviewers",
        "answered_at",
        "item_id",
    ]
    rows = table.to_pylist()
    assert json.loads(rows[0]["messages"]) == [{"role": "user", "content": "q0"}]
    assert [(r["correction"], r["rating"]) for r in rows] == [("better", 2.0), (None, 5.0)]
    assert {r["route"] for r in rows} == {"support"}

    make_queue(runtime, "clash")
    [item] = call(
        runtime,
        "add_review_items",
        queue="clash",
        items=[{"payload": {"inputs": [{"label": "x", "n": 1.5, "tags": [1]}]}}],
    ).ids
    call(runtime, "submit_review_answer", actor="ann", id=item, label="approve")
    clash = review.labels_to_dataset("clash").to_arrow().to_pylist()
    assert clash[0]["input_label"] == "x" and clash[0]["label"] == "approve"
    assert clash[0]["n"] == 1.5 and clash[0]["tags"] == "[1]"


def test_through_a_server(remote: Any, loans: dict[str, int], tmp_path: Path) -> None:
    """The same calls over HTTP: the answers' bulk read, the import's adds, the dataset."""
    path = tmp_path / "loans.jsonl"
    assert review.export_jsonl("loans", path) == 3
    review.create_queue("copy", choices=["approve", "reject"], overlap=2, rating_scale=5)
    assert review.import_jsonl("copy", path).added == 3
    assert [len(line["answers"]) for line in _lines(path)] == [1, 2, 2]
    assert review.export_label_studio("copy", tmp_path / "tasks.json") == 4
    version = review.labels_to_dataset("copy")
    assert (version.row_count, version.source) == (3, "mloop-review:copy")
