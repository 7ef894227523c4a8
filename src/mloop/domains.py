"""The list of domains: the one place that names them.

The server, both SDK backends, Alembic's environment and the UI iterate this list. To add a
domain, write its package with a ``domain.py`` (see ``docs/architecture.md``) and add one
line here. Importing this module imports only the small declarations.
"""

from __future__ import annotations

import functools
import importlib
from typing import TYPE_CHECKING, Any

from mloop.alerts.domain import DOMAIN as ALERTS
from mloop.auth.domain import DOMAIN as AUTH
from mloop.automation.domain import DOMAIN as AUTOMATION
from mloop.compat.mlflow.domain import DOMAIN as MLFLOW
from mloop.core.domain import Domain
from mloop.core.errors import ValidationError
from mloop.datasets.domain import DOMAIN as DATASETS
from mloop.evals.domain import DOMAIN as EVALS
from mloop.features.domain import DOMAIN as FEATURES
from mloop.llm.domain import DOMAIN as GATEWAY
from mloop.monitoring.domain import DOMAIN as MONITORING
from mloop.pipelines.domain import DOMAIN as PIPELINES
from mloop.prompts.domain import DOMAIN as PROMPTS
from mloop.registry.domain import DOMAIN as REGISTRY
from mloop.review.domain import DOMAIN as REVIEW
from mloop.serving.domain import DOMAIN as SERVING
from mloop.tracking.domain import DOMAIN as TRACKING

if TYPE_CHECKING:
    from mloop.core.files import FileRoute
    from mloop.core.operations import Operation

# The order is the UI's page order and the order operations are looked up in.
DOMAINS: tuple[Domain, ...] = (
    AUTH,
    TRACKING,
    REGISTRY,
    DATASETS,
    FEATURES,
    PROMPTS,
    GATEWAY,
    MLFLOW,
    SERVING,
    MONITORING,
    ALERTS,
    REVIEW,
    EVALS,
    PIPELINES,
    AUTOMATION,
)


def all_operations() -> list[Operation[Any, Any]]:
    """Every declared operation of every domain."""
    return [op for domain in DOMAINS for op in domain.load_operations().values()]


@functools.cache
def find_operation(name: str) -> Operation[Any, Any]:
    """The operation called ``name``; loads domains in order until one declares it."""
    for domain in DOMAINS:
        found = domain.load_operations().get(name)
        if found is not None:
            return found
    raise ValidationError(f"there is no operation named {name!r}", field="operation")


@functools.cache
def find_file_route(name: str) -> FileRoute:
    """The file route called ``name``."""
    for route in all_file_routes():
        if route.name == name:
            return route
    raise ValidationError(f"there is no file route named {name!r}", field="route")


def all_file_routes() -> list[FileRoute]:
    return [route for domain in DOMAINS for route in domain.load_files()]


# Tables of store components that serve several domains (the event logs' segment index).
STORE_TABLES: tuple[str, ...] = ("mloop.store.eventlog.tables",)


def load_all_tables() -> None:
    """Define every domain's and store component's tables on the shared metadata (for
    migrations)."""
    for module in STORE_TABLES:
        importlib.import_module(module)
    for domain in DOMAINS:
        domain.load_tables()
