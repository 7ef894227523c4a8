"""``FeatureStore``: the feature store in a Python process, for serving and streaming.

    store = mloop.features.FeatureStore()
    store.materialize()                               # sources -> online store
    store.push("driver_stats", [{"driver_id": 7, "event_timestamp": now, ...}])
    found = store.get_online_features(["driver_stats:trips"], [{"driver_id": 7}])
    found.rows[0]["trips"], found.statuses[0]["trips"]

It holds the definitions (the registry's newest, read once and again when a read names
something they lack, or after :meth:`refresh`; or local definition objects) and an open
online store (``MLOOP_ONLINE_STORE``: a SQLite file in ``MLOOP_HOME`` by default, Redis
at scale). Reads go straight to the store: from another machine, use Redis, or the
server's ``get_online_features`` operation over HTTP.
"""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from mloop.core.errors import NotFoundError, ValidationError
from mloop.features.catalog import Catalog
from mloop.features.online.materialize import (
    BATCH_ROWS,
    Materialization,
    MaterializeProgress,
    RowsReader,
    Watermarks,
    default_reader,
    materialize_view,
    online_views,
    utc,
)
from mloop.features.online.push import push_rows
from mloop.features.online.reads import Features, OnlineFeatures, OnlineReader
from mloop.features.online.store import OnlineStore, open_online_store


def _settings_of(client: Any) -> Any:
    from mloop.core.config import get_settings

    backend = getattr(client, "_backend", None)
    return getattr(backend, "settings", None) or get_settings()


class FeatureStore:
    """Online features in this process (see the module docstring).

    ``online_store``: a URL (``sqlite:///PATH``, a path, ``redis://host:port/db``) or an
    open :class:`~mloop.features.online.store.OnlineStore` (default: the settings');
    ``definitions``: definition objects to use instead of the registry's (not
    registered: a notebook trying them); ``client``: the :class:`mloop.Client` that reads
    the registry and records watermarks (default: ``mloop.Client()``).
    """

    def __init__(
        self,
        online_store: str | OnlineStore | None = None,
        *,
        definitions: Iterable[Any] | None = None,
        catalog: Catalog | None = None,
        client: Any = None,
    ) -> None:
        if client is None:
            import mloop

            client = mloop.Client()
        self.client = client
        if online_store is None:
            online_store = _settings_of(client).online_store_url
        self.store = (
            open_online_store(online_store) if isinstance(online_store, str) else online_store
        )
        self._owns_store = isinstance(online_store, str)
        if definitions is not None:
            catalog = Catalog.from_definitions(definitions)
        self._fixed = catalog is not None
        self._reader = OnlineReader(self.store, catalog or Catalog.from_registry(client))
        self._lock = threading.Lock()

    @property
    def catalog(self) -> Catalog:
        return self._reader.catalog

    def refresh(self) -> None:
        """Read the registry's definitions again (new views, changed TTLs)."""
        with self._lock:
            catalog = self.catalog if self._fixed else Catalog.from_registry(self.client)
            self._reader.reset(catalog)

    def get_online_features(
        self,
        features: Features,
        entity_rows: Any,
        *,
        request_data: Any = None,
        include_freshness: bool = False,
    ) -> OnlineFeatures:
        """The features of each entity row (see :class:`OnlineFeatures`).

        ``features``: ``view:feature`` references (``view:*`` for all of a view) or a
        feature service's name (``name`` or ``name:version``); ``entity_rows``: one
        mapping of join key to value per entity (or a column mapping or DataFrame), at
        most 10,000; ``request_data``: the request columns on-demand features need, per
        row (a list of mappings, or a mapping of column to values; they may also be in
        the entity rows); ``include_freshness``: each value's age in seconds.
        """
        try:
            return self._reader.read(
                features,
                entity_rows,
                request_data=request_data,
                include_freshness=include_freshness,
            )
        except (NotFoundError, ValidationError) as exc:
            if self._fixed or exc.field not in ("features", "sources"):
                raise
            self.refresh()  # applied since this store read the registry?
            return self._reader.read(
                features,
                entity_rows,
                request_data=request_data,
                include_freshness=include_freshness,
            )

    def push(self, view: str, rows: Any) -> int:
        """Write fresh rows of ``view`` (mappings, or a pandas, Polars or Arrow frame: join
        keys, ``event_timestamp``, optionally ``created``, every feature); the rows kept
        (a row older than its key's stored one is not)."""
        return push_rows(self.store, self._view(view), rows)[1]

    def materialize(
        self,
        views: Sequence[str] | str | None = None,
        *,
        start: dt.datetime | str | None = None,
        end: dt.datetime | str | None = None,
        incremental: bool = True,
        progress: Callable[[MaterializeProgress], None] | None = None,
        reader: RowsReader | None = None,
        batch_rows: int = BATCH_ROWS,
    ) -> list[Materialization]:
        """Copy views' rows from their sources into the online store.

        ``views``: names (default: every view marked online); ``start``/``end``: event
        times to read (naive times are UTC; ``end`` defaults to now); ``incremental``:
        read from each view's watermark (a view never materialized, or whose version
        changed, is read in full); ``progress``: called after each batch read, each batch
        written and when a view is done; ``reader``: ``(view, *, since, until) ->
        RecordBatchReader``, the offline store's by default; ``batch_rows``: rows read and
        written at once (memory grows with the view's distinct keys, not its rows).
        """
        if batch_rows < 1:
            raise ValidationError("batch_rows must be at least 1", field="batch_rows")
        begin = utc(start, "start")
        until = utc(end, "end") or dt.datetime.now(dt.UTC)
        if begin is not None and begin >= until:
            raise ValidationError(f"start ({begin}) must be before end ({until})", field="start")
        if not self._fixed:
            self.refresh()
        read_rows = reader or default_reader(self.client)
        watermarks = Watermarks(self.client)
        return [
            materialize_view(
                view,
                self.store,
                watermarks,
                read_rows,
                start=begin,
                end=until,
                incremental=incremental,
                progress=progress,
                batch_rows=batch_rows,
            )
            for view in online_views(self.catalog, views)
        ]

    def delete_online(self, view: str) -> int:
        """Remove a view's online rows and reset its watermark (the next materialization
        reads it in full); the rows removed."""
        found = self._view(view)
        removed = self.store.delete_view(found.name)
        Watermarks(self.client).record(found.name, found.version or 0, None, 0, reset=True)
        self._reader.reset()
        return removed

    def _view(self, name: str) -> Any:
        try:
            return self.catalog.view(name)
        except NotFoundError:
            if self._fixed:
                raise NotFoundError(f"feature view {name!r} does not exist", field="view") from None
        self.refresh()
        try:
            return self.catalog.view(name)
        except NotFoundError:
            raise NotFoundError(f"feature view {name!r} does not exist", field="view") from None

    def close(self) -> None:
        if self._owns_store:
            self.store.close()

    def __enter__(self) -> FeatureStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"FeatureStore({self.store!r})"


