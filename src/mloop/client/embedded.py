"""The embedded backend: operations run in this process against the local stores."""

from __future__ import annotations

import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel

from mloop.core.config import Settings
from mloop.core.files import FileRoute
from mloop.core.operations import Operation
from mloop.domains import find_operation
from mloop.store.runtime import Runtime, open_runtime

Req = TypeVar("Req", bound=BaseModel)
Resp = TypeVar("Resp", bound=BaseModel)


class EmbeddedBackend:
    """Runs each operation directly, in one database transaction."""

    def __init__(self, settings: Settings, runtime: Runtime | None = None) -> None:
        self.settings = settings
        self.runtime = runtime or open_runtime(settings)
        self.uri = str(settings.home)
        self.home = settings.home
        self.metrics = _DirectMetrics(self)

    def call(self, op: Operation[Req, Resp], request: Req) -> Resp:
        return self.runtime.run(lambda ctx: op.handler(ctx, request), write=op.writes)

    def upload(self, route: FileRoute, params: Mapping[str, Any], local_file: Path) -> Any:
        values = {name: str(value) for name, value in params.items()}
        if route.check is not None:
            route.check(values)
        return route.handler(
            self.runtime, values, local_file, None, self.settings.max_artifact_bytes
        )

    def download(self, route: FileRoute, params: Mapping[str, Any], dest: Path) -> Path:
        values = {name: str(value) for name, value in params.items()}
        handle = self.runtime.run(lambda ctx: route.handler(ctx, values), write=False)
        dest.parent.mkdir(parents=True, exist_ok=True)
        with handle as src, open(dest, "wb") as out:  # copied outside the transaction
            shutil.copyfileobj(src, out, 1024 * 1024)
        return dest

    def close(self) -> None:
        self.runtime.close()


class _DirectMetrics:
    """Embedded writes are cheap enough to do synchronously, and errors surface at once."""

    def __init__(self, backend: EmbeddedBackend) -> None:
        self._backend = backend

    def add(self, run_id: str, metrics: list[Any]) -> None:
        self._log_batch({"run_id": run_id, "metrics": metrics})

    def flush(self) -> None:
        return None

    def end_run(self, run_id: str, status: str, end_time: int | None) -> None:
        self._log_batch({"run_id": run_id, "end_status": status, "end_time": end_time})

    def close(self) -> None:
        return None

    def _log_batch(self, fields: dict[str, Any]) -> None:
        op = find_operation("log_batch")
        self._backend.call(op, op.request.model_validate(fields))
