"""Demo step: gradient boosting, logging metrics after every stage."""

from __future__ import annotations

from mloop.cli.demo._context import DemoContext, DemoStep
from mloop.cli.demo._training import finish_run, log_steps, split_scores, start_run


def train_gradient_boosting(ctx: DemoContext) -> None:
    """``GradientBoostingClassifier``; every stage's metrics come from ``staged_predict_proba``."""
    from sklearn.ensemble import GradientBoostingClassifier

    data, cfg = ctx.dataset(), ctx.config
    ctx.begin(cfg.gb_stages)
    name, family = "gradient-boosting", "gradient_boosting"
    params = {"n_estimators": cfg.gb_stages, "learning_rate": 0.1, "max_depth": 2, "subsample": 0.8}
    run_id = start_run(ctx, name, family, {"model": "GradientBoostingClassifier", **params})

    gb = GradientBoostingClassifier(**params, random_state=cfg.seed)
    gb.fit(data.X_train, data.y_train)
    stages = zip(
        gb.staged_predict_proba(data.X_train), gb.staged_predict_proba(data.X_val), strict=True
    )
    history = {}
    for stage, (train_proba, val_proba) in enumerate(stages, start=1):
        history[stage] = split_scores(data, train_proba[:, 1], val_proba[:, 1])
        ctx.advance()
    log_steps(history)  # computed after the fit, so logged at once
    finish_run(ctx, run_id, name, family, gb)


STEP = DemoStep("gradient_boosting", "Gradient boosting, stage by stage", train_gradient_boosting)
