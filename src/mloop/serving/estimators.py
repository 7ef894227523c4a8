"""What serving may assume about a scikit-learn estimator, decided once when it is loaded.

- :func:`takes_array`: the estimator (and everything in it) is scikit-learn's own and
  either was fitted on an array, or was fitted on a DataFrame whose columns are the
  signature's, in its order, and nothing in it selects or transforms columns by name. Then an
  array with the signature's columns in order gives what the DataFrame gives, and
  scikit-learn's per-call DataFrame checks (about 0.5 ms, most of a small model's time) are
  skipped. A ColumnTransformer or FunctionTransformer anywhere, or pandas/polars output
  configured, and the estimator gets a DataFrame.
- :func:`predicts_argmax_of_proba`: the estimator's ``predict`` is, in scikit-learn's source,
  ``classes_.take(argmax(predict_proba(X)))``, so one ``predict_proba`` call gives both.
  Classifiers whose ``predict`` thresholds a decision function (logistic regression,
  gradient boosting, SVMs) can disagree with that argmax at a tie, so they are not listed;
  ``tests/serving/test_numeric_path.py`` checks each listed class against its own
  ``predict``. LightGBM's ``LGBMClassifier`` is one too (its predict is
  ``_le.inverse_transform(argmax(predict_proba(X)))``, the same labels) unless trained with
  an objective function; ``tests/serving/test_boosted_serving.py`` checks it.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Sequence
from typing import Any

# Parts that may select or compute columns by name, or hand user code what they get.
_BY_NAME = frozenset({"ColumnTransformer", "FunctionTransformer"})
# scikit-learn warns on every call when an estimator fitted with feature names gets an array.
# Serving checked the columns' names and order against those names before making the array.
_FEATURE_NAMES_WARNING = re.escape("X does not have valid feature names, but ")


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


def takes_array(estimator: Any, names: Sequence[str]) -> bool:
    """Whether an array with columns ``names`` (in order) gives ``estimator`` what a
    DataFrame of them gives: :func:`fitted_on_array`, or fitted on a DataFrame of exactly
    these columns with no part that works by column name and no DataFrame output set."""
    if fitted_on_array(estimator, len(names)):
        return True
    parts = _parts(estimator)
    if not all(_is_sklearn(part) for part in parts):
        return False
    if any(type(part).__name__ in _BY_NAME for part in parts):
        return False
    if any(_dataframe_output(part) for part in parts) or _dataframe_output(None):
        return False
    try:
        fitted_names = [str(name) for name in estimator.feature_names_in_]
    except (AttributeError, TypeError):
        return False
    if fitted_names != list(names):
        return False
    _ignore_feature_names_warning()
    return True


def _dataframe_output(part: Any) -> bool:
    """Whether ``part`` (None: the global setting) is set to transform into DataFrames."""
    if part is None:
        from sklearn import get_config

        return get_config().get("transform_output", "default") != "default"
    config = getattr(part, "_sklearn_output_config", None) or {}
    return config.get("transform", "default") != "default"


def _ignore_feature_names_warning() -> None:
    """Silence, process-wide, scikit-learn's warning that an estimator fitted with feature
    names got an array. A filter per call (``catch_warnings``) would be cheaper to reason
    about but is not thread-safe, and predictions run in several threads."""
    warnings.filterwarnings(
        "ignore",
        message=_FEATURE_NAMES_WARNING,
        category=UserWarning,
        module=r"sklearn\.",
    )


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
    if _is_lightgbm_classifier(estimator):
        return not callable(estimator.objective) and not callable(
            getattr(estimator, "_objective", None)
        )
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


def _is_lightgbm_classifier(estimator: Any) -> bool:
    """Whether ``estimator`` is LightGBM's LGBMClassifier itself (not a subclass)."""
    if type(estimator).__module__ != "lightgbm.sklearn":
        return False
    from lightgbm import LGBMClassifier

    return type(estimator) is LGBMClassifier
