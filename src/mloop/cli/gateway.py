"""``mloop gateway``: the LLM gateway's commands."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from mloop.cli import gateway_rollouts, gateway_secrets
from mloop.cli._output import console, fail, print_json, print_table

app = typer.Typer(help="The LLM gateway: configuration and provider keys.", no_args_is_help=True)
app.add_typer(gateway_secrets.app, name="secrets")
app.add_typer(gateway_rollouts.app, name="rollout")


@app.command("check")
def check(
    path: Annotated[
        Path | None,
        typer.Argument(
            help="The configuration file (default: MLOOP_GATEWAY_CONFIG or "
            "MLOOP_HOME/gateway.yaml).",
            show_default=False,
        ),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the routes as JSON.")] = False,
) -> None:
    """Validate a gateway configuration (providers, routes, guardrails) without starting it.

    Exits 0 when the file is valid, 2 when it is not, so a CI job can check the file in the
    repository before it is deployed.
    """
    from mloop.core.config import get_settings
    from mloop.core.errors import MloopError
    from mloop.llm.config import GatewayConfig, config_path
    from mloop.llm.guardrails.pipeline import GuardrailPipeline

    file = path or config_path(get_settings().home)
    if file is None:
        fail(
            "no gateway configuration: pass a file, set MLOOP_GATEWAY_CONFIG or write "
            "MLOOP_HOME/gateway.yaml (see docs/gateway.md)",
            code=2,
        )
    try:
        config = GatewayConfig.from_file(file)
        for name, route in config.routes.items():
            # The classifier guardrail only needs a callable here; nothing is called.
            GuardrailPipeline.from_config(route.guardrails, classify=_never, route=name)
    except MloopError as exc:
        fail(exc.message, exc.field, code=2)
    routes: list[dict[str, Any]] = [
        {
            "route": name,
            "targets": [f"{t.provider}/{t.model} (weight {t.weight:g})" for t in route.targets],
            "retries": route.retries,
            "timeout_seconds": route.timeout_seconds,
            "guardrails": [g.check for g in route.guardrails.input]
            + [g.check for g in route.guardrails.output],
        }
        for name, route in config.routes.items()
    ]
    if as_json:
        print_json({"file": str(file), "valid": True, "routes": routes})
        return
    console().print(f"{file}: valid, {len(config.providers)} providers, {len(routes)} routes")
    if routes:
        print_table(
            None,
            ["route", "targets", "retries", "timeout s", "guardrails"],
            [
                (
                    r["route"],
                    ", ".join(r["targets"]),
                    r["retries"],
                    r["timeout_seconds"],
                    ", ".join(r["guardrails"]),
                )
                for r in routes
            ],
        )


async def _never(route: str, messages: list[dict[str, object]]) -> str:
    raise RuntimeError("mloop gateway check does not call routes")
