"""Run search differentially: mloop's SQL on the configured database against MLflow's own
in-memory filter and sort (``SearchUtils``) over generated runs, filters and orders.

The runs are stored through the tracking operations (so NaN, infinities and long values are
encoded as ingestion encodes them) in one database per module, one experiment per example.
Values are drawn from a small alphabet that holds LIKE's ``%``, ``_`` and backslash, a quote,
a space, letters of both cases (with an accented pair) and values around the 200-character
indexed prefix, so that filters hit, almost hit and miss.

Where mloop deliberately differs from MLflow (docs/tracking.md, ``mloop.tracking.search``)
the expectation says so and does not ask MLflow:

* a NaN metric matches no comparison, ``!=`` included (MLflow's in-memory ``!=`` accepts it);
* in LIKE patterns a backslash makes the next character literal (MLflow's in-memory LIKE has
  no escape, so a literal ``%`` or ``_`` cannot be written there; such patterns are checked
  against a regular expression built from the same pattern);
* ``IN``/``NOT IN`` on params and tags and ``IS [NOT] NULL`` on metrics and attributes are
  mloop's additions (MLflow allows them elsewhere only), checked against their definition.
"""

from __future__ import annotations

import dataclasses
import math
import re
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from mlflow.entities import Metric, Param, Run, RunData, RunInfo, RunTag
from mlflow.utils.search_utils import SearchUtils
from tests.conftest import PG_URL, _pg_database_url, _pg_drop, port_open, require_service

from mloop.core.config import Settings
from mloop.store.runtime import Runtime, open_runtime
from mloop.tracking import experiments, ingest, runs
from mloop.tracking.schemas import (
    CreateExperiment,
    CreateRun,
    LogBatch,
    MetricIn,
    ParamIn,
    SearchRuns,
    UpdateRun,
)

# -- the database: one per module (and the non-C collation one in the PostgreSQL pass) ----

_DATABASES = ["configured"] + (["postgresql-non-c-collation"] if PG_URL else [])


@pytest.fixture(scope="module", params=_DATABASES)
def store(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Runtime]:
    home: Path = tmp_path_factory.mktemp("search-differential")
    settings = Settings.for_home(home)
    url = None
    if request.param != "configured":
        settings = dataclasses.replace(
            settings, database_url=request.getfixturevalue("pg_non_c_collation_url")
        )
    elif PG_URL:
        from sqlalchemy.engine import make_url

        parsed = make_url(PG_URL)
        require_service(port_open(parsed.host or "127.0.0.1", parsed.port or 5432), "PostgreSQL")
        url = _pg_database_url()
        settings = dataclasses.replace(settings, database_url=url)
    runtime = open_runtime(settings)
    yield runtime
    runtime.close()
    if url:
        _pg_drop(url)


# -- generated runs -----------------------------------------------------------------------

# No control characters: run names refuse them, and MLflow's in-memory LIKE (a regular
# expression without DOTALL) would not let % match a newline, where SQL's does. ASCII only:
# ILIKE folds only ASCII letters on SQLite ('É' ILIKE 'é' is false there), and on PostgreSQL
# folds by the database's locale, where MLflow folds all of Unicode (docs/tracking.md).
ALPHABET = "aAbB%_\\' .z"
SHORT = st.text(alphabet=ALPHABET, max_size=6)
# Around VALUE_PREFIX_LENGTH (200): equality there is decided by the prefix index and then
# the whole value.
LONG = st.builds(
    lambda head, tail: "a" * head + tail,
    st.integers(min_value=190, max_value=205),
    st.text(alphabet="ab%", max_size=4),
)
VALUES = st.one_of(SHORT, SHORT, LONG)
METRIC_VALUES = st.one_of(
    st.sampled_from([0.0, -0.0, 1.0, 0.5, math.nan, math.inf, -math.inf]),
    st.floats(allow_nan=True, allow_infinity=True),
)
NAMES = st.text(alphabet="aAbB%_\\'.z", min_size=1, max_size=5)
STATUSES = ["RUNNING", "FINISHED", "FAILED", "KILLED"]


