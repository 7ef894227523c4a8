"""Label Studio side of ``review.py``: concurrent reviewers claiming and answering tasks.

    benchmarks/.venvs/label-studio/bin/python benchmarks/_review_label_studio.py
        [--tasks 2000] [--reviewers 8] --workdir DIR [--port 8085] [--timeout-s 1800]

Runs in Label Studio's own venv (``requirements-label-studio.txt``, made by
``_label_studio_venv.py``) and uses only Label Studio's command line, its HTTP API (through
``requests``) and the standard library. Progress goes to stderr; one JSON object goes to stdout.

Set-up, none of it timed:

1. A fresh data directory ``DIR/label-studio-XXXX`` (``LABEL_STUDIO_BASE_DATA_DIR``), so the
   database is a new SQLite file, Label Studio's default. Every ``label-studio`` process gets
   an environment without inherited ``LABEL_STUDIO_*``/``HEARTEX_*``/database settings, with
   ``DEBUG=false``, Sentry off (``SENTRY_DSN`` and ``FRONTEND_SENTRY_DSN`` empty: the defaults
   report to sentry.io), ``COLLECT_ANALYTICS=false`` (usage events to tele.labelstud.io),
   ``LATEST_VERSION_CHECK=false`` (a PyPI query) and feature flags read from the packaged file.
2. ``label-studio init --quiet --username ... --password ... --user-token ...`` once for the
   owner (this also runs the migrations and creates the organization, with
   ``--enable-legacy-api-token`` so that ``Authorization: Token <key>`` is accepted) and once
   per reviewer (each joins the one organization). Tokens and passwords are random.
3. ``label-studio start --no-browser --port P --internal-host 127.0.0.1`` in its own process
   group (``--internal-host`` is the address it binds; its ``--host`` only prefixes generated
   URLs and stays empty, as Label Studio recommends). The port must be free beforehand (Label
   Studio would silently move to the next one) and the log must name it. It must answer
   ``GET /health`` and then go quiet (its process group under 5 % of a core for a second).
4. The owner creates a project with a Choices config (``approve``/``reject`` over a Text
   field) and ``maximum_annotations`` 1 (the default, checked in the answer, as are the
   sampling and overlap settings, which are reported) and imports N tasks in one request; the
   project must then hold N tasks, and every reviewer must see it. Then quiet again.

Timed: ``--reviewers`` threads, each with its own token and its own ``requests.Session``,
loop on ``GET /api/projects/{id}/next`` (the label stream: the server picks a task and locks
it for that user) and ``POST /api/tasks/{task}/annotations/`` with a Choices result (approve
for odd task ids, reject for even). A reviewer stops when ``/next`` answers 404 (no task for
it) or when N annotation posts have been attempted across all reviewers; an error answer is
counted and the reviewer goes on (20 failures in a row end that reviewer). ``seconds`` is the
loop's wall time, from starting the threads to the last one ending.

Measured, then checked against the database after the loop (the project's JSON export with
every task, read by the owner):

- ``submitted``: annotation posts answered 2xx; ``throughput_per_s`` = submitted / seconds;
- ``errors``: failed requests by HTTP status (or exception name), both endpoints together;
  ``errors_by_request`` splits them by endpoint and ``error_samples`` keeps a few answers in
  a line (a JSON ``detail`` or an HTML page's title: the 500 page names no cause);
- ``server_log``: what the server logged (each record once; it writes most of them twice):
  ``database_locked_retried``, the "database is locked" errors of API views that its
  ``DatabaseIsLockedRetryMiddleware`` (on with SQLite) answered by sleeping 1 s, 1.5 s, ...
  and running the whole request again, so a client sees them only as latency;
  ``internal_server_errors``, the 500s it sent, with their exceptions in
  ``internal_server_error_causes``; ``overlap_bug_reports``, its own
  "Num takes=2 > overlap=1 ... it's a bug" errors;
- ``double_assigned_tasks``: tasks that ``/next`` handed to two or more different reviewers;
  with ``maximum_annotations`` 1 and no overlap this is a defect, not a setting;
- ``lost_answers``: 2xx posts whose annotation is not in the export; ``altered_answers``:
  ones there with another task, author or choice; ``unacknowledged_in_db``: annotations
  stored whose post did not answer 2xx;
- ``tasks_with_several_annotations`` and ``tasks_without_annotation`` in the export.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.metadata
import json
import os
import re
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests

CHOICES_CONFIG = """<View>
  <Text name="text" value="$text"/>
  <Choices name="decision" toName="text" choice="single" showInLine="true">
    <Choice value="approve"/>
    <Choice value="reject"/>
  </Choices>
