"""Registering feature definitions: plan, version, pin, refuse breaking changes.

``apply`` compares each given definition with its newest registered version by the
digest of its JSON: new ones get version 1, changed ones the next version, the same ones
are left alone; with ``remove``, registered definitions that were not given are marked
removed. References are checked before anything is written (a view's entities and
source, a service's ``view:feature`` references, an on-demand feature's inputs), and a
change that would break a feature service that a deployed model uses (a feature it reads
removed or retyped, an entity's keys changed) is refused unless ``force``. A feature
service's version pins the versions of the views and on-demand features it reads.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import orjson
from sqlalchemy import insert, select, update

from mloop.core.errors import ConflictError, NotFoundError, ValidationError
from mloop.core.naming import decode_page_token, encode_page_token
from mloop.core.timeutil import now_ms
from mloop.features import tables as t
from mloop.features.checks import check_definition
from mloop.features.ops import operations
from mloop.features.schemas import (
    AdminApplyDefinitions,
    AnySpec,
    ApplyDefinitions,
    ApplyResult,
    Definition,
    DefinitionKind,
    DefinitionList,
    DefinitionRef,
    DefinitionVersions,
    EntitySpec,
    FeatureServiceSpec,
    FeatureViewSpec,
    ListDefinitions,
    OnDemandSpec,
    PlanEntry,
    SourceSpec,
)
from mloop.store.context import Context

_SPECS: dict[DefinitionKind, type[AnySpec]] = {
    "entity": EntitySpec,
    "source": SourceSpec,
    "feature_view": FeatureViewSpec,
    "on_demand": OnDemandSpec,
    "feature_service": FeatureServiceSpec,
}
# The request's list of each kind, which errors name.
LIST_FIELDS: dict[str, str] = {
    "entity": "entities",
    "source": "sources",
    "feature_view": "feature_views",
    "on_demand": "on_demand",
    "feature_service": "feature_services",
}
# Order of registration and of the plan: what others refer to first.
KINDS: tuple[DefinitionKind, ...] = (
    "entity",
    "source",
    "feature_view",
    "on_demand",
    "feature_service",
)


def digest(spec: AnySpec) -> str:
    text = json.dumps(spec.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


def _given(req: ApplyDefinitions) -> dict[DefinitionKind, dict[str, AnySpec]]:
    lists: dict[DefinitionKind, list[Any]] = {
        "entity": req.entities,
        "source": req.sources,
        "feature_view": req.feature_views,
        "on_demand": req.on_demand,
        "feature_service": req.feature_services,
    }
    given: dict[DefinitionKind, dict[str, AnySpec]] = {}
    for kind in KINDS:
        found: dict[str, AnySpec] = {}
        for spec in lists[kind]:
            check_definition(kind, spec, f"{LIST_FIELDS[kind]}.{spec.name}")
            if spec.name in found:
                raise ConflictError(
                    f"{kind.replace('_', ' ')} {spec.name!r} is defined twice",
                    field=f"{LIST_FIELDS[kind]}.{spec.name}",
                )
            found[spec.name] = spec
        given[kind] = found
    return given


@dataclass(frozen=True)
class _Registered:
    """A definition's newest registered version."""

    version: int
    digest: str
    spec: AnySpec
    removed: bool
    pinned: dict[str, int]


Registry = dict[DefinitionKind, dict[str, _Registered]]


def _newest(ctx: Context) -> Registry:
    """Every registered definition's newest version."""
    o, d = t.feature_objects, t.feature_definitions
    rows = ctx.conn.execute(
        select(o.c.kind, o.c.name, o.c.removed, d).join(
            d,
            (d.c.kind == o.c.kind) & (d.c.name == o.c.name) & (d.c.version == o.c.latest_version),
        )
    )
    found: Registry = {k: {} for k in KINDS}
    for r in rows:
        kind: DefinitionKind = r.kind
        found[kind][r.name] = _Registered(
            version=r.version,
            digest=r.digest,
            spec=_SPECS[kind].model_validate_json(r.spec_json),
            removed=bool(r.removed),
            pinned=orjson.loads(r.pinned_json),
        )
    return found


