"""Importable helpers of the monitoring tests: an endpoint's log written at chosen times."""

from __future__ import annotations

from typing import Any

import pandas as pd

from mloop.store.eventlog.inference import InferenceLog, InferenceRecord
from mloop.store.runtime import Runtime

HOUR = 3_600_000
T0 = 1_780_000_000_000 - 1_780_000_000_000 % HOUR  # on the hour


def log_hour(
    runtime: Runtime,
    model: Any,
    hour: int,
    frame: pd.DataFrame,
    features: list[str],
    *,
    endpoint: str = "credit-api",
) -> list[str]:
    """One logged request per row of ``frame`` (a classifier's answer with its class
    probabilities), a second apart from the start of hour ``hour`` after T0; the ids."""
    log = InferenceLog(runtime, flush_seconds=3600)
    proba = model.predict_proba(frame[features])
    ids = []
    for i, row in enumerate(frame.to_dict(orient="records")):
        request_id = f"h{hour}-{i}"
        ids.append(request_id)
        log.record(
            InferenceRecord(
                request_id=request_id,
                endpoint=endpoint,
                variant="stable",
                model_name="credit",
                model_version=1,
                inputs=[row],
                outputs={
                    "predictions": [int(proba[i].argmax())],
                    "probabilities": [proba[i].tolist()],
                    "classes": [0, 1],
                },
                confidence=float(proba[i].max()),
                latency_ms=2.0,
                time=T0 + hour * HOUR + i * 1000,
            )
        )
    log.close()
    return ids
