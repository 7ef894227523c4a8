"""How the SDK reaches the stores: embedded (in-process) or remote (HTTP).

Both implement :class:`Backend`. Every API call goes through :meth:`Backend.call` with an
:class:`~mloop.core.operations.Operation`, so an operation is declared once and both
backends derive their behaviour from it. Files travel through the artifact methods.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Protocol, TypeVar

from pydantic import BaseModel

from mloop.core.operations import Operation
from mloop.datasets.schemas import DatasetUpload
from mloop.tracking.schemas import ArtifactFile

Req = TypeVar("Req", bound=BaseModel)
Resp = TypeVar("Resp", bound=BaseModel)


class Backend(Protocol):
    """The transport underneath :class:`mloop.Client`."""

    uri: str
    home: Path  # where client-side files live: the metric spool, the model cache

    def call(self, op: Operation[Req, Resp], request: Req) -> Resp:
        """Run one operation and return its response."""
        ...

    def upload_artifact(self, run_id: str, path: str, local_file: Path) -> ArtifactFile:
        """Store a local file as a run artifact at ``path``."""
        ...

    def download_artifacts(self, run_id: str, path: str, dest_dir: Path) -> Path:
        """Copy a run artifact (file or directory) into ``dest_dir``; return the local path."""
        ...

    def download_model_files(self, name: str, version: int, dest_dir: Path) -> Path:
        """Copy the files of a registered model version into ``dest_dir``."""
        ...

    def upload_dataset_file(self, name: str, digest: str, local_file: Path) -> DatasetUpload:
        """Send a dataset version's Parquet file; the store checks its sha256 is ``digest``."""
        ...

    def download_dataset_file(self, name: str, version: int, dest: Path) -> Path:
        """Copy the Parquet file of a dataset version to the file ``dest``."""
        ...

    def log_metrics_async(self, run_id: str, metrics: list[Any]) -> None:
        """Queue metrics for storage; :meth:`flush` waits until they are stored."""
        ...

    def flush(self) -> None:
        """Block until queued metrics are stored (or safely spooled to disk)."""
        ...

    def end_run(self, run_id: str, status: str, end_time: int | None) -> None:
        """Store the run's queued metrics and set its terminal status, atomically."""
        ...

    def close(self) -> None: ...
