"""Review queue benchmark: 8 concurrent reviewers claim and answer items, against Label Studio.

    .venv/bin/python benchmarks/review.py                       # 2,000 items, 8 reviewers
    .venv/bin/python benchmarks/review.py --tasks 500 --skip-label-studio
    .venv/bin/python benchmarks/review.py --databases sqlite --json results/x.json

mloop: ``mloop server`` on a fresh store, once on SQLite (a new ``MLOOP_HOME``) and once on
PostgreSQL (a new database on ``--postgres``, dropped afterwards). Set-up, not timed: a queue
with choices approve/reject and overlap 1, and ``--tasks`` items added over the API. Timed:
``--reviewers`` threads, each its own reviewer (``X-Mloop-User``) with its own keep-alive
connection, loop on ``POST /api/v1/review/next`` and ``POST /api/v1/review/items/submit``
(approve for odd item ids, reject for even) until ``next`` has nothing left. Then checked
over the API: every item handed out by ``next`` (double assignments: an item handed to two
reviewers, with overlap 1 a defect), every 2xx answer found with its reviewer and label
(lost or altered answers), every item done.

Label Studio 1.23 (``_review_label_studio.py``, in its own venv made by
``_label_studio_venv.py``): the same loop over its label stream (``/api/projects/{id}/next``
and ``POST /api/tasks/{id}/annotations/``) on its default SQLite, counted the same way.

Prints each side's throughput (answers per second), errors, double assignments and lost
answers, and mloop's ratio to Label Studio; writes JSON with ``--json``. It reports only: no
figure makes it fail.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import os
import platform
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).parent))
from features import free_port, server  # a sibling script's helpers

QUEUE = "bench"
HERE = Path(__file__).parent


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


@contextlib.contextmanager
def _database(kind: str, workdir: Path, postgres: str) -> Iterator[dict[str, str]]:
    """The environment of a fresh mloop store on ``kind``."""
    home = workdir / f"mloop-{kind}"
    home.mkdir()
    env = {**os.environ, "MLOOP_HOME": str(home), "PYTHONUNBUFFERED": "1"}
    env.pop("MLOOP_DATABASE_URL", None)
    if kind == "sqlite":
        yield env
        return
    import psycopg

    name = f"mloop_review_bench_{os.getpid()}"
    with psycopg.connect(f"{postgres}/postgres", autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {name}")
        conn.execute(f"CREATE DATABASE {name}")
    try:
        host = postgres.removeprefix("postgresql://")
        yield {**env, "MLOOP_DATABASE_URL": f"postgresql+psycopg://{host}/{name}"}
    finally:
        with psycopg.connect(f"{postgres}/postgres", autocommit=True) as conn:
            conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def _setup(base: str, tasks: int) -> None:
    with httpx.Client(base_url=base, headers={"x-mloop-user": "owner"}, timeout=60) as http:
        http.post(
            "/api/v1/review/queues/create",
            json={"name": QUEUE, "choices": ["approve", "reject"], "priority": "oldest"},
        ).raise_for_status()
        for start in range(0, tasks, 1000):
            items = [
                {"request_id": f"task-{i}", "payload": {"inputs": [{"text": f"case {i}"}]}}
                for i in range(start, min(tasks, start + 1000))
            ]
            http.post(
                "/api/v1/review/items/add", json={"queue": QUEUE, "items": items}
            ).raise_for_status()


def _reviewer(
    base: str,
    name: str,
    handed: dict[int, set[str]],
    answers: list[tuple[int, str, str]],
    errors: Counter[str],
    lock: threading.Lock,
    limit: int,
) -> None:
    failures = 0
    with httpx.Client(base_url=base, headers={"x-mloop-user": name}, timeout=60) as http:
        while failures < 20:
            with lock:
                if len(answers) >= limit:
                    return
            claimed = http.post("/api/v1/review/next", json={"queue": QUEUE})
            if claimed.status_code != 200:
                with lock:
                    errors[f"next {claimed.status_code}"] += 1
                failures += 1
                continue
            item = claimed.json()["item"]
            if item is None:
                return
            label = "approve" if item["id"] % 2 else "reject"
            with lock:
                handed.setdefault(item["id"], set()).add(name)
            answered = http.post(
                "/api/v1/review/items/submit", json={"id": item["id"], "label": label}
            )
            with lock:
                if answered.status_code == 200:
                    answers.append((item["id"], name, label))
                    failures = 0
                else:
                    errors[f"submit {answered.status_code}"] += 1
                    failures += 1


def _stored(base: str, reviewers: list[str]) -> dict[int, tuple[str, Any]]:
    """Every done item's reviewer and final label, read back over the API."""
    found: dict[int, tuple[str, Any]] = {}
    with httpx.Client(base_url=base, timeout=60) as http:
        for name in reviewers:
            token = None
            while True:
                params = {"queue": QUEUE, "answered_by": name, "max_results": 1000}
                if token:
                    params["page_token"] = token
                page = http.get("/api/v1/review/items/list", params=params).json()
                for item in page["items"]:
                    found[item["id"]] = (name, item["final_label"])
                token = page.get("next_page_token")
                if not token:
                    break
    return found


