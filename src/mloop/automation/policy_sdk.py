"""The deployment policy SDK (``import mloop.automation``): each function is one operation,
called embedded or against a server as the tracking URI says, or through ``client``.

:func:`drive_policy_run` advances a run in this process without a worker: what a demo or a
notebook does to watch a run end to end (a simulated clock goes in ``now``)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from mloop.automation.policy_schemas import (
    Policy,
    PolicyRun,
    PolicyRunDetail,
    Timeline,
)

if TYPE_CHECKING:
    from mloop.automation.policy_runner import Step
    from mloop.client.client import Client
    from mloop.store.runtime import Runtime


def _call(client: Client | None, operation: str, /, **fields: Any) -> Any:
    if client is None:
        from mloop.client.client import Client

        client = Client()
    return client.call(operation, **fields)


def create_deployment_policy(
    name: str,
    *,
    model: str,
    pipeline: str,
    suite: str,
    endpoint: str,
    client: Client | None = None,
    **spec: Any,
) -> Policy:
    """Create a model's deployment policy (admin). ``spec``: ``params``,
    ``champion_alias``, ``rollout`` (``{"ramp": {...}, "rules": [...]}``), ``trusted``,
    ``require_approval``, ``enabled``, ``concurrency``, ``poll_seconds``
    (:class:`~mloop.automation.policy_schemas.PolicySpec`). Start it from a trigger with
    ``target={"policy": name}`` or with :func:`run_policy_now`."""
    fields = {"name": name, "model": model, "pipeline": pipeline, "suite": suite}
    return _call(client, "create_deployment_policy", endpoint=endpoint, **fields, **spec)


def get_deployment_policy(name: str, *, client: Client | None = None) -> Policy:
    return _call(client, "get_deployment_policy", name=name)


def list_deployment_policies(
    model: str | None = None, *, client: Client | None = None
) -> list[Policy]:
    return list(_call(client, "list_deployment_policies", model=model).policies)


def delete_deployment_policy(name: str, *, client: Client | None = None) -> None:
    _call(client, "delete_deployment_policy", name=name)


def run_policy_now(
    name: str,
    *,
    params: dict[str, Any] | None = None,
    reason: str = "",
    client: Client | None = None,
) -> PolicyRun:
    """Start a run of policy ``name`` now (deployer); ``params`` override the pipeline's.
    A worker (``mloop worker``) carries it out, or :func:`drive_policy_run`."""
    payload = {} if params is None else {"params": params}
    return _call(
        client, "run_deployment_policy", name=name, trigger="api", payload=payload, reason=reason
    )


def get_policy_run(run_id: int, *, client: Client | None = None) -> PolicyRunDetail:
    """A run, the spec it runs with and its trail."""
    return _call(client, "get_policy_run", id=run_id)


def approve(run_id: int, comment: str = "", *, client: Client | None = None) -> PolicyRun:
    """Approve a run waiting for approval (deployer): its canary starts."""
    return _call(client, "approve_policy_run", id=run_id, comment=comment)


def reject(run_id: int, comment: str = "", *, client: Client | None = None) -> PolicyRun:
    """Reject a run waiting for approval (deployer): it ends, nothing deployed."""
    return _call(client, "reject_policy_run", id=run_id, comment=comment)


def pending_approvals(*, client: Client | None = None) -> list[PolicyRun]:
    return list(_call(client, "list_pending_approvals").runs)


def model_timeline(
    model: str, version: int | None = None, *, client: Client | None = None
) -> Timeline:
    """A model's automation timeline; with ``version``, why that version is where it is."""
    return _call(client, "get_model_timeline", model=model, version=version)


def drive_policy_run(
    runtime: Runtime, run_id: int, *, now: int | None = None, client: Client | None = None
) -> Step:
    """Advance run ``run_id`` in this process as far as it goes now (embedded store): the
    step says where it stands (``.run``) and whether it waits (``.again_after_s``). Call it
    again after the canary has had traffic; ``now`` (ms) is the clock its checks read."""
    from mloop.automation.policy_runner import advance_policy_run

    return advance_policy_run(runtime, run_id, now=now, client=client)
