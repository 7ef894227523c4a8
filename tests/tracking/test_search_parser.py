"""The run-search language: parsing, errors, and the SQL it builds.

The SQL runs on the configured database (SQLite, or PostgreSQL in the PostgreSQL pass) and,
in the PostgreSQL pass, also on a PostgreSQL database whose default collation is not byte
order: search orders strings by bytes everywhere.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import Engine, create_engine, func, select
from sqlalchemy.engine import make_url
from tests.conftest import PG_URL, _pg_database_url, _pg_drop, port_open, require_service

import mloop.auth.tables
import mloop.registry.tables
import mloop.tracking.tables  # noqa: F401  (registers the tables on the shared metadata)
from mloop.core.errors import ValidationError
from mloop.store.db import Database
from mloop.store.schema import metadata
from mloop.tracking.search import (
    MAX_FILTER_LENGTH,
    Clause,
    OrderKey,
    build_run_query,
    parse_filter,
    parse_order_by,
)
from mloop.tracking.search_sql import select_runs
from mloop.tracking.search_terms import CANONICAL_ATTRIBUTES, Kind, allowed_ops, is_numeric
from mloop.tracking.tables import experiments, latest_metrics, params, runs, tags

# ---------------------------------------------------------------------------------------
# parse_filter: accepted input
# ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("metrics.auc > 0.9", [Clause("metric", "auc", ">", 0.9)]),
        ("metric.auc>=1", [Clause("metric", "auc", ">=", 1.0)]),
        ("metrics.loss <= -1.5e-3", [Clause("metric", "loss", "<=", -0.0015)]),
        ("metrics.loss < .5", [Clause("metric", "loss", "<", 0.5)]),
        ("metrics.loss != +2", [Clause("metric", "loss", "!=", 2.0)]),
        ("metrics.train.loss = 3", [Clause("metric", "train.loss", "=", 3.0)]),
        ('metrics."val loss" < 1', [Clause("metric", "val loss", "<", 1.0)]),
        ("metrics.`val loss` < 1", [Clause("metric", "val loss", "<", 1.0)]),
        ('metrics."say ""hi""" < 1', [Clause("metric", 'say "hi"', "<", 1.0)]),
        ("params.model = 'xgb'", [Clause("param", "model", "=", "xgb")]),
        ('params.model = "xgb"', [Clause("param", "model", "=", "xgb")]),
        ("param.`model-type` != 'a'", [Clause("param", "model-type", "!=", "a")]),
        ("parameters.a/b:c = 'x'", [Clause("param", "a/b:c", "=", "x")]),
        ("params.note = 'it''s'", [Clause("param", "note", "=", "it's")]),
        ('params.note = "say ""hi"""', [Clause("param", "note", "=", 'say "hi"')]),
        ("params.path = 'C:\\tmp'", [Clause("param", "path", "=", "C:\\tmp")]),
        ("params.e = ''", [Clause("param", "e", "=", "")]),
        ("tags.team LIKE 'vis%'", [Clause("tag", "team", "LIKE", "vis%")]),
        ("tag.team ilike 'VIS%'", [Clause("tag", "team", "ILIKE", "VIS%")]),
        ("tags.team IN ('a', \"b\")", [Clause("tag", "team", "IN", ("a", "b"))]),
        ("tags.team in ('a',)", [Clause("tag", "team", "IN", ("a",))]),
        ("tags.team not  In ('a')", [Clause("tag", "team", "NOT IN", ("a",))]),
        ("tags.team IS NULL", [Clause("tag", "team", "IS NULL", None)]),
        ("params.lr is not null", [Clause("param", "lr", "IS NOT NULL", None)]),
        ("metrics.auc IS NULL", [Clause("metric", "auc", "IS NULL", None)]),
        ("status = 'FINISHED'", [Clause("attribute", "status", "=", "FINISHED")]),
        ("attributes.status != 'FAILED'", [Clause("attribute", "status", "!=", "FAILED")]),
        ("attr.name LIKE 'a%'", [Clause("attribute", "run_name", "LIKE", "a%")]),
        ("run.run_name = 'x'", [Clause("attribute", "run_name", "=", "x")]),
        ("Run_Name = 'x'", [Clause("attribute", "run_name", "=", "x")]),
        ("attribute.`run_id` IN ('a')", [Clause("attribute", "run_id", "IN", ("a",))]),
        ("user_id = 'ann'", [Clause("attribute", "user_id", "=", "ann")]),
        ("start_time > 1700000000000", [Clause("attribute", "start_time", ">", 1.7e12)]),
        ("created < 5", [Clause("attribute", "start_time", "<", 5.0)]),
        ("end_time IS NULL", [Clause("attribute", "end_time", "IS NULL", None)]),
        ("parent_run_id = 'r1'", [Clause("attribute", "parent_run_id", "=", "r1")]),
        ("parent_run_id IS NOT NULL", [Clause("attribute", "parent_run_id", "IS NOT NULL", None)]),
        ("experiment_id = '3'", [Clause("attribute", "experiment_id", "=", "3")]),
        ("experiment_id IN (1, '2')", [Clause("attribute", "experiment_id", "IN", ("1", "2"))]),
        (
            "metrics.auc > 0.9 and params.model = 'xgb' AND tags.t LIKE '%x'",
            [
                Clause("metric", "auc", ">", 0.9),
                Clause("param", "model", "=", "xgb"),
                Clause("tag", "t", "LIKE", "%x"),
            ],
        ),
        (
            "  metrics.a>1\n\tand\nmetrics.b<2  ",
            [
                Clause("metric", "a", ">", 1.0),
                Clause("metric", "b", "<", 2.0),
            ],
        ),
        (
            "params.a='x'and params.b='y'",
            [
                Clause("param", "a", "=", "x"),
                Clause("param", "b", "=", "y"),
            ],
        ),
        ("", []),
        ("   ", []),
        (None, []),
    ],
)
def test_parse_filter_accepts(text: str | None, expected: list[Clause]) -> None:
    assert parse_filter(text) == expected


