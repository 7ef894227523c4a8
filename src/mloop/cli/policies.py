"""``mloop policies``: zero-touch deployment policies (trigger -> pipeline -> gate ->
approval -> canary -> promote or roll back), their runs and approvals; and ``mloop timeline
MODEL``: what moved a model toward or away from production, or why one version is where
it is."""

from __future__ import annotations

import json
from enum import StrEnum
from typing import Annotated, Any

import typer

from mloop.cli._common import get_client
from mloop.cli._output import fmt_time, info, print_json, print_table
from mloop.core.errors import ValidationError

app = typer.Typer(
    help="Deployment policies: a trigger trains a candidate, the gate compares it with the "
    "champion, a canary rolls it out and the champion alias moves (or the endpoint rolls "
    "back). Creating and deleting need admin; running and deciding need deployer.",
    no_args_is_help=True,
)

JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")]
RunArgument = Annotated[int, typer.Argument(help="Policy run id.")]
CommentOption = Annotated[str, typer.Option("--comment", "-c", help="Kept in the run's trail.")]
ParamOption = Annotated[
    list[str] | None,
    typer.Option(
        "--param",
        "-p",
        help="A pipeline parameter KEY=VALUE (VALUE read as JSON "
        "when it parses, else text); repeat for more.",
    ),
]


class Concurrency(StrEnum):
    queue = "queue"
    skip = "skip"


class State(StrEnum):
    queued = "queued"
    training = "training"
    gating = "gating"
    awaiting_approval = "awaiting_approval"
    rolling_out = "rolling_out"
    promoted = "promoted"
    stopped_at_gate = "stopped_at_gate"
    rejected = "rejected"
    rolled_back = "rolled_back"
    failed = "failed"
    skipped = "skipped"
    cancelled = "cancelled"


def _plain(value: Any) -> Any:
    """Messages (or lists of them) as JSON-ready values."""
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value.model_dump(mode="json")


def parse_params(pairs: list[str] | None) -> dict[str, Any]:
    """``KEY=VALUE`` pairs as a dict; a VALUE that parses as JSON is that value."""
    params: dict[str, Any] = {}
    for pair in pairs or []:
        key, sep, raw = pair.partition("=")
        if not sep or not key:
            raise ValidationError(f"--param {pair!r} is not KEY=VALUE", field="param")
        try:
            params[key] = json.loads(raw)
        except ValueError:
            params[key] = raw
    return params


def _ramp(raw: str) -> list[int]:
    try:
        return [int(part) for part in raw.split(",")]
    except ValueError:
        raise ValidationError(
            f"--ramp {raw!r} is not percents separated by commas (e.g. 10,50,100)", field="ramp"
        ) from None


@app.command("create")
def create(
    name: Annotated[str, typer.Argument(help="Policy name.")],
    model: Annotated[str, typer.Option("--model", help="The registered model it promotes.")],
    pipeline: Annotated[
        str, typer.Option("--pipeline", help='Training pipeline "package.module:function".')
    ],
    suite: Annotated[str, typer.Option("--suite", help='Eval suite "name" or "name/3".')],
    endpoint: Annotated[str, typer.Option("--endpoint", help="Endpoint of the canary.")],
    param: ParamOption = None,
    alias: Annotated[str, typer.Option("--alias", help="The champion alias.")] = "champion",
    ramp: Annotated[str, typer.Option("--ramp", help="Canary percents.")] = "10,50,100",
    min_seconds: Annotated[int, typer.Option("--min-seconds", help="Per ramp step.")] = 300,
    min_requests: Annotated[int, typer.Option("--min-requests", help="Per ramp step.")] = 100,
    max_error_rate: Annotated[
        float, typer.Option("--max-error-rate", help="Roll back above this share of errors.")
    ] = 0.05,
    rules: Annotated[
        str | None,
        typer.Option("--rules", help="Health rules as a JSON list (replaces --max-error-rate)."),
    ] = None,
    require_approval: Annotated[
        bool, typer.Option("--require-approval", help="A deployer approves before the canary.")
    ] = False,
    concurrency: Annotated[
        Concurrency, typer.Option("--concurrency", help="A run while one is in flight.")
    ] = Concurrency.queue,
    poll_seconds: Annotated[int, typer.Option("--poll-seconds")] = 30,
    as_json: JsonOption = False,
) -> None:
    """Create a deployment policy (admin)."""
    if rules is None:
        health: Any = [{"kind": "error_rate", "threshold": max_error_rate}]
    else:
        try:
            health = json.loads(rules)
        except ValueError as exc:
            raise ValidationError(f"--rules is not JSON: {exc}", field="rules") from None
    policy = get_client().call(
        "create_deployment_policy",
        name=name,
        model=model,
        pipeline=pipeline,
        params=parse_params(param),
        suite=suite,
        endpoint=endpoint,
        champion_alias=alias,
        rollout={
            "ramp": {
                "steps": _ramp(ramp),
                "min_seconds": min_seconds,
                "min_requests": min_requests,
            },
            "rules": health,
        },
        require_approval=require_approval,
        concurrency=concurrency.value,
        poll_seconds=poll_seconds,
    )
    if as_json:
        print_json(_plain(policy))
        return
    info(f"Policy {policy.name} created for model {policy.model} on endpoint {policy.endpoint}.")


@app.command("list")
def list_policies(
    model: Annotated[str | None, typer.Option("--model", help="Of one model.")] = None,
    as_json: JsonOption = False,
) -> None:
    """Deployment policies by name."""
    found = get_client().call("list_deployment_policies", model=model).policies
    if as_json:
        print_json(_plain(found))
        return
    print_table(
        "Deployment policies",
        ["name", "model", "endpoint", "suite", "approval", "enabled", "in flight"],
        [
            (
                p.name,
                p.model,
                p.endpoint,
                p.suite,
                "required" if p.require_approval else "no",
                p.enabled,
                p.active_run,
            )
            for p in found
        ],
    )


