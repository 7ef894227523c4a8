"""Run search: the filter and order-by language, and its translation to SQL.

The language follows MLflow's search syntax.

A filter is one or more clauses joined by ``AND`` (``OR`` and parentheses are refused)::

    metrics.auc > 0.9 and params.model = 'xgb' and tags."team name" LIKE 'vision%'
    status IN ('FINISHED', 'RUNNING') and attributes.start_time >= 1700000000000

Identifiers
    ``metrics.<key>``, ``params.<key>``, ``tags.<key>`` and ``attributes.<name>``; the
    prefixes also have the synonyms ``metric``, ``param``, ``parameter(s)``, ``tag``,
    ``attribute``, ``attr`` and ``run``. A bare key is made of letters, digits and
    ``_ . - / :``; any other key is quoted with backticks or double quotes
    (``metrics."val loss"``, ``params.`model type```), a quote inside being written twice.
    Keys are case-sensitive; prefixes, attribute names and keywords are not.
    Attributes may be written without prefix: ``status``, ``run_name`` (or ``name``),
    ``run_id``, ``user_id``, ``start_time`` (or ``created``), ``end_time``,
    ``parent_run_id``, ``experiment_id``.

Values
    Numbers: ``1``, ``-2.5``, ``.5``, ``1e-3``. Strings: single or double quotes; a quote
    of the same kind inside is written twice (``'it''s'``); a backslash is an ordinary
    character in the string (it only means something inside LIKE patterns, see below).
    Tuples for IN / NOT IN: ``('a', 'b')``, at least one element, trailing comma allowed.

Operators and meaning
    * Metrics compare the run's latest value numerically with ``= != < <= > >=``; the run
      must have the metric. A NaN latest value matches no comparison, ``!=`` included.
      ``IS NULL`` matches runs that never logged the key; ``IS NOT NULL`` runs that did
      (a NaN value counts as logged).
    * Params and tags are strings: ``= != LIKE ILIKE IN NOT IN`` (the run must have the key,
      so ``!=`` and ``NOT IN`` skip runs lacking it) and ``IS NULL`` / ``IS NOT NULL``
      (key absent / present).
    * ``start_time`` and ``end_time`` are numbers (epoch milliseconds); the other attributes
      are strings. ``end_time`` and ``parent_run_id`` also allow ``IS NULL`` and
      ``IS NOT NULL``. ``experiment_id`` allows ``= != IN NOT IN`` with integer values,
      quoted or not.
    * ``LIKE`` is case-sensitive and ``ILIKE`` case-insensitive on every database. In
      patterns ``%`` matches any run of characters, ``_`` one character, and a backslash
      makes the next character literal (``'50\\%'``).

Order by
    Items such as ``metrics.auc DESC``, ``params.lr``, ``attributes.start_time ASC``,
    ``run_name``; ascending by default. Runs without the metric, param or tag sort last
    whatever the direction (for metrics: numbers, then NaN, then missing). Every ordering
    ends with ``start_time DESC, run_id ASC`` so pages are stable.

Errors raise :class:`~mloop.core.errors.ValidationError` with ``field="filter"`` or
``field="order_by"`` and a message giving the problem and its 0-based character position.
"""

from __future__ import annotations

import operator
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal, get_args

from sqlalchemy import (
    Boolean,
    ColumnElement,
    FromClause,
    Select,
    and_,
    case,
    exists,
    intersect,
    literal,
    select,
    true,
)
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.functions import FunctionElement

from mloop.core.errors import ValidationError
from mloop.tracking.tables import (
    VALUE_PREFIX_LENGTH,
    latest_metrics,
    params,
    runs,
    tags,
    value_prefix,
)

Kind = Literal["metric", "param", "tag", "attribute"]
Lifecycle = Literal["active", "deleted", "all"]

MAX_FILTER_LENGTH = 10_000
MAX_ORDER_BY_ITEMS = 20

_PREFIXES: dict[str, Kind] = {
    "metrics": "metric",
    "metric": "metric",
    "params": "param",
    "param": "param",
    "parameters": "param",
    "parameter": "param",
    "tags": "tag",
    "tag": "tag",
    "attributes": "attribute",
    "attribute": "attribute",
    "attr": "attribute",
    "run": "attribute",
}