def test_parse_filter_accepts_the_maximum_length() -> None:
    base = "params.k = '"
    text = base + "x" * (MAX_FILTER_LENGTH - len(base) - 1) + "'"
    assert len(text) == MAX_FILTER_LENGTH
    assert parse_filter(text)[0].value == "x" * (MAX_FILTER_LENGTH - len(base) - 1)


# ---------------------------------------------------------------------------------------
# parse_filter: refused input
# ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "fragments"),
    [
        ("metirc.auc > 1", ["unknown prefix 'metirc'", "position 0"]),
        ("foo = 1", ["unknown attribute 'foo'", "metrics.foo", "position 0"]),
        ("attributes.colour = 'red'", ["unknown attribute 'colour'", "position 0"]),
        ("metrics.auc >", ["missing value", "position 13"]),
        ("metrics.auc", ["missing operator", "position 11"]),
        ("metrics. > 1", ["missing key", "position 8"]),
        ('metrics."" > 1', ["empty key", "position 8"]),
        ("params.x = 'abc", ["unterminated string", "position 11"]),
        ('params.x = "abc', ["unterminated string", "position 11"]),
        ("params.x = 'it's'", ["unexpected", "position 15"]),
        ('metrics."val loss > 1', ["unterminated name", "position 8"]),
        ("params.x > 1", ["operator > is not allowed on params.x", "strings", "metrics.x"]),
        ("tags.x <= 'a'", ["operator <= is not allowed on tags.x", "position 7"]),
        ("metrics.x LIKE 'a%'", ["operator LIKE is not allowed on metrics.x", "params.x"]),
        ("metrics.x ILIKE 'a%'", ["operator ILIKE is not allowed", "position 10"]),
        ("metrics.x IN (1, 2)", ["operator IN is not allowed on metrics.x"]),
        ("start_time LIKE '1%'", ["operator LIKE is not allowed on attribute start_time"]),
        ("status > 'A'", ["operator > is not allowed on attribute status", "string"]),
        ("status IS NULL", ["operator IS NULL is not allowed on attribute status"]),
        ("experiment_id LIKE '1%'", ["operator LIKE is not allowed on attribute experiment_id"]),
        ("metrics.x = 'a'", ["metrics.x needs a number", "position 12"]),
        ("metrics.x > '0.5'", ["needs a number", "string '0.5'"]),
        ("start_time > '2024-01-01'", ["start_time needs a number", "position 13"]),
        ("params.x = 1", ["params.x needs a quoted string", "write '1'", "position 11"]),
        ("tags.x IN ('a', 2)", ["tags.x needs a quoted string", "position 16"]),
        ("experiment_id = 'abc'", ["needs an integer id", "position 16"]),
        ("experiment_id = 1.5", ["needs an integer id"]),
        ("metrics.x = 1 garbage", ["unexpected 'garbage'", "position 14", "AND"]),
        ("metrics.x = 1 metrics.y = 2", ["unexpected", "position 14"]),
        ("metrics.x > 1abc", ["malformed number", "position 12"]),
        ("params.x = abc", ["expected a value", "quote strings", "position 11"]),
        ("params.x IN ()", ["empty tuple", "position 12"]),
        ("params.x IN (  )", ["empty tuple"]),
        ("params.x IN ('a'", ["unterminated tuple", "position 12"]),
        ("params.x IN ('a' 'b')", ["expected ',' or ')'", "position 17"]),
        ("params.x IN 'a'", ["IN needs a parenthesized tuple", "position 12"]),
        ("params.x = ('a')", ["tuple is only allowed with IN", "position 11"]),
        ("metrics.x > 1 or metrics.y < 2", ["OR is not supported", "only AND", "position 14"]),
        ("metrics.x > 1 OR metrics.y < 2", ["OR is not supported"]),
        ("or metrics.y < 2", ["expected a clause, got OR", "position 0"]),
        ("metrics.x > 1 and", ["missing clause after AND", "position 17"]),
        ("metrics.x > 1 and and metrics.y < 1", ["expected a clause, got AND", "position 18"]),
        ("(metrics.x > 1)", ["parentheses", "position 0"]),
        ("not metrics.x > 1", ["NOT before a clause", "position 0"]),
        ("params.x NOT LIKE 'a'", ["expected IN after NOT", "position 13"]),
        ("params.x IS 'a'", ["expected NULL after IS", "position 12"]),
        ("params.x IS NOT 'a'", ["expected NULL after IS NOT", "position 16"]),
        ("metrics.x == 1", ["unknown operator '=='", "use '='"]),
        ("metrics.x <> 1", ["unknown operator '<>'", "use '!='"]),
        ("metrics.val loss > 1", ["unknown operator 'LOSS'", 'metrics."my key"']),
        ("metrics.x ~ 1", ["unknown operator '~'", "position 10"]),
        ('"val loss" > 1', ["quoted name needs a prefix", "position 0"]),
        ("= 1", ["expected an identifier", "position 0"]),
        ("metrics.x > 1e999", ["out of range", "position 12"]),
        ("params.x LIKE 'a\\'", ["lone backslash", "position 14"]),
    ],
)
def test_parse_filter_refuses(text: str, fragments: list[str]) -> None:
    with pytest.raises(ValidationError) as info:
        parse_filter(text)
    assert info.value.field == "filter"
    assert "position" in info.value.message
    for fragment in fragments:
        assert fragment in info.value.message, (fragment, info.value.message)


