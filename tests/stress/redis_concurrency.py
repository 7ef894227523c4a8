"""Reproduce issue 11, defect 2: many concurrent gateway calls with Redis configured.

An ``mloop server`` process whose gateway keeps its cache, rate limits and (with a budget)
budget counters in Redis, a simulated provider with 0.3 s latency, and N chat requests sent
at once over HTTP. Prints, per checkout and scenario, the count of each HTTP status and the
count of 5xx. The scenarios: Redis up (``--redis-url``), and Redis gone (a closed port on
loopback). "before" is the source of ``--before`` (a git revision, extracted with
``git archive``; default: the commit before the fix), "after" this checkout. Not a test: run
it by hand::

    .venv/bin/python tests/stress/redis_concurrency.py                  # 200 calls, both
    .venv/bin/python tests/stress/redis_concurrency.py --calls 500 --before ''   # after only

Redis is expected at ``--redis-url`` (default ``redis://127.0.0.1:6379/0``); the script uses
a cache key prefix of its own and deletes its keys afterwards.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import socket
import subprocess
import sys
import tarfile
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from io import BytesIO
from pathlib import Path

import httpx
import redis
import yaml

REPO = Path(__file__).resolve().parents[2]
# The commit before "Gateway Redis: waiting connection pools sized by redis_pool".
BEFORE = "6c97be8~1"
SERVER = "import sys; from mloop.cli.main import app; sys.argv = ['mloop', *sys.argv[1:]]; app()"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _extract(revision: str, into: Path) -> Path:
    """The ``src`` folder of ``revision`` of this repository, written under ``into``."""
    archive = subprocess.run(
        ["git", "-C", str(REPO), "archive", revision, "src"], check=True, capture_output=True
    ).stdout
    with tarfile.open(fileobj=BytesIO(archive)) as tar:
        tar.extractall(into, filter="data")
    return into / "src"


def _config(redis_url: str, prefix: str) -> dict[str, object]:
    return {
        "providers": {"sim": {"kind": "simulated", "latency_seconds": 0.3}},
        "routes": {"support": {"targets": [{"provider": "sim", "model": "sim-large"}]}},
        "cache_backend": {"backend": "redis", "url": redis_url, "key_prefix": prefix},
        "redis_url": redis_url,
        "rate_limits": [{"token": "*", "requests_per_minute": 1_000_000}],
    }


@contextlib.contextmanager
def _server(src: Path, home: Path, config: dict[str, object]) -> Iterator[str]:
    """An ``mloop server`` process running the code in ``src`` over ``home``."""
    home.mkdir(parents=True, exist_ok=True)
    (home / "gateway.yaml").write_text(yaml.safe_dump(config))
    port = _free_port()
    env = {
        **os.environ,
        "PYTHONPATH": str(src),
        "MLOOP_HOME": str(home),
        "MLOOP_GATEWAY_CONFIG": str(home / "gateway.yaml"),
    }
    for name in ("MLOOP_DATABASE_URL", "MLOOP_ARTIFACT_ROOT", "MLOOP_TRACKING_URI"):
        env.pop(name, None)
    log = (home / "server.log").open("wb")
    proc = subprocess.Popen(
        [sys.executable, "-c", SERVER, "server", "--port", str(port)],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{url}/v1/models", timeout=5).status_code == 200:
                    break
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the server did not start; see {home / 'server.log'}")
            time.sleep(0.2)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


async def _fire(url: str, calls: int) -> Counter[int | str]:
    limits = httpx.Limits(max_connections=calls, max_keepalive_connections=calls)
    async with httpx.AsyncClient(base_url=url, limits=limits, timeout=120) as http:

        async def one(i: int) -> int | str:
            body = {
                "model": "support",
                "messages": [{"role": "user", "content": f"Where is my order {i}?"}],
                "temperature": 0,
            }
            try:
                response = await http.post("/v1/chat/completions", json=body)
            except httpx.HTTPError as exc:
                return type(exc).__name__
            return response.status_code

        return Counter(await asyncio.gather(*(one(i) for i in range(calls))))


def _scenario(src: Path, home: Path, redis_url: str, calls: int) -> Counter[int | str]:
    prefix = f"mloop-stress-{uuid.uuid4().hex[:8]}"
    try:
        with _server(src, home, _config(redis_url, prefix)) as url:
            return asyncio.run(_fire(url, calls))
    finally:
        with contextlib.suppress(redis.RedisError):
            conn = redis.Redis.from_url(redis_url, socket_connect_timeout=2)
            for key in conn.scan_iter(match=f"{prefix}*"):
                conn.delete(key)
            conn.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--calls", type=int, default=200)
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/0")
    parser.add_argument(
        "--before", default=BEFORE, help="git revision to compare with ('' to skip)"
    )
    args = parser.parse_args()
    gone = f"redis://127.0.0.1:{_free_port()}/0"  # nothing listens there
    with tempfile.TemporaryDirectory(prefix="mloop-redis-stress-") as tmp:
        sources = {"after": REPO / "src"}
        if args.before:
            sources = {"before": _extract(args.before, Path(tmp) / "before"), **sources}
        print(f"{args.calls} concurrent chat calls, simulated provider (0.3 s latency)")
        for label, src in sources.items():
            for scenario, url in (("Redis up", args.redis_url), ("Redis gone", gone)):
                home = Path(tmp) / f"home-{label}-{scenario.split()[1]}"
                counts = _scenario(src, home, url, args.calls)
                errors = sum(n for k, n in counts.items() if isinstance(k, int) and k >= 500)
                shown = ", ".join(f"{k}: {v}" for k, v in sorted(counts.items(), key=str))
                print(f"{label:>6}  {scenario:<10}  5xx: {errors:>4}   ({shown})")


if __name__ == "__main__":
    main()