# Accepted attribute name -> canonical name (the runs column).
_ATTRIBUTES: dict[str, str] = {
    "status": "status",
    "run_name": "run_name",
    "name": "run_name",
    "run_id": "run_id",
    "user_id": "user_id",
    "start_time": "start_time",
    "created": "start_time",
    "end_time": "end_time",
    "parent_run_id": "parent_run_id",
    "experiment_id": "experiment_id",
}
_CANONICAL_ATTRIBUTES = sorted(set(_ATTRIBUTES.values()))
_NUMERIC_ATTRIBUTES = frozenset({"start_time", "end_time"})
_NULLABLE_ATTRIBUTES = frozenset({"end_time", "parent_run_id"})
_INTEGER_ATTRIBUTES = frozenset({"experiment_id"})

_NUMERIC_OPS = ("=", "!=", "<", "<=", ">", ">=")
_STRING_OPS = ("=", "!=", "LIKE", "ILIKE", "IN", "NOT IN")
_NULL_OPS = ("IS NULL", "IS NOT NULL")
_TUPLE_OPS = ("IN", "NOT IN")

_COMPARE: dict[str, Callable[[Any, Any], Any]] = {
    "=": operator.eq,
    "!=": operator.ne,
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
}

_WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_BARE_KEY = re.compile(r"[\w.\-/:]+")
_NUMBER = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?")
_KIND_PLURAL = {"metric": "metrics", "param": "params", "tag": "tags", "attribute": "attributes"}


@dataclass(frozen=True)
class Clause:
    """One comparison of a filter.

    ``value`` is a float for numeric comparisons, a string for string comparisons, a tuple
    of strings for IN / NOT IN, and None for IS NULL / IS NOT NULL. Attribute keys are
    canonical (``name`` becomes ``run_name``, ``created`` becomes ``start_time``).
    """

    kind: Kind
    key: str
    op: str
    value: float | str | tuple[str, ...] | None


@dataclass(frozen=True)
class OrderKey:
    """One order-by item."""

    kind: Kind
    key: str
    ascending: bool = True


@dataclass(frozen=True)
class _Value:
    """A parsed literal with where it started and how it was written."""

    kind: Literal["number", "string", "tuple"]
    value: float | str | tuple[_Value, ...]
    pos: int
    raw: str


def _display(kind: Kind, key: str) -> str:
    """An identifier as a user would write it, quoting the key where needed."""
    if kind == "attribute":
        return key
    shown = key if _BARE_KEY.fullmatch(key) else '"' + key.replace('"', '""') + '"'
    return f"{_KIND_PLURAL[kind]}.{shown}"


def _allowed_ops(kind: Kind, key: str) -> tuple[str, ...]:
    if kind == "metric":
        return _NUMERIC_OPS + _NULL_OPS
    if kind in ("param", "tag"):
        return _STRING_OPS + _NULL_OPS
    if key in _INTEGER_ATTRIBUTES:
        base: tuple[str, ...] = ("=", "!=", "IN", "NOT IN")
    elif key in _NUMERIC_ATTRIBUTES:
        base = _NUMERIC_OPS
    else:
        base = _STRING_OPS
    return base + _NULL_OPS if key in _NULLABLE_ATTRIBUTES else base


def _is_numeric(kind: Kind, key: str) -> bool:
    return kind == "metric" or (kind == "attribute" and key in _NUMERIC_ATTRIBUTES)


