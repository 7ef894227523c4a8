"""Feature store pages: the overview (entities, sources, feature views with their freshness,
on-demand features, feature services with the model versions that name them), one feature
view (its definition, versions, freshness, statistics per feature and lineage) and one
feature service (its references, the view versions it pins, the models using it and
lineage). ``?version=N`` shows an older version, a removed definition's included (marked
removed); without it a removed definition is a 404.

Lineage runs source -> view -> feature services that pin that view version -> model
versions whose ``mloop.feature_service`` tag names one of those service versions (a tag
without a version names the service's newest) -> endpoints serving them live. It is drawn
on the server as inline SVG (:func:`~mloop.server.ui.feature_views.lineage_graph`); the
statistics' charts reuse the dataset pages' profile charts (``static/datasets.js``).
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse

from mloop.core import humanize
from mloop.core.errors import NotFoundError, ValidationError
from mloop.core.naming import check_asset_name
from mloop.features.freshness import ViewFreshness
from mloop.features.schemas import (
    Definition,
    DefinitionKind,
    FeatureServiceSpec,
    FeatureViewSpec,
    OnDemandSpec,
    SourceSpec,
)
from mloop.server.ui import links
from mloop.server.ui.core import UI
from mloop.server.ui.feature_views import (
    Found,
    ModelUse,
    Node,
    StoredProfile,
    attach_endpoints,
    definition_at,
    feature_types,
    freshness_by_view,
    is_removed,
    lineage_graph,
    model_uses,
    newest_definitions,
    resolved_features,
    stale_views,
    stored_profile,
    uses_of,
    versions_of,
)
from mloop.server.ui.formatting import cut, json_safe
from mloop.server.ui.monitor_views import span_text
from mloop.server.ui.params import MAX_VERSION, checked_name
from mloop.server.ui.profiles import column_chart, profile_columns
from mloop.store.context import Context

_WHAT: dict[DefinitionKind, str] = {
    "entity": "entity",
    "source": "source",
    "feature_view": "feature view",
    "on_demand": "on-demand feature",
    "feature_service": "feature service",
}


def _checked(raw: str, kind: DefinitionKind) -> str:
    """A name a definition could have; anything else names none (404, not 400)."""
    return checked_name(raw, check_asset_name, _WHAT[kind])


def parse_version(raw: str) -> int | None:
    """``?version=``: a version number (empty: the newest)."""
    if not raw:
        return None
    if not raw.isdigit() or not 1 <= int(raw) <= MAX_VERSION:
        raise ValidationError(
            f"version must be a version number, got {raw[:20]!r}", field="version"
        )
    return int(raw)


# -- words --------------------------------------------------------------------------------------


def ttl_text(seconds: int | None) -> str:
    return "none (rows never expire)" if seconds is None else span_text(seconds)


def age_text(seconds: float | None) -> str:
    if seconds is None:
        return ""
    return humanize.duration(0, int(seconds * 1000)) or ""


def freshness_state(fresh: ViewFreshness | None, alerts: int) -> str:
    """``offline`` (not served online), ``never`` (not materialized yet), ``expired`` (older
    than the TTL), ``stale`` (a freshness alert is open), or ``fresh``."""
    if fresh is None or not fresh.online:
        return "offline"
    if fresh.watermark is None:
        return "never"
    if fresh.expired:
        return "expired"
    return "stale" if alerts else "fresh"


def source_where(spec: SourceSpec) -> str:
    """Where a source's rows come from, in a few words (a dataset is linked apart)."""
    if spec.kind == "file":
        path = spec.path or ""
        return path if spec.file_format is None else f"{path} ({spec.file_format})"
    if spec.kind == "dataset":
        version = "newest version" if spec.version is None else f"version {spec.version}"
        return f"dataset {spec.dataset}, {version}"
    if spec.kind == "postgres":
        return f"PostgreSQL at ${spec.url_env}: {cut(spec.query or '', 120)}"
    return cut(spec.query or "", 120)


def source_href(spec: SourceSpec) -> str:
    """A dataset source's dataset version page; any other source's row on the overview."""
    if spec.kind == "dataset" and spec.dataset:
        version: int | str = spec.version if spec.version is not None else "latest"
        return links.dataset_version(spec.dataset, version)
    return links.features(anchor=f"source-{spec.name}")


