"""The loan model's retraining pipeline, which the continuous-training step's deployment
policy runs when the drift alert fires.

It is an ordinary mloop pipeline: one step reads the datasets it is given (by default the
freshest labelled traffic and the reviewed cases), one fits and registers the candidate, and
the pipeline returns the candidate's URI, which the policy then gates against the champion.
It lives in its own module so the pipeline's worker processes can import it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from mloop.cli.demo._loans import FEATURES, MODEL
from mloop.pipelines import pipeline, step

if TYPE_CHECKING:
    import pandas as pd

LABEL = "repaid"


@step(cache=False)
def training_rows(datasets: list[str]) -> pd.DataFrame:
    """The rows of ``datasets`` (``name/version`` or ``name``) with the model's inputs and a
    ``repaid`` column; the review labels' ``label`` column counts as ``repaid``."""
    import pandas as pd

    import mloop

    frames = []
    for ref in datasets:
        frame = mloop.get_dataset(ref).to_pandas()
        if LABEL not in frame.columns:
            frame = frame.assign(**{LABEL: frame["label"]})
        frames.append(frame[[*FEATURES, LABEL]].astype({LABEL: "int64"}))
    return pd.concat(frames, ignore_index=True)


@step(cache=False)
def fit(rows: pd.DataFrame) -> str:
    """A logistic regression on ``rows``, logged on the pipeline's run and registered; its
    model URI."""
    from sklearn.linear_model import LogisticRegression

    import mloop
    import mloop.sklearn

    model = LogisticRegression(max_iter=1000).fit(rows[FEATURES], rows[LABEL])
    mloop.log_param("training_rows", len(rows))
    info = mloop.sklearn.log_model(
        model, registered_model_name=MODEL, input_example=rows[FEATURES].iloc[:3]
    )
    if info.registered_model_version is None:
        raise RuntimeError(f"the model was logged but not registered as {MODEL}")
    return f"models:/{MODEL}/{info.registered_model_version.version}"


@pipeline
def retrain(datasets: list[str]) -> str:
    """Train the loan model on ``datasets`` and register it: the candidate's URI."""
    return fit(training_rows(datasets))
