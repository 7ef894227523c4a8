"""Cross-column rules: one SQL boolean expression each, checked before it is ever run.

A rule is user SQL by design, but only a single row-level expression over the data's
columns is accepted. The text is wrapped as ``SELECT (<rule>) AS __mloop_rule FROM
__mloop_probe`` and parsed by DuckDB's own parser (``json_serialize_sql``); the rule is
refused unless that parses to exactly that one plain SELECT. Inside the expression,
subqueries, window, aggregate and table functions, star expressions and prepared-statement
parameters are refused too. A rule therefore cannot end the statement (``;``), read another
table or file, or change settings; validation additionally runs with DuckDB's external
access switched off.
"""

from __future__ import annotations

import contextlib
import functools
import json
import threading
from collections.abc import Iterator
from typing import Any

import duckdb

MAX_RULE_LENGTH = 10_000
_PROBE = "__mloop_probe"
_ALIAS = "__mloop_rule"
_FORBIDDEN_CLASSES = {
    "SUBQUERY": "subqueries",
    "WINDOW": "window functions",
    "STAR": "star expressions",
    "PARAMETER": "parameters",
}
_FORBIDDEN_FUNCTION_TYPES = ("aggregate", "window", "table", "table_macro", "pragma")
_FORBIDDEN_SCALARS = frozenset({"nextval", "currval", "setseed"})


class RuleSyntaxError(ValueError):
    """The rule is not a single safe SQL expression."""


def check_rule_sql(sql: str) -> list[str]:
    """Refuse anything but one row-level boolean-capable expression; return its columns.

    The column names are those the expression references (deduplicated, in order), so a
    report can show them and validation can tell when one is missing.
    """
    return list(_checked_rule(sql))


def regex_problem(pattern: str) -> str | None:
    """Why DuckDB (RE2) cannot compile ``pattern``, or None when it can."""
    return _regex_problem(pattern)


@functools.lru_cache(maxsize=1024)
def _regex_problem(pattern: str) -> str | None:
    with _scratch() as con:
        try:
            con.execute("SELECT regexp_matches('', ?)", [pattern]).fetchall()
        except duckdb.Error as exc:
            return str(exc).splitlines()[0]
    return None


@functools.lru_cache(maxsize=1024)
def _checked_rule(sql: str) -> tuple[str, ...]:
    if not sql.strip():
        raise RuleSyntaxError("the rule is empty")
    if len(sql) > MAX_RULE_LENGTH:
        raise RuleSyntaxError(f"the rule is longer than {MAX_RULE_LENGTH} characters")
    if "\x00" in sql:
        raise RuleSyntaxError("the rule contains a NUL character")
    wrapped = f"SELECT (\n{sql}\n) AS {_ALIAS} FROM {_PROBE}"
    tree = _parse(wrapped)
    if tree.get("error"):
        message = str(tree.get("error_message", "syntax error")).splitlines()[0]
        raise RuleSyntaxError(f"not a valid SQL expression: {message}")
    statements = tree.get("statements") or []
    if len(statements) != 1:
        raise RuleSyntaxError("a rule must be one expression, not several statements")
    node = statements[0].get("node") or {}
    if not _is_plain_select(node):
        raise RuleSyntaxError(
            "a rule must be a single expression such as 'discount <= amount'; "
            "it may not close the parenthesis it is wrapped in or add clauses"
        )
    expression = node["select_list"][0]
    columns: list[str] = []
    forbidden_functions = _forbidden_functions()
    for item in _walk(expression):
        klass = item.get("class")
        if klass in _FORBIDDEN_CLASSES:
            raise RuleSyntaxError(f"{_FORBIDDEN_CLASSES[klass]} are not allowed in a rule")
        if klass == "FUNCTION":
            name = str(item.get("function_name", "")).lower()
            if name in forbidden_functions or name in _FORBIDDEN_SCALARS:
                raise RuleSyntaxError(
                    f"function {name}() is not allowed in a rule: a rule is checked row by "
                    "row and may only use scalar functions"
                )
        if klass == "COLUMN_REF":
            names = item.get("column_names") or []
            if names and names[-1] not in columns:
                columns.append(str(names[-1]))
    return tuple(columns)


def _is_plain_select(node: dict[str, Any]) -> bool:
    if node.get("type") != "SELECT_NODE":
        return False
    select_list = node.get("select_list") or []
    if len(select_list) != 1 or select_list[0].get("alias") != _ALIAS:
        return False
    table = node.get("from_table") or {}
    if table.get("type") != "BASE_TABLE" or table.get("table_name") != _PROBE:
        return False
    if table.get("schema_name") or table.get("catalog_name") or table.get("alias"):
        return False
    cte = (node.get("cte_map") or {}).get("map") or []
    empty = (
        node.get("where_clause"),
        node.get("having"),
        node.get("qualify"),
        node.get("sample"),
        node.get("group_expressions"),
        node.get("group_sets"),
        node.get("modifiers"),
        cte,
    )
    return not any(empty)


def _walk(value: Any) -> Iterator[dict[str, Any]]:
    if isinstance(value, dict):
        yield value
        for child in value.values():
            yield from _walk(child)
    elif isinstance(value, list):
        for child in value:
            yield from _walk(child)


_SCRATCH_LOCK = threading.Lock()
_SCRATCH: list[duckdb.DuckDBPyConnection] = []


@contextlib.contextmanager
def _scratch() -> Iterator[duckdb.DuckDBPyConnection]:
    """A shared connection without data or file access, for parsing; one user at a time."""
    with _SCRATCH_LOCK:
        if not _SCRATCH:
            con = duckdb.connect()
            con.execute("SET enable_external_access = false")
            con.execute("SET lock_configuration = true")
            _SCRATCH.append(con)
        yield _SCRATCH[0]


def _parse(sql: str) -> dict[str, Any]:
    with _scratch() as con:
        rows = con.execute("SELECT json_serialize_sql(?)", [sql]).fetchall()
    result: dict[str, Any] = json.loads(rows[0][0])
    return result


@functools.cache
def _forbidden_functions() -> frozenset[str]:
    with _scratch() as con:
        marks = ", ".join("?" for _ in _FORBIDDEN_FUNCTION_TYPES)
        rows = con.execute(
            "SELECT DISTINCT lower(function_name) FROM duckdb_functions() "
            f"WHERE function_type IN ({marks}) AND lower(function_name) NOT IN "
            "(SELECT lower(function_name) FROM duckdb_functions() "
            "WHERE function_type IN ('scalar', 'macro'))",
            list(_FORBIDDEN_FUNCTION_TYPES),
        ).fetchall()
    return frozenset(r[0] for r in rows)


def wrap_rule(sql: str) -> str:
    """The rule in parentheses, on lines of its own (so a trailing ``--`` comment ends there)."""
    return f"(\n{sql}\n)"
