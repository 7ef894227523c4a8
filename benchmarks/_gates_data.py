"""The data both sides of ``benchmarks/gates.py`` use: the same rows from the same seed.

Imports only numpy and pandas, so it runs in mloop's venv and in MLflow's.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

FEATURES = ["income", "debt", "tenure", "noise"]


def make_frame(rows: int, seed: int) -> pd.DataFrame:
    """A binary credit-default table: three informative features and a noise column."""
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame({name: rng.normal(size=rows) for name in FEATURES})
    logit = 1.5 * frame["debt"] - 1.2 * frame["income"] - 0.4 * frame["tenure"]
    frame["default"] = (rng.random(rows) < 1 / (1 + np.exp(-logit))).astype(np.int64)
    return frame


# The champion sees two of the three informative features, the candidate all three.
CHAMPION_FEATURES = ["income", "debt"]
CANDIDATE_FEATURES = ["income", "debt", "tenure"]