_default: dict[tuple[str, str], FeatureStore] = {}
_default_lock = threading.Lock()


def default_store() -> FeatureStore:
    """The process's :class:`FeatureStore` for the tracking URI and online store in
    effect."""
    import mloop
    from mloop.client.connection import get_tracking_uri

    client = mloop.Client()
    key = (get_tracking_uri(), _settings_of(client).online_store_url)
    with _default_lock:
        found = _default.get(key)
        if found is None:
            for old in _default.values():
                old.close()
            _default.clear()
            found = _default[key] = FeatureStore(client=client)
        return found


def get_online_features(
    features: Features,
    entity_rows: Any,
    *,
    request_data: Any = None,
    include_freshness: bool = False,
) -> OnlineFeatures:
    """:meth:`FeatureStore.get_online_features` with the process's store."""
    return default_store().get_online_features(
        features, entity_rows, request_data=request_data, include_freshness=include_freshness
    )


def materialize(
    views: Sequence[str] | str | None = None,
    *,
    start: dt.datetime | str | None = None,
    end: dt.datetime | str | None = None,
    incremental: bool = True,
    progress: Callable[[MaterializeProgress], None] | None = None,
) -> list[Materialization]:
    """:meth:`FeatureStore.materialize` with the process's store."""
    return default_store().materialize(
        views, start=start, end=end, incremental=incremental, progress=progress
    )


def push(view: str, rows: Any) -> int:
    """:meth:`FeatureStore.push` with the process's store."""
    return default_store().push(view, rows)
