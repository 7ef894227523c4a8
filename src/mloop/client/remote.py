"""The remote backend: operations become HTTP calls to an mloop server."""

from __future__ import annotations

import hashlib
import shutil
import tempfile
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import quote

import httpx
from pydantic import BaseModel

from mloop.core.config import Settings
from mloop.core.errors import MloopError, NotFoundError, ServiceUnavailableError
from mloop.core.operations import Operation
from mloop.tracking.schemas import ArtifactFile, MetricIn

Req = TypeVar("Req", bound=BaseModel)
Resp = TypeVar("Resp", bound=BaseModel)

_TIMEOUT = httpx.Timeout(60.0, connect=5.0)


def raise_for_response(response: httpx.Response) -> None:
    """Turn an error response into the same exception the embedded backend raises."""
    if response.status_code < 400:
        return
    try:
        body = response.json()["error"]
    except (ValueError, KeyError, TypeError):
        body = {"code": "INTERNAL_ERROR", "message": response.text[:500] or response.reason_phrase}
    raise MloopError.from_dict(body)


class RemoteBackend:
    """Talks to ``mloop server`` over HTTP with a keep-alive connection pool."""

    def __init__(self, uri: str, settings: Settings) -> None:
        self.uri = uri.rstrip("/")
        headers = {"User-Agent": "mloop-sdk"}
        if settings.token:
            headers["Authorization"] = f"Bearer {settings.token}"
        self.http = httpx.Client(base_url=self.uri, headers=headers, timeout=_TIMEOUT)
        spool = settings.home / "spool" / hashlib.sha256(self.uri.encode()).hexdigest()[:16]
        from mloop.client.batcher import MetricBatcher

        self.batcher = MetricBatcher(self._send_batch, spool)

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
            response = self._request("GET", op.path, params=params)
        else:
            response = self._request(
                "POST",
                op.path,
                content=request.model_dump_json(by_alias=True),
                headers={"Content-Type": "application/json"},
            )
        return op.response.model_validate_json(response.content)

    def upload_artifact(self, run_id: str, path: str, local_file: Path) -> ArtifactFile:
        with open(local_file, "rb") as handle:
            response = self._request(
                "PUT", f"/api/v1/artifacts/files/{quote(run_id)}/{quote(path)}", content=handle
            )
        return ArtifactFile.model_validate_json(response.content)

    def _download(self, url: str, target: Path) -> None:
        target.parent.mkdir(parents=True, exist_ok=True)
        try:
            with self.http.stream("GET", url) as response:
                if response.status_code >= 400:
                    response.read()
                    raise_for_response(response)
                with tempfile.NamedTemporaryFile(dir=target.parent, delete=False) as tmp:
                    for chunk in response.iter_bytes(1024 * 1024):
                        tmp.write(chunk)
                shutil.move(tmp.name, target)
        except httpx.TransportError as exc:
            raise ServiceUnavailableError(f"cannot reach the mloop server at {self.uri}") from exc

    def download_artifacts(self, run_id: str, path: str, dest_dir: Path) -> Path:
        response = self._request(
            "GET", "/api/v1/artifacts/walk", params={"run_id": run_id, "path": path}
        )
        files = [ArtifactFile.model_validate(f) for f in response.json()["files"]]
        if not files:
            raise NotFoundError(f"run {run_id} has no artifact {path!r}", field="path")
        for f in files:
            self._download(f"/api/v1/artifacts/files/{quote(run_id)}/{quote(f.path)}", dest_dir / f.path)
        return dest_dir / path if path else dest_dir

    def download_model_files(self, name: str, version: int, dest_dir: Path) -> Path:
        response = self._request(
            "GET", "/api/v1/registry/model-versions/files", params={"name": name, "version": version}
        )
        for rel in response.json()["files"]:
            self._download(
                f"/api/v1/registry/model-versions/files/{quote(name, safe='')}/{version}/{quote(rel)}",
                dest_dir / rel,
            )
        return dest_dir

    def _send_batch(self, run_id: str, metrics: list[MetricIn], batch_id: str) -> None:
        from mloop.tracking.schemas import LogBatch

        body = LogBatch(run_id=run_id, metrics=metrics, batch_id=batch_id)
        self._request(
            "POST",
            "/api/v1/runs/log-batch",
            content=body.model_dump_json(),
            headers={"Content-Type": "application/json"},
        )

    def log_metrics_async(self, run_id: str, metrics: list[MetricIn]) -> None:
        self.batcher.add(run_id, metrics)

    def flush(self) -> None:
        self.batcher.flush()

    def close(self) -> None:
        self.batcher.close()
        self.http.close()
