"""``mloop endpoints`` (deployments) and ``mloop serve`` (one endpoint's server)."""

from __future__ import annotations

from enum import StrEnum
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.markup import escape

from mloop.cli._common import get_client
from mloop.cli._output import err_console, fmt_time, info, print_json, print_mapping, print_table
from mloop.core.errors import ValidationError

if TYPE_CHECKING:
    from mloop.serving.schemas import Deployment

app = typer.Typer(
    help="Endpoints: deploy model versions (single, blue/green, canary, shadow), change "
    "traffic, promote, roll back, and see the history.",
    no_args_is_help=True,
)

JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")]
ReasonOption = Annotated[str, typer.Option("--reason", help="Why: kept in the history.")]


class StrategyChoice(StrEnum):
    single = "single"
    blue_green = "blue_green"
    canary = "canary"
    shadow = "shadow"


def _variant(uri: str, field: str, *, weight: int | None, trusted: bool) -> dict[str, Any]:
    """A variant from ``models:/name/3`` or ``models:/name@alias``."""
    from mloop.models.uris import parse_models_uri

    parsed = parse_models_uri(uri, field)
    if parsed.latest:
        raise ValidationError(
            f"{field} {uri!r}: deploy a version or an alias, not 'latest', so that what is "
            "live is what you named",
            field=field,
        )
    spec: dict[str, Any] = {"model": parsed.name, "trusted": trusted}
    if parsed.alias is not None:
        spec["alias"] = parsed.alias
    else:
        spec["version"] = parsed.version
    if weight is not None:
        spec["weight"] = weight
    return spec


def deployment_dict(deployment: Deployment) -> dict[str, Any]:
    return deployment.model_dump()


def _print_deployment(title: str, deployment: Deployment) -> None:
    print_table(
        f"{title}: deployment {deployment.id} ({deployment.strategy}, {deployment.state})",
        ["variant", "model", "version", "alias", "role", "weight"],
        [
            (v.name, v.model, v.version, v.alias or "-", v.role, f"{v.weight}%")
            for v in deployment.variants
        ],
    )


@app.command("create")
def create(
    name: Annotated[str, typer.Argument(help="Endpoint name, e.g. churn.")],
    description: Annotated[str, typer.Option("--description", "-d")] = "",
) -> None:
    """Create an endpoint (it serves nothing until a deploy)."""
    get_client().call("create_endpoint", name=name, description=description)
    info(f"Created endpoint {name}; deploy to it with `mloop endpoints deploy {name} ...`.")


@app.command("list")
def list_endpoints(as_json: JsonOption = False) -> None:
    """List endpoints with their live deployment."""
    found = get_client().call("list_endpoints", max_results=1000).endpoints
    if as_json:
        print_json([e.model_dump() for e in found])
        return
    print_table(
        "Endpoints",
        ["name", "deployment", "updated", "description"],
        [
            (e.name, e.current_deployment or "-", fmt_time(e.last_update_time), e.description)
            for e in found
        ],
    )


@app.command("deploy")
def deploy(
    name: Annotated[str, typer.Argument(help="Endpoint name.")],
    model: Annotated[
        str,
        typer.Option(
            "--model", "-m", help="The stable variant: models:/NAME/VERSION or models:/NAME@ALIAS."
        ),
    ],
    candidate: Annotated[
        list[str] | None,
        typer.Option(
            "--candidate",
            "-c",
            help="A second variant (canary or blue/green candidate, or the shadow); repeatable.",
        ),
    ] = None,
    strategy: Annotated[
        StrategyChoice, typer.Option("--strategy", "-s", help="How traffic is shared.")
    ] = StrategyChoice.single,
    weight: Annotated[
        list[int] | None,
        typer.Option(
            "--weight",
            "-w",
            help="Each candidate's percent of traffic (canary) or of traffic mirrored (shadow).",
        ),
    ] = None,
    trusted: Annotated[
        bool,
        typer.Option(
            "--trusted", help="Let the models run code when loaded (pickle, Python models)."
        ),
    ] = False,
    reason: ReasonOption = "",
    as_json: JsonOption = False,
) -> None:
    """Deploy model versions to an endpoint; each is loaded first, or nothing changes."""
    candidates = candidate or []
    weights = weight or []
    if weights and len(weights) != len(candidates):
        raise ValidationError(
            f"give one --weight per --candidate ({len(candidates)}), got {len(weights)}",
            field="weight",
        )
    variants = [_variant(model, "model", weight=None, trusted=trusted)]
    for i, uri in enumerate(candidates):
        variants.append(
            _variant(uri, "candidate", weight=weights[i] if weights else None, trusted=trusted)
        )
    deployed = get_client().call(
        "deploy", endpoint=name, strategy=strategy.value, variants=variants, reason=reason
    )
    if as_json:
        print_json(deployment_dict(deployed))
        return
    _print_deployment(f"Deployed to {name}", deployed)


