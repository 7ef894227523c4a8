"""MLflow half of ``benchmarks/tracking.py``.

Runs inside ``benchmarks/.venvs/mlflow`` (see ``requirements-mlflow.txt``) against an MLflow
tracking server that ``tracking.py`` started, measures the workloads and prints one JSON object to
stdout. Progress and MLflow's own chatter go to stderr. Not meant to be run by hand, but it can be:

    benchmarks/.venvs/mlflow/bin/python benchmarks/_mlflow_side.py --uri http://127.0.0.1:5000 \\
        --calls 200 --batch-metrics 10000 --runs 20 --search-data runs.json --lookups 50
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
import traceback
import uuid
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import Any, TextIO

import mlflow
import mlflow.sklearn
from mlflow import MlflowClient
from mlflow.entities import Metric, Param
from mlflow.store.tracking.dbmodels.models import (
    SqlLatestMetric,
    SqlMetric,
    SqlParam,
    SqlRun,
    SqlTag,
)
from mlflow.store.tracking.sqlalchemy_store import SqlAlchemyStore

BATCH_CHUNK = 1000  # the MLflow server's limit on metrics per log_batch request
BATCH_KEYS = 10
SETUP_THREADS = 4
SEARCH_FILTER = "metrics.auc > 0.8 and params.model = 'lgbm' and tags.team = 'risk'"
SEARCH_ORDER = ["metrics.auc DESC"]
SEARCH_MAX_RESULTS = 1000
BASE_TS_MS = 1_700_000_000_000
ALIAS_MODEL = "bench-model"
ALIAS = "champion"


def log(message: str) -> None:
    print(f"[mlflow] {message}", file=sys.stderr, flush=True)


def percentile(samples: Sequence[float], q: float) -> float:
    """Nearest-rank percentile, q in [0, 100]."""
    ordered = sorted(samples)
    rank = max(1, min(len(ordered), round(q / 100 * len(ordered) + 0.5)))
    return ordered[rank - 1]


def time_calls(fn: Callable[[], Any], repeats: int) -> list[float]:
    """Milliseconds taken by each of ``repeats`` calls of ``fn``."""
    samples = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - t0) * 1000)
    return samples


def bench_logging(experiment_id: str, calls: int, synchronous: bool) -> float:
    """Calls per second for ``calls`` single-metric ``log_metric`` calls into one run."""
    with mlflow.start_run(experiment_id=experiment_id):
        t0 = time.perf_counter()
        for i in range(calls):
            mlflow.log_metric("loss", 1.0 / (i + 1), step=i, synchronous=synchronous)
        if not synchronous:
            mlflow.flush_async_logging()
        elapsed = time.perf_counter() - t0
    return calls / elapsed


def batch_metrics(total: int) -> list[Metric]:
    steps = total // BATCH_KEYS
    return [
        Metric(f"m{k}", float(step * BATCH_KEYS + k), BASE_TS_MS + step, step)
        for step in range(steps)
        for k in range(BATCH_KEYS)
    ]


def bench_batch(client: MlflowClient, experiment_id: str, total: int) -> float:
    """Metrics per second for ``total`` metrics sent with log_batch in chunks of 1000."""
    metrics = batch_metrics(total)
    run_id = client.create_run(experiment_id).info.run_id
    t0 = time.perf_counter()
    for start in range(0, len(metrics), BATCH_CHUNK):
        client.log_batch(run_id, metrics=metrics[start : start + BATCH_CHUNK])
    elapsed = time.perf_counter() - t0
    client.set_terminated(run_id)
    return len(metrics) / elapsed


def bench_runs(experiment_id: str, runs: int) -> float:
    """Runs per second for start run, log 10 params, log 10 metrics, end run."""
    params = {f"p{i}": f"value-{i}" for i in range(10)}
    metrics = {f"m{i}": float(i) for i in range(10)}
    t0 = time.perf_counter()
    for _ in range(runs):
        mlflow.start_run(experiment_id=experiment_id)
        mlflow.log_params(params)
        mlflow.log_metrics(metrics)
        mlflow.end_run()
    return runs / (time.perf_counter() - t0)


def create_search_run(client: MlflowClient, experiment_id: str, row: dict[str, Any]) -> None:
    run_id = client.create_run(experiment_id, tags={"team": row["team"]}).info.run_id
    client.log_batch(
        run_id,
        metrics=[Metric("auc", row["auc"], BASE_TS_MS, 0)],
        params=[Param("model", row["model"])],
    )


def populate_via_rest(client: MlflowClient, experiment_id: str, rows: list[dict[str, Any]]) -> None:
    """create_run + log_batch per row through the server, with a few threads."""
    t0 = time.perf_counter()
    with ThreadPoolExecutor(SETUP_THREADS) as pool:
        for done, _ in enumerate(
            pool.map(lambda row: create_search_run(client, experiment_id, row), rows), 1
        ):
            if done % 1000 == 0:
                log(f"search setup: {done}/{len(rows)} runs ({time.perf_counter() - t0:.0f} s)")


def sql_run(experiment_id: str, artifact_root: str, row: dict[str, Any]) -> list[Any]:
    """The rows MLflow's SqlAlchemyStore writes for create_run + log_batch of one search run."""
    run_id = uuid.uuid4().hex
    name = f"search-{run_id[:8]}"
    run = SqlRun(
        run_uuid=run_id,
        name=name,
        artifact_uri=f"{artifact_root}/{run_id}/artifacts",
        experiment_id=int(experiment_id),
        source_type="UNKNOWN",
        source_name="",
        entry_point_name="",
        user_id="bench",
        status="RUNNING",
        start_time=BASE_TS_MS,
        source_version="",
        lifecycle_stage="active",
    )
    run.tags = [SqlTag(key="team", value=row["team"]), SqlTag(key="mlflow.runName", value=name)]
    metric = {"key": "auc", "value": row["auc"], "timestamp": BASE_TS_MS, "step": 0}
    return [
        run,
        SqlParam(run_uuid=run_id, key="model", value=row["model"]),
        SqlMetric(run_uuid=run_id, is_nan=False, **metric),
        SqlLatestMetric(run_uuid=run_id, is_nan=False, **metric),
    ]


