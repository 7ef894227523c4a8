"""``mloop worker``, ``mloop triggers`` and ``mloop jobs``: the automation worker, triggers
that start pipelines and deployment policies, and the job queue."""

from __future__ import annotations

import json
import os
import signal
import sys
import threading
from enum import StrEnum
from typing import Annotated, Any

import typer

from mloop.cli._common import confirmed, get_client
from mloop.cli._output import cell, fmt_time, info, print_json, print_mapping, print_table
from mloop.cli.monitors._parse import usage_error

triggers_app = typer.Typer(
    help="Triggers: cron schedules, monitor alerts, new review labels, new dataset versions, "
    "manual, API and webhook firings that start a pipeline or a deployment policy.",
    no_args_is_help=True,
)
jobs_app = typer.Typer(help="The job queue `mloop worker` runs.", no_args_is_help=True)

JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")]
NameArgument = Annotated[str, typer.Argument(help="Trigger name.")]


class Kind(StrEnum):
    cron = "cron"
    alert = "alert"
    labels = "labels"
    dataset = "dataset"
    manual = "manual"
    api = "api"
    webhook = "webhook"


class Concurrency(StrEnum):
    skip = "skip"
    queue_one = "queue_one"
    parallel = "parallel"


class JobStatus(StrEnum):
    queued = "queued"
    running = "running"
    succeeded = "succeeded"
    failed = "failed"
    cancelled = "cancelled"


def _object(text: str | None, option: str) -> dict[str, Any]:
    if text is None:
        return {}
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        usage_error(f"{option} is not JSON: {exc}", option)
    if not isinstance(value, dict):
        usage_error(f"{option} must be a JSON object", option)
    return value


def _dump(value: Any) -> Any:
    """Messages (or lists of them) as JSON values."""
    if isinstance(value, list):
        return [_dump(v) for v in value]
    return value.model_dump(mode="json")


def worker(
    once: Annotated[
        bool, typer.Option("--once", help="Check due triggers, run the due jobs, and exit.")
    ] = False,
    lease: Annotated[
        float, typer.Option("--lease", min=1, max=86400, help="Seconds a job's lease lasts.")
    ] = 60.0,
    poll: Annotated[
        float, typer.Option("--poll", min=0.05, max=3600, help="Seconds between idle rounds.")
    ] = 1.0,
    worker_id: Annotated[
        str | None, typer.Option("--id", help="This worker's name (default host:pid:random).")
    ] = None,
    no_triggers: Annotated[
        bool, typer.Option("--no-triggers", help="Run jobs only; leave triggers to others.")
    ] = False,
) -> None:
    """Run due trigger checks and queued jobs against the metadata database. Several
    workers may run at once, on any machines sharing the database."""
    from mloop.automation.worker import Worker
    from mloop.core.config import get_settings
    from mloop.store.runtime import open_runtime

    # Pipelines are named "package.module:function" of the project the worker runs in, as
    # `python -m` would find them.
    if "" not in sys.path and os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    runtime = open_runtime(get_settings())
    try:
        w = Worker(
            runtime, worker_id=worker_id, lease_s=lease, poll_s=poll, triggers=not no_triggers
        )
        if once:
            done = w.run_once()
            info(f"worker {w.worker_id}: {done} job{'s' if done != 1 else ''} run")
            return
        stop = threading.Event()
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, lambda *_: stop.set())
        info(f"worker {w.worker_id} running (lease {lease:g} s, poll {poll:g} s); Ctrl-C stops")
        w.run(stop)
    finally:
        runtime.close()


@triggers_app.command("create")
def create(
    name: NameArgument,
    kind: Annotated[Kind, typer.Option("--kind", help="What fires it.")],
    pipeline: Annotated[
        str | None, typer.Option("--pipeline", help="Pipeline to run: package.module:function.")
    ] = None,
    params: Annotated[
        str | None, typer.Option("--params", help="The pipeline's parameters (JSON object).")
    ] = None,
    policy: Annotated[
        str | None, typer.Option("--policy", help="Deployment policy to start instead.")
    ] = None,
    config: Annotated[
        str | None,
        typer.Option("--config", help='The kind\'s settings (JSON): {"schedule": "0 3 * * *"}...'),
    ] = None,
    dedup: Annotated[
        int, typer.Option("--dedup", min=0, help="Fire at most once per this many seconds.")
    ] = 0,
    concurrency: Annotated[
        Concurrency, typer.Option("--concurrency", help="While a job of it is queued/running.")
    ] = Concurrency.skip,
    as_json: JsonOption = False,
) -> None:
    """Create a trigger. A webhook trigger's secret is printed once."""
    target: dict[str, Any] = {"pipeline": pipeline, "policy": policy}
    if params is not None:
        target["params"] = _object(params, "--params")
    created = get_client().call(
        "create_trigger",
        name=name,
        kind=kind.value,
        config=_object(config, "--config"),
        target={k: v for k, v in target.items() if v is not None},
        dedup_window_s=dedup,
        concurrency=concurrency.value,
    )
    if as_json:
        print_json(_dump(created))
        return
    info(f"trigger {name} created ({kind.value})")
    if created.secret:
        info(f"webhook secret (shown once): {created.secret}")


@triggers_app.command("list")
def list_(as_json: JsonOption = False) -> None:
    """Triggers with their target, next check and last firing."""
    found = get_client().call("list_triggers").triggers
    if as_json:
        print_json(_dump(found))
        return
    print_table(
        "Triggers",
        ["name", "kind", "target", "on", "next check", "last fired"],
        [
            [
                t.name,
                t.kind,
                f"policy {t.target.policy}" if t.target.policy else t.target.pipeline,
                "yes" if t.enabled else "no",
                fmt_time(t.next_check_at),
                fmt_time(t.last_fired_at),
            ]
            for t in found
        ],
    )


