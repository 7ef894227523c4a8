"""The ``mloop demo`` scenario, one function per step.

Each step takes the :class:`DemoState` and adds to it; :data:`STEPS` lists them in order and
:func:`run_demo` runs them against a fresh embedded store. To extend the demo (a data
contract, a deployment, a monitor...), write a step function and add it to :data:`STEPS`.

The training code uses the public SDK exactly as a user would (``mloop.start_run``,
``mloop.sklearn.log_model``, ``mloop.register_model``...), so it doubles as an example.
"""

from __future__ import annotations

import json
import tempfile
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import mloop
from mloop.core.errors import ValidationError
from mloop.core.timeutil import now_ms

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd


class Reporter(Protocol):
    """Where steps report progress (a Rich progress bar in the CLI, nothing in tests)."""

    def begin(self, title: str, total: int) -> None:
        """A step starts that will take ``total`` units of work."""

    def advance(self, amount: int = 1) -> None:
        """``amount`` more units are done."""


class SilentReporter:
    """A reporter that reports nothing."""

    def begin(self, title: str, total: int) -> None:
        return None

    def advance(self, amount: int = 1) -> None:
        return None


@dataclass(frozen=True)
class DemoConfig:
    """Knobs of the scenario; the defaults finish in a few seconds."""

    experiment: str = "demo-breast-cancer"
    model_name: str = "demo-classifier"
    seed: int = 42
    sgd_epochs: int = 30
    gb_stages: int = 100
    rf_sizes: tuple[int, ...] = (5, 10, 15, 20, 25, 30, 35, 40)
    logreg_cs: tuple[float, ...] = (0.01, 0.1, 1.0, 10.0)


@dataclass
class Dataset:
    """The train/validation split every model uses."""

    X_train: pd.DataFrame
    X_val: pd.DataFrame
    y_train: np.ndarray
    y_val: np.ndarray
    feature_names: list[str]
    class_names: list[str]
    digest: str


@dataclass
class TrainedRun:
    """One finished training run."""

    run_id: str
    run_name: str
    family: str
    val_auc: float
    val_accuracy: float
    val_loss: float


@dataclass
class RegisteredVersion:
    """A model version the demo registered, and the alias it carries."""

    name: str
    version: int
    alias: str
    run: TrainedRun