@app.command("delete")
def delete(
    name: Annotated[str, typer.Argument(help="Policy name.")],
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask.")] = False,
) -> None:
    """Delete a policy (admin); its runs and their trail are kept."""
    if not yes and not typer.confirm(f"Delete deployment policy {name}?"):
        raise typer.Exit(1)
    get_client().call("delete_deployment_policy", name=name)
    info(f"Policy {name} deleted.")


@app.command("run")
def run(
    name: Annotated[str, typer.Argument(help="Policy name.")],
    param: ParamOption = None,
    reason: Annotated[str, typer.Option("--reason", help="Why, kept in the trail.")] = "",
    as_json: JsonOption = False,
) -> None:
    """Start a run now (deployer); `mloop worker` carries it out."""
    payload = {"params": parse_params(param)} if param else {}
    started = get_client().call(
        "run_deployment_policy", name=name, trigger="manual", payload=payload, reason=reason
    )
    if as_json:
        print_json(_plain(started))
        return
    info(f"Run {started.id} of policy {name}: {started.state} ({started.reason}).")


@app.command("runs")
def runs(
    policy: Annotated[str | None, typer.Option("--policy")] = None,
    model: Annotated[str | None, typer.Option("--model")] = None,
    state: Annotated[State | None, typer.Option("--state")] = None,
    as_json: JsonOption = False,
) -> None:
    """Policy runs, newest first."""
    found = (
        get_client()
        .call(
            "list_policy_runs",
            policy=policy,
            model=model,
            state=None if state is None else state.value,
        )
        .runs
    )
    if as_json:
        print_json(_plain(found))
        return
    print_table(
        "Policy runs",
        ["run", "policy", "state", "candidate", "trigger", "created", "why"],
        [
            (
                r.id,
                r.policy,
                r.state,
                None if r.candidate_version is None else f"v{r.candidate_version}",
                r.trigger,
                fmt_time(r.created_at),
                r.reason,
            )
            for r in found
        ],
    )


@app.command("show")
def show(run_id: RunArgument, as_json: JsonOption = False) -> None:
    """A run and its trail; exits 1 when it failed, was rolled back or stopped."""
    detail = get_client().call("get_policy_run", id=run_id)
    if as_json:
        print_json(_plain(detail))
    else:
        r = detail.run
        info(f"Run {r.id} of policy {r.policy}: {r.state}. {r.reason}")
        print_table(
            None,
            ["when", "step", "who", "why"],
            [(fmt_time(e.at), e.kind, e.actor, e.reason) for e in detail.events],
        )
    if detail.run.state in ("failed", "rolled_back", "stopped_at_gate", "rejected"):
        raise typer.Exit(1)


@app.command("approvals")
def approvals(as_json: JsonOption = False) -> None:
    """Runs waiting for a deployer's decision."""
    found = get_client().call("list_pending_approvals").runs
    if as_json:
        print_json(_plain(found))
        return
    print_table(
        "Waiting for approval",
        ["run", "policy", "candidate", "champion", "gate", "since"],
        [
            (
                r.id,
                r.policy,
                f"{r.model} v{r.candidate_version}",
                None if r.champion_version is None else f"v{r.champion_version}",
                r.gate_id,
                fmt_time(r.updated_at),
            )
            for r in found
        ],
    )


@app.command("approve")
def approve(run_id: RunArgument, comment: CommentOption = "") -> None:
    """Approve a run waiting for approval (deployer): its canary starts."""
    done = get_client().call("approve_policy_run", id=run_id, comment=comment)
    info(f"Run {done.id} approved by {done.decided_by}: {done.state}.")


@app.command("reject")
def reject(run_id: RunArgument, comment: CommentOption = "") -> None:
    """Reject a run waiting for approval (deployer): it ends, nothing deployed."""
    done = get_client().call("reject_policy_run", id=run_id, comment=comment)
    info(f"Run {done.id} rejected by {done.decided_by}.")


@app.command("cancel")
def cancel(
    run_id: RunArgument,
    reason: Annotated[str, typer.Option("--reason", help="Why, kept in the trail.")] = "",
) -> None:
    """Cancel a run in flight (deployer); a canary already started is left as it is."""
    done = get_client().call("cancel_policy_run", id=run_id, reason=reason)
    info(f"Run {done.id}: {done.reason}.")


def timeline(
    model: Annotated[str, typer.Argument(help="Registered model name.")],
    version: Annotated[
        int | None, typer.Option("--version", "-v", help="Why is this version where it is?")
    ] = None,
    limit: Annotated[int, typer.Option("--limit", help="Entries shown.")] = 50,
    as_json: JsonOption = False,
) -> None:
    """A model's automation timeline, newest first; with --version, the chain that put that
    version where it is (trigger -> pipeline run -> gate -> approval -> rollout -> alias)."""
    found = get_client().call("get_model_timeline", model=model, version=version, max_results=limit)
    if as_json:
        print_json(_plain(found))
        return
    if version is not None:
        info(found.explanation)
        print_table(
            f"{model} v{version}: the chain",
            ["when", "what", "event", "who", "detail"],
            [(fmt_time(e.at), e.kind, e.title, e.actor, e.detail) for e in found.chain],
        )
        return
    print_table(
        f"{model}: timeline",
        ["when", "what", "event", "who", "detail"],
        [(fmt_time(e.at), e.kind, e.title, e.actor, e.detail) for e in found.entries],
    )