@app.command("weights")
def weights(
    name: Annotated[str, typer.Argument(help="Endpoint name.")],
    assignments: Annotated[
        list[str], typer.Argument(help="VARIANT=PERCENT pairs, e.g. stable=75 candidate=25.")
    ],
    reason: ReasonOption = "",
) -> None:
    """Change a canary's traffic split (or the share a shadow gets)."""
    parsed: dict[str, int] = {}
    for text in assignments:
        variant, sep, value = text.partition("=")
        if not sep or not value.strip().isdigit():
            raise ValidationError(
                f"{text!r} must look like VARIANT=PERCENT, e.g. candidate=25", field="weights"
            )
        parsed[variant.strip()] = int(value)
    changed = get_client().call("set_traffic_weights", endpoint=name, weights=parsed, reason=reason)
    _print_deployment(f"Weights of {name}", changed)


@app.command("promote")
def promote(
    name: Annotated[str, typer.Argument(help="Endpoint name.")],
    variant: Annotated[
        str | None,
        typer.Option("--variant", help="The candidate to promote (default: the only one)."),
    ] = None,
    reason: ReasonOption = "",
) -> None:
    """Make the candidate the stable variant (blue/green: switch; canary, shadow: all of it)."""
    promoted = get_client().call("promote_candidate", endpoint=name, variant=variant, reason=reason)
    _print_deployment(f"Promoted on {name}", promoted)


@app.command("rollback")
def rollback(
    name: Annotated[str, typer.Argument(help="Endpoint name.")], reason: ReasonOption = ""
) -> None:
    """Go back to the previous deployment at once."""
    back = get_client().call("rollback", endpoint=name, reason=reason)
    _print_deployment(f"Rolled back {name}", back)


@app.command("status")
def status(
    name: Annotated[str, typer.Argument(help="Endpoint name.")], as_json: JsonOption = False
) -> None:
    """The live deployment and the one a rollback would return to."""
    found = get_client().call("endpoint_status", name=name)
    if as_json:
        print_json(found.model_dump())
        return
    print_mapping(
        f"Endpoint {found.endpoint.name}",
        {
            "description": found.endpoint.description,
            "created": fmt_time(found.endpoint.creation_time),
            "live deployment": found.endpoint.current_deployment or "none",
            "rollback goes to": found.previous.id if found.previous else "-",
        },
        key="field",
        sort=False,
    )
    if found.deployment is not None:
        _print_deployment("Live", found.deployment)


@app.command("events")
def events(
    name: Annotated[str, typer.Argument(help="Endpoint name.")],
    limit: Annotated[int, typer.Option("--limit", min=1, max=1000)] = 100,
    as_json: JsonOption = False,
) -> None:
    """The deployment history, newest first: who, when, from, to, why."""
    found = get_client().call("list_deployment_events", endpoint=name, max_results=limit).events
    if as_json:
        print_json([e.model_dump() for e in found])
        return
    print_table(
        f"Deployment history of {name}",
        ["when", "kind", "from", "to", "who", "why"],
        [
            (
                fmt_time(e.timestamp),
                e.kind,
                e.from_deployment or "-",
                e.to_deployment or "-",
                e.actor,
                e.reason or "-",
            )
            for e in found
        ],
    )


@app.command("delete")
def delete(name: Annotated[str, typer.Argument(help="Endpoint name.")]) -> None:
    """Delete an endpoint and its deployments (the history is kept). Needs admin."""
    get_client().call("delete_endpoint", name=name)
    info(f"Deleted endpoint {name}.")


def serve(
    endpoint: Annotated[str, typer.Argument(help="The endpoint to serve.")],
    host: Annotated[
        str, typer.Option("--host", help="Address to bind; other than loopback needs --auth.")
    ] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", "-p", min=1, max=65535)] = 5001,
    workers: Annotated[int, typer.Option("--workers", min=1, max=64, help="Processes.")] = 1,
    auth: Annotated[
        bool | None,
        typer.Option(
            "--auth/--no-auth",
            help="Require API tokens (default: MLOOP_AUTH; always on when not on loopback).",
            show_default=False,
        ),
    ] = None,
    max_batch_rows: Annotated[
        int, typer.Option("--max-batch-rows", min=1, help="Rows predicted together at most.")
    ] = 64,
    max_wait_ms: Annotated[
        float,
        typer.Option(
            "--max-wait-ms", min=0, help="Hold a batch that is not full this long (0: never)."
        ),
    ] = 0.0,
) -> None:
    """Serve one endpoint (MLflow's /invocations, /ping, /version) from the configured store.

    Deployment changes made anywhere (another process, another machine on the same
    database) reach this server within about a second.
    """
    from mloop.server.run import auth_required
    from mloop.serving.serve import ServeOptions
    from mloop.serving.serve import serve as run

    try:
        enabled = auth_required(host, auth)
        shown = f"[{host}]" if ":" in host else host
        err_console().print(
            f"mloop serve {escape(endpoint)} on [bold]http://{escape(shown)}:{port}"
            f"/invocations[/bold] ({workers} worker{'s' if workers > 1 else ''}, auth: "
            f"{'on' if enabled else 'off'}); Ctrl+C to stop",
            soft_wrap=True,
        )
        options = ServeOptions(
            endpoint=endpoint, auth=enabled, max_batch_rows=max_batch_rows, max_wait_ms=max_wait_ms
        )
        run(options, host=host, port=port, workers=workers)
    except ValidationError as exc:
        err_console().print(f"[red]error: {escape(exc.message)}[/red]", soft_wrap=True)
        raise typer.Exit(2) from None
