"""An mloop server on a loopback port, in a thread of the calling process.

For programs that need a real server next to their own code for a while, such as the demo's
MLflow-client step (the ``mlflow`` package only talks HTTP).
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from mloop.store.runtime import Runtime

START_TIMEOUT_S = 30.0


@contextmanager
def background_server(runtime: Runtime, app: Any = None) -> Iterator[str]:
    """Serve ``runtime`` (or an ``app`` already built over it) on 127.0.0.1 at a free port;
    yields the server's URL."""
    import uvicorn

    from mloop.server.app import create_app

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(app or create_app(runtime), log_level="warning", lifespan="off")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + START_TIMEOUT_S
        while not server.started:
            if not thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the background mloop server did not start")
            time.sleep(0.02)
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()