@dataclasses.dataclass
class RunSpec:
    name: str
    user: str
    start_time: int
    status: str
    end_time: int | None
    metrics: dict[str, float]
    params: dict[str, str]
    tags: dict[str, str]


@st.composite
def run_specs(draw: st.DrawFn) -> RunSpec:
    status = draw(st.sampled_from(STATUSES))
    return RunSpec(
        name=draw(NAMES),
        user=draw(st.sampled_from(["ann", "Bob", "bob", "b_b"])),
        start_time=draw(st.integers(min_value=0, max_value=3)),  # ties on the final order
        status=status,
        end_time=None if status == "RUNNING" else draw(st.integers(min_value=3, max_value=6)),
        metrics=draw(st.dictionaries(st.sampled_from(["m1", "m2"]), METRIC_VALUES)),
        params=draw(st.dictionaries(st.sampled_from(["p1", "p2"]), VALUES)),
        tags=draw(st.dictionaries(st.sampled_from(["t1", "t2"]), VALUES)),
    )


def _store_runs(store: Runtime, specs: list[RunSpec]) -> tuple[str, list[Run]]:
    """Store the runs in a new experiment; return its id and the same runs as MLflow
    entities, built from the specs (not read back)."""
    experiment_id = store.run(
        lambda ctx: experiments.create_experiment(
            ctx, CreateExperiment(name=f"diff-{uuid.uuid4().hex}")
        ),
        write=True,
    ).experiment_id
    mlflow_runs = []
    for spec in specs:
        created = store.run(
            lambda ctx, spec=spec: runs.create_run(
                ctx,
                CreateRun(
                    experiment_id=experiment_id,
                    run_name=spec.name,
                    start_time=spec.start_time,
                    user_id=spec.user,
                    tags=spec.tags,
                ),
            ),
            write=True,
        )
        run_id = created.info.run_id
        batch = LogBatch(
            run_id=run_id,
            metrics=[MetricIn(key=k, value=v, timestamp=0) for k, v in spec.metrics.items()],
            params=[ParamIn(key=k, value=v) for k, v in spec.params.items()],
        )
        store.run(lambda ctx, batch=batch: ingest.log_batch(ctx, batch), write=True)
        if spec.status != "RUNNING":
            update = UpdateRun(run_id=run_id, status=spec.status, end_time=spec.end_time)
            store.run(lambda ctx, update=update: runs.update_run(ctx, update), write=True)
        info = RunInfo(
            run_id=run_id,
            experiment_id=experiment_id,
            user_id=spec.user,
            status=spec.status,
            start_time=spec.start_time,
            end_time=spec.end_time,
            lifecycle_stage="active",
            run_name=spec.name,
        )
        data = RunData(
            metrics=[Metric(k, v, 0, 0) for k, v in spec.metrics.items()],
            params=[Param(k, v) for k, v in spec.params.items()],
            tags=[RunTag(k, v) for k, v in spec.tags.items()],
        )
        mlflow_runs.append(Run(info, data))
    return experiment_id, mlflow_runs


# -- generated filters and orders ---------------------------------------------------------

# A LIKE pattern as tokens: ("lit", char), ("one",) for _ or ("any",) for %.
Token = tuple[str, ...]


@dataclasses.dataclass(frozen=True)
class Cond:
    kind: str  # metric, param, tag, attribute
    key: str
    op: str
    value: Any  # float, int, str, tuple of str, tuple of tokens (LIKE), None


