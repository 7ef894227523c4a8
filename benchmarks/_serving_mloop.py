"""mloop's side of ``benchmarks/serving.py`` (project venv; ``MLOOP_HOME`` names the store).

    python _serving_mloop.py prepare DATA.json      # fit, log, register, endpoint, deploy
    python _serving_mloop.py count WINDOWS.json     # inference log records per time window
    python _serving_mloop.py append N               # InferenceLog.record rate, end to end

Each prints one JSON object on stdout.
"""

from __future__ import annotations

import json
import sys
import time
import uuid
from pathlib import Path
from typing import Any

ENDPOINT = "bench"
MODEL = "bench-classifier"


def _fit(data_path: str) -> tuple[Any, Any]:
    import pandas as pd
    from sklearn.linear_model import LogisticRegression

    data = json.loads(Path(data_path).read_text())
    frame = pd.DataFrame(data["X"], columns=data["columns"])
    return LogisticRegression(max_iter=1000).fit(frame, data["y"]), frame


def prepare(data_path: str) -> dict[str, Any]:
    """The model fitted from the shared data, registered and deployed to ``ENDPOINT``."""
    import sklearn

    import mloop

    model, frame = _fit(data_path)
    with mloop.start_run():
        info = mloop.sklearn.log_model(model, "model", input_example=frame[:5])
    version = mloop.register_model(info.model_uri, MODEL)
    client = mloop.Client()
    client.call("create_endpoint", name=ENDPOINT, description="serving benchmark")
    live = client.call(
        "deploy",
        endpoint=ENDPOINT,
        variants=[{"model": MODEL, "version": version.version}],
        reason="benchmark",
    )
    return {
        "endpoint": ENDPOINT,
        "model": MODEL,
        "version": version.version,
        "deployment": live.id,
        "sklearn": sklearn.__version__,
    }


def _log() -> Any:
    from mloop.core.config import get_settings
    from mloop.store.eventlog import InferenceLog
    from mloop.store.runtime import open_runtime

    return InferenceLog(open_runtime(get_settings()))


def count(windows_path: str) -> dict[str, Any]:
    """Records of ``ENDPOINT`` in the log: in all, by status, and inside each window
    ``[start_ms, end_ms]`` (one per timed measurement)."""
    import pyarrow.compute as pc

    windows = json.loads(Path(windows_path).read_text())
    table = _log().read(endpoints=[ENDPOINT], columns=["request_id", "time", "status"])
    times = table.column("time")
    statuses = table.column("status").to_pylist()
    in_windows = []
    for start, end in windows:
        inside = pc.and_(pc.greater_equal(times, start), pc.less_equal(times, end))
        in_windows.append(int(pc.sum(pc.cast(inside, "int64")).as_py() or 0))
    return {
        "records": table.num_rows,
        "distinct_request_ids": len(set(table.column("request_id").to_pylist())),
        "by_status": {s: statuses.count(s) for s in sorted(set(statuses))},
        "in_windows": in_windows,
    }


def append(n: int) -> dict[str, Any]:
    """``n`` records shaped like the benchmark's (one row of 8 features in ``dataframe_split``,
    a prediction and its probabilities) through ``InferenceLog.record`` as fast as it takes
    them; then until the last is in an indexed segment."""
    log = _log()
    inputs = {"columns": [f"f{i}" for i in range(8)], "data": [[0.123456789] * 8]}
    outputs = {"predictions": [1], "probabilities": [[0.2, 0.8]]}
    from mloop.store.eventlog import InferenceRecord

    records = [
        InferenceRecord(
            request_id=uuid.uuid4().hex,
            endpoint="append-rate",
            variant="stable",
            model_name=MODEL,
            model_version=1,
            inputs=inputs,
            outputs=outputs,
            confidence=0.8,
            latency_ms=1.5,
        )
        for _ in range(n)
    ]
    started = time.perf_counter()
    accepted = sum(1 for record in records if log.record(record))
    queued = time.perf_counter() - started
    log.flush()
    stored = time.perf_counter() - started
    stats = log.stats
    log.close()
    return {
        "records": n,
        "accepted": accepted,
        "record_per_s": n / queued,
        "end_to_end_per_s": n / stored,
        "written": stats.written,
        "dropped": stats.dropped,
        "segments": stats.segments,
    }


def main() -> None:
    command, argument = sys.argv[1], sys.argv[2]
    if command == "prepare":
        out = prepare(argument)
    elif command == "count":
        out = count(argument)
    elif command == "append":
        out = append(int(argument))
    else:
        raise SystemExit(f"unknown command {command!r}: use prepare, count or append")
    print(json.dumps(out))


if __name__ == "__main__":
    main()