</View>"""
REQUEST_TIMEOUT_S = 120.0
MAX_CONSECUTIVE_FAILURES = 20
ERROR_SAMPLES = 5
QUIET_CPU_SHARE = 0.05  # of one core, over QUIET_WINDOW_S
QUIET_WINDOW_S = 1.0
QUIET_TIMEOUT_S = 300.0
START_TIMEOUT_S = 300.0
CLI_TIMEOUT_S = 900.0
# Settings this script decides; anything else of the kind is dropped from the inherited env.
# Label Studio reads each setting X as LABEL_STUDIO_X, HEARTEX_X or plain X, so plain names such
# as USERNAME and PASSWORD (`start` would create that user) or HOST count too.
DROPPED_ENV = re.compile(
    r"^(LABEL_STUDIO_|HEARTEX_|DJANGO_|DATABASE_|POSTGRE_|MYSQL_|SENTRY_|FRONTEND_SENTRY_)"
    r"|^(HOST|PORT|USERNAME|PASSWORD|USER_TOKEN|LOG_LEVEL|DEBUG)$"
)


def _log(message: str) -> None:
    print(f"[label-studio side] {message}", file=sys.stderr, flush=True)


# --------------------------------------------------------------------------- processes


def _environment(data_dir: Path) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if not DROPPED_ENV.match(key)}
    env.update(
        {
            "LABEL_STUDIO_BASE_DATA_DIR": str(data_dir),
            "DJANGO_DB": "sqlite",
            "DEBUG": "false",
            "SENTRY_DSN": "",
            "FRONTEND_SENTRY_DSN": "",
            "COLLECT_ANALYTICS": "false",
            "LATEST_VERSION_CHECK": "false",
            "FEATURE_FLAGS_OFFLINE": "true",
            "PYTHONUNBUFFERED": "1",
        }
    )
    return env


def _stop_group(process: subprocess.Popen[bytes]) -> None:
    """End a process and everything in its session: SIGTERM, then SIGKILL after 15 s."""
    if process.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=15)
    # Children may outlive the leader; the group id stays the leader's pid.
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    process.wait()


def _run_cli(command: list[str], env: dict[str, str], log_path: Path) -> float:
    """Run one ``label-studio`` command to completion in its own session; return seconds."""
    t0 = time.perf_counter()
    with log_path.open("ab") as out:
        out.write(f"\n$ {' '.join(command)}\n".encode())
        out.flush()
        process = subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=out,
            env=env,
            start_new_session=True,
        )
    try:
        process.wait(timeout=CLI_TIMEOUT_S)
    finally:
        _stop_group(process)
    if process.returncode != 0:
        tail = "\n".join(log_path.read_text(errors="replace").splitlines()[-15:])
        raise RuntimeError(f"{command[1]} exited with {process.returncode}: {tail}")
    return time.perf_counter() - t0


@contextlib.contextmanager
def _server(command: list[str], env: dict[str, str], log_path: Path) -> Iterator[Any]:
    with log_path.open("wb") as out:
        process = subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=out,
            env=env,
            start_new_session=True,
        )
    try:
        yield process
    finally:
        _log("stopping the server")
        _stop_group(process)


def _port_is_free(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _wait_healthy(base: str, port: int, process: Any, log_path: Path) -> float:
    """Wait until ``/health`` answers 200 on our port; return the seconds it took."""
    t0 = time.perf_counter()
    while time.perf_counter() - t0 < START_TIMEOUT_S:
        if process.poll() is not None:
            tail = "\n".join(log_path.read_text(errors="replace").splitlines()[-15:])
            raise RuntimeError(f"label-studio start exited with {process.returncode}: {tail}")
        with contextlib.suppress(requests.RequestException):
            if requests.get(f"{base}/health", timeout=2).status_code == 200:
                break
        time.sleep(0.25)
    else:
        raise RuntimeError(f"{base}/health did not answer 200 within {START_TIMEOUT_S:.0f} s")
    # Label Studio moves to the next port when the one asked for is taken: make sure it is ours.
    if f"http://127.0.0.1:{port}/" not in log_path.read_text(errors="replace"):
        raise RuntimeError(f"the server log does not say it listens on 127.0.0.1:{port}")
    return time.perf_counter() - t0


def _group_pids(pgid: int) -> list[int]:
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        with contextlib.suppress(OSError, IndexError, ValueError):
            fields = (entry / "stat").read_text().rpartition(")")[2].split()
            if int(fields[2]) == pgid:
                pids.append(int(entry.name))
    return pids


def _group_cpu_s(pgid: int) -> float:
    """CPU seconds (user + system) used so far by the live processes of a process group."""
    ticks = 0
    for pid in _group_pids(pgid):
        with contextlib.suppress(OSError, IndexError, ValueError):
            fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
            ticks += int(fields[11]) + int(fields[12])
    return ticks / os.sysconf("SC_CLK_TCK")


def _wait_quiet(pgid: int) -> float:
    """Wait until the group uses under ``QUIET_CPU_SHARE`` of a core for ``QUIET_WINDOW_S``;
    return the seconds it took."""
    t0 = time.perf_counter()
    while time.perf_counter() - t0 < QUIET_TIMEOUT_S:
        before = _group_cpu_s(pgid)
        time.sleep(QUIET_WINDOW_S)
        if _group_cpu_s(pgid) - before < QUIET_CPU_SHARE * QUIET_WINDOW_S:
            return time.perf_counter() - t0
    raise RuntimeError(f"the server did not go quiet within {QUIET_TIMEOUT_S:.0f} s")


def _non_loopback_peers(pgid: int) -> set[str]:
    """Remote addresses, other than loopback, of the TCP sockets the group holds now."""
    inodes = set()
    for pid in _group_pids(pgid):
        with contextlib.suppress(OSError):
            for fd in Path(f"/proc/{pid}/fd").iterdir():
                with contextlib.suppress(OSError):
                    target = os.readlink(fd)
                    if target.startswith("socket:["):
                        inodes.add(target[8:-1])
    peers = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with contextlib.suppress(OSError):
            for line in Path(table).read_text().splitlines()[1:]:
                columns = line.split()
                remote, inode = columns[2], columns[9]
                address = remote.split(":")[0]
                if inode in inodes and int(address, 16) != 0 and not _is_loopback(address):
                    peers.add(remote)
    return peers


def _is_loopback(hex_address: str) -> bool:
    """``/proc/net/tcp*`` addresses: IPv4 little-endian per 32-bit word, IPv6 likewise."""
    if len(hex_address) == 8:
        return hex_address.endswith("7F")  # 127.x.x.x stored byte-reversed
    if hex_address == "00000000000000000000000001000000":  # ::1
        return True
    mapped_v4 = hex_address[:24] == "0" * 16 + "FFFF0000"  # ::ffff:a.b.c.d
    return mapped_v4 and hex_address.endswith("7F")


# --------------------------------------------------------------------------- set-up


@dataclass(frozen=True)
class _User:
    email: str
    token: str


def _create_users(cli: str, env: dict[str, str], reviewers: int, log_path: Path) -> dict[str, Any]:
    """The owner (migrations and organization) and the reviewers, through ``label-studio init``."""
    owner = _User("owner@review.bench", secrets.token_hex(20))
    people = [_User(f"reviewer{i}@review.bench", secrets.token_hex(20)) for i in range(reviewers)]
    timings = []
    for i, user in enumerate([owner, *people]):
        command = [
            cli, "init", "--quiet",
            "--username", user.email,
            "--password", secrets.token_urlsafe(16),
            "--user-token", user.token,
        ]  # fmt: skip
        if i == 0:
            command.append("--enable-legacy-api-token")
        timings.append(_run_cli(command, env, log_path))
        _log(f"  {user.email}: {timings[-1]:.1f} s")
    return {"owner": owner, "reviewers": people, "init_s": timings}


def _session(token: str) -> requests.Session:
    session = requests.Session()
    session.headers["Authorization"] = f"Token {token}"
    return session


def _checked(response: requests.Response, what: str) -> Any:
    if response.status_code >= 300:
        raise RuntimeError(f"{what}: HTTP {response.status_code}: {response.text[:500]}")
    return response.json()


def _create_project(base: str, owner: requests.Session, tasks: int) -> dict[str, Any]:
    """Project with one answer per task, N tasks imported; returns its settings as read back."""
    project = _checked(
        owner.post(
            f"{base}/api/projects",
            json={
                "title": "review benchmark",
                "label_config": CHOICES_CONFIG,
                "maximum_annotations": 1,
            },
            timeout=REQUEST_TIMEOUT_S,
        ),
        "creating the project",
    )
    if project["maximum_annotations"] != 1:
        raise RuntimeError(f"maximum_annotations is {project['maximum_annotations']}, not 1")
    items = [
        {"text": f"Review item {i}: does this model output follow the policy?"}
        for i in range(tasks)
    ]
    t0 = time.perf_counter()
    imported = _checked(
        owner.post(
            f"{base}/api/projects/{project['id']}/import", json=items, timeout=REQUEST_TIMEOUT_S
        ),
        "importing the tasks",
    )
    import_s = time.perf_counter() - t0
    if imported.get("task_count") != tasks:
        raise RuntimeError(f"the import answered {imported.get('task_count')} tasks, not {tasks}")
    project = _checked(
        owner.get(f"{base}/api/projects/{project['id']}", timeout=REQUEST_TIMEOUT_S),
        "reading the project",
    )
    if project["task_number"] != tasks:
        raise RuntimeError(f"the project holds {project['task_number']} tasks, not {tasks}")
    keys = ("id", "maximum_annotations", "sampling", "show_overlap_first")
    settings = {key: project[key] for key in keys}
    settings["overlap_cohort_percentage"] = project["overlap_cohort_percentage"]
    settings["skip_queue"] = project["skip_queue"]
    settings["import_s"] = import_s
    return settings


# --------------------------------------------------------------------------- the timed loop


@dataclass
class _Tally:
    """What the reviewer threads record, under one lock."""

    limit: int
    lock: threading.Lock = field(default_factory=threading.Lock)
    stop: threading.Event = field(default_factory=threading.Event)
    attempted: int = 0
    handouts: int = 0
    handed_to: defaultdict[int, set[int]] = field(default_factory=lambda: defaultdict(set))
    # annotation id -> (task id, reviewer index, choice)
    submitted: dict[int, tuple[int, int, str]] = field(default_factory=dict)
    errors: Counter[str] = field(default_factory=Counter)
    errors_by_request: Counter[str] = field(default_factory=Counter)
    error_samples: list[str] = field(default_factory=list)
    ended: Counter[str] = field(default_factory=Counter)

    def error(self, request: str, kind: str, detail: str) -> None:
        with self.lock:
            self.errors[kind] += 1
            self.errors_by_request[f"{request} {kind}"] += 1
            if len(self.error_samples) < ERROR_SAMPLES:
                self.error_samples.append(f"{request} {kind}: {detail[:300]}")


def _describe(response: requests.Response) -> str:
    """An error answer in a line: its JSON ``detail``, an HTML page's title, or its start."""
    with contextlib.suppress(ValueError, KeyError, TypeError):
        return str(response.json()["detail"])[:300]
    title = re.search(r"<title>(.*?)</title>", response.text, re.DOTALL | re.IGNORECASE)
    if title:
        return "HTML page: " + " ".join(title.group(1).split())
    return response.text[:300]


