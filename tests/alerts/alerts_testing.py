"""Helpers of the alerts tests: rules and channels created as an admin, windows evaluated
at chosen times, local HTTP and SMTP servers that record what reached them."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from mloop.alerts.channels import create_alert_channel
from mloop.alerts.evaluate import evaluate_rules
from mloop.alerts.rules import create_alert_rule
from mloop.alerts.schemas import Alert, AlertChannel, AlertRule, CreateChannel, RuleSpec
from mloop.store.runtime import Runtime

MINUTE = 60_000
HOUR = 60 * MINUTE
T0 = 1_700_000_000_000  # a fixed past "now" (ms): tests step time by hand, never sleep on it


def add_rule(runtime: Runtime, **fields: Any) -> AlertRule:
    spec = RuleSpec(**{"name": "drift", "source": "monitor", "metric": "drift.share", **fields})
    return runtime.run(lambda ctx: create_alert_rule(ctx, spec), write=True, actor="admin-ann")


def add_channel(runtime: Runtime, name: str, config: dict[str, Any], **fields: Any) -> AlertChannel:
    spec = CreateChannel(name=name, config=config, **fields)
    return runtime.run(lambda ctx: create_alert_channel(ctx, spec), write=True, actor="admin-ann")


def window(
    runtime: Runtime,
    index: int,
    metrics: Mapping[str, float | None],
    *,
    source: str = "monitor",
    subject: dict[str, str] | None = None,
    reference: Mapping[str, float | None] | None = None,
    links: dict[str, str] | None = None,
    now: int | None = None,
    length: int = HOUR,
    actor: str = "monitor-bot",
) -> list[Alert]:
    """Evaluate hourly window number ``index`` (from T0), seen right after it ends unless
    ``now`` says otherwise."""
    start = T0 + index * length
    at = start + length if now is None else now
    return runtime.run(
        lambda ctx: evaluate_rules(
            ctx,
            source,
            metrics,
            window_start=start,
            window_end=start + length,
            subject={"endpoint": "churn"} if subject is None else subject,
            reference=reference,
            links=links,
            now=at,
        ),
        write=True,
        actor=actor,
    )


# -- a local HTTP server --------------------------------------------------------------------


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: Any


@dataclass
class Hook:
    """What the local webhook answers (a list of statuses, used in turn, the last repeated)
    and what it received."""

    url: str
    statuses: list[int] = field(default_factory=lambda: [200])
    delay_s: float = 0.0
    received: list[Received] = field(default_factory=list)
    arrived: threading.Event = field(default_factory=threading.Event)


@contextmanager
def webhook_server(path: str = "/hooks/T123/secret-token") -> Iterator[Hook]:
    """An HTTP server on loopback that records every POST and answers with ``statuses``."""
    hook = Hook(url="")

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("content-length", "0"))
            raw = self.rfile.read(length)
            hook.received.append(
                Received(
                    self.path, {k.lower(): v for k, v in self.headers.items()}, json.loads(raw)
                )
            )
            index = min(len(hook.received), len(hook.statuses)) - 1
            if hook.delay_s:
                time.sleep(hook.delay_s)  # longer than the channel's timeout: a timeout
            status = hook.statuses[index]
            body = b"ok" if status < 300 else b"upstream broke"
            try:
                self.send_response(status)
                self.send_header("content-length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
            except OSError:  # the client gave up (the timeout test)
                pass
            hook.arrived.set()

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    hook.url = f"http://127.0.0.1:{server.server_address[1]}{path}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield hook
    finally:
        server.shutdown()
        server.server_close()


def wait_until(condition: Callable[[], Any], *, timeout_s: float = 30.0) -> Any:
    """Poll ``condition`` until it is truthy (a generous deadline, not a timing assertion)."""
    deadline = time.monotonic() + timeout_s
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError("the condition did not become true in time")
        time.sleep(0.05)