def populate_via_db(
    client: MlflowClient, backend_uri: str, experiment_id: str, rows: list[dict[str, Any]]
) -> None:
    """Insert the same rows that create_run + log_batch would, in one transaction, through
    MLflow's own SQLAlchemy models: 10,000 runs through the REST API take about 5 minutes."""
    artifact_root = client.get_experiment(experiment_id).artifact_location
    store = SqlAlchemyStore(backend_uri, artifact_root)
    with store.ManagedSessionMaker(read_only=False) as session:
        for row in rows:
            session.add_all(sql_run(experiment_id, artifact_root, row))
    store.engine.dispose()


def populate_search(
    client: MlflowClient, backend_uri: str | None, experiment_id: str, rows: list[dict[str, Any]]
) -> float:
    """Create one run per row (untimed setup); return the seconds it took."""
    t0 = time.perf_counter()
    if backend_uri:
        populate_via_db(client, backend_uri, experiment_id, rows)
    else:
        populate_via_rest(client, experiment_id, rows)
    return time.perf_counter() - t0


def bench_search(
    client: MlflowClient, backend_uri: str | None, rows: list[dict[str, Any]], repeats: int
) -> dict[str, Any]:
    experiment_id = client.create_experiment("bench-search")
    setup_s = populate_search(client, backend_uri, experiment_id, rows)

    def search() -> int:
        found = client.search_runs(
            [experiment_id],
            filter_string=SEARCH_FILTER,
            order_by=SEARCH_ORDER,
            max_results=SEARCH_MAX_RESULTS,
        )
        return len(found)

    matches = search()  # warm-up, and the number of matches to compare with mloop
    samples = time_calls(search, repeats)
    return {
        "runs": len(rows),
        "setup": "database" if backend_uri else "rest",
        "setup_s": setup_s,
        "matches": matches,
        "median_ms": statistics.median(samples),
        "samples_ms": samples,
    }


def bench_alias(client: MlflowClient, experiment_id: str, lookups: int) -> dict[str, Any]:
    """Log a tiny model (not timed), register it, point an alias at it, then time lookups."""
    from sklearn.linear_model import LogisticRegression

    name = ALIAS_MODEL
    model = LogisticRegression().fit([[0.0], [1.0], [2.0], [3.0]], [0, 0, 1, 1])
    with mlflow.start_run(experiment_id=experiment_id) as run:
        mlflow.sklearn.log_model(model, name="model")
    version = mlflow.register_model(f"runs:/{run.info.run_id}/model", name)
    client.set_registered_model_alias(name, ALIAS, version.version)
    client.get_model_version_by_alias(name, ALIAS)  # warm-up
    samples = time_calls(lambda: client.get_model_version_by_alias(name, ALIAS), lookups)
    return {
        "lookups": lookups,
        "median_ms": statistics.median(samples),
        "p99_ms": percentile(samples, 99),
    }


