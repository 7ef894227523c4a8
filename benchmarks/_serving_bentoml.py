"""BentoML's side of ``benchmarks/serving.py`` (run with ``benchmarks/.venvs/bentoml``).

    python _serving_bentoml.py DATA.json MODEL.joblib     # fit and save the model
    bentoml serve _serving_bentoml:Classifier --working-dir benchmarks \
        --arg model=MODEL.joblib --arg workers=1 [--arg batchable=true]

The service is BentoML 1.4's own way of serving a scikit-learn model: a class with an
``@bentoml.api`` method taking rows as JSON (``{"rows": [[f0, ..., f7]]}``) and returning
the predictions. ``bentoml serve`` has no workers flag, so the number of worker processes
comes from ``--arg workers=N`` into ``@bentoml.service(workers=N)``. ``batchable=true``
serves the same method with BentoML's adaptive batching instead.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import joblib
import numpy as np


def prepare(data_path: str, model_path: str) -> dict[str, Any]:
    import sklearn
    from sklearn.linear_model import LogisticRegression

    data = json.loads(Path(data_path).read_text())
    # Fitted on plain arrays: rows arrive as arrays, and a model fitted on a DataFrame would
    # warn about missing feature names on every request.
    model = LogisticRegression(max_iter=1000).fit(np.asarray(data["X"]), data["y"])
    joblib.dump(model, model_path)
    return {"sklearn": sklearn.__version__}


if __name__ == "__main__":
    print(json.dumps(prepare(sys.argv[1], sys.argv[2])))
    raise SystemExit(0)

import bentoml  # noqa: E402  (the service; not needed to prepare the model)
from pydantic import BaseModel  # noqa: E402


class ServiceArgs(BaseModel):
    model: str
    workers: int = 1
    batchable: bool = False


args = bentoml.use_arguments(ServiceArgs)


@bentoml.service(workers=args.workers, traffic={"timeout": 60})
class Classifier:
    def __init__(self) -> None:
        self.model = joblib.load(args.model)

    if args.batchable:
        # BentoML's default latency budget: a tight one answers 503 to what cannot meet it.
        @bentoml.api(batchable=True, max_batch_size=64)
        def predict(self, rows: np.ndarray) -> np.ndarray:
            return self.model.predict(rows)

    else:

        @bentoml.api
        def predict(self, rows: list[list[float]]) -> dict[str, list[int]]:
            return {"predictions": self.model.predict(np.asarray(rows)).tolist()}