def test_parse_filter_refuses_overlong_text() -> None:
    with pytest.raises(ValidationError) as info:
        parse_filter("params.k = '" + "x" * MAX_FILTER_LENGTH + "'")
    assert info.value.field == "filter"
    assert str(MAX_FILTER_LENGTH) in info.value.message


def test_parse_filter_refuses_non_strings() -> None:
    with pytest.raises(ValidationError, match="filter must be a string"):
        parse_filter(42)  # type: ignore[arg-type]


# ---------------------------------------------------------------------------------------
# parse_order_by
# ---------------------------------------------------------------------------------------


def test_parse_order_by_accepts() -> None:
    assert parse_order_by(
        [
            "metrics.auc DESC",
            "params.lr",
            "attributes.start_time ASC",
            "run_name",
            "metrics.`val loss` desc",
            'tags."a b"  asc ',
            "name",
            "created DESC",
        ]
    ) == [
        OrderKey("metric", "auc", False),
        OrderKey("param", "lr", True),
        OrderKey("attribute", "start_time", True),
        OrderKey("attribute", "run_name", True),
        OrderKey("metric", "val loss", False),
        OrderKey("tag", "a b", True),
        OrderKey("attribute", "run_name", True),
        OrderKey("attribute", "start_time", False),
    ]
    assert parse_order_by(None) == []
    assert parse_order_by([]) == []


