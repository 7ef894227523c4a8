"""The automation SDK: triggers and jobs as plain functions (``import mloop.automation``).

Each function is one operation of the automation API, called embedded or against a server
as the tracking URI says, or through ``client`` when given.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from mloop.automation.schemas import (
    CreatedTrigger,
    Fired,
    Job,
    JobDetail,
    Trigger,
    TriggerEvent,
)

if TYPE_CHECKING:
    from mloop.client.client import Client


def _call(client: Client | None, operation: str, /, **fields: Any) -> Any:
    if client is None:
        from mloop.client.client import Client

        client = Client()
    return client.call(operation, **fields)


def create_trigger(
    name: str,
    kind: str,
    config: dict[str, Any] | None = None,
    target: dict[str, Any] | None = None,
    *,
    dedup_window_s: int = 0,
    concurrency: str = "skip",
    enabled: bool = True,
    client: Client | None = None,
) -> CreatedTrigger:
    """Create a trigger of ``kind`` (cron, alert, labels, dataset, manual, api, webhook) that
    starts ``target``: ``{"pipeline": "pkg.mod:fn", "params": {...}}`` or ``{"policy": name}``.
    A webhook trigger's secret is in the answer's ``secret``, and only there."""
    return _call(
        client,
        "create_trigger",
        name=name,
        kind=kind,
        config=config or {},
        target=target or {},
        dedup_window_s=dedup_window_s,
        concurrency=concurrency,
        enabled=enabled,
    )


def update_trigger(name: str, *, client: Client | None = None, **changes: Any) -> Trigger:
    """Change a trigger (config, target, dedup_window_s, concurrency, enabled)."""
    return _call(client, "update_trigger", name=name, **changes)


def get_trigger(name: str, *, client: Client | None = None) -> Trigger:
    return _call(client, "get_trigger", name=name)


def list_triggers(*, client: Client | None = None) -> list[Trigger]:
    return list(_call(client, "list_triggers").triggers)


def delete_trigger(name: str, *, client: Client | None = None) -> None:
    """Delete a trigger (admin); its events and jobs stay on record."""
    _call(client, "delete_trigger", name=name)


def fire_trigger(
    name: str, payload: dict[str, Any] | None = None, *, client: Client | None = None
) -> Fired:
    """Fire a trigger now. One that starts a deployment policy needs the deployer role."""
    found = get_trigger(name, client=client)
    operation = "fire_policy_trigger" if found.target.policy is not None else "fire_trigger"
    return _call(client, operation, name=name, payload=payload or {})


def trigger_history(
    trigger: str | None = None,
    *,
    policy: str | None = None,
    after_id: int = 0,
    max_results: int = 100,
    client: Client | None = None,
) -> list[TriggerEvent]:
    """Trigger events (fired, deduplicated, skipped), oldest first."""
    found = _call(
        client,
        "list_trigger_events",
        trigger=trigger,
        policy=policy,
        after_id=after_id,
        max_results=max_results,
    )
    return list(found.events)


def add_job(
    kind: str, payload: dict[str, Any], *, client: Client | None = None, **options: Any
) -> Job | None:
    """Queue a job (dedup_key, concurrency_key, run_after, max_attempts); None when a job
    with the same dedup_key is queued or running."""
    return _call(client, "add_job", kind=kind, payload=payload, **options).job


def get_job(job_id: int, *, client: Client | None = None) -> JobDetail:
    return _call(client, "get_job", id=job_id)


def list_jobs(
    *,
    status: str | None = None,
    trigger: str | None = None,
    max_results: int = 100,
    client: Client | None = None,
) -> list[Job]:
    return list(
        _call(client, "list_jobs", status=status, trigger=trigger, max_results=max_results).jobs
    )


def cancel_job(job_id: int, *, client: Client | None = None) -> Job:
    return _call(client, "cancel_job", id=job_id)


def retry_job(job_id: int, *, client: Client | None = None) -> Job:
    return _call(client, "retry_job", id=job_id)
