"""The role matrix: every route of every surface, called with every role, generated from the
declarations (operations, file routes, MLflow endpoints, the gateway), so that a new route
cannot be forgotten."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from mloop.auth.tokens import create_token
from mloop.core.http import Route
from mloop.core.roles import GRANTS, ROLES, role_allows
from mloop.domains import all_operations
from mloop.server.app import create_app
from mloop.store.runtime import Runtime

_PARAM = re.compile(r"\{([a-z_]+)(?::path)?\}")


@pytest.fixture
def client(runtime: Runtime) -> Iterator[tuple[TestClient, dict[str, str]]]:
    tokens = {
        role: runtime.run(lambda ctx, r=role: create_token(ctx, f"t-{r}", r), write=True)
        for role in ROLES
    }
    with TestClient(create_app(runtime, auth_enabled=True)) as http:
        yield http, tokens


def _routes(http: TestClient) -> list[Route]:
    return [route for surface in http.app.state.surfaces for route in surface.routes]  # type: ignore[attr-defined]


def _call(http: TestClient, route: Route, token: str | None) -> int:
    path = _PARAM.sub("x", route.path)
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    body = None if route.method in ("GET", "DELETE") else b"{}"
    return http.request(route.method, path, content=body, headers=headers).status_code


def test_every_route_declares_a_role(client: tuple[TestClient, dict[str, str]]) -> None:
    http, _tokens = client
    routes = _routes(http)
    assert len(routes) > 100
    assert [f"{r.method} {r.path}" for r in routes if r.role is None] == []


def test_every_route_against_every_role(client: tuple[TestClient, dict[str, str]]) -> None:
    """No token: 401. A role the route needs and the token lacks: 403. Otherwise the request
    gets past authentication (whatever the handler then says about the empty request)."""
    http, tokens = client
    wrong: list[str] = []
    for route in _routes(http):
        assert route.role is not None
        name = f"{route.method} {route.path}"
        if _call(http, route, None) != 401:
            wrong.append(f"{name} without a token")
        for held, token in tokens.items():
            status = _call(http, route, token)
            allowed = role_allows(held, route.role)
            if allowed and status in (401, 403):
                wrong.append(f"{name} refused {held} ({status})")
            if not allowed and status != 403:
                wrong.append(f"{name} answered {held} with {status}, not 403")
    assert wrong == []


DESTRUCTIVE_OR_GOVERNANCE = {
    "delete_registered_model",
    "delete_model_version",
    # Renaming breaks every models:/<name>/... reference held elsewhere.
    "rename_registered_model",
    "delete_dataset_version",
    "set_dataset_policy",
    "delete_dataset_policy",
    "set_prompt_policy",
    "delete_endpoint",
    # Alert rules and channels decide who is woken up and where alerts (and secrets) go.
    "create_alert_rule",
    "update_alert_rule",
    "delete_alert_rule",
    "create_alert_channel",
    "delete_alert_channel",
    "test_alert_channel",
    # A monitor's computed windows go with it.
    "delete_monitor",
    # Removing feature definitions, or breaking a feature service a deployed model uses.
    "apply_definitions_as_admin",
    # A queue's items and answers go with it.
    "delete_review_queue",
    # A suite's versions go with it (its gate decisions stay).
    "delete_eval_suite",
    # A trigger's definition goes; a webhook's secret changes for every caller.
    "delete_trigger",
    "rotate_trigger_secret",
    # Deployment policies decide what reaches production without a person.
    "create_deployment_policy",
    "update_deployment_policy",
    "delete_deployment_policy",
}

# What moves production: a deployer may, a writer may not.
MOVES_PRODUCTION = {
    "deploy",
    "set_traffic_weights",
    "promote_candidate",
    "rollback",
    "check_endpoint",  # a check advances, promotes or rolls back a rollout
    # The same on gateway routes: a rollout moves a route's traffic.
    "start_route_rollout",
    "check_route_rollout",
    "end_route_rollout",
    # A routing policy changes what an endpoint's callers get (a fallback, or no answer yet).
    "set_review_routing",
    "delete_review_routing",
    # Firing a trigger that starts a deployment policy (which may promote a model).
    "fire_policy_trigger",
    # A policy run trains, gates, rolls out and promotes; approving lets its canary start.
    "run_deployment_policy",
    "approve_policy_run",
    "reject_policy_run",
    "cancel_policy_run",
}


def test_destructive_and_governance_operations_need_admin() -> None:
    admin_only = {op.name for op in all_operations() if op.role == "admin"}
    assert admin_only == DESTRUCTIVE_OR_GOVERNANCE


def test_deployments_need_the_deployer_role() -> None:
    deployer_only = {op.name for op in all_operations() if op.role == "deployer"}
    assert deployer_only == MOVES_PRODUCTION


def test_a_reviewer_answers_review_queues_and_nothing_else() -> None:
    """The reviewer role reaches the review domain's reads and its answering operations, and
    no other operation; a reader reads review queues but cannot answer them."""
    reachable = {op.name for op in all_operations() if role_allows("reviewer", op.role)}
    review = {op.name for op in all_operations() if op.path.startswith("/api/v1/review/")}
    assert reachable <= review
    assert {
        "next_review_item",
        "submit_review_answer",
        "skip_review_item",
        "escalate_review_item",
        "get_review_item",
        "list_review_queues",
    } <= reachable
    assert not role_allows("reader", "reviewer")
    assert role_allows("reader", "review_read")
    assert "reviewer" in GRANTS["writer"]


def test_mlflow_deletes_of_models_need_admin(client: tuple[TestClient, dict[str, str]]) -> None:
    http, _tokens = client
    model_deletes = ("/registered-models/delete", "/model-versions/delete")
    deletes = {
        r.path.rsplit("/mlflow", 1)[1]: r.role
        for r in _routes(http)
        if r.method == "DELETE" and r.path.endswith(model_deletes)
    }
    assert deletes == {"/registered-models/delete": "admin", "/model-versions/delete": "admin"}


def test_grants() -> None:
    assert role_allows("admin", "writer") and role_allows("writer", "reader")
    assert not role_allows("writer", "admin") and not role_allows("reader", "writer")
    assert not role_allows("nobody", "reader")
    assert role_allows("deployer", "writer") and role_allows("admin", "deployer")
    assert not role_allows("writer", "deployer") and not role_allows("deployer", "admin")
    assert set(GRANTS) == set(ROLES)
    with pytest.raises(ValueError, match="unknown role 'root'"):
        role_allows("admin", "root")
