"""Demo step: unmodified MLflow code trains one more candidate into mloop.

The ``mlflow`` package talks to a tracking server over HTTP, so the step serves the demo's
store on a loopback port for the duration. The run it logs competes with the others for
``champion``: mloop's registry, SDK and UI treat it like a native one.
"""

from __future__ import annotations

import warnings

import mloop
from mloop.cli.demo._context import DemoContext, DemoStep
from mloop.cli.demo._training import scores, split_scores, trained_run
from mloop.compat.mlflow.environment import INSTALL_HINT, mlflow_environment
from mloop.server.background import background_server

RUN_NAME = "mlflow-client-logreg"


def train_with_mlflow_client(ctx: DemoContext) -> None:
    """A scaled logistic regression, logged with ``mlflow.log_*`` and
    ``mlflow.sklearn.log_model`` against an mloop server on loopback."""
    try:
        import mlflow
        import mlflow.sklearn
    except ImportError:
        ctx.notes.append(
            f"The MLflow-client step was skipped: the mlflow package is not installed "
            f"({INSTALL_HINT} to see unmodified MLflow code log into mloop)."
        )
        return
    import sklearn
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    data = ctx.dataset()
    ctx.begin(2)
    runtime = ctx.open_store()
    try:
        with background_server(runtime) as url, mlflow_environment(url):
            mlflow.set_experiment(ctx.config.experiment)
            with mlflow.start_run(run_name=RUN_NAME) as run:
                params = {"C": 0.5, "max_iter": 2000}
                mlflow.log_params({**params, "seed": ctx.config.seed, "client": "mlflow"})
                mlflow.set_tags({"model_family": "logistic_regression", "demo": "true"})
                model = make_pipeline(StandardScaler(), LogisticRegression(**params))
                model.fit(data.X_train, data.y_train)
                ctx.advance()
                val_proba = model.predict_proba(data.X_val)[:, 1]
                train_proba = model.predict_proba(data.X_train)[:, 1]
                mlflow.log_metrics(split_scores(data, train_proba, val_proba))
                with warnings.catch_warnings():
                    # MLflow's hint about integer outputs in the inferred signature.
                    warnings.simplefilter("ignore", UserWarning)
                    info = mlflow.sklearn.log_model(
                        model,
                        name="model",
                        input_example=data.X_val.iloc[:5],
                        # Named, so MLflow does not inspect the environment to infer them.
                        pip_requirements=[f"scikit-learn=={sklearn.__version__}"],
                    )
                # MLflow 3 links evaluation metrics to the logged model itself.
                mlflow.log_metrics(
                    {"val_auc": scores(data.y_val, val_proba)["auc"]}, model_id=info.model_id
                )
                best = mlflow.search_logged_models(
                    filter_string="metrics.val_auc > 0.5",
                    order_by=[{"field_name": "metrics.val_auc", "ascending": False}],
                    output_format="list",
                )
                ctx.advance()
    finally:
        runtime.close()
    # MLflow's own dataset records carry MLflow's digest; the registry's lineage is by the
    # registered version's, so the demo records the input with mloop's SDK on the same run.
    with mloop.start_run(run_id=run.info.run_id):
        mloop.get_dataset(ctx.dataset_ref)
    val = scores(data.y_val, val_proba)
    ctx.runs.append(
        trained_run(run.info.run_id, RUN_NAME, "logistic_regression (mlflow client)", val)
    )
    ctx.notes.append(
        f"Run {RUN_NAME} was logged by the stock mlflow {mlflow.__version__} client through "
        "mloop's MLflow-compatible API (a server on a loopback port while the step ran); it "
        "is an ordinary run in mloop."
    )
    linked = {m.key: m.value for m in (best[0].metrics or [])} if best else {}
    if "val_auc" in linked:
        ctx.notes.append(
            f"Its logged model {best[0].model_id} carries val_auc "
            f"{linked['val_auc']:.3f}, linked by mlflow.log_metrics(model_id=...); "
            "mlflow.search_logged_models found it by that metric."
        )


STEP = DemoStep(
    "mlflow_client", "Training through the stock MLflow client", train_with_mlflow_client
)
