"""Feature definitions in plain Python: entities, feature views, on-demand features and
feature services. A folder of modules that build them is a feature repository, registered
with ``mloop features apply DIR`` (or :func:`mloop.features.apply`).

    customer = Entity("customer", join_keys=["customer_id"])
    orders = FileSource("orders", "data/orders.parquet", timestamp="event_ts")
    spend = FeatureView(
        "customer_spend",
        entities=[customer],
        source=orders,
        features={"total_spend": "float64", "orders_7d": "int64"},
        ttl=timedelta(days=7),
    )

    @on_demand_feature(sources=[spend], request={"amount": "float64"},
                       features={"amount_share": "float64"})
    def amount_share(rows: pd.DataFrame) -> pd.DataFrame:
        return pd.DataFrame({"amount_share": rows["amount"] / rows["total_spend"]})

    churn = FeatureService("churn", features=[spend, amount_share])

A view may transform its source rows: ``transform_sql`` (DuckDB SQL over the relation
``source``) or a Python function of a pandas DataFrame, given with :func:`feature_view`.
"""

from __future__ import annotations

import datetime as dt
import inspect
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from mloop.core.errors import ValidationError
from mloop.features.schemas import (
    EntitySpec,
    FeatureServiceSpec,
    FeatureSpec,
    FeatureType,
    FeatureViewSpec,
    OnDemandSpec,
    TransformSpec,
)
from mloop.features.sources import Source

Frame = Any  # a pandas DataFrame; pandas is imported only where frames are made
Transform = Callable[[Frame], Frame]


@dataclass(frozen=True)
class Entity:
    """What features are about, and the columns that identify one (a composite key has
    several)."""

    name: str
    join_keys: list[str]
    description: str = ""
    tags: dict[str, str] = field(default_factory=dict)

    def __init__(
        self,
        name: str,
        join_keys: Sequence[str] | None = None,
        *,
        description: str = "",
        tags: Mapping[str, str] | None = None,
    ) -> None:
        object.__setattr__(self, "name", name)
        object.__setattr__(self, "join_keys", list(join_keys or [f"{name}_id"]))
        object.__setattr__(self, "description", description)
        object.__setattr__(self, "tags", dict(tags or {}))

    def to_spec(self) -> EntitySpec:
        return EntitySpec(
            name=self.name, join_keys=self.join_keys, description=self.description, tags=self.tags
        )


def _features(features: Mapping[str, str] | Sequence[FeatureSpec]) -> list[FeatureSpec]:
    if isinstance(features, Mapping):
        return [FeatureSpec(name=n, dtype=t) for n, t in features.items()]
    return list(features)


def check_ref(ref: str, owner: str) -> None:
    """A ``view:feature`` reference (``view:*`` for all of a view's features)."""
    view, sep, feature = ref.partition(":")
    if not sep or not view or not feature or ":" in feature:
        raise ValidationError(
            f"{owner}: {ref!r} is not a feature reference: write view:feature, or view:* "
            "for all of a view's features",
            field="features",
        )


def _ttl_seconds(ttl: dt.timedelta | int | None) -> int | None:
    if ttl is None:
        return None
    seconds = ttl.total_seconds() if isinstance(ttl, dt.timedelta) else ttl
    if seconds <= 0 or seconds != int(seconds):
        raise ValidationError(
            f"ttl must be a positive whole number of seconds, got {ttl!r}", field="ttl"
        )
    return int(seconds)


def python_transform(function: Callable[..., Any]) -> TransformSpec:
    """The stored form of a Python transformation: where to import it from, and its code."""
    module = getattr(function, "__module__", None)
    qualname = getattr(function, "__qualname__", "")
    if not module or "<" in qualname:
        raise ValidationError(
            f"{function!r} cannot be registered: a transformation must be a module-level "
            "function (not a lambda or a nested function), so that serving can import it",
            field="transform",
        )
    try:
        code = inspect.getsource(function)
    except (OSError, TypeError):
        code = None
    return TransformSpec(reference=f"{module}:{qualname}", code=code)


@dataclass(frozen=True)
class FeatureView:
    """Typed features of one or more entities, read from a source with event times; a row
    is valid from its event time for ``ttl`` (forever without one)."""

    name: str
    entities: list[Entity]
    source: Source
    features: list[FeatureSpec]
    ttl: dt.timedelta | None
    transform_sql: str | None
    transform: Transform | None
    online: bool
    description: str
    tags: dict[str, str]

    def __init__(
        self,
        name: str,
        *,
        entities: Sequence[Entity],
        source: Source,
        features: Mapping[str, FeatureType] | Sequence[FeatureSpec],
        ttl: dt.timedelta | int | None = None,
        transform_sql: str | None = None,
        transform: Transform | None = None,
        online: bool = True,
        description: str = "",
        tags: Mapping[str, str] | None = None,
    ) -> None:
        if transform_sql is not None and transform is not None:
            raise ValidationError(
                f"feature view {name!r}: give transform_sql or a Python transform, not both",
                field="transform",
            )
        seconds = _ttl_seconds(ttl)
        object.__setattr__(self, "name", name)
        object.__setattr__(self, "entities", list(entities))
        object.__setattr__(self, "source", source)
        object.__setattr__(self, "features", _features(features))
        object.__setattr__(self, "ttl", None if seconds is None else dt.timedelta(seconds=seconds))
        object.__setattr__(self, "transform_sql", transform_sql)
        object.__setattr__(self, "transform", transform)
        object.__setattr__(self, "online", online)
        object.__setattr__(self, "description", description)
        object.__setattr__(self, "tags", dict(tags or {}))

    @property
    def join_keys(self) -> list[str]:
        return [k for e in self.entities for k in e.join_keys]

    @property
    def feature_names(self) -> list[str]:
        return [f.name for f in self.features]

    def to_spec(self) -> FeatureViewSpec:
        transform = None
        if self.transform_sql is not None:
            transform = TransformSpec(sql=self.transform_sql)
        elif self.transform is not None:
            transform = python_transform(self.transform)
        return FeatureViewSpec(
            name=self.name,
            entities=[e.name for e in self.entities],
            source=self.source.name,
            features=self.features,
            ttl_seconds=_ttl_seconds(self.ttl),
            transform=transform,
            online=self.online,
            description=self.description,
            tags=self.tags,
        )