# -- /features ----------------------------------------------------------------------------------


def _by_name(definitions: list[Definition]) -> dict[str, Definition]:
    return {d.name: d for d in definitions}


def _view_rows(ctx: Context, views: list[Definition]) -> list[dict[str, Any]]:
    """Each view with its TTL and freshness (age, state, open freshness alerts)."""
    fresh = freshness_by_view(ctx)
    stale = stale_views(ctx)
    rows: list[dict[str, Any]] = []
    for d in views:
        spec = FeatureViewSpec.model_validate(d.spec)
        mine = fresh.get(d.name)
        rows.append(
            {
                "d": d,
                "spec": spec,
                "ttl": ttl_text(spec.ttl_seconds),
                "fresh": mine,
                "age": age_text(mine.age_seconds) if mine else "",
                "state": freshness_state(mine, stale.get(d.name, 0)),
                "alerts": stale.get(d.name, 0),
            }
        )
    return rows


def _source_rows(sources: list[Definition], views: list[dict[str, Any]]) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for d in sources:
        spec = SourceSpec.model_validate(d.spec)
        readers = [v["d"].name for v in views if v["spec"].source == d.name]
        rows.append({"d": d, "spec": spec, "where": source_where(spec), "views": readers})
    return rows


def _on_demand_rows(on_demand: list[Definition]) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for d in on_demand:
        spec = OnDemandSpec.model_validate(d.spec)
        read = sorted({ref.partition(":")[0] for ref in spec.sources})
        rows.append({"d": d, "spec": spec, "views": read})
    return rows


def _service_rows(
    services: list[Definition],
    views: list[Definition],
    on_demand: list[Definition],
    uses: list[ModelUse],
) -> list[dict[str, Any]]:
    """Each service with its number of features and the model versions naming it."""
    views_by_name, od_by_name = _by_name(views), _by_name(on_demand)
    rows: list[dict[str, Any]] = []
    for d in services:
        spec = FeatureServiceSpec.model_validate(d.spec)
        features = resolved_features(spec.features, views_by_name, od_by_name)
        mine = [u for u in uses if u.service == d.name]
        rows.append({"d": d, "spec": spec, "features": len(features), "uses": mine})
    return rows


def _list_page(ctx: Context) -> dict[str, Any]:
    entities = newest_definitions(ctx, "entity")
    sources = newest_definitions(ctx, "source")
    views = newest_definitions(ctx, "feature_view")
    on_demand = newest_definitions(ctx, "on_demand")
    services = newest_definitions(ctx, "feature_service")
    uses, capped = model_uses(ctx)
    view_rows = _view_rows(ctx, views)
    entity_rows = [
        {
            "d": d,
            "keys": d.spec.get("join_keys", []),
            "views": [v["d"].name for v in view_rows if d.name in v["spec"].entities],
        }
        for d in entities
    ]
    return {
        "entities": entity_rows,
        "sources": _source_rows(sources, view_rows),
        "views": view_rows,
        "on_demand": _on_demand_rows(on_demand),
        "services": _service_rows(services, views, on_demand, uses),
        "models_capped": capped,
        "empty": not (entities or sources or views or on_demand or services),
    }


# -- shared by the two detail pages ------------------------------------------------------------


def _chosen(ctx: Context, kind: DefinitionKind, name: str, version: int | None) -> dict[str, Any]:
    """The version a page shows, every version, and whether the definition was removed."""
    what = f"{_WHAT[kind]} {name!r}"
    versions = versions_of(ctx, kind, name)
    if not versions:
        raise NotFoundError(f"{what} does not exist", field="name")
    removed = is_removed(ctx, kind, name)
    newest = versions[0]
    if version is None:
        if removed:
            raise NotFoundError(
                f"{what} was removed; its versions stay readable (its last is version "
                f"{newest.version}: add ?version={newest.version})",
                field="name",
            )
        chosen = newest
    else:
        found = next((v for v in versions if v.version == version), None)
        if found is None:
            raise NotFoundError(
                f"{what} has no version {version} (its newest is {newest.version})",
                field="version",
            )
        chosen = found
    return {"chosen": chosen, "versions": versions, "removed": removed, "newest": newest.version}