def bench_script(client: MlflowClient, experiment_id: str, runs: int, steps: int) -> float:
    """Seconds for a typical training script: per run, params, tags, a metric pair per step,
    a config artifact and a final score; then the best run is found and its curve read."""
    t0 = time.perf_counter()
    for r in range(runs):
        with mlflow.start_run(experiment_id=experiment_id, run_name=f"trial-{r}"):
            mlflow.log_params({f"p{i}": f"{r}-{i}" for i in range(10)})
            mlflow.set_tags({"team": "risk", "stage": "tuning"})
            for step in range(steps):
                mlflow.log_metrics({"loss": 1.0 / (step + 1), "accuracy": step / steps}, step=step)
            mlflow.log_dict({"trial": r, "layers": [64, 32]}, "config.json")
            mlflow.log_metric("val_auc", (r * 7919 % runs) / runs)
    best = client.search_runs([experiment_id], order_by=["metrics.val_auc DESC"], max_results=1)
    client.get_metric_history(best[0].info.run_id, "loss")
    return time.perf_counter() - t0


_STUB_SERVER = r"""
import json, sys, threading, urllib.error, urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
# Forwards to the real server and records its answers until told to replay; then answers
# each call at once with the bytes recorded for its method and path.
upstream = sys.argv[2]
answers = {}
calls = {"record": [], "replay": []}
state = {"mode": "record"}
lock = threading.Lock()
class Stub(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # else headers and body as two packets meet delayed ACKs
    def _answer(self, status, body):
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def _handle(self):
        raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        path = self.path.split("?", 1)[0]
        if path.startswith("/__stub__/"):
            if path == "/__stub__/record":  # start over
                state["mode"] = "record"
                answers.clear()
                calls["record"].clear()
            elif path == "/__stub__/replay":
                state["mode"] = "replay"
            if path != "/__stub__/calls":
                calls["replay"].clear()
            return self._answer(200, json.dumps(calls).encode())
        key = (self.command, path)
        if state["mode"] == "replay":
            found = answers.get(key)
            if found is None:  # a call the recording pass did not make
                found = (599, b'{"error_code": "NOT_RECORDED"}')
            calls["replay"].append(f"{self.command} {path} {len(found[1])}")
            return self._answer(*found)
        request = urllib.request.Request(
            upstream + self.path, data=raw if self.command != "GET" else None,
            method=self.command,
            headers={"Content-Type": self.headers.get("Content-Type") or "application/json"},
        )
        try:
            with urllib.request.urlopen(request, timeout=300) as response:
                found = (response.status, response.read())
        except urllib.error.HTTPError as exc:
            found = (exc.code, exc.read())
        with lock:
            answers[key] = found
            calls["record"].append(f"{self.command} {path} {len(found[1])}")
        self._answer(*found)
    do_GET = do_POST = do_PATCH = do_DELETE = _handle
    def log_message(self, *args):
        pass
ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), Stub).serve_forever()
"""


@contextmanager
def stub_server(upstream: str) -> Iterator[str]:
    """A stub server in its own process (see ``_STUB_SERVER``) in front of ``upstream``."""
    import socket
    import subprocess

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    stub = subprocess.Popen([sys.executable, "-c", _STUB_SERVER, str(port), upstream])
    stub_uri = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                stub_control(stub_uri, "calls")
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
        yield stub_uri
    finally:
        stub.terminate()
        stub.wait(10)


def stub_control(stub_uri: str, command: str) -> dict[str, list[str]]:
    """Tell the stub to ``record`` or ``replay``, or read its ``calls``; the calls it saw
    (``METHOD path answer-bytes``) in each mode since the last switch come back."""
    import requests

    answer = requests.post(f"{stub_uri}/__stub__/{command}", timeout=10)
    answer.raise_for_status()
    return dict(answer.json())


FLOOR_ROUNDS = 5


