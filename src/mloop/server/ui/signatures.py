"""Model signatures as tables: one row per column (or field) with its type.

A signature is ``{"inputs": schema, "outputs": schema or None}`` with the schemas of
:mod:`mloop.models.signature` (dataframe columns, dict fields, a series, an ndarray, a list,
a scalar or an object). It comes from a file in a run's artifacts, so any part may have
another shape: such a part is shown as unreadable (its JSON stays on the page, folded),
never as an error. Names and types are cut to a readable length.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from mloop.server.ui.formatting import cut

MAX_ROWS = 1000
SIDES = ("inputs", "outputs")


@dataclass(frozen=True)
class SchemaTable:
    """One side of a signature: its kind (``dataframe``...) and (name, type) rows."""

    kind: str
    rows: list[tuple[str, str]]
    total: int  # rows before cutting to MAX_ROWS
    readable: bool = True


def _text(value: Any, limit: int = 200) -> str:
    return cut(str(value), limit) if value is not None else ""


def _field_rows(fields: Any) -> list[tuple[str, str]] | None:
    if not isinstance(fields, list):
        return None
    rows = []
    for f in fields:
        if not isinstance(f, dict) or "name" not in f:
            return None
        rows.append((_text(f["name"]), _text(f.get("dtype"), 80)))
    return rows


def _shape(shape: Any) -> str:
    if not isinstance(shape, list):
        return ""
    return "(" + ", ".join("any" if d == -1 else _text(d, 20) for d in shape[:10]) + ")"


def _rows(schema: dict[str, Any]) -> list[tuple[str, str]] | None:
    kind = schema.get("type")
    dtype = _text(schema.get("dtype"), 80)
    if kind == "dataframe":
        return _field_rows(schema.get("columns"))
    if kind == "dict":
        return _field_rows(schema.get("fields"))
    if kind == "series":
        return [(_text(schema.get("name")) or "(unnamed)", dtype)]
    if kind == "ndarray":
        return [("(array)", f"{dtype} {_shape(schema.get('shape'))}".strip())]
    if kind == "list":
        if "fields" in schema:  # a list of records: one row per field
            return _field_rows(schema.get("fields"))
        return [("(items)", dtype)]
    if kind == "scalar":
        return [("(value)", dtype)]
    if kind == "object":
        return [("(object)", _text(schema.get("python_type")))]
    return None


def schema_table(schema: Any) -> SchemaTable | None:
    """The table of one side, or None when the side is absent."""
    if schema is None:
        return None
    rows = _rows(schema) if isinstance(schema, dict) else None
    if rows is None:
        kind = schema.get("type") if isinstance(schema, dict) else None
        return SchemaTable(kind=_text(kind, 40) or "unknown", rows=[], total=0, readable=False)
    return SchemaTable(
        kind=_text(schema.get("type"), 40), rows=rows[:MAX_ROWS], total=len(rows), readable=True
    )


def signature_tables(signature: Any) -> dict[str, SchemaTable | None]:
    """Both sides of a signature (``inputs``, ``outputs``) as tables."""
    body = signature if isinstance(signature, dict) else {}
    return {side: schema_table(body.get(side)) for side in SIDES}


@dataclass(frozen=True)
class SignatureRow:
    """One column of the compared signatures: its type in each version ("" if absent)."""

    side: str
    name: str
    types: list[str]
    differs: bool


def compare_signatures(signatures: list[Any]) -> list[SignatureRow]:
    """Every column of any version's inputs and outputs, in first-seen order, with each
    version's type; a side that cannot be read counts as having no columns."""
    rows: list[SignatureRow] = []
    for side in SIDES:
        tables = [signature_tables(s)[side] for s in signatures]
        typed = [dict(t.rows) if t is not None else {} for t in tables]
        names: dict[str, None] = {}
        for found in typed:
            names.update(dict.fromkeys(found))
        for name in list(names)[:MAX_ROWS]:
            types = [found.get(name, "") for found in typed]
            rows.append(SignatureRow(side, name, types, differs=len(set(types)) > 1))
    return rows