def _model_nodes(uses: list[ModelUse]) -> tuple[list[Node], list[Node], list[tuple[str, str]]]:
    """Graph nodes of model versions and of the endpoints serving them, with their edges."""
    models: dict[str, Node] = {}
    endpoints: dict[str, Node] = {}
    edges: list[tuple[str, str]] = []
    for use in uses:
        key = f"model:{use.model}:{use.version}"
        detail = f"tag {use.tag}" + (f" @{', @'.join(use.aliases)}" if use.aliases else "")
        models.setdefault(
            key,
            Node(
                key,
                "model_version",
                f"{use.model} v{use.version}",
                detail,
                links.model_version(use.model, use.version),
            ),
        )
        for endpoint in use.endpoints:
            ekey = f"endpoint:{endpoint}"
            endpoints.setdefault(
                ekey, Node(ekey, "endpoint", endpoint, "serves it live", links.endpoint(endpoint))
            )
            edges.append((key, ekey))
    return list(models.values()), list(endpoints.values()), edges


def _source_node(name: str, found: Found) -> Node:
    if found.definition is None:
        return Node(
            f"source:{name}", "source", name, "not registered", links.features(anchor="sources")
        )
    spec = SourceSpec.model_validate(found.definition.spec)
    detail = spec.kind + (" (removed)" if found.removed else "")
    if spec.kind == "dataset":
        version = "newest" if spec.version is None else f"v{spec.version}"
        detail = f"dataset {spec.dataset} {version}"
    return Node(f"source:{name}", "source", name, detail, source_href(spec))


# -- /features/views/{name} ------------------------------------------------------------------------


def _statistics(
    profile: StoredProfile | None, spec: FeatureViewSpec
) -> tuple[list[Any], dict[str, Any], int]:
    """The profile's columns that are features of ``spec`` (in its order), their charts,
    and how many other columns (keys, event time) the profile holds."""
    if profile is None or profile.profile is None:
        return [], {}, 0
    by_name = {c.name: c for c in profile_columns(profile.profile)}
    names = [f.name for f in spec.features]
    columns = [by_name[n] for n in names if n in by_name]
    charts = {f"col-{c.index}": column_chart(c) for c in columns}
    others = len(by_name) - len(columns)
    return columns, json_safe({k: v for k, v in charts.items() if v is not None}), others


def _readers(ctx: Context, name: str, version: int) -> list[dict[str, Any]]:
    """Feature services with versions that pin version ``version`` of view ``name``."""
    found = []
    for service in newest_definitions(ctx, "feature_service"):
        versions = versions_of(ctx, "feature_service", service.name)
        pinning = [v.version for v in versions if v.pinned.get(f"feature_view:{name}") == version]
        if pinning:
            found.append(
                {"name": service.name, "versions": sorted(pinning), "newest": versions[0].version}
            )
    return found


def _view_page(ctx: Context, name: str, version: int | None) -> dict[str, Any]:
    data = _chosen(ctx, "feature_view", name, version)
    chosen: Definition = data["chosen"]
    spec = FeatureViewSpec.model_validate(chosen.spec)
    source = definition_at(ctx, "source", spec.source, chosen.creation_time)
    source_spec = SourceSpec.model_validate(source.definition.spec) if source.definition else None
    entities = []
    for entity in spec.entities:
        found = definition_at(ctx, "entity", entity, chosen.creation_time)
        keys = found.definition.spec.get("join_keys", []) if found.definition else []
        entities.append({"name": entity, "keys": keys, "found": found})
    fresh = None if data["removed"] else freshness_by_view(ctx).get(name)
    alerts = stale_views(ctx).get(name, 0)
    profile = stored_profile(ctx, name)
    columns, charts, others = _statistics(profile, spec)
    readers = _readers(ctx, name, chosen.version)
    all_uses, capped = model_uses(ctx)
    uses: list[ModelUse] = []
    for reader in readers:
        reader["uses"] = uses_of(
            all_uses, reader["name"], set(reader["versions"]), reader["newest"]
        )
        uses += reader["uses"]
    attach_endpoints(ctx, uses)
    on_demand = [
        d.name
        for d in newest_definitions(ctx, "on_demand")
        if any(r.partition(":")[0] == name for r in d.spec.get("sources", []))
    ]
    data.update(
        spec=spec,
        source=source,
        source_spec=source_spec,
        source_where=source_where(source_spec) if source_spec else "",
        source_href=source_href(source_spec) if source_spec else "",
        entities=entities,
        ttl=ttl_text(spec.ttl_seconds),
        fresh=fresh,
        age=age_text(fresh.age_seconds) if fresh else "",
        state=freshness_state(fresh, alerts),
        alerts=alerts,
        profile=profile,
        columns=columns,
        charts=charts,
        other_columns=others,
        readers=readers,
        uses=uses,
        models_capped=capped,
        on_demand=on_demand,
        graph=_view_graph(
            name, chosen.version, spec.source, source, readers, uses, data["removed"]
        ),
    )
    return data


