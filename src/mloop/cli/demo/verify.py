"""Demo step: load ``models:/<name>@champion`` back and predict a few validation rows."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from rich.markup import escape

import mloop
from mloop.cli._output import print_table
from mloop.cli.demo._context import DemoContext, DemoStep

if TYPE_CHECKING:
    from rich.console import Console

# Types in the demo's own models that skops does not trust by default.
_DEMO_TRUSTED_TYPES = ("sklearn.tree._tree.Tree",)


@dataclass
class Predictions:
    """The champion's predictions of the first validation rows."""

    rows: list[dict[str, Any]]


def verify_champion(ctx: DemoContext) -> None:
    """Load the champion through the registry and predict five validation rows."""
    data = ctx.dataset()
    ctx.begin(1)
    # The demo trained these models itself, so it may trust the one type skops does not
    # accept by default (the trees inside the forest and boosting models).
    model = mloop.load_model(
        f"models:/{ctx.config.model_name}@champion", trusted=list(_DEMO_TRUSTED_TYPES)
    )
    rows = data.X_val.iloc[:5]
    proba = model.predict_proba(rows)[:, 1]
    labels = model.predict(rows)
    ctx.keep(
        Predictions(
            [
                {
                    "row": int(index),
                    "predicted": data.class_names[int(label)],
                    "actual": data.class_names[int(actual)],
                    "p_benign": float(p),
                }
                for index, label, actual, p in zip(
                    rows.index, labels, data.y_val[:5], proba, strict=True
                )
            ]
        )
    )
    ctx.advance()


def summarise(ctx: DemoContext, out: Console) -> None:
    predictions = ctx.kept(Predictions)
    if predictions is None or not predictions.rows:
        return
    uri = f"models:/{ctx.config.model_name}@champion"
    out.print(f"\nLoaded [bold]{escape(uri)}[/bold] and predicted 5 validation rows:")
    print_table(
        None,
        ["row", "predicted", "actual", "P(benign)"],
        [(p["row"], p["predicted"], p["actual"], f"{p['p_benign']:.3f}") for p in predictions.rows],
    )


STEP = DemoStep("verify", "Loading the champion and predicting", verify_champion, summarise)
