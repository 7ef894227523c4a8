"""Online reads: features of entities, fresh from the online store, ready for a model.

``OnlineReader.read(features, entity_rows)`` looks up each view's keys in one batched
call per view (one round trip for all views on Redis), enforces each view's TTL against
the current time (an older value reads null, status ``expired``), then computes the
on-demand features from the looked-up values and the request's data. Every value comes
with a status, as in Feast: ``present``, ``expired`` (older than the view's TTL) or
``missing`` (no row for the key); with ``include_freshness`` each value's age in seconds
(now minus its event time) comes too.

The path is built for one entity in well under a millisecond: what a feature list reads
is planned once and cached, statements are prepared once, no pydantic and no database
transaction run per call.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson

from mloop.core.errors import MloopError, NotFoundError, ValidationError
from mloop.features.catalog import Catalog, OnDemand, Selection
from mloop.features.online.rows import check_value, from_micros, key_kind
from mloop.features.online.store import KeyKind, OnlineStore

MAX_ENTITY_ROWS = 10_000
Features = Sequence[str] | str
_KINDS_RECHECK_S = 1.0
_MAX_PLANS = 1000


@dataclass(frozen=True)
class _ViewPlan:
    """One view's part of a read."""

    name: str
    join_keys: tuple[str, ...]
    features: tuple[str, ...]
    ttl_us: int | None
    timestamps: tuple[int, ...]  # positions of timestamp features (stored as µs)


@dataclass(frozen=True)
class ReadPlan:
    """What one feature list reads and computes."""

    selection: Selection
    views: tuple[_ViewPlan, ...]
    join_keys: tuple[str, ...]
    columns: tuple[str, ...]
    hidden: tuple[str, ...]
    on_demand: tuple[tuple[OnDemand, tuple[str, ...]], ...]
    request_columns: dict[str, str]
    output_types: dict[str, str]


def plan(selection: Selection) -> ReadPlan:
    views = []
    types: dict[str, str] = {}
    for view, wanted in selection.views.values():
        feature_types = view.feature_types
        types.update({f: feature_types[f] for f in wanted})
        ttl = view.ttl
        stamps = tuple(i for i, f in enumerate(wanted) if feature_types[f] == "timestamp")
        views.append(
            _ViewPlan(
                name=view.name,
                join_keys=tuple(view.join_keys),
                features=tuple(wanted),
                ttl_us=None if ttl is None else int(ttl.total_seconds()) * 1_000_000,
                timestamps=stamps,
            )
        )
    for od, _ in selection.on_demand:
        types.update({f.name: f.dtype for f in od.spec.features})
    return ReadPlan(
        selection=selection,
        views=tuple(views),
        join_keys=tuple(selection.join_keys),
        columns=tuple(selection.columns),
        hidden=tuple(selection.hidden),
        on_demand=tuple((od, tuple(wanted)) for od, wanted in selection.on_demand),
        request_columns=selection.request_columns,
        output_types=types,
    )


@dataclass
class OnlineFeatures:
    """The features of each entity row, in the order asked.

    ``rows``: per entity row, its join keys then the features (``columns``, in order);
    ``statuses``: per entity row, each feature's ``present``, ``expired`` or ``missing``;
    ``freshness`` (when asked for): per entity row, each feature's age in seconds (None
    where missing; on-demand features have none).
    """

    columns: list[str]
    join_keys: list[str]
    rows: list[dict[str, Any]]
    statuses: list[dict[str, str]]
    freshness: list[dict[str, float | None]] | None = None
    service: str | None = None
    service_version: int | None = None

    def to_dict(self) -> dict[str, list[Any]]:
        """Column name -> values, one per entity row (join keys first)."""
        return {c: [row.get(c) for row in self.rows] for c in [*self.join_keys, *self.columns]}

    def to_pandas(self) -> Any:
        import pandas as pd

        return pd.DataFrame(self.to_dict())

    def __len__(self) -> int:
        return len(self.rows)