def _view_graph(
    name: str,
    version: int,
    source_name: str,
    source: Found,
    readers: list[dict[str, Any]],
    uses: list[ModelUse],
    removed: bool,
) -> Any:
    view_key = f"view:{name}"
    detail = f"v{version}" + (" (removed)" if removed else "")
    view = Node(view_key, "feature_view", name, detail, links.feature_view(name, version), True)
    source_node = _source_node(source_name, source)
    edges = [(source_node.key, view_key)]
    services = []
    for reader in readers:
        key = f"service:{reader['name']}"
        shown = reader["versions"]
        detail = "v" + ", v".join(str(v) for v in shown[-4:]) + (" …" if len(shown) > 4 else "")
        services.append(
            Node(
                key,
                "feature_service",
                reader["name"],
                detail,
                links.feature_service(reader["name"], shown[-1]),
            )
        )
        edges.append((view_key, key))
        for use in reader["uses"]:
            edges.append((key, f"model:{use.model}:{use.version}"))
    models, endpoints, served = _model_nodes(uses)
    return lineage_graph(
        [
            ("Source", [source_node], "#definition"),
            ("Feature view", [view], "#definition"),
            ("Feature services", services, "#lineage-services"),
            ("Model versions", models, "#lineage-models"),
            ("Endpoints", endpoints, "#lineage-models"),
        ],
        edges + served,
    )


# -- /features/services/{name} --------------------------------------------------------------------


def _pinned(ctx: Context, pins: dict[str, int]) -> list[dict[str, Any]]:
    """The definitions a service version pins, each at its pinned version when it still
    exists, with the newest version of each."""
    rows = []
    for key, version in sorted(pins.items()):
        kind_text, _, owner = key.partition(":")
        kind: DefinitionKind = "on_demand" if kind_text == "on_demand" else "feature_view"
        versions = versions_of(ctx, kind, owner)
        definition = next((v for v in versions if v.version == version), None)
        rows.append(
            {
                "kind": kind,
                "name": owner,
                "version": version,
                "definition": definition,
                "newest": versions[0].version if versions else None,
                "removed": bool(versions) and is_removed(ctx, kind, owner),
            }
        )
    return rows


def _service_page(ctx: Context, name: str, version: int | None) -> dict[str, Any]:
    data = _chosen(ctx, "feature_service", name, version)
    chosen: Definition = data["chosen"]
    spec = FeatureServiceSpec.model_validate(chosen.spec)
    pinned = _pinned(ctx, chosen.pinned)
    views = {p["name"]: p["definition"] for p in pinned if p["kind"] == "feature_view"}
    on_demand = {p["name"]: p["definition"] for p in pinned if p["kind"] == "on_demand"}
    known_views = {n: d for n, d in views.items() if d is not None}
    known_od = {n: d for n, d in on_demand.items() if d is not None}
    references: list[dict[str, Any]] = []
    for ref in spec.features:
        resolved = resolved_features([ref], known_views, known_od)
        owner = ref.partition(":")[0]
        definition = known_views.get(owner) or known_od.get(owner)
        types = feature_types(definition.spec) if definition else {}
        references.append(
            {
                "ref": ref,
                "owner": owner,
                "kind": "on_demand" if owner in known_od else "feature_view",
                "version": chosen.pinned.get(
                    f"{'on_demand' if owner in known_od else 'feature_view'}:{owner}"
                ),
                "features": [(f, types.get(f, "")) for _, _, f in resolved],
            }
        )
    all_uses, capped = model_uses(ctx)
    uses = uses_of(all_uses, name, {chosen.version}, data["newest"])
    attach_endpoints(ctx, uses)
    sources: dict[str, Found] = {}
    view_sources: dict[str, str] = {}
    for view_name, definition in known_views.items():
        source_name = str(definition.spec.get("source", ""))
        view_sources[view_name] = source_name
        if source_name not in sources:
            sources[source_name] = definition_at(
                ctx, "source", source_name, definition.creation_time
            )
    data.update(
        spec=spec,
        pinned=pinned,
        references=references,
        feature_count=sum(len(r["features"]) for r in references),
        uses=uses,
        models_capped=capped,
        graph=_service_graph(
            name, chosen, pinned, known_od, view_sources, sources, references, uses
        ),
    )
    return data