def _feature_types(view: FeatureViewSpec | OnDemandSpec) -> dict[str, str]:
    return {f.name: f.dtype for f in view.features}


def resolve_refs(
    refs: Iterable[str],
    views: Mapping[str, FeatureViewSpec],
    on_demand: Mapping[str, OnDemandSpec],
    field: str,
) -> list[tuple[str, str, str]]:
    """``view:feature`` references (``view:*`` for all) as (kind, view, feature) triples."""
    resolved: list[tuple[str, str, str]] = []
    for ref in refs:
        view_name, sep, feature = ref.partition(":")
        if not sep or not view_name or not feature:
            raise ValidationError(
                f"{ref!r} is not a feature reference: write view:feature, or view:* for all "
                "of a view's features",
                field=field,
            )
        owner: FeatureViewSpec | OnDemandSpec | None = views.get(view_name)
        kind = "feature_view"
        if owner is None:
            owner, kind = on_demand.get(view_name), "on_demand"
        if owner is None:
            raise NotFoundError(
                f"{ref!r} names {view_name!r}, which is neither a feature view nor an "
                "on-demand feature",
                field=field,
            )
        names = [f.name for f in owner.features]
        if feature == "*":
            resolved += [(kind, view_name, n) for n in names]
        elif feature in names:
            resolved.append((kind, view_name, feature))
        else:
            raise NotFoundError(
                f"{ref!r}: {view_name!r} has no feature {feature!r} (it has "
                f"{', '.join(names[:20])})",
                field=field,
            )
    return resolved


def _check_references(final: dict[DefinitionKind, dict[str, AnySpec]]) -> None:
    entities, sources = final["entity"], final["source"]
    views: dict[str, FeatureViewSpec] = final["feature_view"]  # type: ignore[assignment]
    on_demand: dict[str, OnDemandSpec] = final["on_demand"]  # type: ignore[assignment]
    for view in views.values():
        where = f"feature_views.{view.name}"
        for entity in view.entities:
            if entity not in entities:
                raise NotFoundError(
                    f"feature view {view.name!r} names entity {entity!r}, which is not defined",
                    field=f"{where}.entities",
                )
        if view.source not in sources:
            raise NotFoundError(
                f"feature view {view.name!r} reads source {view.source!r}, which is not defined",
                field=f"{where}.source",
            )
        keys = [k for e in view.entities for k in entities[e].join_keys]  # type: ignore[union-attr]
        clash = sorted(set(keys) & set(_feature_types(view)))
        if clash:
            raise ValidationError(
                f"feature view {view.name!r}: {clash[0]!r} is a join key and a feature",
                field=f"{where}.features",
            )
    for spec in on_demand.values():
        resolve_refs(spec.sources, views, {}, f"on_demand.{spec.name}.sources")
    for service in final["feature_service"].values():
        assert isinstance(service, FeatureServiceSpec)
        resolved = resolve_refs(
            service.features, views, on_demand, f"feature_services.{service.name}.features"
        )
        seen: dict[str, str] = {}
        for _, owner, feature in resolved:
            if feature in seen and seen[feature] != owner:
                raise ValidationError(
                    f"feature service {service.name!r} reads {feature!r} from both "
                    f"{seen[feature]!r} and {owner!r}: one model input cannot have two "
                    "sources",
                    field=f"feature_services.{service.name}.features",
                )
            seen[feature] = owner


