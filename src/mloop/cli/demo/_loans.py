"""The loan-approval scenario the monitoring and review steps share: the endpoint, model and
dataset names, simulated applications and whether each applicant repays."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

ENDPOINT = "loan-approval"
MODEL = "demo-loans"
DATASET = "loan-applications"
FEATURES = ["income", "debt_ratio", "age"]


def applications(rng: np.random.Generator, n: int, *, shock: bool = False) -> pd.DataFrame:
    """``n`` loan applications; with ``shock``, incomes in the south are 40% lower."""
    import numpy as np
    import pandas as pd

    region = rng.choice(["north", "south", "east"], size=n, p=[0.4, 0.35, 0.25])
    income = rng.lognormal(mean=np.log(52_000), sigma=0.35, size=n)
    if shock:
        income = np.where(region == "south", income * 0.6, income)
    return pd.DataFrame(
        {
            "income": income.round(0),
            "debt_ratio": rng.beta(2, 5, size=n).round(3),
            "age": rng.integers(21, 70, size=n).astype(float),
            "region": region,
        }
    )


def repaid(rng: np.random.Generator, frame: pd.DataFrame) -> np.ndarray:
    """Whether each applicant repays: more likely with income, less with debt."""

    score = (frame["income"] - 50_000) / 12_000 - 4 * (frame["debt_ratio"] - 0.3)
    return (score + rng.normal(0, 0.6, len(frame)) > 0).to_numpy().astype(int)
