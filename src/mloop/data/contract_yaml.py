"""Reading contracts from YAML, with errors that name the file, line and key.

The text is composed into PyYAML nodes (which keep their line numbers), converted to plain
data while remembering the line of every key, and handed to ``Contract.from_dict``; an
error it raises is placed at the line of the key it names::

    contract.yaml:7: columns.amount.min: expected a number, got 'abc'

Scalars follow the YAML 1.2 core schema rather than PyYAML's YAML 1.1 defaults: only
``true``/``false`` are booleans, so ``NO`` or ``on`` stay text (country codes!); ``010`` is
ten, not octal eight; ``1e5`` is a number. Mapping keys are always text, exactly as
written. Duplicate keys, merge keys (``<<``), several documents, files
over 1 MiB and alias expansions beyond 100,000 nodes are refused.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import yaml

from mloop.data.contract import Contract
from mloop.data.errors import ContractError

MAX_CONTRACT_BYTES = 1024 * 1024
MAX_NODES = 100_000

_BOOL_TAG = "tag:yaml.org,2002:bool"
_INT_TAG = "tag:yaml.org,2002:int"
_FLOAT_TAG = "tag:yaml.org,2002:float"


class _Loader(yaml.SafeLoader):
    """SafeLoader with YAML 1.2 core-schema booleans, integers and floats."""


def _construct_int(loader: yaml.SafeLoader, node: yaml.ScalarNode) -> int:
    text = str(node.value)
    sign = -1 if text.startswith("-") else 1
    digits = text.lstrip("+-")
    if digits.startswith("0o"):
        return sign * int(digits[2:], 8)
    if digits.startswith("0x"):
        return sign * int(digits[2:], 16)
    return sign * int(digits, 10)


_Loader.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in resolvers if tag not in (_BOOL_TAG, _INT_TAG, _FLOAT_TAG)]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_Loader.add_implicit_resolver(
    _BOOL_TAG, re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF")
)
_Loader.add_implicit_resolver(
    _INT_TAG, re.compile(r"^(?:[-+]?[0-9]+|0o[0-7]+|0x[0-9a-fA-F]+)$"), list("-+0123456789")
)
_Loader.add_implicit_resolver(
    _FLOAT_TAG,
    re.compile(
        r"^(?:[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?"
        r"|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$"
    ),
    list("-+0123456789."),
)
_Loader.add_constructor(_INT_TAG, _construct_int)

_Lines = dict[tuple[str | int, ...], int]


def load_contract(path: str | os.PathLike[str]) -> Contract:
    """Read a contract from a YAML file."""
    p = Path(path)
    name = str(path)
    try:
        size = p.stat().st_size
    except OSError as exc:
        raise ContractError(
            f"cannot read the contract: {exc.strerror or exc}", filename=name
        ) from None
    if size > MAX_CONTRACT_BYTES:
        raise ContractError(
            f"the file is {size} bytes; contracts are limited to {MAX_CONTRACT_BYTES}",
            filename=name,
        )
    with p.open("rb") as fh:
        data = fh.read(MAX_CONTRACT_BYTES + 1)
    return parse_contract(data, name)


def parse_contract(text: str | bytes, filename: str = "<contract>") -> Contract:
    """Parse a contract from YAML text; ``filename`` is used in error messages."""
    if len(text) > MAX_CONTRACT_BYTES:
        raise ContractError(
            f"the contract is over the limit of {MAX_CONTRACT_BYTES} bytes", filename=filename
        )
    if isinstance(text, bytes):
        try:
            text = text.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise ContractError(
                f"the file is not UTF-8 text ({exc.reason})", filename=filename
            ) from None
    try:
        node = yaml.compose(text, Loader=_Loader)
    except yaml.MarkedYAMLError as exc:
        line = exc.problem_mark.line + 1 if exc.problem_mark is not None else None
        problem = " ".join(p for p in (exc.context, exc.problem) if p) or "invalid YAML"
        raise ContractError(f"invalid YAML: {problem}", filename=filename, line=line) from None
    except yaml.YAMLError as exc:
        raise ContractError(f"invalid YAML: {exc}", filename=filename) from None
    if node is None:
        raise ContractError("the contract is empty", filename=filename, line=1)
    lines: _Lines = {(): node.start_mark.line + 1}
    converter = _Converter(filename, lines)
    data = converter.convert(node, ())
    try:
        return Contract.from_dict(data)
    except ContractError as exc:
        raise exc.located(filename, _line_of(exc.path, lines)) from None


def _line_of(path: tuple[str | int, ...], lines: _Lines) -> int | None:
    for end in range(len(path), -1, -1):
        line = lines.get(path[:end])
        if line is not None:
            return line
    return None


class _Converter:
    """YAML nodes to plain data, recording the line of each key path."""

    def __init__(self, filename: str, lines: _Lines) -> None:
        self.filename = filename
        self.lines = lines
        self.count = 0
        self.constructor = _Loader("")

    def _fail(self, problem: str, node: yaml.Node, path: tuple[str | int, ...]) -> ContractError:
        return ContractError(problem, path, filename=self.filename, line=node.start_mark.line + 1)

    def convert(self, node: yaml.Node, path: tuple[str | int, ...]) -> Any:
        self.count += 1
        if self.count > MAX_NODES:
            raise self._fail(f"the contract has more than {MAX_NODES} values", node, path)
        if isinstance(node, yaml.MappingNode):
            return self._mapping(node, path)
        if isinstance(node, yaml.SequenceNode):
            items = []
            for i, child in enumerate(node.value):
                self.lines.setdefault((*path, i), child.start_mark.line + 1)
                items.append(self.convert(child, (*path, i)))
            return items
        assert isinstance(node, yaml.ScalarNode)
        try:
            return self.constructor.construct_object(node, deep=True)
        except yaml.YAMLError as exc:
            raise self._fail(f"cannot read the value: {exc}", node, path) from None

    def _mapping(self, node: yaml.MappingNode, path: tuple[str | int, ...]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for key_node, value_node in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                raise self._fail("YAML merge keys (<<) are not supported", key_node, path)
            if not isinstance(key_node, yaml.ScalarNode):
                raise self._fail("mapping keys must be plain text", key_node, path)
            key = str(key_node.value)
            key_path = (*path, key)
            if key in out:
                first = self.lines.get(key_path)
                raise self._fail(
                    f"duplicate key {key!r} (first on line {first})", key_node, key_path
                )
            self.lines[key_path] = key_node.start_mark.line + 1
            out[key] = self.convert(value_node, key_path)
        return out
