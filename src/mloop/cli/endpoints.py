"""``mloop endpoints`` (deployments) and ``mloop serve`` (one endpoint's server)."""

from __future__ import annotations

from enum import StrEnum
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.markup import escape

from mloop.cli._common import get_client
from mloop.cli._output import (
    err_console,
    fmt_time,
    info,
    print_json,
    print_mapping,
    print_table,
    warn,
)
from mloop.core.errors import ValidationError

if TYPE_CHECKING:
    from mloop.serving.schemas import CheckResult, Comparison, Deployment

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


# CLI rule names: (API kind, direction of a breach, extra fields).
_RULES: dict[str, tuple[str, str, dict[str, Any]]] = {
    "error_rate": ("error_rate", ">", {}),
    "shift": ("prediction_shift", "<", {}),
    "shift_ks": ("prediction_shift", "<", {"test": "ks"}),
    "shift_chi2": ("prediction_shift", "<", {"test": "chi2"}),
    "confidence_shift": ("prediction_shift", "<", {"test": "ks", "on": "confidence"}),
    "psi": ("prediction_shift", ">", {"test": "psi"}),
    "accuracy": ("accuracy", "<", {}),
    "mae": ("mae", ">", {}),
    "rmse": ("rmse", ">", {}),
}


def parse_rule(text: str, *, window: int, min_samples: int) -> dict[str, Any]:
    """A health rule from ``NAME>THRESHOLD`` or ``NAME<THRESHOLD`` (see ``deploy --help``)."""
    import re

    match = re.fullmatch(r"\s*([a-z_0-9]+)\s*([<>])\s*([-+0-9.eE]+)\s*", text)
    if match is None:
        raise ValidationError(
            f"--rule {text!r} must look like NAME>THRESHOLD or NAME<THRESHOLD, e.g. "
            "error_rate>0.05 or latency_p99>50",
            field="rule",
        )
    name, op, number = match.groups()
    extra: dict[str, Any] = {}
    latency = re.fullmatch(r"latency_p(\d{2,3})", name)
    if latency:
        digits = latency.group(1)
        kind, direction = "latency", ">"
        extra = {"quantile": int(digits) / (10 ** len(digits))}
    elif name in _RULES:
        kind, direction, extra = _RULES[name]
    else:
        raise ValidationError(
            f"--rule {text!r}: unknown rule {name!r}; use one of "
            f"{', '.join([*_RULES, 'latency_p99'])}",
            field="rule",
        )
    if op != direction:
        raise ValidationError(
            f"--rule {text!r}: {name} is breached when it is "
            f"{'above' if direction == '>' else 'below'} the threshold: write "
            f"{name}{direction}{number}",
            field="rule",
        )
    try:
        threshold = float(number)
    except ValueError:
        raise ValidationError(
            f"--rule {text!r}: {number!r} is not a number", field="rule"
        ) from None
    return {
        "kind": kind,
        "threshold": threshold,
        "window_seconds": window,
        "min_samples": min_samples,
        **extra,
    }