@dataclass
class DemoState:
    """What the steps share and build up."""

    home: Path
    config: DemoConfig = field(default_factory=DemoConfig)
    reporter: Reporter = field(default_factory=SilentReporter)
    data: Dataset | None = None
    runs: list[TrainedRun] = field(default_factory=list)
    registered: list[RegisteredVersion] = field(default_factory=list)
    predictions: list[dict[str, Any]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # what steps want the summary to say
    dataset_ref: str = ""  # the registered training data, "name/version"
    rejected_report: Any = None  # the ValidationReport of the batch the contract refused
    llm: dict[str, Any] | None = None  # the LLM step's calls, for the summary
    seconds: float = 0.0

    def dataset(self) -> Dataset:
        if self.data is None:
            raise RuntimeError("the data step has not run")
        return self.data

    def ranked(self) -> list[TrainedRun]:
        """Runs, best first: highest validation AUC, then lowest validation loss."""
        return sorted(self.runs, key=lambda r: (-r.val_auc, r.val_loss))


@dataclass(frozen=True)
class DemoStep:
    """A named step of the scenario."""

    name: str
    run: Callable[[DemoState], None]


# Types in the demo's own models that skops does not trust by default.
_DEMO_TRUSTED_TYPES = ("sklearn.tree._tree.Tree",)


# -- helpers ----------------------------------------------------------------------------


def _scores(y_true: np.ndarray, proba: np.ndarray) -> dict[str, float]:
    """Log loss, accuracy and ROC AUC of positive-class probabilities.

    Written with numpy: scikit-learn's metric functions validate their input on every call,
    which costs more than the training when logged at every step.
    """
    import numpy as np
    from scipy.stats import rankdata

    y = np.asarray(y_true, dtype=bool)
    eps = float(np.finfo(float).eps)
    p = np.clip(np.asarray(proba, dtype=float), eps, 1 - eps)
    loss = -float(np.mean(np.where(y, np.log(p), np.log1p(-p))))
    accuracy = float(np.mean((p >= 0.5) == y))
    n_pos = int(y.sum())
    n_neg = y.size - n_pos
    ranks = rankdata(p)  # ties get their average rank, as in the Mann-Whitney U statistic
    auc = (float(ranks[y].sum()) - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg)
    return {"loss": loss, "accuracy": accuracy, "auc": auc}


def _split_scores(
    data: Dataset, train_proba: np.ndarray, val_proba: np.ndarray
) -> dict[str, float]:
    train = _scores(data.y_train, train_proba)
    val = _scores(data.y_val, val_proba)
    return {
        "train_loss": train["loss"],
        "train_accuracy": train["accuracy"],
        "val_loss": val["loss"],
        "val_accuracy": val["accuracy"],
        "val_auc": val["auc"],
    }


def _log_steps(steps: Mapping[int, Mapping[str, float]]) -> None:
    """Log the metrics of several steps in one call (one transaction embedded)."""
    run = mloop.active_run()
    if run is None:
        raise RuntimeError("no active run")
    timestamp = now_ms()
    batch = [
        mloop.Metric(key, float(value), timestamp, step)
        for step, metrics in steps.items()
        for key, value in metrics.items()
    ]
    mloop.Client().log_batch(run.info.run_id, metrics=batch)


def _log_step(metrics: Mapping[str, float], step: int) -> None:
    """Log one step's metrics as they are computed, so a live UI can follow the run."""
    _log_steps({step: metrics})


def _start(state: DemoState, run_name: str, family: str, params: Mapping[str, Any]) -> str:
    """Start a run in the demo experiment with the common params, tags and dataset input."""
    data = state.dataset()
    run = mloop.start_run(
        run_name=run_name,
        tags={"model_family": family, "dataset": "breast_cancer", "demo": "true"},
    )
    mloop.log_params(
        {
            **params,
            "seed": state.config.seed,
            "n_train": len(data.y_train),
            "n_val": len(data.y_val),
        }
    )
    mloop.get_dataset(state.dataset_ref)  # records the registered version as the run's input
    return run.info.run_id


def _finish(state: DemoState, run_id: str, run_name: str, family: str, model: Any) -> None:
    """Evaluate, log the evaluation artifacts and the model, end the run, record it."""
    from sklearn.metrics import confusion_matrix

    from mloop import sklearn as mloop_sklearn

    data = state.dataset()
    val_proba = model.predict_proba(data.X_val)[:, 1]
    scores = _scores(data.y_val, val_proba)
    matrix = confusion_matrix(data.y_val, (val_proba >= 0.5).astype(int), labels=[0, 1])
    with tempfile.TemporaryDirectory(prefix="mloop-demo-") as tmp:
        root = Path(tmp)
        (root / "evaluation").mkdir()
        lines = ["actual,predicted_" + ",predicted_".join(data.class_names)]
        for name, row in zip(data.class_names, matrix.tolist(), strict=True):
            lines.append(f"{name}," + ",".join(str(n) for n in row))
        (root / "evaluation" / "confusion_matrix.csv").write_text("\n".join(lines) + "\n")
        (root / "evaluation" / "summary.json").write_text(
            json.dumps({"split": "validation", **scores, "n": len(data.y_val)}, indent=2)
        )
        (root / "features.json").write_text(json.dumps(data.feature_names, indent=2))
        mloop.log_artifacts(root)
    mloop_sklearn.log_model(model, "model", input_example=data.X_val.iloc[:5])
    mloop.end_run()
    state.runs.append(
        TrainedRun(
            run_id=run_id,
            run_name=run_name,
            family=family,
            val_auc=scores["auc"],
            val_accuracy=scores["accuracy"],
            val_loss=scores["loss"],
        )
    )


# -- steps ------------------------------------------------------------------------------


def load_data(state: DemoState) -> None:
    """Load scikit-learn's breast-cancer dataset (shipped offline), register it under its
    data contract (a corrupted batch is refused), read the registered version back, split it
    75/25, and make the demo experiment active."""
    from sklearn.datasets import load_breast_cancer
    from sklearn.model_selection import train_test_split

    from mloop.cli.demo_data import ALIAS, DATASET, TARGET, register_training_data

    state.reporter.begin("Registering the breast-cancer dataset under its contract", 2)
    bunch = load_breast_cancer(as_frame=True)
    table: pd.DataFrame = bunch.data.assign(**{TARGET: bunch.target})
    version, state.rejected_report = register_training_data(state.home, table, state.config.seed)
    state.reporter.advance()
    # Train on what the registry holds, not on the in-memory copy.
    stored = mloop.get_dataset(f"{DATASET}@{ALIAS}").to_pandas()
    frame = stored.drop(columns=[TARGET])
    target = stored[TARGET].to_numpy()
    X_train, X_val, y_train, y_val = train_test_split(
        frame, target, test_size=0.25, stratify=target, random_state=state.config.seed
    )
    state.data = Dataset(
        X_train=X_train,
        X_val=X_val,
        y_train=y_train,
        y_val=y_val,
        feature_names=[str(c) for c in frame.columns],
        class_names=[str(c) for c in bunch.target_names],
        digest=version.digest,
    )
    state.dataset_ref = f"{DATASET}/{version.version}"
    mloop.set_experiment(state.config.experiment)
    state.reporter.advance()


def train_sgd(state: DemoState) -> None:
    """A linear model trained epoch by epoch with ``partial_fit``, logging loss and accuracy."""
    import numpy as np
    from sklearn.linear_model import SGDClassifier
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import StandardScaler

    data, cfg = state.dataset(), state.config
    state.reporter.begin("SGD classifier, epoch by epoch", cfg.sgd_epochs)
    name, family = "sgd-logistic", "sgd"
    params = {"loss": "log_loss", "alpha": 1e-4, "epochs": cfg.sgd_epochs}
    run_id = _start(state, name, family, {"model": "SGDClassifier", **params})
    scaler = StandardScaler().fit(data.X_train)
    x_train, x_val = scaler.transform(data.X_train), scaler.transform(data.X_val)
    sgd = SGDClassifier(loss="log_loss", alpha=1e-4, random_state=cfg.seed)
    rng = np.random.default_rng(cfg.seed)
    for epoch in range(1, cfg.sgd_epochs + 1):
        order = rng.permutation(len(data.y_train))
        sgd.partial_fit(x_train[order], data.y_train[order], classes=np.array([0, 1]))
        scores = _split_scores(
            data, sgd.predict_proba(x_train)[:, 1], sgd.predict_proba(x_val)[:, 1]
        )
        _log_step(scores, epoch)
        state.reporter.advance()
    _finish(state, run_id, name, family, Pipeline([("scale", scaler), ("sgd", sgd)]))


def train_gradient_boosting(state: DemoState) -> None:
    """Gradient boosting, logging metrics after every stage (``staged_predict_proba``)."""
    from sklearn.ensemble import GradientBoostingClassifier

    data, cfg = state.dataset(), state.config
    state.reporter.begin("Gradient boosting, stage by stage", cfg.gb_stages)
    name, family = "gradient-boosting", "gradient_boosting"
    params = {"n_estimators": cfg.gb_stages, "learning_rate": 0.1, "max_depth": 2, "subsample": 0.8}
    run_id = _start(state, name, family, {"model": "GradientBoostingClassifier", **params})

    gb = GradientBoostingClassifier(**params, random_state=cfg.seed)
    gb.fit(data.X_train, data.y_train)
    stages = zip(
        gb.staged_predict_proba(data.X_train), gb.staged_predict_proba(data.X_val), strict=True
    )
    history = {}
    for stage, (train_proba, val_proba) in enumerate(stages, start=1):
        history[stage] = _split_scores(data, train_proba[:, 1], val_proba[:, 1])
        state.reporter.advance()
    _log_steps(history)  # computed after the fit, so logged at once
    _finish(state, run_id, name, family, gb)


def train_random_forest(state: DemoState) -> None:
    """A random forest grown a few trees at a time (``warm_start``), logging each size."""
    from sklearn.ensemble import RandomForestClassifier

    data, cfg = state.dataset(), state.config
    state.reporter.begin("Random forest, growing", len(cfg.rf_sizes))
    name, family = "random-forest", "random_forest"
    params = {"n_estimators": max(cfg.rf_sizes), "max_depth": 6, "min_samples_leaf": 2}
    run_id = _start(state, name, family, {"model": "RandomForestClassifier", **params})

    forest = RandomForestClassifier(
        warm_start=True, max_depth=6, min_samples_leaf=2, random_state=cfg.seed, n_jobs=1
    )
    for size in cfg.rf_sizes:
        forest.set_params(n_estimators=size)
        forest.fit(data.X_train, data.y_train)
        scores = _split_scores(
            data, forest.predict_proba(data.X_train)[:, 1], forest.predict_proba(data.X_val)[:, 1]
        )
        _log_step({**scores, "n_trees": size}, size)
        state.reporter.advance()
    _finish(state, run_id, name, family, forest)


def train_logistic_regression(state: DemoState) -> None:
    """Logistic regression for a few regularisation strengths, one run each."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import StandardScaler

    data, cfg = state.dataset(), state.config
    state.reporter.begin("Logistic regression, C sweep", len(cfg.logreg_cs))
    for c in cfg.logreg_cs:
        name, family = f"logreg-C={c:g}", "logistic_regression"
        run_id = _start(state, name, family, {"model": "LogisticRegression", "C": c})
        model = Pipeline(
            [("scale", StandardScaler()), ("logreg", LogisticRegression(C=c, max_iter=1000))]
        )
        model.fit(data.X_train, data.y_train)
        scores = _split_scores(
            data, model.predict_proba(data.X_train)[:, 1], model.predict_proba(data.X_val)[:, 1]
        )
        _log_step(scores, 0)
        _finish(state, run_id, name, family, model)
        state.reporter.advance()


def register_best(state: DemoState) -> None:
    """Register the best run as ``champion`` and the runner-up as ``challenger``."""
    ranked = state.ranked()
    if len(ranked) < 2:
        raise RuntimeError("the demo needs at least two runs to pick a champion and a challenger")
    name = state.config.model_name
    state.reporter.begin(f"Registering {name}", 2)
    for alias, run in (("champion", ranked[0]), ("challenger", ranked[1])):
        version = mloop.register_model(f"runs:/{run.run_id}/model", name)
        number = int(version.version)
        mloop.set_alias(name, alias, number)
        state.registered.append(RegisteredVersion(name, number, alias, run))
        state.reporter.advance()


def verify_champion(state: DemoState) -> None:
    """Load ``models:/<name>@champion`` back and predict a few validation rows."""
    data = state.dataset()
    state.reporter.begin("Loading the champion and predicting", 1)
    # The demo trained these models itself, so it may trust the one type skops does not
    # accept by default (the trees inside the forest and boosting models).
    model = mloop.load_model(
        f"models:/{state.config.model_name}@champion", trusted=list(_DEMO_TRUSTED_TYPES)
    )
    rows = data.X_val.iloc[:5]
    proba = model.predict_proba(rows)[:, 1]
    labels = model.predict(rows)
    state.predictions = [
        {
            "row": int(index),
            "predicted": data.class_names[int(label)],
            "actual": data.class_names[int(actual)],
            "p_benign": float(p),
        }
        for index, label, actual, p in zip(rows.index, labels, data.y_val[:5], proba, strict=True)
    ]
    state.reporter.advance()


def _train_with_mlflow_client(state: DemoState) -> None:
    from mloop.cli.demo_mlflow import train_with_mlflow_client

    train_with_mlflow_client(state)


def _serve_llm(state: DemoState) -> None:
    from mloop.cli.demo_llm import run_llm_step

    run_llm_step(state)


STEPS: tuple[DemoStep, ...] = (
    DemoStep("data", load_data),
    DemoStep("sgd", train_sgd),
    DemoStep("gradient_boosting", train_gradient_boosting),
    DemoStep("random_forest", train_random_forest),
    DemoStep("logistic_regression", train_logistic_regression),
    DemoStep("mlflow_client", _train_with_mlflow_client),
    DemoStep("register", register_best),
    DemoStep("verify", verify_champion),
    DemoStep("llm", _serve_llm),
)


# -- driver -----------------------------------------------------------------------------


def default_home() -> Path:
    """``./mloop-demo-<timestamp>`` in the current directory."""
    return Path.cwd() / time.strftime("mloop-demo-%Y%m%d-%H%M%S")


def prepare_home(home: Path) -> Path:
    """Create ``home``; refuse a path that is a file or a non-empty directory."""
    home = home.expanduser().resolve()
    if home.exists() and (not home.is_dir() or any(home.iterdir())):
        raise ValidationError(
            f"{home} already exists and is not an empty directory; the demo needs a fresh one",
            field="home",
        )
    home.mkdir(parents=True, exist_ok=True)
    return home


def run_demo(
    home: Path,
    reporter: Reporter | None = None,
    config: DemoConfig | None = None,
    steps: tuple[DemoStep, ...] = STEPS,
) -> DemoState:
    """Run ``steps`` against a fresh embedded store in ``home`` and return what they built.

    The SDK's tracking URI points at ``home`` while the steps run and is unset afterwards; a
    step that fails leaves its run marked FAILED.
    """
    state = DemoState(
        home=prepare_home(home),
        config=config or DemoConfig(),
        reporter=reporter or SilentReporter(),
    )
    started = time.perf_counter()
    mloop.set_tracking_uri(state.home)
    try:
        for step in steps:
            step.run(state)
    finally:
        while mloop.active_run() is not None:
            mloop.end_run("FAILED")
        mloop.flush()
        mloop.set_tracking_uri(None)
    state.seconds = time.perf_counter() - started
    return state
