"""The ``mloop`` application: builds the Typer app and adds each area's commands."""

from __future__ import annotations

from typing import Any

import typer
from typer.core import TyperGroup

from mloop.cli import (
    alerts,
    automation,
    data,
    datasets,
    demo,
    endpoints,
    evals,
    experiments,
    features,
    gateway,
    import_cmd,
    models,
    monitors,
    pipelines,
    policies,
    prompts,
    review,
    runs,
    server,
    tokens,
)
from mloop.cli._output import fail
from mloop.core.errors import MloopError


class _MloopGroup(TyperGroup):
    """Turns expected errors into ``error: ...`` on stderr and exit status 1, not a traceback."""

    def invoke(self, ctx: Any) -> Any:  # ctx: typer's own click Context
        from pydantic import ValidationError as PydanticValidationError

        try:
            return super().invoke(ctx)
        except MloopError as exc:
            fail(exc.message, exc.field)
        except PydanticValidationError as exc:
            first = exc.errors()[0]
            field = ".".join(str(part) for part in first.get("loc", ())) or None
            fail(str(first.get("msg", exc)), field)


app = typer.Typer(
    name="mloop",
    cls=_MloopGroup,
    help="mloop: track experiments, version models, and run the mloop server.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_show_locals=False,
)


@app.command("version")
def version() -> None:
    """Print the installed mloop version."""
    from mloop import __version__

    typer.echo(f"mloop {__version__}")


app.add_typer(experiments.app, name="experiments")
app.add_typer(runs.app, name="runs")
app.add_typer(models.app, name="models")
app.add_typer(models.alias_app, name="alias")
app.add_typer(tokens.app, name="tokens")
app.add_typer(data.app, name="data")
app.add_typer(datasets.app, name="datasets")
app.add_typer(prompts.app, name="prompts")
app.add_typer(import_cmd.app, name="import")
app.add_typer(gateway.app, name="gateway")
app.add_typer(endpoints.app, name="endpoints")
app.add_typer(alerts.app, name="alerts")
app.add_typer(monitors.app, name="monitors")
app.add_typer(features.app, name="features")
app.add_typer(review.app, name="review")
app.add_typer(evals.app, name="evals")
app.add_typer(evals.test_app, name="test")
app.command("gate")(evals.gate_command)
app.add_typer(automation.triggers_app, name="triggers")
app.add_typer(automation.jobs_app, name="jobs")
app.command("worker")(automation.worker)
app.add_typer(policies.app, name="policies")
app.add_typer(pipelines.app, name="pipelines")
app.command("timeline")(policies.timeline)
app.command("server")(server.server)
app.command("serve")(endpoints.serve)
app.command("demo")(demo.demo)


if __name__ == "__main__":  # pragma: no cover
    app()