@pytest.mark.parametrize(
    ("items", "fragments"),
    [
        (["metrics.auc UP"], ["expected ASC or DESC", "position 12"]),
        (["metrics.auc DESC extra"], ["unexpected 'extra'", "position 17"]),
        ([""], ["empty item"]),
        (["   "], ["empty item"]),
        (["foo"], ["unknown attribute 'foo'"]),
        (["metricz.auc"], ["unknown prefix 'metricz'"]),
        (["metrics."], ["missing key"]),
        (["metrics.val loss"], ["expected ASC or DESC", 'metrics."my key"']),
        (["metrics.`val loss"], ["unterminated name"]),
    ],
)
def test_parse_order_by_refuses(items: list[str], fragments: list[str]) -> None:
    with pytest.raises(ValidationError) as info:
        parse_order_by(items)
    assert info.value.field == "order_by"
    for fragment in fragments:
        assert fragment in info.value.message, (fragment, info.value.message)


def test_parse_order_by_refuses_bad_containers() -> None:
    with pytest.raises(ValidationError, match="order_by must be a list of strings"):
        parse_order_by("metrics.auc")  # type: ignore[arg-type]
    with pytest.raises(ValidationError, match="order_by item 0 must be a string"):
        parse_order_by([1])  # type: ignore[list-item]
    with pytest.raises(ValidationError, match="order_by has 100 items; the limit is 20"):
        parse_order_by(["run_name"] * 100)


# ---------------------------------------------------------------------------------------
# build_run_query against the database
# ---------------------------------------------------------------------------------------

NAN = None  # marker: a NaN metric is stored as value NULL, is_nan True


def _make_engine() -> Engine:
    engine = create_engine("sqlite://")
    metadata.create_all(engine)
    return engine


