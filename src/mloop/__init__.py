"""mloop: the whole MLOps and LLMOps loop in one install.

``import mloop`` gives the SDK in MLflow's style::

    import mloop
    mloop.set_experiment("churn")
    with mloop.start_run():
        mloop.log_param("model", "lgbm")
        mloop.log_metric("auc", 0.91, step=1)
"""

from typing import Any

from mloop.client import *  # noqa: F403
from mloop.client import __all__ as _client_all

__version__ = "0.1.0"
__all__ = [*_client_all, "__version__"]

# Flavor modules load on first use (``mloop.sklearn.log_model``), as in MLflow, so that
# ``import mloop`` stays fast and does not need scikit-learn.
_LAZY_SUBMODULES = frozenset({"sklearn", "pyfunc"})


def __getattr__(name: str) -> Any:
    if name in _LAZY_SUBMODULES:
        import importlib

        return importlib.import_module(f"mloop.{name}")
    raise AttributeError(f"module 'mloop' has no attribute {name!r}")