def _reviewer(index: int, token: str, base: str, project_id: int, tally: _Tally) -> None:
    """One reviewer: fetch the next task, answer it, until no task or the attempts run out."""
    session = _session(token)
    failures = 0
    reason = "stopped"
    try:
        while not tally.stop.is_set():
            with tally.lock:
                if tally.attempted >= tally.limit:
                    reason = "attempts used up"
                    break
            if failures >= MAX_CONSECUTIVE_FAILURES:
                reason = f"{MAX_CONSECUTIVE_FAILURES} failures in a row"
                break
            try:
                got = session.get(
                    f"{base}/api/projects/{project_id}/next", timeout=REQUEST_TIMEOUT_S
                )
            except requests.RequestException as exc:
                tally.error("GET next", type(exc).__name__, str(exc))
                failures += 1
                continue
            if got.status_code == 404:
                reason = "no next task"
                break
            if got.status_code != 200:
                tally.error("GET next", str(got.status_code), _describe(got))
                failures += 1
                continue
            task_id = int(got.json()["id"])
            with tally.lock:
                tally.handouts += 1
                tally.handed_to[task_id].add(index)
                if tally.attempted >= tally.limit:
                    reason = "attempts used up"
                    break
                tally.attempted += 1
            choice = "approve" if task_id % 2 else "reject"
            body = {
                "result": [
                    {
                        "from_name": "decision",
                        "to_name": "text",
                        "type": "choices",
                        "value": {"choices": [choice]},
                    }
                ],
                "was_cancelled": False,
            }
            try:
                posted = session.post(
                    f"{base}/api/tasks/{task_id}/annotations/",
                    json=body,
                    timeout=REQUEST_TIMEOUT_S,
                )
            except requests.RequestException as exc:
                tally.error("POST annotation", type(exc).__name__, str(exc))
                failures += 1
                continue
            if not 200 <= posted.status_code < 300:
                tally.error("POST annotation", str(posted.status_code), _describe(posted))
                failures += 1
                continue
            failures = 0
            with tally.lock:
                tally.submitted[int(posted.json()["id"])] = (task_id, index, choice)
    except Exception as exc:  # a bad answer body: record it, and let the others go on
        reason = f"{type(exc).__name__}: {exc}"
    finally:
        session.close()
        with tally.lock:
            tally.ended[reason] += 1


