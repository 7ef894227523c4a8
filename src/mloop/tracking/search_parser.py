"""The run-search parser: filter strings and order-by items to ``Clause`` and ``OrderKey``.

A hand-written scanner, so that every error names the problem, its 0-based position and,
where one helps, a hint. The language itself is described in ``search``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from mloop.core.errors import ValidationError
from mloop.tracking.search_terms import (
    ATTRIBUTES,
    BARE_KEY,
    CANONICAL_ATTRIBUTES,
    INTEGER_ATTRIBUTES,
    KIND_PLURAL,
    NULL_OPS,
    NUMERIC_ATTRIBUTES,
    NUMERIC_OPS,
    PREFIXES,
    STRING_OPS,
    TUPLE_OPS,
    Clause,
    Kind,
    OrderKey,
    allowed_ops,
    display,
    is_numeric,
)

MAX_FILTER_LENGTH = 10_000
MAX_ORDER_BY_ITEMS = 20

_WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_NUMBER = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?")


@dataclass(frozen=True)
class _Value:
    """A parsed literal with where it started and how it was written."""

    kind: Literal["number", "string", "tuple"]
    value: float | str | tuple[_Value, ...]
    pos: int
    raw: str


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
            kind = PREFIXES.get(word.lower())
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
        canonical = ATTRIBUTES.get(name.lower())
        if canonical is not None:
            return canonical
        hint = f"attributes are {', '.join(CANONICAL_ATTRIBUTES)}"
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
        m = BARE_KEY.match(self.text, start)
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
        hint = f"operators are {', '.join(NUMERIC_OPS + STRING_OPS[2:] + NULL_OPS)}"
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
        ident = display(kind, key)
        self.skip_ws()
        op_pos = self.pos
        op = self.parse_operator(ident)
        self.check_operator(kind, key, op, op_pos)
        if op in NULL_OPS:
            return Clause(kind, key, op, None)
        value = self.parse_value(ident, op)
        return Clause(kind, key, op, self.convert_value(kind, key, op, value, ident))

    def check_operator(self, kind: Kind, key: str, op: str, pos: int) -> None:
        allowed = allowed_ops(kind, key)
        if op in allowed:
            return
        ident = display(kind, key)
        listed = ", ".join(allowed)
        if kind in ("param", "tag"):
            raise self.error(
                f"operator {op} is not allowed on {ident}",
                pos,
                f"{KIND_PLURAL[kind]} are compared as strings and allow {listed}; "
                f"to compare numbers, log {key} as a metric and filter on "
                f"{display('metric', key)} {op} ...",
            )
        if kind == "metric":
            raise self.error(
                f"operator {op} is not allowed on {ident}",
                pos,
                f"metrics are numbers and allow {listed}; to match text, "
                f"use {display('param', key)} or {display('tag', key)}",
            )
        nature = "a number" if key in NUMERIC_ATTRIBUTES else "a string"
        if key in INTEGER_ATTRIBUTES:
            nature = "an integer id"
        raise self.error(
            f"operator {op} is not allowed on attribute {key}",
            pos,
            f"{key} is {nature} and allows {listed}",
        )

    def convert_value(
        self, kind: Kind, key: str, op: str, value: _Value, ident: str
    ) -> float | str | tuple[str, ...]:
        if op in TUPLE_OPS:
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
        if is_numeric(kind, key):
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
        if key in INTEGER_ATTRIBUTES and kind == "attribute":
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
            plural = KIND_PLURAL[kind] if kind != "attribute" else f"attribute {key}"
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
