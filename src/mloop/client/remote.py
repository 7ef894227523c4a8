"""The remote backend: operations become HTTP calls to an mloop server."""

from __future__ import annotations

import hashlib
import json
import logging
import shutil
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any, TypeVar

import httpx
from pydantic import BaseModel

from mloop.client.transport import JsonTransport
from mloop.core.config import Settings
from mloop.core.errors import MloopError, ServiceUnavailableError
from mloop.core.files import FileRoute
from mloop.core.ids import new_id
from mloop.core.operations import Operation
from mloop.core.timeutil import now_ms
from mloop.domains import find_operation
from mloop.tracking.schemas import LogBatch, MetricColumns, MetricIn

log = logging.getLogger("mloop.client")

Req = TypeVar("Req", bound=BaseModel)
Resp = TypeVar("Resp", bound=BaseModel)

_TIMEOUT = httpx.Timeout(60.0, connect=5.0)


def raise_for_status(status: int, content: bytes) -> None:
    """Turn an error response into the same exception the embedded backend raises."""
    if status < 400:
        return
    try:
        body = json.loads(content)["error"]
    except (ValueError, KeyError, TypeError):
        body = {"code": "INTERNAL_ERROR", "message": content[:500].decode(errors="replace")}
    raise MloopError.from_dict(body)


def raise_for_response(response: httpx.Response) -> None:
    raise_for_status(response.status_code, response.content)


class RemoteBackend:
    """Talks to ``mloop server`` over HTTP with a keep-alive connection pool."""

    def __init__(self, uri: str, settings: Settings) -> None:
        self.uri = uri.rstrip("/")
        self.home = settings.home
        headers = {"User-Agent": "mloop-sdk"}
        if settings.token:
            headers["Authorization"] = f"Bearer {settings.token}"
        elif settings.user:
            headers["X-Mloop-User"] = settings.user  # read only by a server without auth
        self.http = httpx.Client(base_url=self.uri, headers=headers, timeout=_TIMEOUT)
        self.json = JsonTransport(self.uri, headers)
        spool = settings.home / "spool" / hashlib.sha256(self.uri.encode()).hexdigest()[:16]
        self.metrics = _BatchedMetrics(self, spool)

    def _request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        try:
            response = self.http.request(method, path, **kwargs)
        except httpx.TransportError as exc:
            raise ServiceUnavailableError(
                f"cannot reach the mloop server at {self.uri}: {exc}. Is `mloop server` running?"
            ) from exc
        raise_for_response(response)
        return response

    def call(self, op: Operation[Req, Resp], request: Req) -> Resp:
        if op.method == "GET":
            params = request.model_dump(mode="json", exclude_none=True, by_alias=True)
            status, content = self.json.request("GET", op.path, params=params)
        else:
            body = request.model_dump_json(by_alias=True, exclude_defaults=True).encode()
            status, content = self.json.request("POST", op.path, body=body)
        raise_for_status(status, content)
        return op.response.model_validate_json(content)

    def upload(self, route: FileRoute, params: Mapping[str, Any], local_file: Path) -> Any:
        with open(local_file, "rb") as handle:
            response = self._request("PUT", route.url(params), content=handle)
        assert route.response is not None, f"upload route {route.name} declares no response"
        return route.response.model_validate_json(response.content)

    def download(self, route: FileRoute, params: Mapping[str, Any], dest: Path) -> Path:
        dest.parent.mkdir(parents=True, exist_ok=True)
        try:
            with self.http.stream("GET", route.url(params)) as response:
                if response.status_code >= 400:
                    response.read()
                    raise_for_response(response)
                with tempfile.NamedTemporaryFile(dir=dest.parent, delete=False) as tmp:
                    for chunk in response.iter_bytes(1024 * 1024):
                        tmp.write(chunk)
                shutil.move(tmp.name, dest)
        except httpx.TransportError as exc:
            raise ServiceUnavailableError(f"cannot reach the mloop server at {self.uri}") from exc
        return dest

    def _send_batch(
        self,
        run_id: str,
        metrics: list[MetricIn],
        batch_id: str,
        end_status: str | None = None,
        end_time: int | None = None,
    ) -> None:
        columns = MetricColumns(
            keys=[m.key for m in metrics],
            values=[m.value for m in metrics],
            steps=[m.step for m in metrics],
            timestamps=[m.timestamp for m in metrics],
        )
        body = LogBatch.model_validate(
            {
                "run_id": run_id,
                "metric_columns": columns if metrics else None,
                "batch_id": batch_id,
                "end_status": end_status,
                "end_time": end_time,
            }
        )
        status, content = self.json.request(
            "POST", _log_batch_path(), body=body.model_dump_json(exclude_none=True).encode()
        )
        raise_for_status(status, content)

    def close(self) -> None:
        self.metrics.close()
        self.http.close()
        self.json.close()


class _BatchedMetrics:
    """Metrics sent in the background by a :class:`~mloop.client.batcher.MetricBatcher`."""

    def __init__(self, backend: RemoteBackend, spool: Path) -> None:
        from mloop.client.batcher import MetricBatcher

        self._backend = backend
        self.batcher = MetricBatcher(backend._send_batch, spool)

    def add(self, run_id: str, metrics: list[MetricIn]) -> None:
        self.batcher.add(run_id, metrics)

    def flush(self) -> None:
        self.batcher.flush()

    def end_run(self, run_id: str, status: str, end_time: int | None) -> None:
        """Send the run's queued metrics with its end; when the server is away, spool
        them together, after the batches spooled before, and warn where they are kept."""
        pending = self.batcher.drain(run_id)
        end_time = end_time if end_time is not None else now_ms()  # when it ended, not replayed
        if self.batcher.spooled_batches():
            self.batcher.replay()  # earlier batches must reach the server first
        if not self.batcher.spooled_batches():
            try:
                self._backend._send_batch(run_id, pending, new_id(), status, end_time)
                return
            except ServiceUnavailableError:
                pass
        path = self.batcher.spool(run_id, pending, end_status=status, end_time=end_time)
        log.warning(
            "mloop server at %s unreachable: run %s ends as %s when the batches kept in %s "
            "are sent, by this process or the next one that talks to that server",
            self._backend.uri,
            run_id,
            status,
            path.parent,
        )

    def close(self) -> None:
        self.batcher.close()


def _log_batch_path() -> str:
    return find_operation("log_batch").path