def _run_reviewers(
    base: str, project_id: int, tokens: list[str], limit: int, timeout_s: float
) -> tuple[_Tally, float, bool]:
    tally = _Tally(limit=limit)
    threads = [
        threading.Thread(target=_reviewer, args=(i, token, base, project_id, tally), daemon=True)
        for i, token in enumerate(tokens)
    ]
    t0 = time.perf_counter()
    for thread in threads:
        thread.start()
    timed_out = False
    try:
        for thread in threads:
            # Short joins, so that Ctrl-C and SIGTERM reach this thread.
            while thread.is_alive():
                thread.join(timeout=0.5)
                if not timed_out and time.perf_counter() - t0 > timeout_s:
                    timed_out = True
                    tally.stop.set()
    finally:
        tally.stop.set()
    return tally, time.perf_counter() - t0, timed_out


# --------------------------------------------------------------------------- checking


def _exported(base: str, owner: requests.Session, project_id: int) -> list[dict[str, Any]]:
    return list(
        _checked(
            owner.get(
                f"{base}/api/projects/{project_id}/export",
                params={"exportType": "JSON", "download_all_tasks": "true"},
                timeout=REQUEST_TIMEOUT_S,
            ),
            "exporting the project",
        )
    )


def _check(tally: _Tally, exported: list[dict[str, Any]], user_ids: list[int]) -> dict[str, Any]:
    """Compare what the reviewers were told with what the database holds."""
    stored: dict[int, tuple[int, int, list[str]]] = {}
    per_task = Counter[int]()
    for task in exported:
        for annotation in task.get("annotations", []):
            if annotation.get("was_cancelled"):
                continue
            per_task[task["id"]] += 1
            choices = [
                choice
                for region in annotation.get("result", [])
                for choice in region.get("value", {}).get("choices", [])
            ]
            stored[int(annotation["id"])] = (task["id"], int(annotation["completed_by"]), choices)
    lost = altered = 0
    for annotation_id, (task_id, reviewer, choice) in tally.submitted.items():
        found = stored.get(annotation_id)
        if found is None:
            lost += 1
        elif found != (task_id, user_ids[reviewer], [choice]):
            altered += 1
    return {
        "tasks_in_db": len(exported),
        "annotations_in_db": len(stored),
        "lost_answers": lost,
        "altered_answers": altered,
        # Stored, but their post failed or was never answered 2xx.
        "unacknowledged_in_db": len(stored.keys() - tally.submitted.keys()),
        "tasks_with_several_annotations": sum(1 for n in per_task.values() if n > 1),
        "tasks_without_annotation": sum(1 for task in exported if per_task[task["id"]] == 0),
    }


