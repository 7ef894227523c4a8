"""The embedded backend: operations run in this process against the local stores."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel

from mloop.core.config import Settings
from mloop.core.errors import NotFoundError
from mloop.core.operations import Operation
from mloop.datasets.schemas import DatasetUpload
from mloop.store.runtime import Runtime, open_runtime
from mloop.tracking import artifacts as tracking_artifacts
from mloop.tracking.ingest import log_batch
from mloop.tracking.schemas import ArtifactFile, ListArtifacts, LogBatch, MetricIn

Req = TypeVar("Req", bound=BaseModel)
Resp = TypeVar("Resp", bound=BaseModel)


class EmbeddedBackend:
    """Runs each operation directly, in one database transaction."""

    def __init__(self, settings: Settings, runtime: Runtime | None = None) -> None:
        self.settings = settings
        self.runtime = runtime or open_runtime(settings)
        self.uri = str(settings.home)
        self.home = settings.home

    def call(self, op: Operation[Req, Resp], request: Req) -> Resp:
        return self.runtime.run(lambda ctx: op.handler(ctx, request), write=op.writes)

    def upload_artifact(self, run_id: str, path: str, local_file: Path) -> ArtifactFile:
        return self.runtime.run(
            lambda ctx: tracking_artifacts.store_artifact(ctx, run_id, path, local_file),
            write=True,
        )

    def download_artifacts(self, run_id: str, path: str, dest_dir: Path) -> Path:
        def _copy(ctx: Any) -> Path:
            listing = tracking_artifacts.walk_artifacts(
                ctx, ListArtifacts(run_id=run_id, path=path)
            )
            if not listing.files:
                raise NotFoundError(f"run {run_id} has no artifact {path!r}", field="path")
            for f in listing.files:
                target = dest_dir / f.path
                target.parent.mkdir(parents=True, exist_ok=True)
                with (
                    tracking_artifacts.open_artifact(ctx, run_id, f.path) as src,
                    open(target, "wb") as out,
                ):
                    shutil.copyfileobj(src, out, 1024 * 1024)
            return dest_dir / path if path else dest_dir

        return self.runtime.run(_copy, write=False)

    def download_model_files(self, name: str, version: int, dest_dir: Path) -> Path:
        from mloop.registry.files import model_files_location

        def _copy(ctx: Any) -> Path:
            ctx.artifacts.download_tree(model_files_location(ctx, name, version), dest_dir)
            return dest_dir

        return self.runtime.run(_copy, write=False)

    def upload_dataset_file(self, name: str, digest: str, local_file: Path) -> DatasetUpload:
        from mloop.datasets.files import accept_upload

        with open(local_file, "rb") as handle:
            return accept_upload(
                self.runtime, name, digest, handle, max_bytes=self.settings.max_artifact_bytes
            )

    def download_dataset_file(self, name: str, version: int, dest: Path) -> Path:
        from mloop.datasets.files import open_version_file

        handle = self.runtime.run(lambda ctx: open_version_file(ctx, name, version), write=False)
        with handle as src, open(dest, "wb") as out:  # copied outside the transaction
            shutil.copyfileobj(src, out, 1024 * 1024)
        return dest

    def log_metrics_async(self, run_id: str, metrics: list[MetricIn]) -> None:
        # Embedded writes are cheap enough to do synchronously, and errors surface at once.
        self.call(_LOG_BATCH, LogBatch(run_id=run_id, metrics=metrics))

    def flush(self) -> None:
        return None

    def end_run(self, run_id: str, status: str, end_time: int | None) -> None:
        self.call(
            _LOG_BATCH,
            LogBatch.model_validate({"run_id": run_id, "end_status": status, "end_time": end_time}),
        )

    def close(self) -> None:
        self.runtime.close()


def _log_batch_op() -> Operation[Any, Any]:
    from mloop.tracking.ops import operations

    return operations.operations[log_batch.__name__]


_LOG_BATCH = _log_batch_op()