class _Parser:
    """A hand-written scanner over one filter string or one order-by item."""

    def __init__(self, text: str, *, field: str, context: str) -> None:
        self.text = text
        self.pos = 0
        self.field = field
        self.context = context

    # -- helpers -------------------------------------------------------------------------

    def error(self, message: str, pos: int, hint: str = "") -> ValidationError:
        text = f"{self.context}: {message} at position {pos}"
        if hint:
            text += f"; {hint}"
        return ValidationError(text, field=self.field)

    def at_end(self) -> bool:
        return self.pos >= len(self.text)

    def skip_ws(self) -> None:
        while self.pos < len(self.text) and self.text[self.pos].isspace():
            self.pos += 1

    def snippet(self, pos: int) -> str:
        rest = self.text[pos : pos + 20]
        return repr(rest + ("..." if len(self.text) > pos + 20 else ""))

    def peek_word(self) -> str | None:
        """The keyword at the cursor, upper-cased, without consuming it."""
        m = _WORD.match(self.text, self.pos)
        return m.group().upper() if m else None

    def take_word(self) -> str:
        m = _WORD.match(self.text, self.pos)
        assert m is not None
        self.pos = m.end()
        return m.group().upper()

    def read_quoted(self, what: str) -> str:
        """Read a quoted run starting at the cursor; a doubled quote stands for one quote."""
        quote = self.text[self.pos]
        start = self.pos
        i = self.pos + 1
        parts: list[str] = []
        while True:
            j = self.text.find(quote, i)
            if j < 0:
                raise self.error(
                    f"unterminated {what} starting with {quote}",
                    start,
                    f"close it with {quote} (write {quote}{quote} for a {quote} inside)",
                )
            parts.append(self.text[i:j])
            if j + 1 < len(self.text) and self.text[j + 1] == quote:
                parts.append(quote)
                i = j + 2
                continue
            self.pos = j + 1
            return "".join(parts)

    # -- grammar -------------------------------------------------------------------------

    def parse_identifier(self) -> tuple[Kind, str]:
        """``prefix.key`` or a bare attribute name."""
        start = self.pos
        m = _WORD.match(self.text, self.pos)
        if m is None:
            if self.at_end():
                raise self.error("missing identifier", start)
            char = self.text[start]
            if char in "`\"'":
                raise self.error(
                    "a quoted name needs a prefix",
                    start,
                    'write metrics."my key", params."my key" or tags."my key"',
                )
            if char == "(":
                raise self.error("parentheses for grouping are not supported", start)
            raise self.error(
                f"expected an identifier, got {self.snippet(start)}",
                start,
                "use metrics.<key>, params.<key>, tags.<key> or an attribute such as status",
            )
        word = m.group()
        self.pos = m.end()
        if self.pos < len(self.text) and self.text[self.pos] == ".":
            kind = _PREFIXES.get(word.lower())
            if kind is None:
                raise self.error(
                    f"unknown prefix {word!r}",
                    start,
                    "expected metrics., params., tags. or attributes.",
                )
            self.pos += 1
            key = self.parse_key(word)
            if kind == "attribute":
                return kind, self.attribute(key, start)
            return kind, key
        return "attribute", self.attribute(word, start, bare=True)

    def attribute(self, name: str, pos: int, *, bare: bool = False) -> str:
        canonical = _ATTRIBUTES.get(name.lower())
        if canonical is not None:
            return canonical
        hint = f"attributes are {', '.join(_CANONICAL_ATTRIBUTES)}"
        if bare:
            hint = f"use metrics.{name}, params.{name} or tags.{name} for a key; " + hint
        raise self.error(f"unknown attribute {name!r}", pos, hint)

    def parse_key(self, prefix: str) -> str:
        start = self.pos
        if not self.at_end() and self.text[start] in '`"':
            key = self.read_quoted("name")
            if not key:
                raise self.error(f"empty key after {prefix + '.'!r}", start)
            return key
        m = _BARE_KEY.match(self.text, start)
        if m is None:
            raise self.error(
                f"missing key after {prefix + '.'!r}",
                start,
                f'quote keys with other characters: {prefix}."my key"',
            )
        self.pos = m.end()
        return m.group()

    def parse_operator(self, ident: str) -> str:
        """Read an operator at the cursor (whitespace already skipped)."""
        start = self.pos
        if self.at_end():
            raise self.error(f"missing operator after {ident}", start)
        rest = self.text[start : start + 2]
        if rest in ("==", "<>"):
            raise self.error(
                f"unknown operator {rest!r}", start, "use '='" if rest == "==" else "use '!='"
            )
        for symbol in ("!=", "<=", ">=", "=", "<", ">"):
            if rest.startswith(symbol):
                self.pos += len(symbol)
                return symbol
        word = self.peek_word()
        if word in ("LIKE", "ILIKE", "IN"):
            self.take_word()
            return word
        if word == "NOT":
            self.take_word()
            self.skip_ws()
            if self.peek_word() != "IN":
                raise self.error("expected IN after NOT", self.pos, "NOT is only valid as NOT IN")
            self.take_word()
            return "NOT IN"
        if word == "IS":
            self.take_word()
            self.skip_ws()
            negated = self.peek_word() == "NOT"
            if negated:
                self.take_word()
                self.skip_ws()
            if self.peek_word() != "NULL":
                raise self.error("expected NULL after IS" + (" NOT" if negated else ""), self.pos)
            self.take_word()
            return "IS NOT NULL" if negated else "IS NULL"
        got = self.text[start:].split(None, 1)[0] if word is None else word
        hint = f"operators are {', '.join(_NUMERIC_OPS + _STRING_OPS[2:] + _NULL_OPS)}"
        if word is not None:
            hint = f'quote keys that contain spaces, e.g. metrics."my key"; {hint}'
        raise self.error(f"unknown operator {got!r} after {ident}", start, hint)

    def parse_scalar(self) -> _Value:
        start = self.pos
        char = self.text[start]
        if char in "'\"":
            value = self.read_quoted("string")
            return _Value("string", value, start, self.text[start : self.pos])
        m = _NUMBER.match(self.text, start)
        if m is not None:
            end = m.end()
            if end < len(self.text) and (self.text[end].isalnum() or self.text[end] in "._"):
                raise self.error(f"malformed number {self.snippet(start)}", start)
            number = float(m.group())
            if number in (float("inf"), float("-inf")):
                raise self.error(f"number {m.group()} is out of range", start)
            self.pos = end
            return _Value("number", number, start, m.group())
        got = self.text[start:].split(None, 1)[0][:20]
        raise self.error(
            f"expected a value, got {got!r}",
            start,
            f"quote strings, e.g. '{got}'" if _WORD.fullmatch(got) else "",
        )

    def parse_value(self, ident: str, op: str) -> _Value:
        self.skip_ws()
        start = self.pos
        if self.at_end():
            raise self.error(f"missing value after {ident} {op}", start)
        if self.text[start] != "(":
            return self.parse_scalar()
        self.pos += 1
        items: list[_Value] = []
        while True:
            self.skip_ws()
            if self.at_end():
                raise self.error("unterminated tuple: missing ')'", start)
            if self.text[self.pos] == ")":
                if not items:
                    raise self.error(
                        "empty tuple", start, f"{op} needs at least one value, e.g. ('a')"
                    )
                self.pos += 1
                break
            items.append(self.parse_scalar())
            self.skip_ws()
            if self.at_end():
                raise self.error("unterminated tuple: missing ')'", start)
            if self.text[self.pos] == ",":
                self.pos += 1
            elif self.text[self.pos] != ")":
                raise self.error(
                    f"expected ',' or ')' in tuple, got {self.snippet(self.pos)}", self.pos
                )
        return _Value("tuple", tuple(items), start, self.text[start : self.pos])

    def parse_clause(self) -> Clause:
        self.skip_ws()
        start = self.pos
        word = self.peek_word()
        if word is not None and not self.text[self.pos + len(word) :].startswith("."):
            if word in ("AND", "OR"):
                raise self.error(f"expected a clause, got {word}", start)
            if word == "NOT":
                raise self.error(
                    "NOT before a clause is not supported",
                    start,
                    "use !=, NOT IN or IS NULL",
                )
        kind, key = self.parse_identifier()
        ident = _display(kind, key)
        self.skip_ws()
        op_pos = self.pos
        op = self.parse_operator(ident)
        self.check_operator(kind, key, op, op_pos)
        if op in _NULL_OPS:
            return Clause(kind, key, op, None)
        value = self.parse_value(ident, op)
        return Clause(kind, key, op, self.convert_value(kind, key, op, value, ident))

    def check_operator(self, kind: Kind, key: str, op: str, pos: int) -> None:
        allowed = _allowed_ops(kind, key)
        if op in allowed:
            return
        ident = _display(kind, key)
        listed = ", ".join(allowed)
        if kind in ("param", "tag"):
            raise self.error(
                f"operator {op} is not allowed on {ident}",
                pos,
                f"{_KIND_PLURAL[kind]} are compared as strings and allow {listed}; "
                f"to compare numbers, log {key} as a metric and filter on "
                f"{_display('metric', key)} {op} ...",
            )
        if kind == "metric":
            raise self.error(
                f"operator {op} is not allowed on {ident}",
                pos,
                f"metrics are numbers and allow {listed}; to match text, "
                f"use {_display('param', key)} or {_display('tag', key)}",
            )
        nature = "a number" if key in _NUMERIC_ATTRIBUTES else "a string"
        if key in _INTEGER_ATTRIBUTES:
            nature = "an integer id"
        raise self.error(
            f"operator {op} is not allowed on attribute {key}",
            pos,
            f"{key} is {nature} and allows {listed}",
        )

    def convert_value(
        self, kind: Kind, key: str, op: str, value: _Value, ident: str
    ) -> float | str | tuple[str, ...]:
        if op in _TUPLE_OPS:
            if value.kind != "tuple":
                raise self.error(
                    f"{op} needs a parenthesized tuple, got {value.raw}",
                    value.pos,
                    f"write {ident} {op} ({value.raw})",
                )
            assert isinstance(value.value, tuple)
            return tuple(self.string_value(kind, key, item, ident) for item in value.value)
        if value.kind == "tuple":
            raise self.error(
                f"a tuple is only allowed with IN and NOT IN, not with {op}", value.pos
            )
        if _is_numeric(kind, key):
            if value.kind != "number":
                raise self.error(
                    f"{ident} needs a number, got string {value.raw}",
                    value.pos,
                    "write numbers without quotes",
                )
            assert isinstance(value.value, float)
            return value.value
        text = self.string_value(kind, key, value, ident)
        if op in ("LIKE", "ILIKE") and (len(text) - len(text.rstrip("\\"))) % 2 == 1:
            raise self.error(
                f"{op} pattern ends with a lone backslash",
                value.pos,
                "a backslash escapes the next character; write \\\\ for a literal one",
            )
        return text

    def string_value(self, kind: Kind, key: str, value: _Value, ident: str) -> str:
        if key in _INTEGER_ATTRIBUTES and kind == "attribute":
            number: float | None = None
            if value.kind == "number":
                assert isinstance(value.value, float)
                number = value.value
            elif isinstance(value.value, str) and re.fullmatch(r"\s*[+-]?\d+\s*", value.value):
                number = float(value.value)
            if number is None or not number.is_integer():
                raise self.error(f"{ident} needs an integer id, got {value.raw}", value.pos)
            return str(int(number))
        if value.kind != "string":
            plural = _KIND_PLURAL[kind] if kind != "attribute" else f"attribute {key}"
            raise self.error(
                f"{ident} needs a quoted string, got number {value.raw}",
                value.pos,
                f"{plural} are strings: write '{value.raw}'",
            )
        assert isinstance(value.value, str)
        return value.value

    def parse_filter(self) -> list[Clause]:
        clauses: list[Clause] = []
        self.skip_ws()
        if self.at_end():
            return clauses
        while True:
            clauses.append(self.parse_clause())
            self.skip_ws()
            if self.at_end():
                return clauses
            start = self.pos
            word = self.peek_word()
            if word == "AND":
                self.take_word()
                self.skip_ws()
                if self.at_end():
                    raise self.error("missing clause after AND", self.pos)
                continue
            if word == "OR":
                raise self.error(
                    "OR is not supported",
                    start,
                    "only AND is supported between clauses; run one search per alternative "
                    "or use IN (...) for alternatives on the same key",
                )
            raise self.error(
                f"unexpected {self.snippet(start)} after a complete clause",
                start,
                "join clauses with AND",
            )

    def parse_order_item(self) -> OrderKey:
        self.skip_ws()
        if self.at_end():
            raise self.error("empty item", 0, "write e.g. 'metrics.auc DESC'")
        kind, key = self.parse_identifier()
        self.skip_ws()
        ascending = True
        if not self.at_end():
            start = self.pos
            word = self.peek_word()
            if word not in ("ASC", "DESC"):
                raise self.error(
                    f"expected ASC or DESC, got {self.snippet(start)}",
                    start,
                    'quote keys that contain spaces, e.g. metrics."my key"',
                )
            self.take_word()
            ascending = word == "ASC"
            self.skip_ws()
            if not self.at_end():
                raise self.error(f"unexpected {self.snippet(self.pos)}", self.pos)
        return OrderKey(kind, key, ascending)