def _server_log_counts(log_path: Path) -> dict[str, Any]:
    """Errors the server logged, each record counted once (it logs most of them twice)."""
    records: dict[str, list[str]] = {}  # a record's first line -> its following lines
    current: list[str] = []
    for line in log_path.read_text(errors="replace").splitlines():
        if line.startswith("[20"):  # "[2026-12-07 00:56:01,778] [logger::function::line] ..."
            current = records.setdefault(line, [])
            if current:  # the second copy of a record: keep the first one's lines
                current = []
        else:
            current.append(line)
    causes: Counter[str] = Counter()
    for header, body in records.items():
        if "Internal Server Error:" in header:
            # The traceback's last unindented line names the exception, e.g. "...: database is
            # locked".
            final = [line for line in body if line and not line[0].isspace()]
            causes[final[-1] if final else "(no traceback)"] += 1
    return {
        "database_locked_retried": sum(
            "custom_exception_handler" in h and "database is locked" in h for h in records
        ),
        "internal_server_errors": sum(causes.values()),
        "internal_server_error_causes": dict(causes),
        "overlap_bug_reports": sum("it's a bug" in header for header in records),
    }


# --------------------------------------------------------------------------- main


def _parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=2000)
    parser.add_argument("--reviewers", type=int, default=8)
    parser.add_argument("--workdir", type=Path, required=True)
    parser.add_argument("--port", type=int, default=8085)
    parser.add_argument("--timeout-s", type=float, default=1800.0, help="for the timed loop")
    args = parser.parse_args()
    if args.tasks < 1:
        parser.error("--tasks must be at least 1")
    if args.reviewers < 1:
        parser.error("--reviewers must be at least 1")
    if not 1024 <= args.port <= 65535:
        parser.error("--port must be between 1024 and 65535")
    return args


