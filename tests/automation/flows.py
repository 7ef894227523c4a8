"""A pipeline the automation tests start from a trigger."""

from mloop.pipelines import pipeline, step


@step
def fit(model: str) -> str:
    return f"trained {model}"


@pipeline
def retrain(model: str = "churn") -> str:
    return fit(model)
