"""What the feature store's pages read and how they draw lineage.

Reading: every registered definition's newest version, a definition as it was when another
was registered (a view names its source and entities by name only, and one apply registers
a changed view with its changed source, so the source's version of that moment is the
one the view read), the model versions that name a feature service in their
``mloop.feature_service`` tag (``name`` or ``name:version``; the registry has no query by
tag, so the models are scanned, at most :data:`MAX_MODELS_SCANNED`), the endpoints whose
live deployment serves them, open freshness alerts per view, and a view's stored profile.

Drawing: :func:`lineage_graph` lays a graph out in columns (sources, views, services, model
versions, endpoints) with every node a link; the template draws it as inline SVG, so no
script or library is needed to see it.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from mloop.alerts.history import open_alerts
from mloop.core.errors import NotFoundError, ValidationError
from mloop.features.freshness import GetFreshness, ViewFreshness, get_feature_freshness
from mloop.features.registry import (
    get_definition,
    list_definition_versions,
    list_definitions,
    resolve_refs,
)
from mloop.features.schemas import (
    Definition,
    DefinitionKind,
    DefinitionRef,
    FeatureViewSpec,
    ListDefinitions,
    OnDemandSpec,
)
from mloop.features.usage import SERVICE_TAG
from mloop.registry.models import list_registered_models
from mloop.registry.schemas import ListModelVersions, ListRegisteredModels
from mloop.registry.versions import list_model_versions
from mloop.server.ui.formatting import cut
from mloop.serving.deployments import current_deployment
from mloop.serving.endpoints import list_endpoints
from mloop.serving.schemas import ListEndpoints
from mloop.store.context import Context

MAX_DEFINITIONS = 5000
"""Definitions of one kind read for a page."""
MAX_MODELS_SCANNED = 2000
"""Registered models whose versions are searched for the feature service tag."""
MAX_VERSIONS_SCANNED = 1000
"""Newest versions of one model searched for the tag."""
MAX_OPEN_ALERTS = 5000
PAGE_SIZE = 1000


# -- definitions ------------------------------------------------------------------------------


def newest_definitions(ctx: Context, kind: DefinitionKind) -> list[Definition]:
    """The newest version of every registered (not removed) definition of ``kind``, by name."""
    found: list[Definition] = []
    token: str | None = None
    while len(found) < MAX_DEFINITIONS:
        page = list_definitions(
            ctx, ListDefinitions(kind=kind, max_results=PAGE_SIZE, page_token=token)
        )
        found += page.definitions
        token = page.next_page_token
        if token is None:
            break
    return found[:MAX_DEFINITIONS]


def versions_of(ctx: Context, kind: DefinitionKind, name: str) -> list[Definition]:
    """Every version of a definition, newest first; empty when it never existed."""
    try:
        return list_definition_versions(ctx, DefinitionRef(kind=kind, name=name)).versions
    except NotFoundError:
        return []


def is_removed(ctx: Context, kind: DefinitionKind, name: str) -> bool:
    """Whether a registered definition was removed (its versions stay)."""
    try:
        get_definition(ctx, DefinitionRef(kind=kind, name=name))
    except NotFoundError:
        return True
    return False


@dataclass(frozen=True)
class Found:
    """A definition read for a page: its version of a moment, and whether it was removed
    since (None when nothing of that name was ever registered)."""

    definition: Definition | None
    removed: bool
    newest: int | None


def definition_at(ctx: Context, kind: DefinitionKind, name: str, when: int) -> Found:
    """``name``'s version registered at or before ``when`` (the oldest if all are later)."""
    versions = versions_of(ctx, kind, name)
    if not versions:
        return Found(None, False, None)
    chosen = next((v for v in versions if v.creation_time <= when), versions[-1])
    return Found(chosen, is_removed(ctx, kind, name), versions[0].version)


def feature_types(spec: dict[str, Any]) -> dict[str, str]:
    """A view's or on-demand feature's features and their types, from its stored spec."""
    return {
        str(f.get("name")): str(f.get("dtype"))
        for f in spec.get("features", [])
        if isinstance(f, dict)
    }


def resolved_features(
    refs: Sequence[str], views: dict[str, Definition], on_demand: dict[str, Definition]
) -> list[tuple[str, str, str]]:
    """A service's ``view:feature`` references as (kind, owner, feature) triples, against
    the given definitions; an unresolvable reference (a definition since removed) is left
    out rather than failing the page."""
    view_specs = {n: FeatureViewSpec.model_validate(d.spec) for n, d in views.items()}
    od_specs = {n: OnDemandSpec.model_validate(d.spec) for n, d in on_demand.items()}
    found: list[tuple[str, str, str]] = []
    for ref in refs:
        try:
            found += resolve_refs([ref], view_specs, od_specs, "features")
        except ValidationError:
            continue
    return found


# -- models and endpoints ------------------------------------------------------------------------