def _changes(kind: DefinitionKind, old: AnySpec, new: AnySpec) -> tuple[list[str], list[str]]:
    """What changed, in words, and the features (``view:feature``) or keys it breaks."""
    said: list[str] = []
    broken: list[str] = []
    before, after = old.model_dump(mode="json"), new.model_dump(mode="json")
    for key in sorted(set(before) | set(after)):
        if before.get(key) != after.get(key) and key != "features":
            said.append(f"{key} changed")
    if isinstance(old, FeatureViewSpec | OnDemandSpec) and isinstance(
        new, FeatureViewSpec | OnDemandSpec
    ):
        was, now = _feature_types(old), _feature_types(new)
        for name in was:
            if name not in now:
                said.append(f"feature {name} removed")
                broken.append(f"{old.name}:{name}")
            elif was[name] != now[name]:
                said.append(f"feature {name} {was[name]} -> {now[name]}")
                broken.append(f"{old.name}:{name}")
        said += [f"feature {n} added" for n in now if n not in was]
        entities_changed = getattr(old, "entities", None) != getattr(new, "entities", None)
        if entities_changed:
            broken.append(f"{old.name}:*")
    if (
        isinstance(old, EntitySpec)
        and isinstance(new, EntitySpec)
        and old.join_keys != new.join_keys
    ):
        broken.append(f"entity:{old.name}")
    if isinstance(old, FeatureServiceSpec) and isinstance(new, FeatureServiceSpec):
        removed = [f for f in old.features if f not in new.features]
        said = [s for s in said if s != "features changed"]
        said += [f"reads {f} no more" for f in removed]
        said += [f"reads {f}" for f in new.features if f not in old.features]
        broken += [f"{old.name}:{f}" for f in removed]
    return said, broken


def _breaks_service(
    service: FeatureServiceSpec,
    broken: list[str],
    final: dict[DefinitionKind, dict[str, AnySpec]],
) -> bool:
    views: dict[str, FeatureViewSpec] = final["feature_view"]  # type: ignore[assignment]
    for item in broken:
        if item.startswith("entity:"):
            entity = item.split(":", 1)[1]
            if any(
                entity in views[v].entities
                for f in service.features
                if (v := f.partition(":")[0]) in views
            ):
                return True
            continue
        view, _, feature = item.partition(":")
        for ref in service.features:
            ref_view, _, ref_feature = ref.partition(":")
            if ref_view == view and (feature == "*" or ref_feature in ("*", feature)):
                return True
    return False


@operations.post("/apply", ApplyDefinitions, ApplyResult)
def apply_definitions(ctx: Context, req: ApplyDefinitions) -> ApplyResult:
    """Plan and register feature definitions: add new ones, version changed ones (see the
    module docstring). Removing definitions and forcing breaking changes need the admin
    operation ``apply_definitions_as_admin``."""
    return _apply(ctx, AdminApplyDefinitions(**req.model_dump()))


@operations.post("/apply/admin", AdminApplyDefinitions, ApplyResult, role="admin")
def apply_definitions_as_admin(ctx: Context, req: AdminApplyDefinitions) -> ApplyResult:
    """Apply with ``remove`` (remove registered definitions not given) or ``force`` (apply
    changes that break a feature service a deployed model uses)."""
    return _apply(ctx, req)


def _apply(ctx: Context, req: AdminApplyDefinitions) -> ApplyResult:
    from mloop.features.usage import services_in_use

    given = _given(req)
    newest = _newest(ctx)
    final: dict[DefinitionKind, dict[str, AnySpec]] = {}
    for kind in KINDS:
        kept = {} if req.remove else {n: r.spec for n, r in newest[kind].items() if not r.removed}
        final[kind] = {**kept, **given[kind]}
    _check_references(final)
    plan: list[PlanEntry] = []
    breaks: dict[tuple[str, str], list[str]] = {}
    planned: dict[tuple[str, str], int] = {}
    for kind in KINDS:
        # A service is planned with every service that stays, given or not: a change to a
        # view it reads gives it a new version that pins the view's new one.
        names = final[kind] if kind == "feature_service" else given[kind]
        for name in names:
            spec = final[kind][name]
            old = newest[kind].get(name)
            pins = _pins(spec, final, planned, ctx)
            entry = _planned(kind, name, spec, old, pins, given_here=name in given[kind])
            if entry is None:
                continue
            if entry.action == "change" and old is not None and not old.removed:
                breaks[(kind, name)] = _changes(kind, old.spec, spec)[1]
            planned[(kind, name)] = entry.version or 1
            plan.append(entry)
        if req.remove:
            for name, old in newest[kind].items():
                if not old.removed and name not in given[kind]:
                    plan.append(
                        PlanEntry(kind=kind, name=name, action="remove", version=old.version)
                    )
                    breaks[(kind, name)] = [f"entity:{name}" if kind == "entity" else f"{name}:*"]
    in_use = services_in_use(ctx) if any(breaks.values()) else {}
    refused = _judge(plan, breaks, in_use, newest, final)
    if refused and not req.force:
        entry, service, endpoints = refused[0]
        raise ConflictError(
            f"{entry.kind.replace('_', ' ')} {entry.name!r} would break feature service "
            f"{service!r}, which endpoint {endpoints[0]!r} serves a model of: keep the "
            "features it reads, or apply with force (admin)",
            field=f"{LIST_FIELDS[entry.kind]}.{entry.name}",
        )
    if req.dry_run:
        return ApplyResult(plan=plan, applied=False)
    _write(ctx, plan, final, planned)
    return ApplyResult(plan=plan, applied=True)


