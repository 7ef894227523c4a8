"""The loan-approval scenario the monitoring, review and continuous-training steps share: the
endpoint, model and dataset names, the monitor's hours, simulated applications and whether
each applicant repays."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

ENDPOINT = "loan-approval"
MODEL = "demo-loans"
DATASET = "loan-applications"
FEATURES = ["income", "debt_ratio", "age"]
MONITOR = "loan-approval-hourly"
HOUR_MS = 3_600_000


@dataclass
class MonitorHours:
    """The start of the monitor's first simulated hour; the monitoring step fills six hours
    from it and leaves the seventh, which ends before now, to the continuous-training step."""

    start: int


def applications(
    rng: np.random.Generator, n: int, *, shock: bool = False, rates_up: bool = False
) -> pd.DataFrame:
    """``n`` loan applications; with ``shock``, incomes in the south are 40% lower; with
    ``rates_up``, debt ratios are half as high again."""
    import numpy as np
    import pandas as pd

    region = rng.choice(["north", "south", "east"], size=n, p=[0.4, 0.35, 0.25])
    income = rng.lognormal(mean=np.log(52_000), sigma=0.35, size=n)
    if shock:
        income = np.where(region == "south", income * 0.6, income)
    debt = rng.beta(2, 5, size=n)
    if rates_up:
        debt = (debt * 1.5).clip(0, 1)
    return pd.DataFrame(
        {
            "income": income.round(0),
            "debt_ratio": debt.round(3),
            "age": rng.integers(21, 70, size=n).astype(float),
            "region": region,
        }
    )


def repaid(rng: np.random.Generator, frame: pd.DataFrame, *, rates_up: bool = False) -> np.ndarray:
    """Whether each applicant repays: more likely with income, less with debt; once rates
    are up, debt weighs three times as much."""
    weight = 12 if rates_up else 4
    score = (frame["income"] - 50_000) / 12_000 - weight * (frame["debt_ratio"] - 0.3)
    return (score + rng.normal(0, 0.6, len(frame)) > 0).to_numpy().astype(int)