def parse_filter(text: str | None) -> list[Clause]:
    """Parse a filter string into clauses joined by AND; None or blank means no filter."""
    if text is None:
        return []
    if not isinstance(text, str):
        raise ValidationError("filter must be a string", field="filter")
    if len(text) > MAX_FILTER_LENGTH:
        raise ValidationError(
            f"filter is {len(text)} characters long; the limit is {MAX_FILTER_LENGTH}",
            field="filter",
        )
    return _Parser(text, field="filter", context="invalid filter").parse_filter()


def parse_order_by(items: list[str] | None) -> list[OrderKey]:
    """Parse order-by items such as ``metrics.auc DESC``; None or [] means default order."""
    if not items:
        return []
    if isinstance(items, str) or not isinstance(items, list | tuple):
        raise ValidationError("order_by must be a list of strings", field="order_by")
    if len(items) > MAX_ORDER_BY_ITEMS:
        raise ValidationError(
            f"order_by has {len(items)} items; the limit is {MAX_ORDER_BY_ITEMS}",
            field="order_by",
        )
    keys: list[OrderKey] = []
    for index, item in enumerate(items):
        if not isinstance(item, str):
            raise ValidationError(f"order_by item {index} must be a string", field="order_by")
        if len(item) > 1000:
            raise ValidationError(f"order_by item {index} is too long", field="order_by")
        parser = _Parser(item, field="order_by", context=f"invalid order_by item {item!r}")
        keys.append(parser.parse_order_item())
    return keys