def _quote(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _like_text(tokens: tuple[Token, ...]) -> str:
    """The pattern in mloop's syntax: a backslash makes %, _ and itself literal."""
    out = []
    for token in tokens:
        if token[0] == "any":
            out.append("%")
        elif token[0] == "one":
            out.append("_")
        else:
            out.append("\\" + token[1] if token[1] in "%_\\" else token[1])
    return "".join(out)


def render(cond: Cond) -> str:
    """One clause of an mloop filter."""
    prefix = {"metric": "metrics", "param": "params", "tag": "tags", "attribute": "attributes"}
    name = f"{prefix[cond.kind]}.{cond.key}"
    if cond.op in ("IS NULL", "IS NOT NULL"):
        return f"{name} {cond.op}"
    if cond.op in ("LIKE", "ILIKE"):
        return f"{name} {cond.op} {_quote(_like_text(cond.value))}"
    if cond.op in ("IN", "NOT IN"):
        return f"{name} {cond.op} ({', '.join(_quote(v) for v in cond.value)})"
    if isinstance(cond.value, str):
        return f"{name} {cond.op} {_quote(cond.value)}"
    return f"{name} {cond.op} {cond.value!r}"


def _variants(text: str) -> list[str]:
    """Values equal to, or one character away from, a stored value."""
    out = [text, text + "a", text.upper()]
    if text:
        out += [text[:-1], text[:-1] + ("b" if text[-1] != "b" else "a")]
    return out


@st.composite
def like_patterns(draw: st.DrawFn, candidates: list[str]) -> tuple[Token, ...]:
    """A pattern derived from a stored value: each character kept, or made _ or %."""
    base = draw(st.sampled_from(candidates)) if candidates else draw(SHORT)
    tokens: list[Token] = []
    if draw(st.booleans()):
        tokens.append(("any",))
    for char in base:
        choice = draw(st.sampled_from(["lit", "lit", "lit", "one", "any"]))
        # At most three %: the regular expressions that decide the expectation backtrack
        # polynomially in the number of % over 200-character values.
        if choice == "any" and tokens.count(("any",)) >= 2:
            choice = "one"
        if choice == "lit" and draw(st.booleans()):
            char = char.swapcase()  # what ILIKE is for, and LIKE must tell apart
        tokens.append(("lit", char) if choice == "lit" else (choice,))
    if draw(st.booleans()):
        tokens.append(("any",))
    return tuple(tokens)


@st.composite
def conditions(draw: st.DrawFn, specs: list[RunSpec]) -> Cond:
    kind = draw(st.sampled_from(["metric", "param", "tag", "attribute"]))
    if kind == "metric":
        key = draw(st.sampled_from(["m1", "m2"]))
        op = draw(st.sampled_from(["=", "!=", "<", "<=", ">", ">=", "IS NULL", "IS NOT NULL"]))
        stored = [v for s in specs for v in s.metrics.values() if math.isfinite(v)]
        finite = st.floats(allow_nan=False, allow_infinity=False)
        value = draw(st.sampled_from(stored) | finite if stored else finite)
        return Cond(kind, key, op, None if "NULL" in op else value)
    if kind == "attribute":
        key = draw(st.sampled_from(["run_name", "status", "user_id", "start_time", "end_time"]))
        if key in ("start_time", "end_time"):
            ops = ["=", "!=", "<", "<=", ">", ">="] + (
                ["IS NULL", "IS NOT NULL"] * (key == "end_time")
            )
            op = draw(st.sampled_from(ops))
            number = draw(st.integers(min_value=-1, max_value=7))
            return Cond(kind, key, op, None if "NULL" in op else number)
        stored = {
            "run_name": [s.name for s in specs],
            "status": STATUSES,
            "user_id": [s.user for s in specs],
        }[key]
    else:
        key = draw(st.sampled_from(["p1", "p2"] if kind == "param" else ["t1", "t2"]))
        field = "params" if kind == "param" else "tags"
        stored = [v for s in specs for v in getattr(s, field).values()]
        op_list = ["IS NULL", "IS NOT NULL"]
        op = draw(st.sampled_from(["=", "!=", "LIKE", "ILIKE", "IN", "NOT IN", *op_list]))
        if "NULL" in op:
            return Cond(kind, key, op, None)
    if kind == "attribute":
        op = draw(st.sampled_from(["=", "!=", "LIKE", "ILIKE", "IN", "NOT IN"]))
    candidates = sorted({v for text in stored for v in _variants(text)})
    strings = st.sampled_from(candidates) | VALUES if candidates else VALUES
    if op in ("LIKE", "ILIKE"):
        return Cond(kind, key, op, draw(like_patterns(sorted(set(stored)))))
    if op in ("IN", "NOT IN"):
        return Cond(kind, key, op, tuple(draw(st.lists(strings, min_size=1, max_size=3))))
    return Cond(kind, key, op, draw(strings))


ORDER_KEYS = [
    ("metrics", "m1"),
    ("metrics", "m2"),
    ("params", "p1"),
    ("tags", "t1"),
    ("attributes", "run_name"),
    ("attributes", "status"),
    ("attributes", "user_id"),
    ("attributes", "start_time"),
    ("attributes", "end_time"),
]
ORDERS = st.lists(
    st.builds(
        lambda key, direction: f"{key[0]}.{key[1]}{direction}",
        st.sampled_from(ORDER_KEYS),
        st.sampled_from(["", " ASC", " DESC"]),
    ),
    max_size=2,
)


# -- the expectation ----------------------------------------------------------------------


def _lookup(run: Run, cond: Cond) -> Any:
    if cond.kind == "attribute":
        return getattr(run.info, cond.key)
    field = {"metric": "metrics", "param": "params", "tag": "tags"}[cond.kind]
    return getattr(run.data, field).get(cond.key)


def _like_regex(tokens: tuple[Token, ...], ignore_case: bool) -> re.Pattern[str]:
    parts = [".*" if t[0] == "any" else "." if t[0] == "one" else re.escape(t[1]) for t in tokens]
    return re.compile("".join(parts), re.DOTALL | (re.IGNORECASE if ignore_case else 0))


def expected_match(run: Run, cond: Cond) -> bool:
    """Whether MLflow (or, where mloop deliberately extends or differs, mloop's documented
    rule) accepts the run."""
    lhs = _lookup(run, cond)
    if cond.op in ("IS NULL", "IS NOT NULL"):  # present or not, on every kind
        return (lhs is None) == (cond.op == "IS NULL")
    if lhs is None:
        return False
    if cond.kind == "metric" and math.isnan(lhs):  # NaN matches no comparison (MLflow: != does)
        return False
    if cond.kind in ("param", "tag") and cond.op in ("IN", "NOT IN"):  # MLflow: attributes only
        return bool(SearchUtils.get_comparison_func(cond.op)(lhs, cond.value))
    value = cond.value
    if cond.op in ("LIKE", "ILIKE"):
        if any(t[0] == "lit" and t[1] in "%_" for t in value):  # no way to say it in MLflow
            return _like_regex(value, cond.op == "ILIKE").fullmatch(lhs) is not None
        # MLflow's pattern: no escape, a backslash is an ordinary character.
        value = "".join("%" if t[0] == "any" else "_" if t[0] == "one" else t[1] for t in value)
    kind = {"metric": "metric", "param": "parameter", "tag": "tag", "attribute": "attribute"}
    clause = {"type": kind[cond.kind], "key": cond.key, "comparator": cond.op, "value": value}
    return bool(SearchUtils._does_run_match_clause(run, clause))


def _search(
    store: Runtime, experiment_id: str, filter_string: str, order_by: list[str]
) -> list[str]:
    request = SearchRuns(
        experiment_ids=[experiment_id], filter=filter_string, order_by=order_by, max_results=1000
    )
    page = store.run(lambda ctx: runs.search_runs(ctx, request), write=False)
    return [r.info.run_id for r in page.runs]


@given(data=st.data(), specs=st.lists(run_specs(), min_size=1, max_size=6))
def test_search_agrees_with_mlflow_in_memory(
    store: Runtime, data: st.DataObject, specs: list[RunSpec]
) -> None:
    experiment_id, mlflow_runs = _store_runs(store, specs)
    for _ in range(3):  # several searches over the same runs keep the examples cheap
        conds = data.draw(st.lists(conditions(specs), max_size=3), label="filter")
        order_by = data.draw(ORDERS, label="order_by")
        filter_string = " and ".join(render(c) for c in conds)
        matched = [r for r in mlflow_runs if all(expected_match(r, c) for c in conds)]
        expected = [r.info.run_id for r in SearchUtils.sort(matched, order_by)]
        got = _search(store, experiment_id, filter_string, order_by)
        assert got == expected, (filter_string, order_by)
