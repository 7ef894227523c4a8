"""Demo step: register the best run as ``champion`` and the runner-up as ``challenger``."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from rich.markup import escape

import mloop
from mloop.cli._output import print_table
from mloop.cli.demo._context import DemoContext, DemoStep, TrainedRun

if TYPE_CHECKING:
    from rich.console import Console


@dataclass
class RegisteredVersion:
    """A model version the demo registered, and the alias it carries."""

    name: str
    version: int
    alias: str
    run: TrainedRun


@dataclass
class Registered:
    """What the step registered, for the summary."""

    versions: list[RegisteredVersion] = field(default_factory=list)


def register_best(ctx: DemoContext) -> None:
    """Rank the runs and register the two best under the config's model name."""
    ranked = ctx.ranked()
    if len(ranked) < 2:
        raise RuntimeError("the demo needs at least two runs to pick a champion and a challenger")
    name = ctx.config.model_name
    registered = Registered()
    ctx.keep(registered)
    ctx.begin(2)
    for alias, run in (("champion", ranked[0]), ("challenger", ranked[1])):
        version = mloop.register_model(f"runs:/{run.run_id}/model", name)
        number = int(version.version)
        mloop.set_alias(name, alias, number)
        registered.versions.append(RegisteredVersion(name, number, alias, run))
        ctx.advance()


def summarise(ctx: DemoContext, out: Console) -> None:
    """Every run, best first, with the alias its version got; then the versions."""
    versions = (ctx.kept(Registered) or Registered()).versions
    aliases = {v.run.run_id: f"{v.alias} v{v.version}" for v in versions}
    print_table(
        "Runs, best first (validation set)",
        ["run", "AUC", "accuracy", "log loss", "alias", "run id"],
        [
            (
                r.run_name,
                f"{r.val_auc:.4f}",
                f"{r.val_accuracy:.4f}",
                f"{r.val_loss:.4f}",
                aliases.get(r.run_id, ""),
                r.run_id,
            )
            for r in ctx.ranked()
        ],
    )
    for version in versions:
        out.print(
            f"[bold]{escape(version.name)}[/bold] version {version.version} "
            f"@[bold green]{version.alias}[/bold green] ← run {escape(version.run.run_name)} "
            f"(AUC {version.run.val_auc:.4f})"
        )


STEP = DemoStep("register", "Registering {model_name}", register_best, summarise)
