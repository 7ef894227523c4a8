"""Definitions ready to run: the views, on-demand features and services retrieval,
materialization and online reads work from, each with what it needs resolved (its
entities' join keys, its source, its Python function imported).

A :class:`Catalog` is read from the registry (the newest versions, or the versions a
feature service pinned) or built from definition objects in the caller's process, so a
notebook can try definitions before they are applied. :meth:`Catalog.select` turns what a
caller asks for, ``view:feature`` references or a feature service's name, into a
:class:`Selection`: the features of each view to read, then the on-demand features to
compute from them, in the order the caller will get them.
"""

from __future__ import annotations

import datetime as dt
import importlib
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from mloop.core.errors import NotFoundError, ValidationError
from mloop.core.operations import Message
from mloop.features.definitions import (
    AnyDefinition,
    Entity,
    FeatureService,
    FeatureView,
    OnDemandFeature,
)
from mloop.features.registry import resolve_refs
from mloop.features.schemas import (
    EntitySpec,
    FeatureServiceSpec,
    FeatureViewSpec,
    OnDemandSpec,
    SourceSpec,
    TransformSpec,
)
from mloop.features.sources import DatasetSource, FileSource, PostgresSource, SqlSource

Function = Callable[[Any], Any]


def import_function(transform: TransformSpec, owner: str) -> Function:
    """The Python function a stored transformation refers to."""
    assert transform.reference is not None
    module_name, _, qualname = transform.reference.partition(":")
    try:
        target: Any = importlib.import_module(module_name)
        for part in qualname.split("."):
            target = getattr(target, part)
    except (ImportError, AttributeError) as exc:
        raise ValidationError(
            f"{owner} runs {transform.reference}, which this process cannot import "
            f"({type(exc).__name__}: {exc}): put the feature repository on the path "
            "(MLOOP_FEATURE_REPO, or mloop.features.use_repo(DIR))",
            field="transform",
        ) from exc
    if not callable(target):
        raise ValidationError(f"{transform.reference} is not a function", field="transform")
    return target


@dataclass(frozen=True)
class View:
    """A feature view ready to read."""

    spec: FeatureViewSpec
    version: int | None  # None: not registered (built from objects)
    join_keys: list[str]
    source: SourceSpec
    transform: Function | None = None

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def ttl(self) -> dt.timedelta | None:
        seconds = self.spec.ttl_seconds
        return None if seconds is None else dt.timedelta(seconds=seconds)

    @property
    def feature_types(self) -> dict[str, str]:
        return {f.name: f.dtype for f in self.spec.features}

    @property
    def transform_sql(self) -> str | None:
        return self.spec.transform.sql if self.spec.transform is not None else None


@dataclass(frozen=True)
class OnDemand:
    """An on-demand feature ready to compute."""

    spec: OnDemandSpec
    version: int | None
    function: Function

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def request_columns(self) -> dict[str, str]:
        return {f.name: f.dtype for f in self.spec.request}


@dataclass(frozen=True)
class Selection:
    """What a retrieval reads and computes.

    ``views``: each view with the features to return of it (in the caller's order) and
    the features on-demand features need of it besides; ``on_demand``: the on-demand
    features to compute, in order; ``columns``: the output's feature columns in order.
    """

    views: dict[str, tuple[View, list[str]]]
    on_demand: list[tuple[OnDemand, list[str]]]
    columns: list[str]
    service: str | None = None
    service_version: int | None = None
    hidden: list[str] = field(default_factory=list)  # read for on-demand inputs only

    @property
    def join_keys(self) -> list[str]:
        keys: list[str] = []
        for view, _ in self.views.values():
            keys += [k for k in view.join_keys if k not in keys]
        return keys

    @property
    def request_columns(self) -> dict[str, str]:
        found: dict[str, str] = {}
        for od, _ in self.on_demand:
            found.update(od.request_columns)
        return found


