"""``mloop review``: queues, routing and sampling policies, claiming and answering cases,
exports, imports and the labelled dataset, with their output, JSON and exit statuses."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from tests.cli.cli_helpers import Cli
from tests.review.review_testing import call

import mloop
from mloop.store.runtime import Runtime


def sdk(operation: str, /, **fields: Any) -> Any:
    return mloop.Client().call(operation, **fields)


def _cases(queue: str = "loans") -> list[int]:
    return list(
        sdk(
            "add_review_items",
            queue=queue,
            items=[
                {
                    "request_id": "r1",
                    "payload": {"inputs": [{"income": 1200, "region": "north"}]},
                    "prediction": "approve",
                    "confidence": 0.55,
                    "model_name": "credit",
                    "model_version": 3,
                },
                {
                    "request_id": "r2",
                    "payload": {"inputs": [{"income": 300}, {"income": 5000}]},
                    "prediction": ["reject", "approve"],
                    "confidence": 0.6,
                },
            ],
        ).ids
    )


@pytest.fixture
def loans(cli: Cli) -> list[int]:
    cli.ok("review", "queues", "create", "loans", "--choice", "approve", "--choice", "reject")
    return _cases()


# -- queues -------------------------------------------------------------------------------


def test_queues_create_list_show_and_delete(cli: Cli) -> None:
    made = cli.ok(
        "review",
        "queues",
        "create",
        "loans",
        "-c",
        "approve",
        "-c",
        "reject",
        "--overlap",
        "2",
        "--priority",
        "oldest",
        "--reviewer",
        "ann",
        "--reviewer",
        "bob",
        "--lease-seconds",
        "60",
    )
    assert "Created review queue loans: choices approve, reject; 2 answers per case." in (
        made.stderr
    )
    numbers = json.loads(
        cli.ok("review", "queues", "create", "grades", "-c", "1", "-c", "0", "--json").stdout
    )
    assert numbers["choices"] == [1, 0]

    listed = cli.ok("review", "queues", "list")
    assert "loans" in listed.stdout and "grades" in listed.stdout
    rows = json.loads(cli.ok("review", "queues", "list", "--json").stdout)
    assert [(q["name"], q["overlap"], q["reviewers"]) for q in rows] == [
        ("grades", 1, []),
        ("loans", 2, ["ann", "bob"]),
    ]

    _cases()
    shown = cli.ok("review", "queues", "show", "loans")
    assert "anyone" not in shown.stdout and "ann, bob" in shown.stdout
    detail = json.loads(cli.ok("review", "queues", "show", "loans", "--json").stdout)
    assert detail["queue"]["counts"]["open"] == 2
    assert detail["queue"]["lease_seconds"] == 60
    assert detail["stats"]["counts"]["open"] == 2

    refused = cli("review", "queues", "delete", "loans")
    assert refused.exit_code == 1 and "Nothing deleted" in refused.stderr
    cli.ok("review", "queues", "delete", "loans", "--yes")
    gone = cli("review", "queues", "show", "loans")
    assert gone.exit_code == 1
    assert "error: review queue 'loans' does not exist (field: name)" in gone.stderr


def test_queue_errors_exit_non_zero(cli: Cli) -> None:
    cli.ok("review", "queues", "create", "loans", "-c", "approve")
    again = cli("review", "queues", "create", "loans", "-c", "approve")
    assert again.exit_code == 1 and "already exists" in again.stderr
    nothing = cli("review", "queues", "create", "empty")
    assert nothing.exit_code == 1 and "a queue needs something to answer" in nothing.stderr
    assert cli("review", "queues", "create", "x", "--overlap", "0", "-c", "a").exit_code == 2
    assert "Traceback" not in again.output + nothing.output


# -- policies -----------------------------------------------------------------------------


def test_route_unroute_and_the_policies(cli: Cli, loans: list[int]) -> None:
    sdk("create_endpoint", name="credit-api")
    routed = cli.ok(
        "review",
        "route",
        "credit-api",
        "--queue",
        "loans",
        "--threshold",
        "0.6",
        "--class-threshold",
        "reject=0.9",
        "--on-route",
        "fallback",
        "--fallback",
        '"reject"',
        "--max-share",
        "0.1",
        "--json",
    )
    policy = json.loads(routed.stdout)
    assert (policy["endpoint"], policy["queue"], policy["threshold"]) == (
        "credit-api",
        "loans",
        0.6,
    )
    assert policy["class_thresholds"] == {"reject": 0.9}
    assert (policy["on_route"], policy["fallback"], policy["max_share"]) == (
        "fallback",
        "reject",
        0.1,
    )
    told = cli.ok("review", "route", "credit-api", "-q", "loans", "--criterion", "entropy")
    assert "Routing credit-api to queue loans: entropy > 0.7, flag" in told.stderr

    listed = json.loads(cli.ok("review", "policies", "--queue", "loans", "--json").stdout)
    assert [p["criterion"] for p in listed["routing"]] == ["entropy"]
    assert "credit-api" in cli.ok("review", "policies").stdout

    bad = cli("review", "route", "credit-api", "-q", "loans", "--class-threshold", "reject")
    assert bad.exit_code == 2 and "CLASS=T" in bad.stderr
    assert cli("review", "route", "credit-api", "-q", "loans", "--fallback", "{").exit_code == 2
    no_fallback = cli("review", "route", "credit-api", "-q", "loans", "--on-route", "fallback")
    assert no_fallback.exit_code == 1 and "(field: fallback)" in no_fallback.stderr
    unknown = cli("review", "route", "nope", "-q", "loans")
    assert unknown.exit_code == 1

    cli.ok("review", "unroute", "credit-api")
    assert json.loads(cli.ok("review", "policies", "--json").stdout)["routing"] == []
    again = cli("review", "unroute", "credit-api")
    assert again.exit_code == 1 and "has no review routing" in again.stderr


def test_sample_sample_now_and_unsample(cli: Cli, loans: list[int]) -> None:
    made = json.loads(
        cli.ok(
            "review", "sample", "loans", "--route", "support", "--per-day", "30", "--json"
        ).stdout
    )
    assert (made["route"], made["per_day"], made["rate"]) == ("support", 30, None)
    told = cli.ok("review", "sample", "loans", "--route", "support", "--rate", "0.05")
    assert f"Sampling policy {made['id']}: 5.00% of route support into queue loans." in (
        told.stderr
    )
    run = json.loads(cli.ok("review", "sample-now", "--json").stdout)
    assert run["policies"] == [{"policy": made["id"], "hours": 0, "added": 0}]
    table = cli.ok("review", "sample-now", "--policy", str(made["id"]), "--until", "now")
    assert "hours" in table.stdout

    both = cli("review", "sample", "loans", "--route", "a", "--endpoint", "b", "--rate", "0.1")
    assert both.exit_code == 2 and "give one of --endpoint and --route" in both.stderr
    neither = cli("review", "sample", "loans", "--route", "a")
    assert neither.exit_code == 2 and "--per-day and --rate" in neither.stderr
    assert cli("review", "sample", "loans", "--route", "a", "--rate", "2").exit_code == 2
    assert cli("review", "sample-now", "--until", "yesterday").exit_code == 2

    cli.ok("review", "unsample", str(made["id"]))
    assert json.loads(cli.ok("review", "policies", "--json").stdout)["sampling"] == []
    assert cli("review", "unsample", str(made["id"])).exit_code == 1


# -- cases and answers --------------------------------------------------------------------


def test_next_claims_and_answer_records(cli: Cli, loans: list[int]) -> None:
    first, second = loans
    shown = cli.ok("review", "next", "loans")
    assert f"Case {first} of loans: request r1" in shown.stdout
    assert "income" in shown.stdout and "north" in shown.stdout
    assert "credit v3, confidence 0.55" in shown.stdout
    assert "choices approve, reject" in shown.stdout
    assert f"mloop review answer {first} LABEL" in shown.stderr

    held = json.loads(cli.ok("review", "next", "loans", "--json").stdout)
    assert held["item"]["id"] == first and held["remaining"] == 2  # renewed, not a new one

    done = cli.ok("review", "answer", str(first), "reject", "--comment", "too low")
    assert f"Case {first} done: label reject." in done.stderr
    repeated = cli.ok("review", "answer", str(first), "reject")
    assert "nothing changed" in repeated.stderr
    changed = cli("review", "answer", str(first), "approve")
    assert changed.exit_code == 1 and "answers are final" in changed.stderr

    rows = cli.ok("review", "next", "loans")
    assert "5000" in rows.stdout and "reject" in rows.stdout
    per_row = json.loads(
        cli.ok("review", "answer", str(second), '["approve", "reject"]', "--json").stdout
    )
    assert per_row["item"]["final_label"] == ["approve", "reject"]
    assert not per_row["duplicate"]

    left = cli.ok("review", "next", "loans")
    assert "Nothing left for you in queue loans." in left.stderr
    assert json.loads(cli.ok("review", "next", "loans", "--json").stdout)["item"] is None

    bad = cli("review", "answer", str(first))
    assert bad.exit_code == 2 and "give a LABEL, a --rating, or both" in bad.stderr
    assert cli("review", "answer", "999", "approve").exit_code == 1
    assert cli("review", "next", "nope").exit_code == 1


def test_answers_numbers_free_text_and_a_second_reviewer(cli: Cli, runtime: Runtime) -> None:
    cli.ok("review", "queues", "create", "grades", "-c", "1", "-c", "0", "--overlap", "2")
    cli.ok("review", "queues", "create", "notes", "--free-text", "--rating-scale", "5")
    [grade] = sdk("add_review_items", queue="grades", items=[{"payload": {"x": 1}}]).ids
    [note] = sdk("add_review_items", queue="notes", items=[{"payload": {"x": 1}}]).ids
    call(runtime, "submit_review_answer", actor="ann", id=grade, label=1)
    finished = json.loads(cli.ok("review", "answer", str(grade), "1", "--json").stdout)
    assert finished["item"]["final_label"] == 1 and finished["item"]["agreement"] == 1.0
    text = json.loads(cli.ok("review", "answer", str(note), "42", "--rating", "4", "--json").stdout)
    assert (text["answer"]["label"], text["answer"]["rating"]) == ("42", 4)


def test_items_and_stats(cli: Cli, loans: list[int], runtime: Runtime) -> None:
    call(runtime, "submit_review_answer", actor="ann", id=loans[0], label="reject")
    table = cli.ok("review", "items", "loans")
    assert "r1" in table.stdout and '["reject","approve"]' in table.stdout
    done = json.loads(cli.ok("review", "items", "loans", "--status", "done", "--json").stdout)
    assert [i["request_id"] for i in done] == ["r1"]
    changed = json.loads(cli.ok("review", "items", "loans", "--changed", "--json").stdout)
    assert [i["id"] for i in changed] == [loans[0]]
    by_ann = json.loads(cli.ok("review", "items", "loans", "--answered-by", "ann", "--json").stdout)
    assert [i["id"] for i in by_ann] == [loans[0]]
    assert cli("review", "items", "loans", "--status", "gone").exit_code == 2

    stats = json.loads(cli.ok("review", "stats", "loans", "--json").stdout)
    assert stats["counts"] == {"open": 1, "escalated": 0, "done": 1, "answers": 1}
    assert stats["changed_share"] == 1.0
    shown = cli.ok("review", "stats", "loans")
    assert "ann" in shown.stdout and "100%" in shown.stdout


# -- the loop back ------------------------------------------------------------------------


def test_export_import_and_to_dataset(
    cli: Cli, loans: list[int], runtime: Runtime, tmp_path: Path
) -> None:
    call(runtime, "submit_review_answer", actor="ann", id=loans[0], label="reject")
    out = tmp_path / "loans.jsonl"
    told = cli.ok("review", "export", "loans", str(out))
    assert f"Wrote 2 cases of loans to {out}." in told.stderr
    assert len(out.read_text().splitlines()) == 2
    cli.ok("review", "export", "loans", str(out), "--status", "done")
    assert len(out.read_text().splitlines()) == 1

    cli.ok("review", "queues", "create", "copy", "-c", "approve", "-c", "reject")
    imported = cli.ok("review", "import", "copy", str(out))
    assert "Imported 1 cases into copy (0 already there)." in imported.stderr
    again = json.loads(cli.ok("review", "import", "copy", str(out), "--json").stdout)
    assert (again["added"], again["existing"]) == (0, 1)

    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"payload": {}}\n{"payload": {}, "prediction": \n')
    refused = cli("review", "import", "copy", str(bad))
    assert refused.exit_code == 1
    assert "bad.jsonl line 2 is not valid JSON" in refused.stderr
    assert "(field: line 2)" in refused.stderr
    assert (
        json.loads(cli.ok("review", "queues", "show", "copy", "--json").stdout)["queue"]["counts"][
            "open"
        ]
        == 0
    )
    assert cli("review", "import", "copy", str(tmp_path / "missing.jsonl")).exit_code == 2

    tasks, config = tmp_path / "tasks.json", tmp_path / "config.xml"
    wrote = cli.ok(
        "review", "export", "loans", str(tasks), "--format", "label-studio", "--config", str(config)
    )
    assert "Wrote 3 Label Studio tasks of loans" in wrote.stderr
    assert len(json.loads(tasks.read_text())) == 3
    assert '<Choice value="approve"/>' in config.read_text()
    assert cli("review", "export", "loans", str(out), "--config", str(config)).exit_code == 2
    assert (
        cli("review", "export", "loans", str(tasks), "-f", "label-studio", "--status", "done")
    ).exit_code == 2

    made = cli.ok("review", "to-dataset", "loans")
    assert "Registered dataset loans-labels/1 (1 rows, source mloop-review:loans)." in made.stderr
    same = json.loads(cli.ok("review", "to-dataset", "loans", "--json").stdout)
    assert (same["version"], same["created"], same["source"]) == (
        1,
        False,
        "mloop-review:loans",
    )
    named = cli.ok(
        "review", "to-dataset", "loans", "--name", "training-labels", "--since", "2020-01-01"
    )
    assert "Registered dataset training-labels/1" in named.stderr
    none = cli("review", "to-dataset", "loans", "--since", "now+1h")
    assert none.exit_code == 1 and "no completed item with a label" in none.stderr
    assert cli("review", "to-dataset", "loans", "--since", "soon").exit_code == 2
