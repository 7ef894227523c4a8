"""Request and response messages of the tracking API."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, StrictInt

from mloop.core.operations import Message

RunStatus = Literal["RUNNING", "SCHEDULED", "FINISHED", "FAILED", "KILLED"]
ViewType = Literal["active", "deleted", "all"]

MAX_BATCH_METRICS = 100_000
MAX_BATCH_PARAMS = 1_000
MAX_BATCH_TAGS = 1_000
MAX_SEARCH_RESULTS = 50_000


# -- experiments -------------------------------------------------------------------------


class Experiment(Message):
    experiment_id: str
    name: str
    artifact_location: str
    lifecycle_stage: str
    creation_time: int
    last_update_time: int
    tags: dict[str, str] = {}


class CreateExperiment(Message):
    name: str
    artifact_location: str | None = None
    tags: dict[str, str] = {}


class ExperimentId(Message):
    experiment_id: str


class ExperimentName(Message):
    name: str


class ListExperiments(Message):
    view: ViewType = "active"


class ExperimentList(Message):
    experiments: list[Experiment]


class SetExperimentTag(Message):
    experiment_id: str
    key: str
    value: str


# -- runs --------------------------------------------------------------------------------


class RunInfo(Message):
    run_id: str
    run_name: str
    experiment_id: str
    status: RunStatus
    start_time: int
    end_time: int | None = None
    lifecycle_stage: str
    artifact_uri: str
    user_id: str
    parent_run_id: str | None = None


class DatasetInput(Message):
    """A reference to a dataset a run read (or wrote), for lineage."""

    name: str
    digest: str
    source: str = ""
    source_type: str = ""
    context: str = "training"
    dataset_schema: str | None = None


class RunData(Message):
    params: dict[str, str] = {}
    metrics: dict[str, float] = {}
    tags: dict[str, str] = {}


class Run(Message):
    info: RunInfo
    data: RunData
    inputs: list[DatasetInput] = []


class CreateRun(Message):
    experiment_id: str | None = None
    # Only to keep an id from elsewhere (an imported MLflow run); new runs get a fresh one.
    run_id: str | None = None
    run_name: str | None = None
    start_time: StrictInt | None = None  # true is not a time
    tags: dict[str, str] = {}
    parent_run_id: str | None = None
    user_id: str | None = None


class RunId(Message):
    run_id: str


class UpdateRun(Message):
    run_id: str
    status: RunStatus | None = None
    end_time: StrictInt | None = None  # true is not a time
    run_name: str | None = None


class SearchRuns(Message):
    experiment_ids: list[str] = []
    filter: str = ""
    order_by: list[str] = []
    max_results: int = Field(default=100, ge=1, le=MAX_SEARCH_RESULTS)
    page_token: str | None = None
    view: ViewType = "active"


class RunPage(Message):
    runs: list[Run]
    next_page_token: str | None = None


# -- logging -----------------------------------------------------------------------------


class MetricIn(Message):
    key: str
    value: float
    timestamp: int
    step: int = 0


class ParamIn(Message):
    key: str
    value: str


class TagIn(Message):
    key: str
    value: str


class MetricColumns(Message):
    """Many metric values as parallel columns: the compact form bulk clients send."""

    keys: list[str] = Field(max_length=MAX_BATCH_METRICS)
    values: list[float] = Field(max_length=MAX_BATCH_METRICS)
    steps: list[int] = Field(max_length=MAX_BATCH_METRICS)
    timestamps: list[int] = Field(max_length=MAX_BATCH_METRICS)


class LogBatch(Message):
    run_id: str
    metrics: list[MetricIn] = Field(default=[], max_length=MAX_BATCH_METRICS)
    metric_columns: MetricColumns | None = None
    # Ends the run in the same transaction, so its final metrics and status land together.
    end_status: RunStatus | None = None
    end_time: StrictInt | None = None  # true is not a time
    params: list[ParamIn] = Field(default=[], max_length=MAX_BATCH_PARAMS)
    tags: list[TagIn] = Field(default=[], max_length=MAX_BATCH_TAGS)
    batch_id: str | None = Field(default=None, max_length=64)


class LogBatchResult(Message):
    metrics_stored: int
    duplicate_batch: bool = False


class SetTag(Message):
    run_id: str
    key: str
    value: str


class DeleteTag(Message):
    run_id: str
    key: str


class LogInputs(Message):
    run_id: str
    datasets: list[DatasetInput] = Field(max_length=1000)


class GetMetricHistory(Message):
    """One page of a metric's history; ``max_results`` above the page size is reduced to it."""

    run_id: str
    key: str
    max_results: int | None = Field(default=None, ge=1, le=1_000_000)
    page_token: str | None = None


class MetricPoint(Message):
    key: str
    value: float
    step: int
    timestamp: int


class MetricHistory(Message):
    metrics: list[MetricPoint]
    # Set when the history goes on: pass it as page_token for the next page.
    next_page_token: str | None = None


# -- artifacts ---------------------------------------------------------------------------


class ListArtifacts(Message):
    run_id: str
    path: str = ""


class ArtifactFile(Message):
    path: str
    is_dir: bool
    size: int | None = None
    sha256: str | None = None


class ArtifactList(Message):
    # The run's artifact URI, store-relative as in RunInfo.artifact_uri (no server path).
    root_uri: str
    files: list[ArtifactFile]
