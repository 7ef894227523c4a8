"""Features for endpoints: the :data:`~mloop.serving.features.FeatureLookup` a server
gives its serving runtime, so a request may send entity keys instead of features.

For an endpoint, the lookup finds its live deployment's stable model version and the
feature service that version names in its tag ``mloop.feature_service`` (``name`` or
``name:version``, the service the model was trained on; the service is read at the
versions it pinned when a version is given), then reads that service's features of each
entity from the online store, on-demand features computed with request columns taken
from the entity's mapping. The service of each endpoint is kept per deployment and the
deployment checked at most every ``refresh_seconds``.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping, Sequence
from typing import Any

from mloop.core.errors import ValidationError
from mloop.features.online.served import Served, served_for_runtime
from mloop.features.usage import SERVICE_TAG
from mloop.store.context import Context


def _service_of(ctx: Context, endpoint: str, deployment_id: int) -> str:
    from mloop.registry.schemas import ModelVersionRef
    from mloop.registry.versions import get_model_version
    from mloop.serving.deployments import load_deployment

    deployment = load_deployment(ctx, deployment_id)
    stable = [v for v in deployment.variants if v.role == "stable"] or deployment.variants
    variant = stable[0]
    version = get_model_version(ctx, ModelVersionRef(name=variant.model, version=variant.version))
    service = version.tags.get(SERVICE_TAG)
    if not service:
        raise ValidationError(
            f"endpoint {endpoint!r} serves models:/{variant.model}/{variant.version}, which "
            f'names no feature service (tag {SERVICE_TAG}): send the features in "inputs"',
            field="entities",
        )
    return service


def _deployment_id(ctx: Context, endpoint: str) -> int | None:
    from mloop.serving.deployments import current_deployment_ids

    return current_deployment_ids(ctx, [endpoint]).get(endpoint)


class _Lookup:
    """``lookup(endpoint, entities)``: one mapping of features per entity."""

    def __init__(self, runtime: Any, refresh_seconds: float) -> None:
        self.runtime = runtime
        self.refresh_seconds = refresh_seconds
        self._served: Served | None = None
        self._services: dict[str, tuple[int, str, float]] = {}
        self._lock = threading.Lock()

    def _store(self) -> Served:
        if self._served is None:
            with self._lock:
                if self._served is None:
                    self._served = served_for_runtime(self.runtime)
        return self._served

    def service(self, endpoint: str) -> str:
        """The feature service of the endpoint's live deployment (cached per deployment)."""
        cached = self._services.get(endpoint)
        now = time.monotonic()
        if cached is not None and now - cached[2] < self.refresh_seconds:
            return cached[1]
        deployment = self.runtime.run(lambda ctx: _deployment_id(ctx, endpoint), write=False)
        if deployment is None:
            raise ValidationError(f"endpoint {endpoint!r} has no live deployment", field="entities")
        if cached is not None and cached[0] == deployment:
            service = cached[1]
        else:
            service = self.runtime.run(
                lambda ctx: _service_of(ctx, endpoint, deployment), write=False
            )
        self._services[endpoint] = (deployment, service, now)
        return service

    def __call__(
        self, endpoint: str, entities: Sequence[Mapping[str, Any]]
    ) -> list[dict[str, Any]]:
        found = self._store().reader.read(self.service(endpoint), list(entities))
        columns = found.columns
        return [{c: row[c] for c in columns} for row in found.rows]


def feature_lookup(runtime: Any, *, refresh_seconds: float = 1.0) -> _Lookup:
    """The feature lookup of a server's endpoints over ``runtime``'s stores (see the
    module docstring); opens the online store on its first use."""
    return _Lookup(runtime, refresh_seconds)