def _rollout(
    ramp: str | None, step_seconds: int, step_requests: int, rules: list[dict[str, Any]]
) -> dict[str, Any] | None:
    if ramp is None and not rules:
        return None
    spec: dict[str, Any] = {"rules": rules}
    if ramp is not None:
        try:
            steps = [int(part) for part in ramp.split(",")]
        except ValueError:
            raise ValidationError(
                f"--ramp {ramp!r} must be percents separated by commas, e.g. 5,25,50,100",
                field="ramp",
            ) from None
        spec["ramp"] = {"steps": steps, "min_seconds": step_seconds, "min_requests": step_requests}
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
    ramp: Annotated[
        str | None,
        typer.Option(
            "--ramp",
            help="A canary's ramp plan in percent, e.g. 5,25,50,100: each healthy step "
            "advances by itself, 100 promotes.",
        ),
    ] = None,
    step_seconds: Annotated[
        int, typer.Option("--step-seconds", min=0, help="Minimum time of a ramp step.")
    ] = 300,
    step_requests: Annotated[
        int,
        typer.Option("--step-requests", min=0, help="Minimum candidate requests of a ramp step."),
    ] = 100,
    rule: Annotated[
        list[str] | None,
        typer.Option(
            "--rule",
            help="A health rule of the canary, breached -> rolled back: error_rate>0.05, "
            "latency_p99>50 (ms), shift<0.01 (p-value vs stable), psi>0.25, "
            "confidence_shift<0.01, accuracy<0.8, mae>2, rmse>3. Repeatable.",
        ),
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
    """Deploy model versions to an endpoint; each is loaded first, or nothing changes.

    A canary with --ramp and/or --rule is a rollout: mloop advances it step by step while
    its rules hold and rolls it back automatically when one is breached.
    """
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
    rules = [parse_rule(r, window=window, min_samples=min_samples) for r in rule or []]
    rollout = _rollout(ramp, step_seconds, step_requests, rules)
    deployed = get_client().call(
        "deploy",
        endpoint=name,
        strategy=strategy.value,
        variants=variants,
        reason=reason,
        rollout=rollout,
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


def _number(value: float | None, digits: int = 4) -> str:
    return "-" if value is None else f"{value:.{digits}g}"


def _print_check(result: CheckResult) -> None:
    if result.rollout_id is None:
        info(f"{result.endpoint}: {result.reason}.")
        return
    print_table(
        f"Rollout {result.rollout_id} of {result.endpoint}: {result.action}",
        ["rule", "kind", "status", "observed", "threshold", "window", "samples", "detail"],
        [
            (
                c.index,
                c.kind,
                c.status,
                _number(c.observed),
                f"{c.threshold:g}",
                f"{c.window_seconds} s",
                c.samples,
                c.detail,
            )
            for c in result.rules
        ],
    )
    step = "" if result.step is None else f"step {result.step + 1} at {result.weight}%, "
    info(
        f"{step}{result.step_requests} requests in {result.step_seconds or 0:.0f} s. "
        f"{result.action}: {result.reason}"
    )


@app.command("check")
def check(
    name: Annotated[str, typer.Argument(help="Endpoint name.")], as_json: JsonOption = False
) -> None:
    """Check the endpoint's rollout now: roll back on a breached rule, advance a healthy step.

    Exits 1 when the check rolled the candidate back (for CI). Needs deployer.
    """
    result = get_client().call("check_endpoint", endpoint=name)
    if as_json:
        print_json(result.model_dump())
    else:
        _print_check(result)
    if result.action == "rollback":
        raise typer.Exit(1)


@app.command("rollouts")
def rollouts(
    name: Annotated[str, typer.Argument(help="Endpoint name.")],
    limit: Annotated[int, typer.Option("--limit", min=1, max=1000)] = 20,
    as_json: JsonOption = False,
) -> None:
    """The endpoint's rollouts, newest first: ramp, step, state and why it ended."""
    found = get_client().call("list_endpoint_rollouts", endpoint=name, max_results=limit)
    if as_json:
        print_json([r.model_dump() for r in found.rollouts])
        return
    print_table(
        f"Rollouts of {name}",
        ["id", "state", "candidate", "ramp", "step", "weight", "rules", "started", "why"],
        [
            (
                r.id,
                r.state,
                r.candidate,
                "-" if r.ramp is None else ",".join(map(str, r.ramp.steps)),
                "-" if r.ramp is None else f"{r.step + 1}/{len(r.ramp.steps)}",
                f"{r.weight}%",
                ", ".join(f"{rule.kind} {rule.threshold:g}" for rule in r.rules) or "-",
                fmt_time(r.started_at),
                r.reason or (r.last_check.reason if r.last_check else "-"),
            )
            for r in found.rollouts
        ],
    )


def _interval(ci: Any) -> str:
    return "-" if ci is None else f"[{ci.low:.4g}, {ci.high:.4g}]"


def _print_comparison(found: Comparison) -> None:
    if found.baseline is None:
        info(f"{found.endpoint}: no requests in the period.")
        return
    metric = found.metric or "metric"
    rows = []
    for stats in [found.baseline, *(o.version for o in found.others)]:
        rows.append(
            (
                f"{stats.model}/{stats.version}",
                ", ".join(stats.variants),
                stats.requests,
                f"{_number(stats.error_rate, 3)} {_interval(stats.error_rate_ci)}",
                _number(stats.latency_p50_ms, 3),
                _number(stats.latency_p99_ms, 3),
                stats.labelled,
                f"{_number(stats.metric_value, 3)} {_interval(stats.metric_ci)}",
            )
        )
    level = f"{found.confidence_level:.0%}"
    print_table(
        f"Versions of {found.endpoint} ({level} intervals; baseline first)",
        ["version", "variants", "requests", "error rate", "p50 ms", "p99 ms", "labelled", metric],
        rows,
    )
    print_table(
        "Against the baseline",
        ["version", "measure", "difference", "interval", "p-value", "test", "significant"],
        [
            (
                f"{o.version.model}/{o.version.version}",
                d.measure,
                _number(d.difference),
                _interval(d.ci),
                _number(d.p_value, 3),
                d.test,
                "yes" if d.significant else "no",
            )
            for o in found.others
            for d in o.differences
        ],
    )


@app.command("compare")
def compare(
    name: Annotated[str, typer.Argument(help="Endpoint name.")],
    hours: Annotated[float, typer.Option("--hours", min=0.001, help="The last N hours.")] = 24.0,
    metric: Annotated[
        str, typer.Option("--metric", help="auto, accuracy (classes) or mae (numbers).")
    ] = "auto",
    as_json: JsonOption = False,
) -> None:
    """Compare the endpoint's model versions: labelled outcomes, latency and errors, with
    confidence intervals and significance tests against the live stable version."""
    from mloop.core.timeutil import now_ms

    until = now_ms()
    found = get_client().call(
        "compare_variants",
        endpoint=name,
        since=until - int(hours * 3_600_000),
        until=until,
        metric=metric,
    )
    if as_json:
        print_json(found.model_dump())
        return
    _print_comparison(found)


@app.command("labels")
def labels(
    name: Annotated[str, typer.Argument(help="Endpoint name.")],
    file: Annotated[
        str, typer.Argument(help="CSV or Parquet with request_id, label and optionally time.")
    ],
    origin: Annotated[
        str | None, typer.Option("--origin", help="Who says so (default: the file's name).")
    ] = None,
) -> None:
    """Attach ground truth to the endpoint's requests from a file, by request id.

    Every row is checked first: a bad row is named by its line and nothing is stored.
    """
    from pathlib import Path

    from mloop.serving.labels import chunks, read_label_file

    found = read_label_file(file)
    client = get_client()
    stored = unmatched = 0
    examples: list[str] = []
    for part in chunks(found):
        done = client.call(
            "attach_labels", endpoint=name, labels=part, origin=origin or Path(file).name
        )
        stored += done.stored
        unmatched += done.unmatched
        examples += done.unmatched_examples
    info(f"Attached {stored} labels to {name}.")
    if unmatched:
        warn(
            f"{unmatched} of them match no logged request of {name} (yet: the log is written "
            f"every few seconds), e.g. {', '.join(examples[:3])}"
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
    max_in_flight: Annotated[
        int,
        typer.Option(
            "--max-in-flight", min=1, max=64, help="Batches predicted at once per worker."
        ),
    ] = 1,
    max_pending: Annotated[
        int,
        typer.Option(
            "--max-pending",
            min=1,
            max=1_000_000,
            help="Requests a worker holds at once; beyond, 503 with Retry-After.",
        ),
    ] = 256,
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
            endpoint=endpoint,
            auth=enabled,
            max_batch_rows=max_batch_rows,
            max_wait_ms=max_wait_ms,
            max_in_flight=max_in_flight,
            max_pending=max_pending,
        )
        run(options, host=host, port=port, workers=workers)
    except ValidationError as exc:
        err_console().print(f"[red]error: {escape(exc.message)}[/red]", soft_wrap=True)
        raise typer.Exit(2) from None
