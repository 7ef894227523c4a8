"""Which feature services deployed models use: a model version names the service it was
trained on in its tag ``mloop.feature_service`` (``name`` or ``name:version``)."""

from __future__ import annotations

from mloop.registry.schemas import ModelVersionRef
from mloop.registry.versions import get_model_version
from mloop.serving.deployments import current_deployment
from mloop.serving.endpoints import list_endpoints
from mloop.serving.schemas import ListEndpoints
from mloop.store.context import Context

SERVICE_TAG = "mloop.feature_service"


def service_name(tag: str) -> str:
    """``churn`` of ``churn`` or ``churn:3``."""
    return tag.split(":", 1)[0]


def services_in_use(ctx: Context) -> dict[str, list[str]]:
    """Feature service name -> the endpoints whose live deployment serves a model version
    that names it."""
    used: dict[str, list[str]] = {}
    token: str | None = None
    while True:
        page = list_endpoints(ctx, ListEndpoints(max_results=1000, page_token=token))
        for endpoint in page.endpoints:
            live = current_deployment(ctx, endpoint.name)
            for variant in live.variants if live is not None else []:
                version = get_model_version(
                    ctx, ModelVersionRef(name=variant.model, version=variant.version)
                )
                tag = version.tags.get(SERVICE_TAG)
                if tag:
                    names = used.setdefault(service_name(tag), [])
                    if endpoint.name not in names:
                        names.append(endpoint.name)
        token = page.next_page_token
        if token is None:
            return used
