"""``mloop serve ENDPOINT``: one endpoint in its own server process(es), for production.

Each worker process reads the endpoint's deployment from the metadata database and polls it
every second, so several workers, or several machines behind a load balancer sharing one
PostgreSQL database, follow a deploy or rollback within about a second. With ``workers``
above one, uvicorn starts the processes and each builds its app with
:func:`app_from_environment` from the ``MLOOP_SERVE_*`` variables set here.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from typing import Any

from mloop.core.config import Settings, get_settings

_ENV = "MLOOP_SERVE_OPTIONS"


@dataclass(frozen=True)
class ServeOptions:
    endpoint: str
    auth: bool = False
    max_batch_rows: int = 64
    max_wait_ms: float = 0.0
    max_in_flight: int = 1  # batches predicted at once (see BatchOptions)
    refresh_seconds: float = 1.0
    check_seconds: float = 10.0  # how often the endpoint's rollout is checked
    # Requests a worker holds at once (predicting or queued); beyond: 503 with Retry-After.
    max_pending: int = 256


def build_app(settings: Settings, options: ServeOptions) -> Any:
    """The app serving ``options.endpoint`` over the store ``settings`` name."""
    from mloop.auth.tokens import count_active_tokens
    from mloop.core.errors import ValidationError
    from mloop.serving.http import standalone_app
    from mloop.serving.service import BatchOptions
    from mloop.store.runtime import open_runtime

    runtime = open_runtime(settings)
    if options.auth and runtime.run(count_active_tokens, write=False) == 0:
        raise ValidationError(
            "authentication is on but no token exists: create one with "
            "`mloop tokens create NAME --role writer` first",
            field="auth",
        )
    return standalone_app(
        runtime,
        options.endpoint,
        auth_enabled=options.auth,
        batching=BatchOptions(
            max_batch_rows=options.max_batch_rows,
            max_wait_s=options.max_wait_ms / 1000.0,
            max_in_flight=options.max_in_flight,
        ),
        refresh_seconds=options.refresh_seconds,
        check_seconds=options.check_seconds,
        max_pending=options.max_pending,
    )


def app_from_environment() -> Any:
    """The app of one worker process (uvicorn's factory when there are several)."""
    options = ServeOptions(**json.loads(os.environ[_ENV]))
    return build_app(get_settings(), options)


def serve(options: ServeOptions, *, host: str, port: int, workers: int = 1) -> None:
    """Run until interrupted."""
    import uvicorn

    if workers <= 1:
        app = build_app(get_settings(), options)
        uvicorn.run(app, host=host, port=port, log_level="warning", access_log=False)
        return
    os.environ[_ENV] = json.dumps(asdict(options))
    uvicorn.run(
        "mloop.serving.serve:app_from_environment",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        log_level="warning",
        access_log=False,
    )