# -- SQL --------------------------------------------------------------------------------


class _CaseSensitiveLike(FunctionElement[bool]):
    """``column LIKE pattern ESCAPE '\\'``, case-sensitive on every database.

    SQLite's LIKE ignores ASCII case, so there the equivalent GLOB pattern is used instead.
    Arguments: column, LIKE pattern, GLOB pattern.
    """

    type = Boolean()
    name = "mloop_case_sensitive_like"
    _is_implicitly_boolean = True
    inherit_cache = True


@compiles(_CaseSensitiveLike)
def _compile_like(element: _CaseSensitiveLike, compiler: SQLCompiler, **kw: Any) -> str:
    column, pattern, _glob = list(element.clauses)
    return compiler.process(column.like(pattern, escape="\\"), **kw)


@compiles(_CaseSensitiveLike, "sqlite")
def _compile_like_sqlite(element: _CaseSensitiveLike, compiler: SQLCompiler, **kw: Any) -> str:
    column, _pattern, glob = list(element.clauses)
    return compiler.process(column.op("GLOB")(glob), **kw)


def _like_to_glob(pattern: str) -> str:
    """Translate a LIKE pattern (``%``, ``_``, backslash escape) to a SQLite GLOB pattern."""
    out: list[str] = []
    chars = iter(pattern)
    for char in chars:
        if char == "\\":
            char = next(chars, "\\")
            out.append("[" + char + "]" if char in "*?[" else char)
        elif char == "%":
            out.append("*")
        elif char == "_":
            out.append("?")
        elif char in "*?[":
            out.append("[" + char + "]")
        else:
            out.append(char)
    return "".join(out)


