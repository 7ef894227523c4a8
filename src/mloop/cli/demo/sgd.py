"""Demo step: a linear model trained epoch by epoch with ``partial_fit``, logging each epoch."""

from __future__ import annotations

from mloop.cli.demo._context import DemoContext, DemoStep
from mloop.cli.demo._training import finish_run, log_step, split_scores, start_run


def train_sgd(ctx: DemoContext) -> None:
    """A standardised SGD logistic model; loss and accuracy are logged after every epoch."""
    import numpy as np
    from sklearn.linear_model import SGDClassifier
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import StandardScaler

    data, cfg = ctx.dataset(), ctx.config
    ctx.begin(cfg.sgd_epochs)
    name, family = "sgd-logistic", "sgd"
    params = {"loss": "log_loss", "alpha": 1e-4, "epochs": cfg.sgd_epochs}
    run_id = start_run(ctx, name, family, {"model": "SGDClassifier", **params})
    scaler = StandardScaler().fit(data.X_train)
    x_train, x_val = scaler.transform(data.X_train), scaler.transform(data.X_val)
    sgd = SGDClassifier(loss="log_loss", alpha=1e-4, random_state=cfg.seed)
    rng = np.random.default_rng(cfg.seed)
    for epoch in range(1, cfg.sgd_epochs + 1):
        order = rng.permutation(len(data.y_train))
        sgd.partial_fit(x_train[order], data.y_train[order], classes=np.array([0, 1]))
        scores = split_scores(
            data, sgd.predict_proba(x_train)[:, 1], sgd.predict_proba(x_val)[:, 1]
        )
        log_step(scores, epoch)
        ctx.advance()
    finish_run(ctx, run_id, name, family, Pipeline([("scale", scaler), ("sgd", sgd)]))


STEP = DemoStep("sgd", "SGD classifier, epoch by epoch", train_sgd)