def floor_of(
    stub_uri: str, work: Callable[[str], Any], repeats: int, *, mean: bool, uri: str
) -> dict[str, Any]:
    """The client alone against the client on the real server, for ``work(target)`` (client
    calls to ``target``, a server's URL).

    ``work`` runs once through the stub while it records the real server's answers, once more
    as a warm-up against its replay (which must see the same calls, or the floor is refused),
    then ``repeats`` times against the replay and as many against the real server, in
    alternating rounds so that both figures see the same machine. The mean when the real
    figure is a rate, else the median."""
    stub_control(stub_uri, "record")
    work(stub_uri)
    recorded = stub_control(stub_uri, "replay")["record"]
    work(stub_uri)
    replayed = stub_control(stub_uri, "calls")["replay"]
    if replayed != recorded:
        raise RuntimeError(f"the replay saw other calls than the recording: {replayed}")
    work(uri)  # warm-up of the real server's path
    alone: list[float] = []
    server: list[float] = []
    per_round = max(1, repeats // FLOOR_ROUNDS)
    for _ in range(FLOOR_ROUNDS):
        server.extend(time_calls(lambda: work(uri), per_round))
        alone.extend(time_calls(lambda: work(stub_uri), per_round))
    summary = statistics.mean if mean else statistics.median
    return {
        "ms": summary(alone),
        "server_ms": summary(server),
        "statistic": "mean" if mean else "median",
        "repeats": len(alone),
        "calls": recorded,
    }


def experiment_named(client: MlflowClient, name: str) -> str:
    """The id of the experiment called ``name``, created if missing."""
    found = client.get_experiment_by_name(name)
    return found.experiment_id if found is not None else client.create_experiment(name)


@contextmanager
def fluent_uri(uri: str) -> Iterator[None]:
    """Point the fluent API (``mlflow.start_run`` ...) at ``uri`` for a while."""
    previous = mlflow.get_tracking_uri()
    mlflow.set_tracking_uri(uri)
    try:
        yield
    finally:
        mlflow.set_tracking_uri(previous)


def bench_client_floor(uri: str, args: argparse.Namespace) -> dict[str, Any]:
    """The client's own cost on each workload that compares servers: the workload's own
    client calls against a stub that answers at once with the real server's recorded
    answers, and the same calls on the real server in the same rounds, in ms per operation
    (a log_batch of 1,000 metrics; a run with its params, metrics and end; a search_runs;
    an alias lookup)."""
    client = MlflowClient(uri)
    repeats = max(args.search_repeats, 20)
    floors: dict[str, Any] = {}
    with stub_server(uri) as stub_uri:
        clients = {uri: client, stub_uri: MlflowClient(stub_uri)}

        # Each call logs new steps, as the batch workload does (the stub answers alike).
        run_id = client.create_run(experiment_named(client, "bench-batch")).info.run_id
        chunks = iter(
            [
                [Metric(m.key, m.value, m.timestamp, m.step + 100_000 * (i + 1)) for m in chunk]
                for i, chunk in enumerate([batch_metrics(BATCH_CHUNK)] * (2 * repeats + 8))
            ]
        )
        floors["batch"] = floor_of(
            stub_uri,
            lambda target: clients[target].log_batch(run_id, metrics=next(chunks)),
            repeats,
            mean=True,
            uri=uri,
        )
        client.set_terminated(run_id)

        runs_id = experiment_named(client, "bench-runs")
        params = {f"p{i}": f"value-{i}" for i in range(10)}
        run_metrics = {f"m{i}": float(i) for i in range(10)}

        def one_run(target: str) -> None:  # one pass of bench_runs' loop
            with fluent_uri(target):
                mlflow.start_run(experiment_id=runs_id)
                mlflow.log_params(params)
                mlflow.log_metrics(run_metrics)
                mlflow.end_run()

        floors["runs"] = floor_of(stub_uri, one_run, repeats, mean=True, uri=uri)

        search = client.get_experiment_by_name("bench-search")
        if search is not None:
            search_id = search.experiment_id
            floors["search"] = floor_of(
                stub_uri,
                lambda target: clients[target].search_runs(
                    [search_id],
                    filter_string=SEARCH_FILTER,
                    order_by=SEARCH_ORDER,
                    max_results=SEARCH_MAX_RESULTS,
                ),
                repeats,
                mean=False,
                uri=uri,
            )

        if client.search_registered_models(f"name = '{ALIAS_MODEL}'"):
            floors["alias"] = floor_of(
                stub_uri,
                lambda target: clients[target].get_model_version_by_alias(ALIAS_MODEL, ALIAS),
                max(repeats, args.lookups),
                mean=False,
                uri=uri,
            )
    return floors


def logging_workload(args: argparse.Namespace, client: MlflowClient) -> dict[str, Any]:
    experiment_id = mlflow.set_experiment("bench-logging").experiment_id
    sync_rate = bench_logging(experiment_id, args.calls, synchronous=True)
    async_rate = bench_logging(experiment_id, args.calls, synchronous=False)
    return {
        "calls": args.calls,
        "sync_calls_per_s": sync_rate,
        "async_calls_per_s": async_rate,
        "calls_per_s": max(sync_rate, async_rate),
        "mode": "synchronous" if sync_rate >= async_rate else "async",
    }


def batch_workload(args: argparse.Namespace, client: MlflowClient) -> dict[str, Any]:
    experiment_id = mlflow.set_experiment("bench-batch").experiment_id
    rate = bench_batch(client, experiment_id, args.batch_metrics)
    return {"metrics": args.batch_metrics, "metrics_per_s": rate}


def runs_workload(args: argparse.Namespace, client: MlflowClient) -> dict[str, Any]:
    experiment_id = mlflow.set_experiment("bench-runs").experiment_id
    return {"runs": args.runs, "runs_per_s": bench_runs(experiment_id, args.runs)}


def search_workload(args: argparse.Namespace, client: MlflowClient) -> dict[str, Any]:
    with open(args.search_data, encoding="utf-8") as fh:
        rows = json.load(fh)
    return bench_search(client, args.backend_uri, rows, args.search_repeats)


def alias_workload(args: argparse.Namespace, client: MlflowClient) -> dict[str, Any]:
    experiment_id = mlflow.set_experiment("bench-models").experiment_id
    return bench_alias(client, experiment_id, args.lookups)


def script_workload(args: argparse.Namespace, client: MlflowClient) -> dict[str, Any]:
    experiment_id = mlflow.set_experiment("bench-script").experiment_id
    seconds = bench_script(client, experiment_id, args.script_runs, args.script_steps)
    return {"runs": args.script_runs, "steps": args.script_steps, "seconds": seconds}


def floor_workload(args: argparse.Namespace, client: MlflowClient) -> dict[str, Any]:
    return bench_client_floor(args.uri, args)


WORKLOADS: dict[str, Callable[[argparse.Namespace, MlflowClient], dict[str, Any]]] = {
    "logging": logging_workload,
    "batch": batch_workload,
    "runs": runs_workload,
    "search": search_workload,
    "alias": alias_workload,
    "script": script_workload,
    "client_floor": floor_workload,
}


def run_all(args: argparse.Namespace) -> dict[str, Any]:
    """Every workload in turn; one that fails is recorded as {"error": ...} and the rest go on."""
    mlflow.set_tracking_uri(args.uri)
    client = MlflowClient(args.uri)
    results: dict[str, Any] = {"mlflow_version": mlflow.__version__}
    for name, workload in WORKLOADS.items():
        log(f"{name} ...")
        try:
            results[name] = workload(args, client)
        except Exception as exc:  # report it and measure the others
            traceback.print_exc()
            results[name] = {"error": f"{type(exc).__name__}: {exc}"}
    return results


@contextmanager
def stdout_to_stderr() -> Iterator[TextIO]:
    """Send anything printed while benchmarking to stderr; yield the real stdout."""
    real = sys.stdout
    sys.stdout = sys.stderr
    try:
        yield real
    finally:
        sys.stdout = real


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--uri", required=True, help="MLflow tracking server URL")
    parser.add_argument("--calls", type=int, default=2000)
    parser.add_argument("--batch-metrics", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=200)
    parser.add_argument(
        "--backend-uri",
        help="the server's backend store URI; when given, the search runs are inserted into it "
        "directly instead of through the REST API",
    )
    parser.add_argument("--search-data", required=True, help="JSON list of runs to search over")
    parser.add_argument("--search-repeats", type=int, default=20)
    parser.add_argument("--lookups", type=int, default=500)
    parser.add_argument("--script-runs", type=int, default=20)
    parser.add_argument("--script-steps", type=int, default=50)
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> None:
    args = parse_args(argv)
    with stdout_to_stderr() as stdout:
        results = run_all(args)
    json.dump(results, stdout)
    stdout.write("\n")


if __name__ == "__main__":
    main()
