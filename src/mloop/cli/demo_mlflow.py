"""The demo's MLflow step: unmodified MLflow code trains one more candidate into mloop.

The ``mlflow`` package talks to a tracking server over HTTP, so the step serves the demo's
store on a loopback port for the duration. The run it logs competes with the others for
``champion``: mloop's registry, SDK and UI treat it like a native one.
"""

from __future__ import annotations

import warnings

import mloop
from mloop.cli.demo_steps import DemoState, TrainedRun, _scores, _split_scores
from mloop.compat.mlflow.environment import INSTALL_HINT, mlflow_environment
from mloop.core.config import Settings
from mloop.server.background import background_server
from mloop.store.runtime import open_runtime

RUN_NAME = "mlflow-client-logreg"


def train_with_mlflow_client(state: DemoState) -> None:
    """A scaled logistic regression, logged with ``mlflow.log_*`` and
    ``mlflow.sklearn.log_model`` against an mloop server on loopback."""
    try:
        import mlflow
        import mlflow.sklearn
    except ImportError:
        state.notes.append(
            f"The MLflow-client step was skipped: the mlflow package is not installed "
            f"({INSTALL_HINT} to see unmodified MLflow code log into mloop)."
        )
        return
    import sklearn
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    data = state.dataset()
    state.reporter.begin("Training through the stock MLflow client", 2)
    runtime = open_runtime(Settings.for_home(state.home))
    try:
        with background_server(runtime) as url, mlflow_environment(url):
            mlflow.set_experiment(state.config.experiment)
            with mlflow.start_run(run_name=RUN_NAME) as run:
                params = {"C": 0.5, "max_iter": 2000}
                mlflow.log_params({**params, "seed": state.config.seed, "client": "mlflow"})
                mlflow.set_tags({"model_family": "logistic_regression", "demo": "true"})
                model = make_pipeline(StandardScaler(), LogisticRegression(**params))
                model.fit(data.X_train, data.y_train)
                state.reporter.advance()
                val_proba = model.predict_proba(data.X_val)[:, 1]
                train_proba = model.predict_proba(data.X_train)[:, 1]
                mlflow.log_metrics(_split_scores(data, train_proba, val_proba))
                with warnings.catch_warnings():
                    # MLflow's hint about integer outputs in the inferred signature.
                    warnings.simplefilter("ignore", UserWarning)
                    mlflow.sklearn.log_model(
                        model,
                        name="model",
                        input_example=data.X_val.iloc[:5],
                        # Named, so MLflow does not inspect the environment to infer them.
                        pip_requirements=[f"scikit-learn=={sklearn.__version__}"],
                    )
                state.reporter.advance()
    finally:
        runtime.close()
    # MLflow's own dataset records carry MLflow's digest; the registry's lineage is by the
    # registered version's, so the demo records the input with mloop's SDK on the same run.
    with mloop.start_run(run_id=run.info.run_id):
        mloop.get_dataset(state.dataset_ref)
    scores = _scores(data.y_val, val_proba)
    state.runs.append(
        TrainedRun(
            run_id=run.info.run_id,
            run_name=RUN_NAME,
            family="logistic_regression (mlflow client)",
            val_auc=scores["auc"],
            val_accuracy=scores["accuracy"],
            val_loss=scores["loss"],
        )
    )
    state.notes.append(
        f"Run {RUN_NAME} was logged by the stock mlflow {mlflow.__version__} client through "
        "mloop's MLflow-compatible API (a server on a loopback port while the step ran); it "
        "is an ordinary run in mloop."
    )
