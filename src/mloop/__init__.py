"""mloop: the whole MLOps and LLMOps loop in one install.

``import mloop`` gives the SDK in MLflow's style::

    import mloop
    mloop.set_experiment("churn")
    with mloop.start_run():
        mloop.log_param("model", "lgbm")
        mloop.log_metric("auc", 0.91, step=1)
"""

from mloop.client import *  # noqa: F403
from mloop.client import __all__ as _client_all

__version__ = "0.1.0"
__all__ = [*_client_all, "__version__"]