@dataclass
class Catalog:
    """Definitions by name, ready to run (see the module docstring)."""

    entities: dict[str, EntitySpec] = field(default_factory=dict)
    sources: dict[str, SourceSpec] = field(default_factory=dict)
    views: dict[str, FeatureViewSpec] = field(default_factory=dict)
    on_demand: dict[str, OnDemandSpec] = field(default_factory=dict)
    services: dict[str, FeatureServiceSpec] = field(default_factory=dict)
    versions: dict[str, int] = field(default_factory=dict)  # "kind:name" -> version
    functions: dict[str, Function] = field(default_factory=dict)  # "kind:name" -> function
    client: Any = None  # reads pinned versions of a service when it is selected

    @classmethod
    def from_definitions(cls, definitions: Iterable[AnyDefinition]) -> Catalog:
        """A catalog of definition objects, not registered (their functions as they are)."""
        catalog = cls()
        for d in definitions:
            if isinstance(d, Entity):
                catalog.entities[d.name] = d.to_spec()
            elif isinstance(d, FileSource | DatasetSource | SqlSource | PostgresSource):
                catalog.sources[d.name] = d.to_spec()
            elif isinstance(d, FeatureView):
                spec = FeatureViewSpec.model_validate(
                    d.to_spec().model_dump() | {"transform": _sql_only(d)}
                )
                catalog.views[d.name] = spec
                for e in d.entities:
                    catalog.entities[e.name] = e.to_spec()
                catalog.sources[d.source.name] = d.source.to_spec()
                if d.transform is not None:
                    catalog.functions[f"feature_view:{d.name}"] = d.transform
            elif isinstance(d, OnDemandFeature):
                catalog.on_demand[d.name] = OnDemandSpec(
                    name=d.name,
                    sources=d.sources,
                    request=d.request,
                    features=d.features,
                    transform=TransformSpec(reference="<local>"),
                    description=d.description,
                )
                catalog.functions[f"on_demand:{d.name}"] = d.function
            elif isinstance(d, FeatureService):
                catalog.services[d.name] = d.to_spec()
        return catalog

    @classmethod
    def from_registry(cls, client: Any) -> Catalog:
        """The newest registered version of every definition, read with ``client``
        (an :class:`mloop.Client`)."""
        catalog = cls(client=client)
        token: str | None = None
        while True:
            page = client.call("list_definitions", max_results=1000, page_token=token)
            for d in page.definitions:
                catalog._add(d.kind, d.spec, d.version)
            token = page.next_page_token
            if token is None:
                return catalog

    def _add(self, kind: str, spec: dict[str, Any], version: int) -> None:
        targets: dict[str, dict[str, Any]] = {
            "entity": self.entities,
            "source": self.sources,
            "feature_view": self.views,
            "on_demand": self.on_demand,
            "feature_service": self.services,
        }
        models: dict[str, type[Message]] = {
            "entity": EntitySpec,
            "source": SourceSpec,
            "feature_view": FeatureViewSpec,
            "on_demand": OnDemandSpec,
            "feature_service": FeatureServiceSpec,
        }
        targets[kind][spec["name"]] = models[kind].model_validate(spec)
        self.versions[f"{kind}:{spec['name']}"] = version

    def view(self, name: str) -> View:
        spec = self.views.get(name)
        if spec is None:
            raise NotFoundError(f"feature view {name!r} does not exist", field="features")
        keys = [k for e in spec.entities for k in self.entities[e].join_keys]
        function = self.functions.get(f"feature_view:{name}")
        if function is None and spec.transform is not None and spec.transform.reference:
            function = import_function(spec.transform, f"feature view {name!r}")
        return View(
            spec=spec,
            version=self.versions.get(f"feature_view:{name}"),
            join_keys=keys,
            source=self.sources[spec.source],
            transform=function,
        )

    def on_demand_feature(self, name: str) -> OnDemand:
        spec = self.on_demand[name]
        function = self.functions.get(f"on_demand:{name}") or import_function(
            spec.transform, f"on-demand feature {name!r}"
        )
        return OnDemand(spec, self.versions.get(f"on_demand:{name}"), function)

    def select(self, features: Sequence[str] | str) -> Selection:
        """What ``features`` (``view:feature`` references, or a feature service's name,
        ``name`` or ``name:version``) reads and computes."""
        if isinstance(features, str):
            return self._service(features)
        if not features:
            raise ValidationError("name at least one feature (view:feature)", field="features")
        return self._selection(list(features))

    def _service(self, ref: str) -> Selection:
        name, _, version_text = ref.partition(":")
        if version_text and self.client is not None:
            if not version_text.isdigit():
                raise ValidationError(
                    f"{ref!r}: a feature service is name or name:version", field="features"
                )
            return self._pinned_service(name, int(version_text))
        spec = self.services.get(name)
        if spec is None:
            raise NotFoundError(f"feature service {name!r} does not exist", field="features")
        found = self._selection(spec.features)
        version = self.versions.get(f"feature_service:{name}")
        return Selection(**{**found.__dict__, "service": name, "service_version": version})

    def _pinned_service(self, name: str, version: int) -> Selection:
        """A service at a past version reads the views at the versions it pinned."""
        service = self.client.call(
            "get_definition", kind="feature_service", name=name, version=version
        )
        pinned = Catalog(
            entities=dict(self.entities),
            sources=dict(self.sources),
            client=self.client,
        )
        for ref, pin in service.pinned.items():
            kind, _, owner = ref.partition(":")
            found = self.client.call("get_definition", kind=kind, name=owner, version=pin)
            pinned._add(kind, found.spec, pin)
        pinned._add("feature_service", service.spec, version)
        return pinned._service(name)

    def _selection(self, refs: list[str]) -> Selection:
        resolved = resolve_refs(refs, self.views, self.on_demand, "features")
        views: dict[str, tuple[View, list[str]]] = {}
        on_demand: dict[str, list[str]] = {}
        columns: list[str] = []
        for kind, owner, feature in resolved:
            if feature in columns:
                continue
            columns.append(feature)
            if kind == "feature_view":
                views.setdefault(owner, (self.view(owner), []))[1].append(feature)
            else:
                on_demand.setdefault(owner, []).append(feature)
        hidden: list[str] = []
        ready: list[tuple[OnDemand, list[str]]] = []
        for owner, wanted in on_demand.items():
            od = self.on_demand_feature(owner)
            for _, view, feature in resolve_refs(od.spec.sources, self.views, {}, "sources"):
                entry = views.setdefault(view, (self.view(view), []))
                if feature not in entry[1]:
                    entry[1].append(feature)
                    if feature not in columns and feature not in hidden:
                        hidden.append(feature)
            ready.append((od, wanted))
        return Selection(views=views, on_demand=ready, columns=columns, hidden=hidden)


def _sql_only(view: FeatureView) -> dict[str, Any] | None:
    """A local view's transform as stored, without importing a Python one by reference."""
    if view.transform_sql is not None:
        return {"sql": view.transform_sql}
    if view.transform is not None:
        return {"reference": "<local>"}
    return None
