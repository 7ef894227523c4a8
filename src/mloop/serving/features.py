"""Entity keys in a request, resolved to model features before the model sees them.

A request may name the entities it is about instead of (or beside) giving every feature::

    {"entities": [{"customer_id": 7}, {"customer_id": 9}],
     "inputs":   [{"amount": 31.5},    {"amount": 12.0}]}

The endpoint's :data:`FeatureLookup` turns each entity's keys into that entity's features
(one mapping per entity, in order); the features and the request's own inputs of the same
row become the model's input row, which is then checked against the signature like any
other. The feature store is where lookups will come from; until a server is given one,
a request with entity keys is answered 422 saying so (:class:`UnresolvedEntities`). The
inference log records each row as the entity's keys plus the features the model got (a
feature named like a key wins), so monitoring sees the feature vector.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from mloop.core.errors import ValidationError
from mloop.serving.formats import ParsedRequest

FeatureLookup = Callable[[str, Sequence[Mapping[str, Any]]], Sequence[Mapping[str, Any]]]
"""``lookup(endpoint, entities)``: one mapping of features per entity, in order. It runs in
a worker thread, so it may block on I/O. Raising ValidationError answers 422 with its
message (an unknown entity, say)."""


class UnresolvedEntities(ValidationError):
    """A request's entity keys could not become a model input (HTTP 422): no lookup, an
    entity the lookup does not know, or a feature given twice."""

    http_status = 422


def with_features(
    request: ParsedRequest, endpoint: str, lookup: FeatureLookup | None
) -> ParsedRequest:
    """``request`` with its entities' features joined to its inputs, row by row."""
    entities = request.entities
    if entities is None:
        return request
    if lookup is None:
        raise UnresolvedEntities(
            f"endpoint {endpoint!r} cannot resolve entity keys: this server has no feature "
            'lookup. Send the features themselves in "inputs"',
            field="entities",
        )
    try:
        found = list(lookup(endpoint, entities))
    except ValidationError as exc:
        raise UnresolvedEntities(exc.message, field=exc.field or "entities") from None
    if len(found) != len(entities):
        raise RuntimeError(
            f"the feature lookup returned {len(found)} rows for {len(entities)} entities"
        )
    given: list[Mapping[str, Any]] = request.data if request.data is not None else []
    rows: list[dict[str, Any]] = []
    logged: list[dict[str, Any]] = []
    for i, features in enumerate(found):
        row = dict(features)
        own = given[i] if given else {}
        clash = sorted(set(row) & set(own))
        if clash:
            raise UnresolvedEntities(
                f"inputs[{i}] gives {clash[0]!r}, which the lookup already gives for "
                f"entities[{i}]; send each feature once",
                field=f"inputs[{i}].{clash[0]}",
            )
        row.update(own)
        rows.append(row)
        logged.append({**entities[i], **row})
    import pandas as pd

    frame = pd.DataFrame(rows)
    return ParsedRequest(
        data=frame,
        rows=len(rows),
        logged=logged,
        style=request.style,
        key=request.key,
    )
