"""MLflow's side of ``benchmarks/serving.py`` (run with ``benchmarks/.venvs/mlflow``).

    python _serving_mlflow.py DATA.json MODEL_DIR

Fits the benchmark's model from the shared data and saves it as an MLflow model (signature
and input example from the data) for ``mlflow models serve -m MODEL_DIR --env-manager local``.
Prints one JSON object on stdout.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import mlflow
import pandas as pd
import sklearn
from sklearn.linear_model import LogisticRegression


def main() -> None:
    data_path, model_dir = sys.argv[1], sys.argv[2]
    data = json.loads(Path(data_path).read_text())
    frame = pd.DataFrame(data["X"], columns=data["columns"])
    model = LogisticRegression(max_iter=1000).fit(frame, data["y"])
    mlflow.sklearn.save_model(model, model_dir, input_example=frame[:5])
    print(json.dumps({"mlflow": mlflow.__version__, "sklearn": sklearn.__version__}))


if __name__ == "__main__":
    main()
