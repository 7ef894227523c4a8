"""What serving may assume about a scikit-learn estimator, decided once when it is loaded.

- :func:`fitted_on_array`: the estimator (and everything in it) is scikit-learn's own and was
  fitted on an array, not a DataFrame, so an array with the signature's columns in order is
  what it expects, and scikit-learn's per-call DataFrame checks (about 0.7 ms) can be
  skipped. Estimators fitted on a DataFrame record ``feature_names_in_`` and may select
  columns by name (a ColumnTransformer): they always get a DataFrame.
- :func:`predicts_argmax_of_proba`: the estimator's ``predict`` is, in scikit-learn's source,
  ``classes_.take(argmax(predict_proba(X)))``, so one ``predict_proba`` call gives both.
  Classifiers whose ``predict`` thresholds a decision function (logistic regression,
  gradient boosting, SVMs) can disagree with that argmax at a tie, so they are not listed;
  ``tests/serving/test_numeric_path.py`` checks each listed class against its own
  ``predict``.
"""

from __future__ import annotations

from typing import Any


def _is_sklearn(obj: Any) -> bool:
    return type(obj).__module__.startswith("sklearn.")


def _parts(estimator: Any) -> list[Any]:
    """The estimator and the estimators among its parameters, deeply (pipeline steps,
    wrapped estimators)."""
    found = [estimator]
    get_params = getattr(estimator, "get_params", None)
    if callable(get_params):
        try:
            params = get_params(deep=True)
        except Exception:  # an estimator whose parameters cannot be read: assume nothing
            return [estimator, object()]
        found.extend(v for v in params.values() if hasattr(v, "fit"))
    return found


def fitted_on_array(estimator: Any, width: int) -> bool:
    """Whether ``estimator`` is scikit-learn's throughout and was fitted on an array of
    ``width`` columns (it has ``n_features_in_`` and no ``feature_names_in_``)."""
    if not all(_is_sklearn(part) for part in _parts(estimator)):
        return False
    try:
        if hasattr(estimator, "feature_names_in_"):
            return False
        return int(estimator.n_features_in_) == width
    except (AttributeError, TypeError, ValueError):
        return False


def _argmax_predicts() -> set[Any]:
    """The ``predict`` functions that are ``classes_.take(argmax(predict_proba(X)))``."""
    from sklearn.calibration import CalibratedClassifierCV
    from sklearn.ensemble import BaggingClassifier, RandomForestClassifier

    # ExtraTreesClassifier inherits RandomForestClassifier's (ForestClassifier.predict).
    return {
        RandomForestClassifier.predict,
        BaggingClassifier.predict,
        CalibratedClassifierCV.predict,
    }


def predicts_argmax_of_proba(estimator: Any) -> bool:
    """Whether ``estimator.predict(X)`` is ``classes_.take(argmax(predict_proba(X)))``
    (for a pipeline: whether its last step's is)."""
    if not _is_sklearn(estimator):
        return False
    from sklearn.pipeline import Pipeline

    if type(estimator) is Pipeline:
        last = estimator.steps[-1][1] if estimator.steps else None
        return last is not None and predicts_argmax_of_proba(last)
    if getattr(type(estimator), "predict", None) not in _argmax_predicts():
        return False
    # Forests with several outputs give a prediction per output.
    return getattr(estimator, "n_outputs_", 1) == 1 and hasattr(estimator, "classes_")