def _raise_on_sigterm(signum: int, frame: Any) -> None:
    raise SystemExit(128 + signum)  # unwinds through the finally blocks that stop the server


def main() -> None:
    args = _parse_args()
    signal.signal(signal.SIGTERM, _raise_on_sigterm)
    cli = str(Path(sys.executable).parent / "label-studio")
    # Checked now, to fail before two minutes of set-up, and again just before the start.
    if not _port_is_free(args.port):
        raise RuntimeError(f"port {args.port} is taken on 127.0.0.1")
    args.workdir.mkdir(parents=True, exist_ok=True)
    data_dir = Path(tempfile.mkdtemp(prefix="label-studio-", dir=args.workdir)).resolve()
    env = _environment(data_dir)
    base = f"http://127.0.0.1:{args.port}"
    result: dict[str, Any] = {
        "tool": "label-studio",
        "version": importlib.metadata.version("label-studio"),
        "django": importlib.metadata.version("django"),
        "database": "sqlite",
        "tasks": args.tasks,
        "reviewers": args.reviewers,
        "data_dir": str(data_dir),
        "load_before": [round(x, 2) for x in os.getloadavg()],
    }

    _log(f"label-studio init: owner (migrations) and {args.reviewers} reviewers in {data_dir}")
    users = _create_users(cli, env, args.reviewers, data_dir / "init.log")
    result["migrations_and_owner_s"] = users["init_s"][0]
    result["reviewer_init_s"] = sum(users["init_s"][1:])

    if not _port_is_free(args.port):
        raise RuntimeError(f"port {args.port} is taken on 127.0.0.1")
    command = [
        cli,
        "start",
        "--no-browser",
        "--port",
        str(args.port),
        "--internal-host",
        "127.0.0.1",
    ]
    server_log = data_dir / "server.log"
    _log(f"starting: {' '.join(command[1:])}")
    with _server(command, env, server_log) as process:
        result["start_s"] = _wait_healthy(base, args.port, process, server_log)
        result["quiet_after_start_s"] = _wait_quiet(process.pid)
        peers = _non_loopback_peers(process.pid)

        owner = _session(users["owner"].token)
        result["project"] = _create_project(base, owner, args.tasks)
        project_id = result["project"]["id"]
        user_ids = []
        for person in users["reviewers"]:
            with _session(person.token) as session:
                who = _checked(
                    session.get(f"{base}/api/current-user/whoami", timeout=REQUEST_TIMEOUT_S),
                    f"whoami for {person.email}",
                )
                _checked(
                    session.get(f"{base}/api/projects/{project_id}", timeout=REQUEST_TIMEOUT_S),
                    f"{person.email} reading the project",
                )
            user_ids.append(int(who["id"]))
        result["quiet_after_import_s"] = _wait_quiet(process.pid)

        _log(f"timing {args.reviewers} reviewers over {args.tasks} tasks")
        cpu_before = _group_cpu_s(process.pid)
        client_cpu_before = time.process_time()
        tokens = [person.token for person in users["reviewers"]]
        tally, seconds, timed_out = _run_reviewers(
            base, project_id, tokens, args.tasks, args.timeout_s
        )
        result["server_cpu_s"] = _group_cpu_s(process.pid) - cpu_before
        result["client_cpu_s"] = time.process_time() - client_cpu_before
        result["load_after"] = [round(x, 2) for x in os.getloadavg()]
        peers |= _non_loopback_peers(process.pid)
        _log(f"  {len(tally.submitted)} answers in {seconds:.1f} s; checking the database")
        check = _check(tally, _exported(base, owner, project_id), user_ids)
        peers |= _non_loopback_peers(process.pid)
        owner.close()
    result["server_log"] = _server_log_counts(server_log)

    result.update(
        {
            "seconds": seconds,
            "timed_out": timed_out,
            "attempted": tally.attempted,
            "handouts": tally.handouts,
            "submitted": len(tally.submitted),
            "throughput_per_s": len(tally.submitted) / seconds if seconds > 0 else None,
            "double_assigned_tasks": sum(1 for who in tally.handed_to.values() if len(who) > 1),
            "tasks_handed_out": len(tally.handed_to),
            "errors": dict(tally.errors),
            "errors_by_request": dict(tally.errors_by_request),
            "error_samples": tally.error_samples,
            "reviewers_ended": dict(tally.ended),
            **check,
            "non_loopback_peers": sorted(peers),
        }
    )
    print(json.dumps(result))


if __name__ == "__main__":
    main()