@triggers_app.command("show")
def show(name: NameArgument, as_json: JsonOption = False) -> None:
    """One trigger."""
    found = get_client().call("get_trigger", name=name)
    if as_json:
        print_json(_dump(found))
        return
    print_mapping(f"Trigger {name}", found.model_dump(mode="json"), sort=False)


@triggers_app.command("fire")
def fire(
    name: NameArgument,
    payload: Annotated[
        str | None, typer.Option("--payload", help='JSON object; {"params": {...}} overrides.')
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Fire a trigger now (its de-duplication and concurrency policy apply)."""
    from mloop.automation.sdk import fire_trigger

    fired = fire_trigger(name, _object(payload, "--payload"), client=get_client())
    if as_json:
        print_json(_dump(fired))
        return
    event = fired.event
    job = f", job {fired.job.id}" if fired.job is not None else ""
    info(f"{event.outcome}: {event.reason}{job}")


@triggers_app.command("enable")
def enable(name: NameArgument) -> None:
    """Turn a trigger on."""
    get_client().call("update_trigger", name=name, enabled=True)
    info(f"trigger {name} enabled")


@triggers_app.command("disable")
def disable(name: NameArgument) -> None:
    """Turn a trigger off: it is not checked, and firings are recorded as skipped."""
    get_client().call("update_trigger", name=name, enabled=False)
    info(f"trigger {name} disabled")


@triggers_app.command("delete")
def delete(
    name: NameArgument,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask.")] = False,
) -> None:
    """Delete a trigger (admin); its events and jobs stay on record."""
    if not yes and not confirmed(f"Delete trigger {name}?"):
        raise typer.Exit(1)
    get_client().call("delete_trigger", name=name)
    info(f"trigger {name} deleted")


@triggers_app.command("rotate-secret")
def rotate_secret(name: NameArgument) -> None:
    """A new secret for a webhook trigger (admin); the old one stops working at once."""
    secret = get_client().call("rotate_trigger_secret", name=name).secret
    info(f"new webhook secret of {name} (shown once): {secret}")


@triggers_app.command("events")
def events(
    name: Annotated[str | None, typer.Argument(help="Only this trigger's events.")] = None,
    limit: Annotated[int, typer.Option("--limit", min=1, max=1000)] = 50,
    as_json: JsonOption = False,
) -> None:
    """The trigger event log: fired, deduplicated or skipped, why, and the job."""
    found = get_client().call("list_trigger_events", trigger=name, max_results=limit).events
    if as_json:
        print_json(_dump(found))
        return
    print_table(
        "Trigger events",
        ["id", "when", "trigger", "source", "outcome", "job", "reason"],
        [
            [e.id, fmt_time(e.created_at), e.trigger, e.source, e.outcome, cell(e.job_id), e.reason]
            for e in found
        ],
    )


@jobs_app.command("list")
def jobs_list(
    status: Annotated[JobStatus | None, typer.Option("--status")] = None,
    trigger: Annotated[str | None, typer.Option("--trigger")] = None,
    limit: Annotated[int, typer.Option("--limit", min=1, max=1000)] = 50,
    as_json: JsonOption = False,
) -> None:
    """Jobs, newest first."""
    found = (
        get_client()
        .call(
            "list_jobs",
            status=status.value if status else None,
            trigger=trigger,
            max_results=limit,
        )
        .jobs
    )
    if as_json:
        print_json(_dump(found))
        return
    print_table(
        "Jobs",
        ["id", "kind", "status", "trigger", "attempts", "created", "error"],
        [
            [
                j.id,
                j.kind,
                j.status,
                cell(j.trigger),
                f"{j.attempts}/{j.max_attempts}",
                fmt_time(j.created_at),
                cell(j.error),
            ]
            for j in found
        ],
    )


@jobs_app.command("show")
def jobs_show(job_id: Annotated[int, typer.Argument(min=1)], as_json: JsonOption = False) -> None:
    """One job with its attempts."""
    found = get_client().call("get_job", id=job_id)
    if as_json:
        print_json(_dump(found))
        return
    job = found.job
    print_mapping(
        f"Job {job.id}",
        {
            "kind": job.kind,
            "status": job.status,
            "trigger": job.trigger,
            "attempts": f"{job.attempts}/{job.max_attempts}",
            "result": json.dumps(job.result) if job.result is not None else None,
            "error": job.error,
        },
        sort=False,
    )
    print_table(
        "Attempts",
        ["#", "worker", "started", "ended", "outcome", "error"],
        [
            [
                a.attempt,
                a.worker,
                fmt_time(a.started_at),
                fmt_time(a.ended_at),
                a.outcome,
                cell(a.error),
            ]
            for a in found.attempts
        ],
    )


@jobs_app.command("cancel")
def jobs_cancel(job_id: Annotated[int, typer.Argument(min=1)]) -> None:
    """Cancel a queued or running job."""
    get_client().call("cancel_job", id=job_id)
    info(f"job {job_id} cancelled")


@jobs_app.command("retry")
def jobs_retry(job_id: Annotated[int, typer.Argument(min=1)]) -> None:
    """Queue a failed or cancelled job again."""
    get_client().call("retry_job", id=job_id)
    info(f"job {job_id} queued again")