def _service_graph(
    name: str,
    chosen: Definition,
    pinned: list[dict[str, Any]],
    on_demand: dict[str, Definition],
    view_sources: dict[str, str],
    sources: dict[str, Found],
    references: list[dict[str, Any]],
    uses: list[ModelUse],
) -> Any:
    service_key = f"service:{name}"
    service = Node(
        service_key,
        "feature_service",
        name,
        f"v{chosen.version}",
        links.feature_service(name, chosen.version),
        True,
    )
    source_nodes = [_source_node(n, found) for n, found in sources.items()]
    view_nodes, od_nodes = [], []
    edges: list[tuple[str, str]] = []
    for p in pinned:
        if p["kind"] == "feature_view":
            key = f"view:{p['name']}"
            detail = f"v{p['version']}" + (" (removed)" if p["definition"] is None else "")
            href = links.feature_view(p["name"], p["version"])
            view_nodes.append(Node(key, "feature_view", p["name"], detail, href))
            if p["name"] in view_sources:
                edges.append((f"source:{view_sources[p['name']]}", key))
        else:
            key = f"on_demand:{p['name']}"
            href = links.features(anchor=f"on-demand-{p['name']}")
            od_nodes.append(Node(key, "on_demand", p["name"], f"v{p['version']}", href))
            for ref in (
                on_demand[p["name"]].spec.get("sources", []) if p["name"] in on_demand else []
            ):
                edges.append((f"view:{ref.partition(':')[0]}", key))
    for ref in references:
        prefix = "on_demand" if ref["kind"] == "on_demand" else "view"
        edges.append((f"{prefix}:{ref['owner']}", service_key))
    for use in uses:
        edges.append((service_key, f"model:{use.model}:{use.version}"))
    models, endpoints, served = _model_nodes(uses)
    return lineage_graph(
        [
            ("Sources", source_nodes, "#pinned"),
            ("Feature views", view_nodes, "#pinned"),
            ("On-demand features", od_nodes, "#pinned"),
            ("Feature service", [service], "#references"),
            ("Model versions", models, "#models"),
            ("Endpoints", endpoints, "#models"),
        ],
        edges + served,
    )


# -- routes -------------------------------------------------------------------------------------


def router(ui: UI) -> APIRouter:
    r = APIRouter(route_class=ui.route_class, include_in_schema=False)

    @r.get("/features", response_class=HTMLResponse, name="ui_features")
    def features_page(request: Request) -> HTMLResponse:
        viewer = ui.viewer(request)
        data = ui.read(_list_page, viewer)
        return ui.render(request, "features.html", viewer, **data)

    @r.get("/features/views/{name}", response_class=HTMLResponse, name="ui_feature_view")
    def view_page(
        request: Request, name: str, version: str = Query("", max_length=20)
    ) -> HTMLResponse:
        viewer = ui.viewer(request)
        name = _checked(name, "feature_view")
        wanted = parse_version(version)
        data = ui.read(lambda ctx: _view_page(ctx, name, wanted), viewer)
        return ui.render(request, "feature_view.html", viewer, name=name, **data)

    @r.get("/features/services/{name}", response_class=HTMLResponse, name="ui_feature_service")
    def service_page(
        request: Request, name: str, version: str = Query("", max_length=20)
    ) -> HTMLResponse:
        viewer = ui.viewer(request)
        name = _checked(name, "feature_service")
        wanted = parse_version(version)
        data = ui.read(lambda ctx: _service_page(ctx, name, wanted), viewer)
        return ui.render(request, "feature_service.html", viewer, name=name, **data)

    return r