def _planned(
    kind: DefinitionKind,
    name: str,
    spec: AnySpec,
    old: _Registered | None,
    pins: dict[str, int],
    *,
    given_here: bool,
) -> PlanEntry | None:
    """What apply does with one definition (None: a kept one that stays as it is)."""
    if old is None:
        return PlanEntry(kind=kind, name=name, action="add", version=1)
    if old.removed:
        return PlanEntry(
            kind=kind, name=name, action="change", version=old.version + 1, changes=["added again"]
        )
    if old.digest != digest(spec):
        said = _changes(kind, old.spec, spec)[0] or ["description or tags changed"]
    elif pins != old.pinned:
        said = [
            f"reads {ref.split(':', 1)[1]} version {v}"
            for ref, v in pins.items()
            if old.pinned.get(ref) != v
        ] or ["reads fewer definitions"]
    elif given_here:
        return PlanEntry(kind=kind, name=name, action="unchanged", version=old.version)
    else:
        return None
    return PlanEntry(kind=kind, name=name, action="change", version=old.version + 1, changes=said)


def _judge(
    plan: list[PlanEntry],
    breaks: dict[tuple[str, str], list[str]],
    in_use: dict[str, list[str]],
    newest: Registry,
    final: dict[DefinitionKind, dict[str, AnySpec]],
) -> list[tuple[PlanEntry, str, list[str]]]:
    """The plan entries that break a feature service in use (marked breaking), with the
    service and the endpoints that use it."""
    refused: list[tuple[PlanEntry, str, list[str]]] = []
    for entry in plan:
        mine = breaks.get((entry.kind, entry.name))
        if not mine:
            continue
        for service_name, endpoints in in_use.items():
            service = newest["feature_service"].get(service_name)
            if service is None:
                continue
            spec = service.spec
            assert isinstance(spec, FeatureServiceSpec)
            if entry.kind == "feature_service":
                hit = entry.name == service_name
            else:
                hit = _breaks_service(spec, mine, final)
            if hit:
                entry.breaking = True
                refused.append((entry, service_name, endpoints))
                break
    return refused


def _write(
    ctx: Context,
    plan: list[PlanEntry],
    final: dict[DefinitionKind, dict[str, AnySpec]],
    versions: dict[tuple[str, str], int],
) -> None:
    now = now_ms()
    o, d = t.feature_objects, t.feature_definitions
    for entry in plan:
        if entry.action == "unchanged":
            continue
        if entry.action == "remove":
            ctx.conn.execute(
                update(o)
                .where(o.c.kind == entry.kind, o.c.name == entry.name)
                .values(removed=True, last_update_time=now)
            )
            continue
        spec = final[entry.kind][entry.name]
        pinned = _pins(spec, final, versions, ctx)
        ctx.conn.execute(
            insert(d).values(
                kind=entry.kind,
                name=entry.name,
                version=entry.version,
                digest=digest(spec),
                spec_json=spec.model_dump_json(),
                pinned_json=orjson.dumps(pinned).decode(),
                created_by=ctx.actor,
                creation_time=now,
            )
        )
        if entry.action == "add":
            ctx.conn.execute(
                insert(o).values(
                    kind=entry.kind,
                    name=entry.name,
                    latest_version=entry.version,
                    removed=False,
                    creation_time=now,
                    last_update_time=now,
                )
            )
        else:
            ctx.conn.execute(
                update(o)
                .where(o.c.kind == entry.kind, o.c.name == entry.name)
                .values(latest_version=entry.version, removed=False, last_update_time=now)
            )