def run_mloop(kind: str, args: argparse.Namespace, workdir: Path) -> dict[str, Any]:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    mloop_bin = Path(os.path.abspath(sys.executable)).parent / "mloop"
    reviewers = [f"reviewer-{i}" for i in range(args.reviewers)]
    with (
        _database(kind, workdir, args.postgres) as env,
        server(
            [str(mloop_bin), "server", "--port", str(port)],
            env,
            f"{base}/health",
            workdir / f"mloop-{kind}.log",
        ),
    ):
        log(f"mloop ({kind}): adding {args.tasks:,} items ...")
        _setup(base, args.tasks)
        time.sleep(1)
        handed: dict[int, set[str]] = {}
        answers: list[tuple[int, str, str]] = []
        errors: Counter[str] = Counter()
        lock = threading.Lock()
        threads = [
            threading.Thread(
                target=_reviewer, args=(base, n, handed, answers, errors, lock, args.tasks)
            )
            for n in reviewers
        ]
        log(f"mloop ({kind}): {args.reviewers} reviewers claiming and answering ...")
        started = time.perf_counter()
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        seconds = time.perf_counter() - started
        stored = _stored(base, reviewers)
        with httpx.Client(base_url=base, timeout=60) as http:
            counts = http.get("/api/v1/review/queues/get", params={"name": QUEUE}).json()["counts"]
    lost = [a for a in answers if a[0] not in stored]
    altered = [a for a in answers if a[0] in stored and stored[a[0]] != (a[1], a[2])]
    return {
        "database": kind,
        "tasks": args.tasks,
        "reviewers": args.reviewers,
        "seconds": seconds,
        "submitted": len(answers),
        "throughput_per_s": len(answers) / seconds if seconds else None,
        "double_assigned_tasks": sum(1 for names in handed.values() if len(names) > 1),
        "lost_answers": len(lost),
        "altered_answers": len(altered),
        "errors": dict(errors),
        "items_done": counts["done"],
        "items_open": counts["open"],
    }


def run_label_studio(args: argparse.Namespace, workdir: Path) -> dict[str, Any]:
    from _label_studio_venv import ensure_label_studio_venv

    python = ensure_label_studio_venv()
    command = [
        str(python),
        str(HERE / "_review_label_studio.py"),
        "--tasks",
        str(args.tasks),
        "--reviewers",
        str(args.reviewers),
        "--workdir",
        str(workdir),
        "--port",
        str(free_port()),
    ]
    log("Label Studio: starting (migrations take about 30 s) ...")
    done = subprocess.run(command, stdout=subprocess.PIPE, text=True, check=False)
    if done.returncode != 0:
        return {"error": f"exited with {done.returncode}", "stdout": done.stdout[-2000:]}
    return dict(json.loads(done.stdout))


def _row(name: str, side: dict[str, Any]) -> str:
    if "error" in side:
        return f"{name:<22} failed: {side['error']}"
    return (
        f"{name:<22} {side['throughput_per_s']:>9.1f}/s {side['submitted']:>7,} answers "
        f"{side['seconds']:>7.1f} s  double-assigned {side['double_assigned_tasks']:>4}  "
        f"lost {side['lost_answers']:>3}  errors {sum(side['errors'].values()):>4}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=2000)
    parser.add_argument("--reviewers", type=int, default=8)
    parser.add_argument("--databases", default="sqlite,postgresql")
    parser.add_argument("--postgres", default="postgresql://postgres@127.0.0.1:5432")
    parser.add_argument("--skip-label-studio", action="store_true")
    parser.add_argument("--json", nargs="?", const="", default=None)
    args = parser.parse_args()
    results: dict[str, Any] = {
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "machine": {"platform": platform.platform(), "cpus": os.cpu_count()},
        "mloop": {},
    }
    with tempfile.TemporaryDirectory(prefix="mloop-review-bench-") as tmp:
        workdir = Path(tmp)
        for kind in args.databases.split(","):
            results["mloop"][kind] = run_mloop(kind, args, workdir)
        if not args.skip_label_studio:
            results["label_studio"] = run_label_studio(args, workdir)
    print(f"\n{args.tasks:,} items, {args.reviewers} concurrent reviewers, claim then answer")
    for kind, side in results["mloop"].items():
        print(_row(f"mloop ({kind})", side))
    studio = results.get("label_studio")
    if studio is not None:
        print(_row("Label Studio (sqlite)", studio))
        if "error" not in studio and studio.get("throughput_per_s"):
            for kind, side in results["mloop"].items():
                ratio = side["throughput_per_s"] / studio["throughput_per_s"]
                results.setdefault("ratios", {})[kind] = ratio
                print(f"mloop ({kind}) / Label Studio: {ratio:.1f}x")
    if args.json is not None:
        path = Path(args.json or HERE / "results" / f"review-{dt.date.today()}.json")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(results, indent=2))
        print(f"wrote {path}")


if __name__ == "__main__":
    main()