def feature_view(
    *,
    entities: Sequence[Entity],
    source: Source,
    features: Mapping[str, FeatureType] | Sequence[FeatureSpec],
    ttl: dt.timedelta | int | None = None,
    name: str | None = None,
    online: bool = True,
    description: str | None = None,
    tags: Mapping[str, str] | None = None,
) -> Callable[[Transform], FeatureView]:
    """A feature view whose rows are the decorated function of its source's rows (a pandas
    DataFrame in, a DataFrame with the keys, the event time and the features out)."""

    def build(function: Transform) -> FeatureView:
        return FeatureView(
            name or function.__name__,
            entities=entities,
            source=source,
            features=features,
            ttl=ttl,
            transform=function,
            online=online,
            description=description if description is not None else (function.__doc__ or ""),
            tags=tags,
        )

    return build


@dataclass(frozen=True)
class OnDemandFeature:
    """Features computed row by row, at retrieval and at serving alike, from request data
    and other views' features, by a Python function of a DataFrame."""

    name: str
    sources: list[str]
    request: list[FeatureSpec]
    features: list[FeatureSpec]
    function: Transform
    description: str
    tags: dict[str, str]

    @property
    def feature_names(self) -> list[str]:
        return [f.name for f in self.features]

    def __call__(self, rows: Frame) -> Frame:
        return self.function(rows)

    def to_spec(self) -> OnDemandSpec:
        return OnDemandSpec(
            name=self.name,
            sources=self.sources,
            request=self.request,
            features=self.features,
            transform=python_transform(self.function),
            description=self.description,
            tags=self.tags,
        )


def on_demand_feature(
    *,
    features: Mapping[str, FeatureType] | Sequence[FeatureSpec],
    sources: Sequence[FeatureView | str] = (),
    request: Mapping[str, FeatureType] | Sequence[FeatureSpec] | None = None,
    name: str | None = None,
    description: str | None = None,
    tags: Mapping[str, str] | None = None,
) -> Callable[[Transform], OnDemandFeature]:
    """Declare an on-demand feature: the function gets a DataFrame with the request's
    columns and the ``sources``' features (a whole view, or ``view:feature`` references)
    and returns a DataFrame of its ``features``, one row per input row."""

    def build(function: Transform) -> OnDemandFeature:
        refs = [f"{s.name}:*" if isinstance(s, FeatureView) else s for s in sources]
        for ref in refs:
            check_ref(ref, f"on-demand feature {name or function.__name__!r}")
        return OnDemandFeature(
            name=name or function.__name__,
            sources=refs,
            request=_features(request or {}),
            features=_features(features),
            function=function,
            description=description if description is not None else (function.__doc__ or ""),
            tags=dict(tags or {}),
        )

    return build


@dataclass(frozen=True)
class FeatureService:
    """The features a model consumes: views (all their features), ``view:feature``
    references, a view's subset (``view[["a", "b"]]``) or on-demand features."""

    name: str
    features: list[str]
    description: str
    tags: dict[str, str]

    def __init__(
        self,
        name: str,
        *,
        features: Sequence[FeatureView | OnDemandFeature | str | tuple[FeatureView, Sequence[str]]],
        description: str = "",
        tags: Mapping[str, str] | None = None,
    ) -> None:
        refs: list[str] = []
        for item in features:
            if isinstance(item, FeatureView | OnDemandFeature):
                refs.append(f"{item.name}:*")
            elif isinstance(item, tuple):
                view, names = item
                refs += [f"{view.name}:{n}" for n in names]
            else:
                refs.append(item)
        for ref in refs:
            check_ref(ref, f"feature service {name!r}")
        object.__setattr__(self, "name", name)
        object.__setattr__(self, "features", refs)
        object.__setattr__(self, "description", description)
        object.__setattr__(self, "tags", dict(tags or {}))

    def to_spec(self) -> FeatureServiceSpec:
        return FeatureServiceSpec(
            name=self.name, features=self.features, description=self.description, tags=self.tags
        )


AnyDefinition = Entity | Source | FeatureView | OnDemandFeature | FeatureService