def _check_known(catalog: Catalog, refs: Sequence[str]) -> None:
    """Unknown views and features are not found (404), not malformed."""
    for ref in refs:
        name, sep, feature = ref.partition(":")
        if not sep:
            continue  # malformed: the catalog says how to write it
        owner: Any = catalog.views.get(name) or catalog.on_demand.get(name)
        if owner is None:
            raise NotFoundError(
                f"{ref!r}: there is no feature view or on-demand feature {name!r}",
                field="features",
            )
        names = [f.name for f in owner.features]
        if feature != "*" and feature not in names:
            raise NotFoundError(
                f"{ref!r}: {name!r} has no feature {feature!r} (it has {', '.join(names[:20])})",
                field="features",
            )


def _entity_rows(entity_rows: Any) -> Sequence[Mapping[str, Any]]:
    """A list of mappings from a list, a column mapping or a DataFrame."""
    if isinstance(entity_rows, list | tuple):
        return entity_rows
    if isinstance(entity_rows, Mapping):
        columns = {k: list(v) for k, v in entity_rows.items()}
        lengths = {len(v) for v in columns.values()}
        if len(lengths) > 1:
            raise ValidationError(
                "entity_rows as columns: every column needs the same number of values",
                field="entity_rows",
            )
        n = lengths.pop() if lengths else 0
        return [{k: v[i] for k, v in columns.items()} for i in range(n)]
    module = type(entity_rows).__module__.split(".")[0]
    if module == "pandas":
        return list(entity_rows.to_dict("records"))
    if module == "polars":
        return list(entity_rows.to_dicts())
    if module == "pyarrow":
        return list(entity_rows.to_pylist())
    raise ValidationError(
        "entity_rows must be a list of mappings (one per entity), a mapping of column to "
        f"values or a DataFrame, got {type(entity_rows).__name__}",
        field="entity_rows",
    )


def _key_error(i: int, name: str, value: Any, view: str, kind: str | None) -> ValidationError:
    where = f"entity_rows[{i}].{name}"
    if kind is None:
        return ValidationError(
            f"{where}: a join key is an integer or a string, got {type(value).__name__} "
            f"{str(value)[:40]!r}",
            field=where,
        )
    other = "an integer" if kind == "string" else "a string"
    return ValidationError(
        f"{where}: view {view!r} is keyed by {other} {name!r}, got {kind} {value!r}",
        field=where,
    )


def _encode_keys(
    rows: Sequence[Mapping[str, Any]],
    keys: tuple[str, ...],
    kinds: list[KeyKind] | None,
    view: str,
) -> list[bytes]:
    dumps = orjson.dumps
    encoded: list[bytes] = []
    for i, row in enumerate(rows):
        values: list[Any] = []
        for j, name in enumerate(keys):
            try:
                value = row[name]
            except KeyError:
                raise ValidationError(
                    f"entity_rows[{i}] has no join key {name!r} (view {view!r} is keyed by "
                    f"{', '.join(keys)})",
                    field=f"entity_rows[{i}].{name}",
                ) from None
            except TypeError:
                raise ValidationError(
                    f"entity_rows[{i}] is not a mapping of join key to value",
                    field=f"entity_rows[{i}]",
                ) from None
            cls = type(value)
            kind = "int" if cls is int else "string" if cls is str else key_kind(value)
            if kind is None or (kinds is not None and kinds[j] != kind):
                raise _key_error(i, name, value, view, kind)
            values.append(value if cls is int or cls is str else int(value))
        encoded.append(dumps(values))
    return encoded


