"""The rules of a definition's fields that its request model only states: names, column
names, texts, tags. Checked when definitions are applied, before anything is written, each
with its own message naming the field."""

from __future__ import annotations

from typing import Any

from mloop.core.errors import ValidationError
from mloop.core.naming import check_asset_name
from mloop.core.validation import check_text
from mloop.features.schemas import (
    MAX_CODE,
    MAX_DESCRIPTION,
    MAX_SQL,
    AnySpec,
    EntitySpec,
    FeatureServiceSpec,
    FeatureSpec,
    FeatureViewSpec,
    OnDemandSpec,
    SourceSpec,
    TransformSpec,
)

MAX_COLUMN = 256
MAX_TAG_KEY = 256
MAX_TAG_VALUE = 5000


def _column(value: str, field: str) -> None:
    if not value:
        raise ValidationError(f"{field} must not be empty", field=field)
    check_text(value, field, max_length=MAX_COLUMN)


def _common(spec: Any, where: str) -> None:
    check_asset_name(spec.name, f"{where}.name", what="name")
    check_text(spec.description, f"{where}.description", max_length=MAX_DESCRIPTION)
    for key, value in spec.tags.items():
        if not key:
            raise ValidationError(
                f"{where}.tags: a tag key must not be empty", field=f"{where}.tags"
            )
        check_text(key, f"{where}.tags", max_length=MAX_TAG_KEY)
        check_text(value, f"{where}.tags.{key}", max_length=MAX_TAG_VALUE)


def _features(features: list[FeatureSpec], where: str) -> None:
    seen: set[str] = set()
    for i, feature in enumerate(features):
        _column(feature.name, f"{where}[{i}].name")
        check_text(feature.description, f"{where}[{i}].description", max_length=MAX_DESCRIPTION)
        if feature.name in seen:
            raise ValidationError(f"{where} names {feature.name!r} twice", field=where)
        seen.add(feature.name)


def _transform(transform: TransformSpec | None, where: str) -> None:
    if transform is None:
        return
    given = [n for n in ("sql", "reference") if getattr(transform, n) is not None]
    if len(given) != 1:
        raise ValidationError(
            f"{where} needs exactly one of sql and reference (a Python function's module:function)",
            field=where,
        )
    if transform.sql is not None:
        check_text(transform.sql, f"{where}.sql", max_length=MAX_SQL)
    if transform.reference is not None:
        check_text(transform.reference, f"{where}.reference", max_length=1024)
    if transform.code is not None:
        check_text(transform.code, f"{where}.code", max_length=MAX_CODE)


def check_definition(kind: str, spec: AnySpec, where: str) -> None:
    """Raise ValidationError naming the first field of ``spec`` that breaks a rule."""
    _common(spec, where)
    if isinstance(spec, EntitySpec):
        for i, key in enumerate(spec.join_keys):
            _column(key, f"{where}.join_keys[{i}]")
        if len(set(spec.join_keys)) != len(spec.join_keys):
            raise ValidationError(
                f"{where}.join_keys names a key twice", field=f"{where}.join_keys"
            )
    elif isinstance(spec, SourceSpec):
        _column(spec.timestamp_column, f"{where}.timestamp_column")
        if spec.created_column is not None:
            _column(spec.created_column, f"{where}.created_column")
        needs = {"file": "path", "dataset": "dataset", "sql": "query", "postgres": "query"}[
            spec.kind
        ]
        if getattr(spec, needs) is None:
            raise ValidationError(f"a {spec.kind} source needs {needs}", field=f"{where}.{needs}")
        if spec.dataset is not None:
            check_asset_name(spec.dataset, f"{where}.dataset", what="dataset name")
        for name in ("path", "query", "url_env"):
            value = getattr(spec, name)
            if value is not None:
                check_text(value, f"{where}.{name}", max_length=MAX_SQL)
    elif isinstance(spec, FeatureViewSpec):
        for i, entity in enumerate(spec.entities):
            check_asset_name(entity, f"{where}.entities[{i}]", what="entity name")
        check_asset_name(spec.source, f"{where}.source", what="source name")
        _features(spec.features, f"{where}.features")
        _transform(spec.transform, f"{where}.transform")
    elif isinstance(spec, OnDemandSpec):
        _features(spec.features, f"{where}.features")
        _features(spec.request, f"{where}.request")
        _transform(spec.transform, f"{where}.transform")
        if spec.transform.reference is None:
            raise ValidationError(
                "an on-demand feature runs a Python function: transform.reference",
                field=f"{where}.transform.reference",
            )
    elif isinstance(spec, FeatureServiceSpec):
        pass  # its references are checked against the views