def _seed(engine: Engine) -> None:
    def run(
        run_id: str,
        name: str,
        status: str,
        start: int,
        end: int | None,
        user: str,
        experiment: int = 1,
        stage: str = "active",
        parent: str | None = None,
    ) -> dict[str, Any]:
        return {
            "run_id": run_id,
            "experiment_id": experiment,
            "run_name": name,
            "status": status,
            "start_time": start,
            "end_time": end,
            "lifecycle_stage": stage,
            "parent_run_id": parent,
            "user_id": user,
            "artifact_uri": f"file:///a/{run_id}",
        }

    run_rows = [
        run("r1", "alpha", "FINISHED", 1000, 2000, "ann"),
        run("r2", "Beta", "RUNNING", 2000, None, "bob"),
        run("r3", "gamma", "FAILED", 3000, 3500, "ann", parent="r1"),
        run("r4", "delta", "FINISHED", 3000, 4000, "cat"),
        run("r5", "eps", "FINISHED", 5000, 5100, "ann", stage="deleted"),
        run("r6", "zeta", "FINISHED", 6000, 6100, "ann", experiment=2),
    ]
    metric_values: dict[str, dict[str, float | None]] = {
        "r1": {"auc": 0.9, "loss": 0.3, "val loss": 0.2},
        "r2": {"auc": 0.7, "loss": NAN},
        "r3": {"loss": 0.5},
        "r4": {"auc": NAN},
        "r5": {"auc": 0.99},
        "r6": {"auc": 0.95},
    }
    param_values: dict[str, dict[str, str]] = {
        "r1": {"model": "xgb", "lr": "0.01"},
        "r2": {"model": "XGBoost", "lr": "0.1"},
        "r3": {"model": "lgbm"},
        "r4": {"model": "rf", "lr": "0.01"},
        "r5": {"model": "xgb"},
        "r6": {"model": "xgb"},
    }
    tag_values: dict[str, dict[str, str]] = {
        "r1": {"team": "Vision", "note": "it's", "pct": "50%", "glob": "a*b", "br": "[x]"},
        "r2": {"team": "vision-core", "pct": "500", "glob": "axb", "br": "x"},
        "r4": {"team": "nlp"},
    }
    with engine.begin() as conn:
        conn.execute(
            experiments.insert(),
            [
                {
                    "experiment_id": e,
                    "name": f"exp{e}",
                    "artifact_location": "file:///a",
                    "lifecycle_stage": "active",
                    "creation_time": 0,
                    "last_update_time": 0,
                }
                for e in (1, 2)
            ],
        )
        conn.execute(runs.insert(), run_rows)
        conn.execute(
            latest_metrics.insert(),
            [
                {
                    "run_id": r,
                    "key": k,
                    "value": v,
                    "is_nan": v is None,
                    "step": 0,
                    "timestamp": 0,
                }
                for r, values in metric_values.items()
                for k, v in values.items()
            ],
        )
        conn.execute(
            params.insert(),
            [
                {"run_id": r, "key": k, "value": v}
                for r, kv in param_values.items()
                for k, v in kv.items()
            ],
        )
        conn.execute(
            tags.insert(),
            [
                {"run_id": r, "key": k, "value": v}
                for r, kv in tag_values.items()
                for k, v in kv.items()
            ],
        )