class OnlineReader:
    """Reads features from ``store`` with the definitions of ``catalog`` (see the module
    docstring). Thread-safe; plans are cached per feature list until :meth:`reset`."""

    def __init__(self, store: OnlineStore, catalog: Catalog) -> None:
        self.store = store
        self.catalog = catalog
        self._plans: dict[Any, ReadPlan] = {}
        self._kinds: dict[str, tuple[list[KeyKind] | None, float]] = {}
        self._lock = threading.Lock()

    def reset(self, catalog: Catalog | None = None) -> None:
        """Forget plans and key kinds (after definitions changed)."""
        with self._lock:
            if catalog is not None:
                self.catalog = catalog
            self._plans = {}
            self._kinds = {}

    def plan_for(self, features: Features) -> ReadPlan:
        key: Any = features if isinstance(features, str) else tuple(features)
        found = self._plans.get(key)
        if found is None:
            if not isinstance(features, str) and not all(isinstance(f, str) for f in features):
                raise ValidationError(
                    "features must be view:feature references or a feature service's name",
                    field="features",
                )
            with self._lock:
                if not isinstance(features, str):
                    _check_known(self.catalog, features)
                found = plan(self.catalog.select(features))
                if len(self._plans) >= _MAX_PLANS:  # callers that vary their lists
                    self._plans = {}
                self._plans[key] = found
        return found

    def key_kinds(self, view: str) -> list[KeyKind] | None:
        cached = self._kinds.get(view)
        now = time.monotonic()
        if cached is not None and (cached[0] is not None or now - cached[1] < _KINDS_RECHECK_S):
            return cached[0]
        kinds = self.store.key_kinds(view)
        self._kinds[view] = (kinds, now)
        return kinds

    def read(
        self,
        features: Features,
        entity_rows: Any,
        *,
        request_data: Any = None,
        include_freshness: bool = False,
    ) -> OnlineFeatures:
        read_plan = self.plan_for(features)
        rows_in = _entity_rows(entity_rows)
        n = len(rows_in)
        if n > MAX_ENTITY_ROWS:
            raise ValidationError(
                f"{n} entity rows in one call; at most {MAX_ENTITY_ROWS:,} are read at once: "
                "split the request",
                field="entity_rows",
            )
        now_us = time.time_ns() // 1000
        requests = [
            (
                vp.name,
                _encode_keys(rows_in, vp.join_keys, self.key_kinds(vp.name), vp.name),
                vp.features,
            )
            for vp in read_plan.views
        ]
        found = self.store.read_views(requests) if n else [[] for _ in requests]
        join_keys = read_plan.join_keys
        out = [{k: row[k] for k in join_keys} for row in rows_in]
        statuses: list[dict[str, str]] = [{} for _ in range(n)]
        ages: list[dict[str, float | None]] | None = (
            [{} for _ in range(n)] if include_freshness else None
        )
        for vp, results in zip(read_plan.views, found, strict=True):
            cutoff = None if vp.ttl_us is None else now_us - vp.ttl_us
            names = vp.features
            for i, hit in enumerate(results):
                row, status = out[i], statuses[i]
                if hit is None:
                    for name in names:
                        row[name] = None
                        status[name] = "missing"
                    if ages is not None:
                        ages[i].update(dict.fromkeys(names))
                    continue
                if cutoff is not None and hit.event_us < cutoff:
                    for name in names:
                        row[name] = None
                        status[name] = "expired"
                else:
                    values = hit.values
                    for t in vp.timestamps:
                        if values[t] is not None:
                            values = list(values)
                            values[t] = from_micros(values[t])
                    row.update(zip(names, values, strict=True))
                    status.update(dict.fromkeys(names, "present"))
                if ages is not None:
                    ages[i].update(dict.fromkeys(names, (now_us - hit.event_us) / 1e6))
        if read_plan.on_demand and n:
            _on_demand(read_plan, rows_in, out, statuses, ages, request_data)
        for name in read_plan.hidden:
            for i in range(n):
                out[i].pop(name, None)
                statuses[i].pop(name, None)
                if ages is not None:
                    ages[i].pop(name, None)
        selection = read_plan.selection
        return OnlineFeatures(
            columns=list(read_plan.columns),
            join_keys=list(join_keys),
            rows=out,
            statuses=statuses,
            freshness=ages,
            service=selection.service,
            service_version=selection.service_version,
        )