def _string_condition(column: Any, op: str, value: Any) -> ColumnElement[bool]:
    if op == "LIKE":
        return _CaseSensitiveLike(column, literal(value), literal(_like_to_glob(value)))
    if op == "ILIKE":
        return column.ilike(value, escape="\\")
    if op == "IN":
        return column.in_(value)
    if op == "NOT IN":
        return column.not_in(value)
    return _COMPARE[op](column, value)


def _numeric_bind(value: float) -> Any:
    """An int where the number is integral (keeps BIGINT indexes usable), else a float."""
    return int(value) if value.is_integer() else literal(value)


def _condition(clause: Clause) -> ColumnElement[bool]:
    """The WHERE condition on ``runs`` for one clause."""
    if clause.kind == "attribute":
        column = runs.c[clause.key]
        if clause.op == "IS NULL":
            return column.is_(None)
        if clause.op == "IS NOT NULL":
            return column.is_not(None)
        if clause.key in _INTEGER_ATTRIBUTES:
            value: Any = clause.value
            ids = [int(v) for v in value] if isinstance(value, tuple) else int(str(value))
            return _string_condition(column, clause.op, ids)
        if clause.key in _NUMERIC_ATTRIBUTES:
            assert isinstance(clause.value, float)
            return _COMPARE[clause.op](column, _numeric_bind(clause.value))
        return _string_condition(column, clause.op, clause.value)

    table = {"metric": latest_metrics, "param": params, "tag": tags}[clause.kind]
    # IS NULL is the one key clause that is not a set of matching run ids.
    return ~exists().where(table.c.run_id == runs.c.run_id, table.c.key == clause.key)


