"""Serving: endpoints that serve registered model versions, deployment strategies (single,
blue/green, canary, shadow) with an audit trail, and the model runtime (loading, request
formats, traffic choice, micro-batching) behind ``/endpoints/{name}/invocations`` and
``mloop serve``."""

from __future__ import annotations

from typing import TYPE_CHECKING

from mloop.core.lazy import lazy_exports

EXPORTS: dict[str, str] = {
    "ModelCache": "mloop.serving.loader",
    "ServingService": "mloop.serving.service",
    "current_deployment": "mloop.serving.deployments",
    "current_deployment_ids": "mloop.serving.deployments",
    "operations": "mloop.serving.ops",
    "parse_request": "mloop.serving.formats",
    "MicroBatcher": "mloop.serving.batcher",
}
__all__ = sorted(EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, EXPORTS)

if TYPE_CHECKING:
    from mloop.serving.batcher import MicroBatcher
    from mloop.serving.deployments import current_deployment, current_deployment_ids
    from mloop.serving.formats import parse_request
    from mloop.serving.loader import ModelCache
    from mloop.serving.ops import operations
    from mloop.serving.service import ServingService