def _request_values(
    read_plan: ReadPlan, rows_in: Sequence[Mapping[str, Any]], request_data: Any
) -> dict[str, list[Any]]:
    """Each request column's values, one per entity row, checked against its type."""
    n = len(rows_in)
    if request_data is None:
        source, where = rows_in, "entity_rows"
    elif isinstance(request_data, Mapping):
        for name, values in request_data.items():
            if len(values) != n:
                raise ValidationError(
                    f"request_data.{name} has {len(values)} values for {n} entity rows",
                    field=f"request_data.{name}",
                )
        source = [{k: v[i] for k, v in request_data.items()} for i in range(n)]
        where = "request_data"
    elif isinstance(request_data, list | tuple):
        if len(request_data) != n:
            raise ValidationError(
                f"request_data has {len(request_data)} rows for {n} entity rows",
                field="request_data",
            )
        source = [{**rows_in[i], **request_data[i]} for i in range(n)]
        where = "request_data"
    else:
        raise ValidationError(
            "request_data must be a list of mappings (one per entity row) or a mapping of "
            "column to values",
            field="request_data",
        )
    columns: dict[str, list[Any]] = {}
    for name, dtype in read_plan.request_columns.items():
        values = []
        for i, row in enumerate(source):
            if name not in row:
                raise ValidationError(
                    f"{where}[{i}] has no {name!r}, which on-demand features need from the request",
                    field=f"{where}[{i}].{name}",
                )
            value = check_value(row[name], dtype, f"{where}[{i}].{name}")
            if dtype == "timestamp" and value is not None:
                value = from_micros(value)
            values.append(value)
        columns[name] = values
    return columns


def _on_demand(
    read_plan: ReadPlan,
    rows_in: Sequence[Mapping[str, Any]],
    out: list[dict[str, Any]],
    statuses: list[dict[str, str]],
    ages: list[dict[str, float | None]] | None,
    request_data: Any,
) -> None:
    """Compute the on-demand features from the looked-up values and the request."""
    import pandas as pd

    request = _request_values(read_plan, rows_in, request_data)
    frame = pd.DataFrame(out)
    for name, values in request.items():
        frame[name] = values
    for od, wanted in read_plan.on_demand:
        try:
            result = od.function(frame.copy())
        except MloopError:
            raise
        except Exception as exc:
            raise ValidationError(
                f"on-demand feature {od.name!r} failed: {type(exc).__name__}: {exc}",
                field="features",
            ) from exc
        missing = [f for f in wanted if f not in getattr(result, "columns", ())]
        if missing or len(result) != len(out):
            raise ValidationError(
                f"on-demand feature {od.name!r} must return a DataFrame with "
                f"{', '.join(wanted)} and one row per input row",
                field="features",
            )
        for name in wanted:
            values = result[name].tolist()
            for i, value in enumerate(values):
                null = value is None or (isinstance(value, float) and math.isnan(value))
                out[i][name] = None if null else value
                statuses[i][name] = "missing" if null else "present"
                if ages is not None:
                    ages[i][name] = None
            frame[name] = values  # a later on-demand feature may read it


@dataclass
class CachedReader:
    """An :class:`OnlineReader` whose catalog is re-read from the registry when its
    definitions change (checked at most every ``refresh_seconds``, and at once when a
    read names something the catalog lacks)."""

    store: OnlineStore
    load: Callable[[], Catalog]
    generation: Callable[[], Any]
    refresh_seconds: float = 1.0
    _reader: OnlineReader | None = None
    _seen: Any = None
    _checked: float = 0.0
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def reader(self, *, force: bool = False) -> OnlineReader:
        now = time.monotonic()
        if self._reader is not None and not force and now - self._checked < self.refresh_seconds:
            return self._reader
        with self._lock:
            generation = self.generation()
            self._checked = now
            if self._reader is None:
                self._reader = OnlineReader(self.store, self.load())
            elif generation != self._seen:
                self._reader.reset(self.load())
            self._seen = generation
            return self._reader

    def read(self, features: Features, entity_rows: Any, **options: Any) -> OnlineFeatures:
        try:
            return self.reader().read(features, entity_rows, **options)
        except (NotFoundError, ValidationError) as exc:
            if exc.field not in ("features", "sources"):
                raise
            return self.reader(force=True).read(features, entity_rows, **options)
