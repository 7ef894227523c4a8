"""``mloop gateway rollout``: canaries of a prompt version or a target model on a route."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from mloop.cli._common import get_client
from mloop.cli._output import fmt_time, info, print_json, print_table

app = typer.Typer(
    help="Roll out a prompt version or a target model on a route by canary: ramp, health "
    "rules over the call log, automatic rollback.",
    no_args_is_help=True,
)

RouteArgument = Annotated[str, typer.Argument(help="Route name (as in gateway.yaml).")]
JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")]
ReasonOption = Annotated[str, typer.Option("--reason", help="Why: kept in the history.")]


@app.command("start")
def start(
    route: RouteArgument,
    prompt: Annotated[
        str | None, typer.Option("--prompt", help="name@label: the requests naming it are split.")
    ] = None,
    prompt_version: Annotated[
        int | None, typer.Option("--prompt-version", min=1, help="The candidate version.")
    ] = None,
    target: Annotated[
        str | None, typer.Option("--target", help="provider/model: the candidate target.")
    ] = None,
    ramp: Annotated[
        str | None, typer.Option("--ramp", help="Percents, e.g. 5,25,50,100 (ends at 100).")
    ] = None,
    step_seconds: Annotated[
        int, typer.Option("--step-seconds", min=0, help="Minimum time of a ramp step.")
    ] = 300,
    step_requests: Annotated[
        int, typer.Option("--step-requests", min=0, help="Minimum candidate calls of a step.")
    ] = 100,
    rule: Annotated[
        list[str] | None,
        typer.Option("--rule", help="error_rate>0.02 or latency_p99>4000; repeat for more."),
    ] = None,
    window: Annotated[
        int, typer.Option("--window", min=1, help="The rules' sliding window in seconds.")
    ] = 300,
    min_samples: Annotated[
        int, typer.Option("--min-samples", min=1, help="Fewer in a rule's window: wait.")
    ] = 30,
    reason: ReasonOption = "",
    as_json: JsonOption = False,
) -> None:
    """Start a canary on ROUTE: --prompt NAME@LABEL --prompt-version N, or --target P/M.

    Needs deployer. The candidate starts at the ramp's first step.
    """
    from mloop.cli.endpoints import _rollout, parse_rule

    rules = [parse_rule(r, window=window, min_samples=min_samples) for r in rule or []]
    spec = _rollout(ramp, step_seconds, step_requests, rules) or {"rules": []}
    found = get_client().call(
        "start_route_rollout",
        route=route,
        prompt=prompt,
        prompt_version=prompt_version,
        target=target,
        reason=reason,
        **spec,
    )
    if as_json:
        print_json(found.model_dump())
        return
    info(f"Rollout {found.id} on {route}: {found.candidate} at {found.weight}%.")


def _rows(rollouts: list[Any]) -> list[tuple[Any, ...]]:
    return [
        (
            r.id,
            r.state,
            r.variant_kind,
            r.candidate if r.prompt is None else f"{r.prompt} -> {r.candidate}",
            "-" if r.ramp is None else ",".join(map(str, r.ramp.steps)),
            r.weight,
            fmt_time(r.started_at),
            r.reason,
        )
        for r in rollouts
    ]


@app.command("list")
def list_rollouts(
    route: RouteArgument,
    limit: Annotated[int, typer.Option("--limit", min=1, max=1000)] = 20,
    as_json: JsonOption = False,
) -> None:
    """ROUTE's rollouts, newest first: candidate, ramp, weight, state and why it ended."""
    found = get_client().call("list_route_rollouts", route=route, max_results=limit)
    if as_json:
        print_json([r.model_dump() for r in found.rollouts])
        return
    print_table(
        f"Rollouts of {route}",
        ["id", "state", "kind", "candidate", "ramp", "weight", "started", "why"],
        _rows(found.rollouts),
    )


@app.command("check")
def check(route: RouteArgument, as_json: JsonOption = False) -> None:
    """Check ROUTE's rollout now: roll back on a breached rule, advance a healthy step.

    Exits 1 when the check rolled the candidate back (for CI). Needs deployer.
    """
    from mloop.cli.endpoints import _print_check

    result = get_client().call("check_route_rollout", route=route)
    if as_json:
        print_json(result.model_dump())
    else:
        _print_check(result)
    if result.action == "rollback":
        raise typer.Exit(1)


@app.command("end")
def end(route: RouteArgument, reason: ReasonOption = "", as_json: JsonOption = False) -> None:
    """End ROUTE's rollout: the route serves as gateway.yaml and the labels say again."""
    found = get_client().call("end_route_rollout", route=route, reason=reason)
    if as_json:
        print_json([r.model_dump() for r in found.rollouts])
        return
    for r in found.rollouts:
        info(f"Rollout {r.id} on {route}: {r.state}.")
