"""Steps and pipelines the pipeline tests run (module level, so worker processes import
them by reference)."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from mloop.pipelines import pipeline, step


@step
def double(x: int) -> int:
    print(f"doubling {x}")
    return 2 * x


@step(cache=False)
def add(a: int, b: int) -> int:
    return a + b


@pipeline
def fan(x: int = 1, n: int = 3) -> dict[str, Any]:
    parts = [double(x + i) for i in range(n)]
    total = parts[0]
    for part in parts[1:]:
        total = add(total, part)
    return {"total": total, "first": parts[0]}


@step
def as_array(n: int) -> np.ndarray:
    return np.arange(n, dtype=np.float64)


@step
def as_frame(n: int) -> pd.DataFrame:
    return pd.DataFrame({"a": range(n), "b": [f"r{i}" for i in range(n)]})


@step
def summed(array: np.ndarray, frame: pd.DataFrame) -> float:
    return float(array.sum() + frame["a"].sum())


@pipeline
def tables(n: int = 4) -> float:
    return summed(as_array(n), as_frame(n))


class Opaque:
    def __init__(self, value: int) -> None:
        self.value = value


@step
def opaque(value: int) -> Opaque:
    return Opaque(value)


@step(cache="trusted")
def trusted_opaque(value: int) -> Opaque:
    return Opaque(value)


@step
def value_of(item: Opaque) -> int:
    return item.value


@pipeline
def objects(value: int = 7) -> list[Any]:
    return [value_of(opaque(value)), value_of(trusted_opaque(value))]


def _attempt(marker: str) -> int:
    path = Path(marker)
    count = int(path.read_text()) + 1 if path.exists() else 1
    path.write_text(str(count))
    return count


@step(retries=2, cache=False)
def flaky(marker: str) -> int:
    attempt = _attempt(marker)
    if attempt < 2:
        raise RuntimeError(f"attempt {attempt} fails")
    return attempt


@pipeline
def retrying(marker: str) -> int:
    return flaky(marker)


@step(timeout_s=1.5, retries=1, cache=False)
def sleepy(pidfile: str) -> None:
    with open(pidfile, "a") as f:
        f.write(f"{os.getpid()}\n")
    time.sleep(120)


@pipeline
def sleeping(pidfile: str) -> None:
    sleepy(pidfile)


@step(cache=False)
def boom(x: int) -> int:
    print("about to fail")
    raise RuntimeError(f"boom {x}")


@pipeline
def failing(x: int = 1) -> int:
    return add(boom(x), double(x))


@step
def train(dataset: str, model: str) -> str:
    from sklearn.linear_model import LogisticRegression

    import mloop.sklearn

    frame = mloop.get_dataset(dataset).to_pandas()
    classifier = LogisticRegression().fit(frame[["x"]], frame["y"])
    mloop.log_metric("accuracy", float(classifier.score(frame[["x"]], frame["y"])))
    mloop.sklearn.log_model(classifier, "model")
    run = mloop.active_run()
    assert run is not None
    version = mloop.register_model(f"runs:/{run.info.run_id}/model", model)
    return f"models:/{model}/{version.version}"


@pipeline
def training(dataset: str, model: str = "credit") -> str:
    return train(dataset, model)


@pipeline
def branching(x: int = 1) -> int:
    doubled = double(x)
    if doubled:  # not allowed: the value is not known while tracing
        return doubled
    return add(doubled, 1)


@step(cache=False)
def loaded_modules(names: list[str]) -> list[bool]:
    """Whether each module is imported in the worker running this (importing none)."""
    import sys

    return [name in sys.modules for name in names]


@pipeline
def preloaded(names: list[str]) -> list[bool]:
    return loaded_modules(names)
