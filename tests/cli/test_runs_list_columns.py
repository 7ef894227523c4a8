"""``mloop runs list``: which metric and param columns a narrow table shows, and where its
note about the others goes."""

from __future__ import annotations

import re
from typing import Any

import pytest
from tests.cli.cli_helpers import Cli
from typer.testing import CliRunner, Result

import mloop
from mloop.cli.main import app
from mloop.cli.runs import _fit_columns, _named


@pytest.fixture
def sweep(cli: Cli) -> list[Any]:
    """Experiment ``sweep``: five runs all logging ``score`` and ``zeta``, one also logging
    ``aaa_rare`` (alphabetically first, on one run only) and ``yy_sorted``; params likewise
    (``lr`` on every run, ``aaa_seed`` on one)."""
    mloop.set_experiment("sweep")
    for i in range(5):
        with mloop.start_run(run_name=f"trial-{i}"):
            mloop.log_metrics({"score": 0.5 + i / 10, "zeta": float(i)})
            mloop.log_param("lr", 10.0**-i)
            if i == 0:
                mloop.log_metrics({"aaa_rare": 1.0, "yy_sorted": 3.0})
                mloop.log_param("aaa_seed", 7)
    return mloop.Client().search_all_runs(
        [mloop.Client().get_experiment_by_name("sweep").experiment_id]
    )


def run_list(*args: str, columns: int) -> Result:
    """``mloop runs list`` on a terminal ``columns`` wide."""
    result = CliRunner().invoke(app, ["runs", "list", *args], env={"COLUMNS": str(columns)})
    assert result.exit_code == 0, (result.output, result.exception)
    return result


def headers(table: str) -> list[str]:
    """The metrics.* and params.* column headers of a printed table, left to right."""
    return re.findall(r"(?:metrics|params)\.\w+", table)


BASE = [("run id", ["0" * 32]), ("name", ["trial-0"])]


def test_most_common_metrics_come_before_alphabetical_order(sweep: list[Any]) -> None:
    chosen = _fit_columns(sweep, BASE, [], room=1000)
    assert chosen[:2] == [("metrics", "score"), ("metrics", "zeta")]
    assert chosen.index(("metrics", "aaa_rare")) > chosen.index(("metrics", "zeta"))
    assert chosen.index(("params", "lr")) < chosen.index(("params", "aaa_seed"))
    assert all(kind == "metrics" for kind, _ in chosen[:4])  # metrics before params


def test_the_sort_key_comes_first_then_keys_the_filter_names(sweep: list[Any]) -> None:
    named = _named("params.aaa_seed = '7' and metrics.zeta >= 0", ["metrics.yy_sorted DESC"])
    assert named == [("metrics", "yy_sorted"), ("params", "aaa_seed"), ("metrics", "zeta")]
    chosen = _fit_columns(sweep, BASE, named, room=1000)
    assert chosen[:4] == [
        ("metrics", "yy_sorted"),
        ("params", "aaa_seed"),
        ("metrics", "zeta"),
        ("metrics", "score"),
    ]
    # A quoted key in the ordering is the same key.
    assert _named("", ['metrics."yy_sorted" ASC']) == [("metrics", "yy_sorted")]
    # An ordering that does not parse names nothing (the search itself reports it).
    assert _named("metrics.x >> 1", []) == []


def test_a_key_no_run_has_takes_no_column(sweep: list[Any]) -> None:
    chosen = _fit_columns(sweep, BASE, [("metrics", "absent")], room=1000)
    assert ("metrics", "absent") not in chosen


def test_a_narrow_table_keeps_the_common_metrics_and_the_sort_key(sweep: list[Any]) -> None:
    narrow = run_list("-e", "sweep", columns=150).stdout
    # Alphabetical order would have put metrics.aaa_rare (one run of five) first.
    assert headers(narrow)[:2] == ["metrics.score", "metrics.zeta"]
    assert "did not fit" in narrow
    ordered = run_list("-e", "sweep", "--order-by", "metrics.yy_sorted DESC", columns=150).stdout
    assert headers(ordered)[0] == "metrics.yy_sorted"


def test_the_note_about_hidden_columns_goes_with_the_table(sweep: list[Any]) -> None:
    result = run_list("-e", "sweep", columns=150)
    assert "more metric/param columns did not fit; --json has every value." in result.stdout
    assert result.stdout.index("Runs (5)") < result.stdout.index("did not fit")
    assert result.stderr == ""
    wide = run_list("-e", "sweep", columns=400)
    assert "did not fit" not in wide.stdout + wide.stderr
    assert set(headers(wide.stdout)) == {
        "metrics.score",
        "metrics.zeta",
        "metrics.aaa_rare",
        "metrics.yy_sorted",
        "params.lr",
        "params.aaa_seed",
    }
