"""Demo step: logistic regression for a few regularisation strengths, one run each."""

from __future__ import annotations

from mloop.cli.demo._context import DemoContext, DemoStep
from mloop.cli.demo._training import finish_run, log_step, split_scores, start_run


def train_logistic_regression(ctx: DemoContext) -> None:
    """A standardised ``LogisticRegression`` run for each ``C`` of the config."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import StandardScaler

    data, cfg = ctx.dataset(), ctx.config
    ctx.begin(len(cfg.logreg_cs))
    for c in cfg.logreg_cs:
        name, family = f"logreg-C={c:g}", "logistic_regression"
        run_id = start_run(ctx, name, family, {"model": "LogisticRegression", "C": c})
        model = Pipeline(
            [("scale", StandardScaler()), ("logreg", LogisticRegression(C=c, max_iter=1000))]
        )
        model.fit(data.X_train, data.y_train)
        scores = split_scores(
            data, model.predict_proba(data.X_train)[:, 1], model.predict_proba(data.X_val)[:, 1]
        )
        log_step(scores, 0)
        finish_run(ctx, run_id, name, family, model)
        ctx.advance()


STEP = DemoStep("logistic_regression", "Logistic regression, C sweep", train_logistic_regression)
