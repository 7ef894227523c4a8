"""Request and response messages of the tracking API."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from mloop.core import fields as f
from mloop.core.operations import Message
from mloop.core.validation import MAX_PARAM_VALUE_LENGTH

RunStatus = Literal["RUNNING", "SCHEDULED", "FINISHED", "FAILED", "KILLED"]
ViewType = Literal["active", "deleted", "all"]

MAX_BATCH_METRICS = 100_000
MAX_BATCH_PARAMS = 1_000
MAX_BATCH_TAGS = 1_000
MAX_SEARCH_RESULTS = 50_000

# Request field types: the rules the handlers check, stated in the OpenAPI document.
TagValue = f.TagValue
Tags = f.Tags
StrictTime = f.Time  # true is not a time

# Rules JSON Schema cannot state (the server answers 400 naming the field).
END_TIME_RULE = "Milliseconds since the epoch; not before the run's start_time"
FILTER_RULE = "A filter in the search language, such as \"metrics.rmse < 1 and params.lr = '0.1'\""
ORDER_BY_RULE = 'A metric, param, tag or attribute, then ASC or DESC: "metrics.rmse DESC"'
COLUMNS_RULE = "keys, values, steps and timestamps must have the same length"


# -- experiments -------------------------------------------------------------------------


class Experiment(Message):
    experiment_id: str
    name: str
    artifact_location: str
    lifecycle_stage: str
    creation_time: int
    last_update_time: int
    tags: dict[str, str] = {}
    # Where the creator asked artifacts to go when mloop stores them elsewhere (an MLflow
    # client's s3://... location): informational, returned as given.
    declared_location: str | None = None


DeclaredLocation = Annotated[str, f.text(2048), f.Rule(minLength=1)]


class CreateExperiment(Message):
    name: f.DisplayName
    artifact_location: f.FilePath | None = None
    tags: Tags = {}
    declared_location: DeclaredLocation | None = None


class ExperimentId(Message):
    experiment_id: f.ExperimentId


class ExperimentName(Message):
    name: f.DisplayName


class RenameExperiment(Message):
    experiment_id: f.ExperimentId
    new_name: f.DisplayName


class DeleteExperimentTag(Message):
    experiment_id: f.ExperimentId
    key: f.Key


class ListExperiments(Message):
    view: ViewType = "active"


class ExperimentList(Message):
    experiments: list[Experiment]


class SetExperimentTag(Message):
    experiment_id: f.ExperimentId
    key: f.Key
    value: TagValue


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

    name: Annotated[str, f.text(256), f.Rule(minLength=1)]
    digest: Annotated[str, f.text(64)]
    source: Annotated[str, f.text(4096)] = ""
    source_type: Annotated[str, f.text(64)] = ""
    context: Annotated[str, f.text(64)] = "training"
    dataset_schema: Annotated[str, f.Rule(pattern=f.NO_NUL_PATTERN)] | None = None
    profile: Annotated[str, f.Rule(pattern=f.NO_NUL_PATTERN)] | None = None
    # The input's tags in the order logged (MLflow's context tag among them).
    tags: Tags = {}


class RunData(Message):
    params: dict[str, str] = {}
    metrics: dict[str, float] = {}
    tags: dict[str, str] = {}


class Run(Message):
    info: RunInfo
    data: RunData
    inputs: list[DatasetInput] = []


class CreateRun(Message):
    experiment_id: f.ExperimentId | None = None
    # Only to keep an id from elsewhere (an imported MLflow run); new runs get a fresh one.
    run_id: f.Id | None = None
    # Empty or left out: a generated name.
    run_name: f.DisplayName | Annotated[str, f.Rule(maxLength=0)] | None = None
    start_time: StrictTime | None = None
    tags: Tags = {}
    parent_run_id: f.Id | None = None
    user_id: Annotated[str, f.text(256)] | None = None


class RunId(Message):
    run_id: f.Id


class UpdateRun(Message):
    run_id: f.Id
    status: RunStatus | None = None
    end_time: Annotated[StrictTime | None, f.Rule(description=END_TIME_RULE)] = None
    run_name: f.DisplayName | None = None


class SearchRuns(Message):
    experiment_ids: list[f.ExperimentId] = []
    filter: Annotated[str, f.Rule(description=FILTER_RULE)] = ""
    order_by: list[Annotated[str, f.Rule(description=ORDER_BY_RULE)]] = []
    max_results: int = Field(default=100, ge=1, le=MAX_SEARCH_RESULTS)
    page_token: f.PageToken | None = None
    view: ViewType = "active"


class RunPage(Message):
    runs: list[Run]
    next_page_token: str | None = None


# -- logging -----------------------------------------------------------------------------


class MetricIn(Message):
    key: f.Key
    value: float
    timestamp: f.Time
    step: f.Step = 0


class ParamIn(Message):
    key: f.Key
    value: Annotated[str, f.text(MAX_PARAM_VALUE_LENGTH)]


class TagIn(Message):
    key: f.Key
    value: TagValue


class MetricColumns(Message):
    """Many metric values as parallel columns: the compact form bulk clients send."""

    keys: list[f.Key] = Field(max_length=MAX_BATCH_METRICS, description=COLUMNS_RULE)
    values: list[float] = Field(max_length=MAX_BATCH_METRICS)
    steps: list[f.Step] = Field(max_length=MAX_BATCH_METRICS)
    timestamps: list[f.Time] = Field(max_length=MAX_BATCH_METRICS)


class LogBatch(Message):
    run_id: f.Id
    metrics: list[MetricIn] = Field(default=[], max_length=MAX_BATCH_METRICS)
    metric_columns: MetricColumns | None = None
    # Ends the run in the same transaction, so its final metrics and status land together.
    end_status: RunStatus | None = None
    end_time: Annotated[StrictTime | None, f.Rule(description=END_TIME_RULE)] = None
    params: list[ParamIn] = Field(default=[], max_length=MAX_BATCH_PARAMS)
    tags: list[TagIn] = Field(default=[], max_length=MAX_BATCH_TAGS)
    batch_id: str | None = Field(default=None, max_length=64)


class LogBatchResult(Message):
    metrics_stored: int
    duplicate_batch: bool = False


class SetTag(Message):
    run_id: f.Id
    key: f.Key
    value: TagValue


class DeleteTag(Message):
    run_id: f.Id
    key: f.Key


class LogInputs(Message):
    run_id: f.Id
    datasets: list[DatasetInput] = Field(max_length=1000)


class GetMetricHistory(Message):
    """One page of a metric's history; ``max_results`` above the page size is reduced to it."""

    run_id: f.Id
    key: f.Key
    max_results: int | None = Field(default=None, ge=1, le=1_000_000)
    page_token: f.PageToken | None = None


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
    run_id: f.Id
    path: f.RelativePath = ""


class ArtifactFile(Message):
    path: str
    is_dir: bool
    size: int | None = None
    sha256: str | None = None


class ArtifactList(Message):
    # The run's artifact URI, store-relative as in RunInfo.artifact_uri (no server path).
    root_uri: str
    files: list[ArtifactFile]