@dataclass
class ModelUse:
    """A model version that names a feature service in its tag."""

    model: str
    version: int
    aliases: list[str]
    tag: str
    service: str
    service_version: int | None  # None: the tag names no version (the service's newest)
    endpoints: list[str] = field(default_factory=list)


def parse_service_tag(tag: str) -> tuple[str, int | None]:
    """``("churn", 3)`` of ``churn:3``; ``("churn", None)`` of ``churn`` (or of a version
    that is not a number)."""
    name, _, version = tag.partition(":")
    return name.strip(), int(version) if version.isdigit() else None


def model_uses(ctx: Context) -> tuple[list[ModelUse], bool]:
    """Every model version that names a feature service, newest model versions first per
    model, and whether the scan stopped at :data:`MAX_MODELS_SCANNED` models."""
    uses: list[ModelUse] = []
    scanned = 0
    token: str | None = None
    while True:
        page = list_registered_models(
            ctx, ListRegisteredModels(max_results=PAGE_SIZE, page_token=token)
        )
        for model in page.registered_models:
            if scanned == MAX_MODELS_SCANNED:
                return uses, True
            scanned += 1
            if model.latest_version is None:
                continue
            versions = list_model_versions(
                ctx, ListModelVersions(name=model.name, max_results=MAX_VERSIONS_SCANNED)
            ).model_versions
            for mv in versions:
                tag = mv.tags.get(SERVICE_TAG)
                if not tag:
                    continue
                service, version = parse_service_tag(tag)
                uses.append(ModelUse(mv.name, mv.version, list(mv.aliases), tag, service, version))
        token = page.next_page_token
        if token is None:
            return uses, False


def attach_endpoints(ctx: Context, uses: Iterable[ModelUse]) -> None:
    """Fill each use's endpoints: those whose live deployment serves its model version."""
    wanted: dict[tuple[str, int], list[ModelUse]] = {}
    for use in uses:
        wanted.setdefault((use.model, use.version), []).append(use)
    if not wanted:
        return
    token: str | None = None
    while True:
        page = list_endpoints(ctx, ListEndpoints(max_results=PAGE_SIZE, page_token=token))
        for endpoint in page.endpoints:
            if endpoint.current_deployment is None:
                continue
            live = current_deployment(ctx, endpoint.name)
            for variant in live.variants if live is not None else []:
                for use in wanted.get((variant.model, variant.version), []):
                    if endpoint.name not in use.endpoints:
                        use.endpoints.append(endpoint.name)
        token = page.next_page_token
        if token is None:
            return


def uses_of(
    uses: Iterable[ModelUse], service: str, versions: set[int], newest: int | None
) -> list[ModelUse]:
    """The uses of ``service`` at one of ``versions``: a tag naming no version means the
    service's ``newest`` version."""
    return [
        u
        for u in uses
        if u.service == service
        and (u.service_version if u.service_version is not None else newest) in versions
    ]


# -- freshness, alerts, statistics ------------------------------------------------------------


def freshness_by_view(ctx: Context) -> dict[str, ViewFreshness]:
    """Each (not removed) view's online freshness."""
    return {v.view: v for v in get_feature_freshness(ctx, GetFreshness()).views}


def stale_views(ctx: Context) -> dict[str, int]:
    """Open or acknowledged freshness alerts (source ``features``) per feature view: what
    the alert rules call stale."""
    counts: dict[str, int] = {}
    for alert in open_alerts(ctx, source="features", limit=MAX_OPEN_ALERTS):
        view = alert.subject.get("feature_view")
        if view:
            counts[view] = counts.get(view, 0) + 1
    return counts


@dataclass(frozen=True)
class StoredProfile:
    """The statistics stored for a view's offline rows (a ``DatasetProfile.to_dict()``)."""

    view_version: int
    rows: int
    computed_at: int
    profile: dict[str, Any] | None  # None: the stored JSON could not be read


def stored_profile(ctx: Context, view: str) -> StoredProfile | None:
    """The profile ``profile_feature_view`` stored for ``view``, if any."""
    from mloop.core.errors import NotFoundError
    from mloop.features.profiles import FeatureProfileRef, get_feature_profile

    try:
        found = get_feature_profile(ctx, FeatureProfileRef(view=view))
    except NotFoundError:
        return None
    return StoredProfile(
        view_version=found.version,
        rows=found.rows,
        computed_at=found.computed_at,
        profile=found.profile,
    )


# -- the lineage graph ---------------------------------------------------------------------------

NODE_WIDTH = 176
NODE_HEIGHT = 40
COLUMN_GAP = 48
ROW_GAP = 12
TOP = 30  # room for the column titles
LANE_GAP = 12  # between the lowest node an edge passes under and the edge
LABEL_CHARS = 22
MAX_NODES = 20
"""Nodes drawn in one column; the rest are one "more" node."""