def _pins(
    spec: AnySpec,
    final: dict[DefinitionKind, dict[str, AnySpec]],
    versions: dict[tuple[str, str], int],
    ctx: Context,
) -> dict[str, int]:
    """A feature service's views and on-demand features (and their views) at the versions
    they have once applied."""
    if not isinstance(spec, FeatureServiceSpec):
        return {}
    views: dict[str, FeatureViewSpec] = final["feature_view"]  # type: ignore[assignment]
    on_demand: dict[str, OnDemandSpec] = final["on_demand"]  # type: ignore[assignment]
    pins: dict[str, int] = {}
    for kind, owner, _ in resolve_refs(spec.features, views, on_demand, "features"):
        pins[f"{kind}:{owner}"] = versions.get((kind, owner)) or _latest(ctx, kind, owner)
        if kind == "on_demand":
            for _, view, _ in resolve_refs(on_demand[owner].sources, views, {}, "sources"):
                key = ("feature_view", view)
                pins[f"feature_view:{view}"] = versions.get(key) or _latest(ctx, *key)
    return dict(sorted(pins.items()))


def _latest(ctx: Context, kind: str, name: str) -> int:
    o = t.feature_objects
    found = ctx.conn.execute(
        select(o.c.latest_version).where(o.c.kind == kind, o.c.name == name)
    ).scalar()
    assert found is not None
    return int(found)


def _definition(row: Any) -> Definition:
    return Definition(
        kind=row.kind,
        name=row.name,
        version=row.version,
        digest=row.digest,
        spec=orjson.loads(row.spec_json),
        pinned=orjson.loads(row.pinned_json),
        created_by=row.created_by,
        creation_time=row.creation_time,
    )


@operations.get("/definitions/get", DefinitionRef, Definition, quick=True)
def get_definition(ctx: Context, req: DefinitionRef) -> Definition:
    """One definition at a version (its newest, unless removed, when none is given)."""
    o, d = t.feature_objects, t.feature_definitions
    what = f"{req.kind.replace('_', ' ')} {req.name!r}"
    version = req.version
    if version is None:
        row = ctx.conn.execute(select(o).where(o.c.kind == req.kind, o.c.name == req.name)).first()
        if row is None or row.removed:
            state = "does not exist" if row is None else "was removed"
            raise NotFoundError(f"{what} {state}", field="name")
        version = row.latest_version
    found = ctx.conn.execute(
        select(d).where(d.c.kind == req.kind, d.c.name == req.name, d.c.version == version)
    ).first()
    if found is None:
        raise NotFoundError(f"{what} has no version {version}", field="version")
    return _definition(found)


@operations.get("/definitions/list", ListDefinitions, DefinitionList)
def list_definitions(ctx: Context, req: ListDefinitions) -> DefinitionList:
    """The newest version of every registered definition (not removed), by kind and name."""
    o, d = t.feature_objects, t.feature_definitions
    offset = decode_page_token(req.page_token)
    query = (
        select(d)
        .join(
            o,
            (d.c.kind == o.c.kind) & (d.c.name == o.c.name) & (d.c.version == o.c.latest_version),
        )
        .where(o.c.removed.is_(False))
        .order_by(d.c.kind, d.c.name)
    )
    if req.kind is not None:
        query = query.where(d.c.kind == req.kind)
    rows = list(ctx.conn.execute(query.limit(req.max_results + 1).offset(offset)))
    token = encode_page_token(offset + req.max_results) if len(rows) > req.max_results else None
    return DefinitionList(
        definitions=[_definition(r) for r in rows[: req.max_results]], next_page_token=token
    )


@operations.get("/definitions/versions", DefinitionRef, DefinitionVersions)
def list_definition_versions(ctx: Context, req: DefinitionRef) -> DefinitionVersions:
    """Every version of a definition, newest first."""
    d = t.feature_definitions
    rows = list(
        ctx.conn.execute(
            select(d).where(d.c.kind == req.kind, d.c.name == req.name).order_by(d.c.version.desc())
        )
    )
    if not rows:
        raise NotFoundError(
            f"{req.kind.replace('_', ' ')} {req.name!r} does not exist", field="name"
        )
    return DefinitionVersions(versions=[_definition(r) for r in rows])
