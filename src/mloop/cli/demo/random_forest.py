"""Demo step: a random forest grown a few trees at a time, logging each size."""

from __future__ import annotations

from mloop.cli.demo._context import DemoContext, DemoStep
from mloop.cli.demo._training import finish_run, log_step, split_scores, start_run


def train_random_forest(ctx: DemoContext) -> None:
    """``RandomForestClassifier`` with ``warm_start``; the step number is the number of trees."""
    from sklearn.ensemble import RandomForestClassifier

    data, cfg = ctx.dataset(), ctx.config
    ctx.begin(len(cfg.rf_sizes))
    name, family = "random-forest", "random_forest"
    params = {"n_estimators": max(cfg.rf_sizes), "max_depth": 6, "min_samples_leaf": 2}
    run_id = start_run(ctx, name, family, {"model": "RandomForestClassifier", **params})

    forest = RandomForestClassifier(
        warm_start=True, max_depth=6, min_samples_leaf=2, random_state=cfg.seed, n_jobs=1
    )
    for size in cfg.rf_sizes:
        forest.set_params(n_estimators=size)
        forest.fit(data.X_train, data.y_train)
        scores = split_scores(
            data, forest.predict_proba(data.X_train)[:, 1], forest.predict_proba(data.X_val)[:, 1]
        )
        log_step({**scores, "n_trees": size}, size)
        ctx.advance()
    finish_run(ctx, run_id, name, family, forest)


STEP = DemoStep("random_forest", "Random forest, growing", train_random_forest)