@dataclass
class Node:
    """One object of the graph: a link with a label and a second line."""

    key: str  # unique in the graph: "view:spend", "model:churn:3"
    kind: str  # source | feature_view | on_demand | feature_service | model_version | endpoint
    label: str
    detail: str
    href: str
    current: bool = False
    x: int = 0
    y: int = 0

    @property
    def title(self) -> str:
        return f"{self.label} ({self.detail})" if self.detail else self.label

    @property
    def short_label(self) -> str:
        return cut(self.label, LABEL_CHARS)

    @property
    def short_detail(self) -> str:
        return cut(self.detail, LABEL_CHARS + 4)


@dataclass
class Column:
    title: str
    nodes: list[Node]
    x: int = 0


@dataclass
class Graph:
    columns: list[Column]
    edges: list[str]  # SVG path data, one per edge
    width: int
    height: int
    node_width: int = NODE_WIDTH
    node_height: int = NODE_HEIGHT

    @property
    def nodes(self) -> list[Node]:
        return [n for c in self.columns for n in c.nodes]


def _capped(column: Column, more_href: str) -> tuple[Column, dict[str, str]]:
    """The column with at most :data:`MAX_NODES` nodes (the rest one "more" node), and where
    each dropped node's edges go."""
    if len(column.nodes) <= MAX_NODES:
        return column, {}
    kept, dropped = column.nodes[: MAX_NODES - 1], column.nodes[MAX_NODES - 1 :]
    more = Node(
        key=f"more:{column.title}",
        kind="more",
        label=f"{len(dropped)} more",
        detail="listed below",
        href=more_href,
    )
    return Column(column.title, [*kept, more]), {n.key: more.key for n in dropped}


def _edge(start: Node, end: Node, lane: int | None) -> str:
    """SVG path data of an edge from ``start``'s right side to ``end``'s left side: one
    curve between neighbouring columns; an edge that skips columns runs along ``lane``,
    below the nodes of the columns it passes, so it is never hidden behind one."""
    x1, y1 = start.x + NODE_WIDTH, start.y + NODE_HEIGHT // 2
    x2, y2 = end.x, end.y + NODE_HEIGHT // 2
    if lane is None:
        bend = (x2 - x1) // 2
        return f"M{x1},{y1} C{x1 + bend},{y1} {x2 - bend},{y2} {x2},{y2}"
    half = COLUMN_GAP // 2
    return (
        f"M{x1},{y1} C{x1 + half},{y1} {x1 + half},{lane} {x1 + COLUMN_GAP},{lane} "
        f"L{x2 - COLUMN_GAP},{lane} C{x2 - half},{lane} {x2 - half},{y2} {x2},{y2}"
    )


def lineage_graph(
    columns: Sequence[tuple[str, list[Node], str]], edges: Iterable[tuple[str, str]]
) -> Graph | None:
    """Lay out ``columns`` (title, nodes, where the "more" node links) left to right and the
    ``edges`` (node keys) between them; empty columns are left out. None when there is no
    node at all."""
    laid: list[Column] = []
    moved: dict[str, str] = {}
    for title, nodes, more_href in columns:
        if nodes:
            column, redirected = _capped(Column(title, list(nodes)), more_href)
            laid.append(column)
            moved.update(redirected)
    if not laid:
        return None
    tallest = max(len(c.nodes) for c in laid)
    height = TOP + tallest * (NODE_HEIGHT + ROW_GAP) - ROW_GAP + 4
    width = len(laid) * (NODE_WIDTH + COLUMN_GAP) - COLUMN_GAP + 2
    where: dict[str, tuple[int, Node]] = {}  # key -> (column index, node)
    bottoms: list[int] = []
    for i, column in enumerate(laid):
        column.x = 1 + i * (NODE_WIDTH + COLUMN_GAP)
        used = len(column.nodes) * (NODE_HEIGHT + ROW_GAP) - ROW_GAP
        top = TOP + (height - TOP - 4 - used) // 2
        for j, node in enumerate(column.nodes):
            node.x, node.y = column.x, top + j * (NODE_HEIGHT + ROW_GAP)
            where[node.key] = (i, node)
        bottoms.append(top + used)
    paths: list[str] = []
    seen: set[tuple[str, str]] = set()
    skips = 0  # edges that skip columns so far: each runs a little lower than the last
    for a, b in edges:
        a, b = moved.get(a, a), moved.get(b, b)
        if (a, b) in seen or a not in where or b not in where:
            continue
        seen.add((a, b))
        (i, start), (k, end) = where[a], where[b]
        if k <= i:
            continue  # edges run left to right only
        if k == i + 1:
            paths.append(_edge(start, end, None))
            continue
        lane = max(bottoms[i + 1 : k]) + LANE_GAP + 6 * skips
        skips += 1
        paths.append(_edge(start, end, lane))
        height = max(height, lane + 4)
    return Graph(columns=laid, edges=paths, width=width, height=height)