def _matching_ids(clause: Clause) -> Select[Any]:
    """``SELECT run_id`` of the runs a metric, param or tag clause (not IS NULL) accepts."""
    table = {"metric": latest_metrics, "param": params, "tag": tags}[clause.kind]
    has_key = select(table.c.run_id).where(table.c.key == clause.key)
    if clause.op == "IS NOT NULL":
        return has_key
    if clause.kind == "metric":
        # NaN is stored as NULL, so it never satisfies a comparison.
        assert isinstance(clause.value, float)
        return has_key.where(_COMPARE[clause.op](table.c.value, clause.value))
    # Equality is tested on the indexed prefix of the value (see tables.py). A value shorter
    # than the prefix length equals a stored value exactly when the prefixes are equal, so
    # only longer values need the exact comparison too (which keeps SQLite off the index).
    if clause.op in ("=", "IN"):
        wanted = clause.value if isinstance(clause.value, tuple) else (clause.value,)
        prefixes = sorted({_prefix_of(v) for v in wanted})
        matched = has_key.where(value_prefix(table.c.value).in_(prefixes))
        if any(len(str(v)) >= VALUE_PREFIX_LENGTH for v in wanted):
            matched = matched.where(table.c.value.in_([str(v) for v in wanted]))
        return matched
    return has_key.where(_string_condition(table.c.value, clause.op, clause.value))


def _prefix_of(value: object) -> str:
    return str(value)[:VALUE_PREFIX_LENGTH]


def _order_terms(
    from_: FromClause, key: OrderKey, index: int
) -> tuple[FromClause, list[ColumnElement[Any]]]:
    """Join what the key needs and return its ORDER BY terms (missing values last)."""
    value: Any
    if key.kind == "attribute":
        value = runs.c[key.key]
        rank = case((value.is_(None), 1), else_=0) if key.key in _NULLABLE_ATTRIBUTES else None
    else:
        table = {"metric": latest_metrics, "param": params, "tag": tags}[key.kind]
        alias = table.alias(f"order_{index}")
        from_ = from_.outerjoin(
            alias, and_(alias.c.run_id == runs.c.run_id, alias.c.key == key.key)
        )
        value = alias.c.value
        if key.kind == "metric":
            # Numbers first, then NaN, then runs that never logged the metric.
            rank = case((value.is_not(None), 0), (alias.c.is_nan == true(), 1), else_=2)
        else:
            rank = case((value.is_(None), 1), else_=0)
    terms: list[ColumnElement[Any]] = [] if rank is None else [rank.asc()]
    terms.append(value.asc() if key.ascending else value.desc())
    return from_, terms


def build_run_query(
    *,
    experiment_ids: list[int],
    filter_string: str | None,
    order_by: list[str] | None,
    lifecycle: Lifecycle = "active",
) -> Select[Any]:
    """``SELECT runs.run_id`` for the experiments, lifecycle, filter and order given.

    The order ends with ``start_time DESC, run_id ASC`` so results are deterministic; the
    caller adds LIMIT and OFFSET.
    """
    if lifecycle not in get_args(Lifecycle):
        raise ValidationError(
            f"lifecycle must be one of active, deleted, all; got {lifecycle!r}",
            field="lifecycle",
        )
    clauses = parse_filter(filter_string)
    keys = parse_order_by(order_by)

    # Runs matching the key clauses come from one INTERSECT of index lookups, joined to
    # runs by primary key: far fewer rows touched than testing every run of the experiment.
    keyed = [c for c in clauses if c.kind != "attribute" and c.op != "IS NULL"]
    others = [c for c in clauses if c not in keyed]
    from_: FromClause = runs
    if keyed:
        subselects = [_matching_ids(c) for c in keyed]
        matched = (subselects[0] if len(subselects) == 1 else intersect(*subselects)).subquery(
            "matched"
        )
        from_ = matched.join(runs, runs.c.run_id == matched.c.run_id)
    ordering: list[ColumnElement[Any]] = []
    for index, key in enumerate(keys):
        from_, terms = _order_terms(from_, key, index)
        ordering.extend(terms)
    ordering.extend([runs.c.start_time.desc(), runs.c.run_id.asc()])

    stmt = select(runs.c.run_id).select_from(from_)
    stmt = stmt.where(runs.c.experiment_id.in_([int(e) for e in experiment_ids]))
    if lifecycle != "all":
        stmt = stmt.where(runs.c.lifecycle_stage == lifecycle)
    for clause in others:
        stmt = stmt.where(_condition(clause))
    return stmt.order_by(*ordering)