def _configured_database_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A new migrated database of the configured kind (one per module: seeding it once
    keeps ~100 cases fast on PostgreSQL too)."""
    if not PG_URL:
        return f"sqlite:///{tmp_path_factory.mktemp('search') / 'mloop.db'}"
    url = make_url(PG_URL)
    require_service(port_open(url.host or "127.0.0.1", url.port or 5432), "PostgreSQL")
    return _pg_database_url()


# The non-C collation database exists only in the PostgreSQL pass.
_DATABASES = ["configured"] + (["postgresql-non-c-collation"] if PG_URL else [])


@pytest.fixture(scope="module", params=_DATABASES)
def engine(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Engine]:
    if request.param == "configured":
        url = _configured_database_url(tmp_path_factory)
    else:
        url = request.getfixturevalue("pg_non_c_collation_url")
    db = Database(url)
    db.migrate()
    _seed(db.engine)
    yield db.engine
    db.dispose()
    if request.param == "configured" and PG_URL:
        _pg_drop(url)


def _search(
    engine: Engine,
    filter_string: str | None = None,
    order_by: list[str] | None = None,
    *,
    experiment_ids: list[int] | None = None,
    lifecycle: Any = "active",
) -> list[str]:
    stmt = build_run_query(
        experiment_ids=[1] if experiment_ids is None else experiment_ids,
        filter_string=filter_string,
        order_by=order_by,
        lifecycle=lifecycle,
    )
    with engine.connect() as conn:
        return [row[0] for row in conn.execute(stmt)]


def test_default_order_is_start_time_desc_then_run_id(engine: Engine) -> None:
    assert _search(engine) == ["r3", "r4", "r2", "r1"]


def test_lifecycle_and_experiments(engine: Engine) -> None:
    assert _search(engine, lifecycle="deleted") == ["r5"]
    assert _search(engine, lifecycle="all") == ["r5", "r3", "r4", "r2", "r1"]
    assert _search(engine, experiment_ids=[1, 2]) == ["r6", "r3", "r4", "r2", "r1"]
    assert _search(engine, experiment_ids=[2]) == ["r6"]
    assert _search(engine, experiment_ids=[]) == []
    with pytest.raises(ValidationError) as info:
        _search(engine, lifecycle="gone")
    assert info.value.field == "lifecycle"


@pytest.mark.parametrize(
    ("filter_string", "expected"),
    [
        ("metrics.auc > 0.8", ["r1"]),
        ("metrics.auc >= 0.7", ["r2", "r1"]),
        ("metrics.auc = 0.7", ["r2"]),
        ("metrics.auc < 1", ["r2", "r1"]),  # the NaN of r4 matches nothing
        ("metrics.auc != 0.9", ["r2"]),  # NaN (r4) and missing (r3) do not match !=
        ("metrics.auc IS NULL", ["r3"]),
        ("metrics.auc IS NOT NULL", ["r4", "r2", "r1"]),  # NaN counts as logged
        ("metrics.loss <= 0.5", ["r3", "r1"]),
        ("metrics.loss > -1", ["r3", "r1"]),
        ('metrics."val loss" < 1', ["r1"]),
        ("metrics.`val loss` < 0.1", []),
        ("metrics.nope > 0", []),
        ("params.model = 'xgb'", ["r1"]),
        ("params.model LIKE 'xgb%'", ["r1"]),  # LIKE is case-sensitive, also on SQLite
        ("params.model LIKE 'XGB%'", ["r2"]),
        ("params.model ILIKE 'xgb%'", ["r2", "r1"]),
        ("params.model LIKE '_gbm'", ["r3"]),
        ("params.model LIKE '%'", ["r3", "r4", "r2", "r1"]),
        ("params.model IN ('xgb', 'rf')", ["r4", "r1"]),
        ("params.model NOT IN ('xgb')", ["r3", "r4", "r2"]),
        ("params.lr = '0.01'", ["r4", "r1"]),
        ("params.lr != '0.01'", ["r2"]),  # r3 lacks the key
        ("params.lr IS NULL", ["r3"]),
        ("params.lr IS NOT NULL", ["r4", "r2", "r1"]),
        ("tags.team ILIKE 'VISION%'", ["r2", "r1"]),
        ("tags.team LIKE 'v%'", ["r2"]),
        ("tags.note = 'it''s'", ["r1"]),
        ('tags."note" = "it\'s"', ["r1"]),
        ("tags.pct LIKE '50%'", ["r2", "r1"]),
        ("tags.pct LIKE '50\\%'", ["r1"]),  # backslash makes % literal
        ("tags.pct ILIKE '50\\%'", ["r1"]),
        ("tags.glob LIKE 'a*b'", ["r1"]),  # GLOB metacharacters stay literal
        ("tags.glob LIKE 'a?b'", []),
        ("tags.br LIKE '[x]'", ["r1"]),
        ("tags.team IS NULL", ["r3"]),
        ("tags.team IN ('nlp', 'Vision')", ["r4", "r1"]),
        ("status = 'FINISHED'", ["r4", "r1"]),
        ("attributes.status != 'FINISHED'", ["r3", "r2"]),
        ("status IN ('RUNNING', 'FAILED')", ["r3", "r2"]),
        ("run_name ILIKE 'b%'", ["r2"]),
        ("name LIKE 'b%'", []),
        ("run_name LIKE '%a'", ["r3", "r4", "r2", "r1"]),
        ("run_id IN ('r1', 'r3', 'r5')", ["r3", "r1"]),
        ("user_id = 'ann'", ["r3", "r1"]),
        ("start_time >= 2000", ["r3", "r4", "r2"]),
        ("attributes.start_time < 2000.5", ["r2", "r1"]),
        ("end_time IS NULL", ["r2"]),
        ("end_time > 3000", ["r3", "r4"]),
        ("parent_run_id = 'r1'", ["r3"]),
        ("parent_run_id IS NULL", ["r4", "r2", "r1"]),
        ("experiment_id = '1'", ["r3", "r4", "r2", "r1"]),
        ("experiment_id != 1", []),
        (
            "metrics.auc > 0.5 and params.model ILIKE 'xgb%' and tags.team LIKE 'v%'",
            ["r2"],
        ),
        ("params.model = 'xgb' and status = 'FINISHED' and metrics.auc > 0.5", ["r1"]),
    ],
)
def test_filter_results(engine: Engine, filter_string: str, expected: list[str]) -> None:
    assert _search(engine, filter_string) == expected


def test_experiment_id_clause_narrows_experiments(engine: Engine) -> None:
    assert _search(engine, "experiment_id = '2'", experiment_ids=[1, 2]) == ["r6"]
    assert _search(engine, "experiment_id IN (1)", experiment_ids=[1, 2]) == [
        "r3",
        "r4",
        "r2",
        "r1",
    ]


def test_like_patterns_are_not_mixed_up_by_the_statement_cache(engine: Engine) -> None:
    # Same statement shape, different patterns: the cached compiled form must rebind.
    assert _search(engine, "params.model LIKE 'x%'") == ["r1"]
    assert _search(engine, "params.model LIKE 'r%'") == ["r4"]
    assert _search(engine, "params.model LIKE 'X%'") == ["r2"]


@pytest.mark.parametrize(
    ("order_by", "expected"),
    [
        # numbers, then NaN (r4), then missing (r3), whatever the direction
        (["metrics.auc DESC"], ["r1", "r2", "r4", "r3"]),
        (["metrics.auc ASC"], ["r2", "r1", "r4", "r3"]),
        (["metrics.auc"], ["r2", "r1", "r4", "r3"]),
        (["metrics.loss desc"], ["r3", "r1", "r2", "r4"]),
        # ties on the value fall back to start_time DESC, run_id ASC
        (["params.lr ASC"], ["r4", "r1", "r2", "r3"]),
        (["params.lr DESC"], ["r2", "r4", "r1", "r3"]),
        (["tags.team"], ["r1", "r4", "r2", "r3"]),
        (["tags.team DESC"], ["r2", "r4", "r1", "r3"]),
        (["run_name"], ["r2", "r1", "r4", "r3"]),
        (["attributes.start_time ASC"], ["r1", "r2", "r3", "r4"]),
        (["end_time DESC"], ["r4", "r3", "r1", "r2"]),
        (["end_time ASC"], ["r1", "r3", "r4", "r2"]),
        (["params.lr", "metrics.auc DESC"], ["r1", "r4", "r2", "r3"]),
        (["user_id DESC", "run_name"], ["r4", "r2", "r1", "r3"]),
        (["metrics.auc DESC", "metrics.auc ASC"], ["r1", "r2", "r4", "r3"]),
    ],
)
def test_order_by(engine: Engine, order_by: list[str], expected: list[str]) -> None:
    assert _search(engine, order_by=order_by) == expected


def test_filter_and_order_together(engine: Engine) -> None:
    assert _search(engine, "metrics.auc IS NOT NULL", ["metrics.auc DESC"]) == [
        "r1",
        "r2",
        "r4",
    ]
    # 'xgb' > 'rf' > 'XGBoost' in binary order
    assert _search(engine, "params.lr IS NOT NULL", ["params.model DESC"]) == [
        "r1",
        "r4",
        "r2",
    ]


def test_invalid_input_raises_before_touching_the_database() -> None:
    with pytest.raises(ValidationError) as info:
        build_run_query(experiment_ids=[1], filter_string="params.x > 1", order_by=None)
    assert info.value.field == "filter"
    with pytest.raises(ValidationError) as info:
        build_run_query(experiment_ids=[1], filter_string=None, order_by=["metrics.x sideways"])
    assert info.value.field == "order_by"


def test_select_runs_compiles_clauses_built_in_code(engine: Engine) -> None:
    # The SQL side takes the parsed form, whoever built it.
    stmt = select_runs(
        experiment_ids=[1],
        clauses=[
            Clause("param", "model", "IN", ("xgb", "rf", "XGBoost")),
            Clause("attribute", "end_time", "IS NOT NULL", None),
        ],
        keys=[OrderKey("metric", "auc", ascending=False)],
        lifecycle="active",
    )
    with engine.connect() as conn:
        assert [row[0] for row in conn.execute(stmt)] == ["r1", "r4"]
    stmt = select_runs(experiment_ids=[1], clauses=[], keys=[], lifecycle="all")
    with engine.connect() as conn:
        assert [row[0] for row in conn.execute(stmt)] == ["r5", "r3", "r4", "r2", "r1"]


def _literal_for(kind: Kind, key: str, op: str) -> str:
    if op in ("IS NULL", "IS NOT NULL"):
        return ""
    value = "1" if key == "experiment_id" or is_numeric(kind, key) else "'x'"
    return f" ({value})" if op in ("IN", "NOT IN") else f" {value}"


@pytest.mark.parametrize(
    ("kind", "key"),
    [("metric", "auc"), ("param", "lr"), ("tag", "team")]
    + [("attribute", name) for name in CANONICAL_ATTRIBUTES],
)
def test_every_allowed_operator_parses_and_runs(engine: Engine, kind: Kind, key: str) -> None:
    # The vocabulary, the parser and the SQL side agree: each operator the vocabulary
    # allows is accepted by the parser and compiles to a query the database runs.
    prefix = {"metric": "metrics.", "param": "params.", "tag": "tags.", "attribute": ""}[kind]
    for op in allowed_ops(kind, key):
        text = f"{prefix}{key} {op}{_literal_for(kind, key, op)}"
        assert [c.op for c in parse_filter(text)] == [op], text
        _search(engine, text)  # raises if the SQL side cannot compile or run it


# ---------------------------------------------------------------------------------------
# scale
# ---------------------------------------------------------------------------------------

SCALE_RUNS = 100_000


def test_search_over_100k_runs() -> None:
    engine = _make_engine()
    run_rows = [
        {
            "run_id": f"{i:032x}",
            "experiment_id": 1,
            "run_name": f"run-{i}",
            "status": "FINISHED",
            "start_time": i,
            "end_time": i + 1,
            "lifecycle_stage": "deleted" if i % 10 == 9 else "active",
            "parent_run_id": None,
            "user_id": "u",
            "artifact_uri": "",
        }
        for i in range(SCALE_RUNS)
    ]
    metric_rows = [
        {
            "run_id": f"{i:032x}",
            "key": "acc",
            "value": i / SCALE_RUNS,
            "is_nan": False,
            "step": 0,
            "timestamp": 0,
        }
        for i in range(SCALE_RUNS)
        if i % 7 != 0  # every 7th run never logged acc
    ]
    param_rows = [
        {"run_id": f"{i:032x}", "key": "fold", "value": str(i % 5)} for i in range(SCALE_RUNS)
    ]
    with engine.begin() as conn:
        conn.execute(
            experiments.insert(),
            {
                "experiment_id": 1,
                "name": "big",
                "artifact_location": "",
                "lifecycle_stage": "active",
                "creation_time": 0,
                "last_update_time": 0,
            },
        )
        conn.execute(runs.insert(), run_rows)
        conn.execute(latest_metrics.insert(), metric_rows)
        conn.execute(params.insert(), param_rows)

    def matches(i: int) -> bool:
        return i >= SCALE_RUNS // 2 and i % 5 == 3 and i % 7 != 0 and i % 10 != 9

    expected = [i for i in range(SCALE_RUNS) if matches(i)]
    stmt = build_run_query(
        experiment_ids=[1],
        filter_string=f"metrics.acc >= {0.5} and params.fold = '3'",
        order_by=["metrics.acc ASC"],
    )
    with engine.connect() as conn:
        count = conn.execute(
            select(func.count()).select_from(stmt.order_by(None).subquery())
        ).scalar_one()
        first = [row[0] for row in conn.execute(stmt.limit(3))]
        newest = [
            row[0]
            for row in conn.execute(
                build_run_query(
                    experiment_ids=[1], filter_string="metrics.acc IS NULL", order_by=None
                ).limit(2)
            )
        ]
    assert count == len(expected)
    assert first == [f"{i:032x}" for i in expected[:3]]
    missing = [i for i in range(SCALE_RUNS) if i % 7 == 0 and i % 10 != 9]
    assert newest == [f"{i:032x}" for i in sorted(missing, reverse=True)[:2]]
    engine.dispose()
