"""Request and response messages of the pipelines API."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, JsonValue, StrictBool

from mloop.core.fields import DIGEST_PATTERN, ID_PATTERN, AssetName, Time, text
from mloop.core.operations import Message

StepStatus = Literal["pending", "running", "succeeded", "failed", "cached", "skipped"]
RunStatus = Literal["running", "succeeded", "failed"]
StoredFormat = Literal["json", "npy", "pandas", "arrow", "pickle"]

MAX_NODES = 10_000
MAX_LIST = 1000
MAX_ID = 2**31 - 1
MAX_LOG = 8_000
MAX_ERROR = 8_000
# ``package.module:function.qualname``: Python identifiers joined by dots, one colon.
_DOTTED = r"[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*"
REF_PATTERN = rf"^{_DOTTED}:{_DOTTED}$"

Digest = Annotated[str, Field(pattern=DIGEST_PATTERN)]
Id = Annotated[str, Field(pattern=ID_PATTERN)]
Ref = Annotated[str, Field(min_length=3, max_length=512, pattern=REF_PATTERN)]
RunNumber = Annotated[int, Field(ge=1, le=MAX_ID)]
NodeId = Annotated[str, Field(min_length=1, max_length=256), text(256)]
LogText = Annotated[str, Field(max_length=MAX_LOG), text(MAX_LOG)]
ErrorText = Annotated[str, Field(max_length=MAX_ERROR), text(MAX_ERROR)]
Attempts = Annotated[int, Field(ge=0, le=101)]


class GraphNode(Message):
    id: NodeId
    step: AssetName
    ref: Ref
    upstream: list[NodeId] = Field(default_factory=list, max_length=MAX_NODES)
    retries: Attempts = 0
    timeout_s: float | None = Field(default=None, gt=0)
    cache: StrictBool | Literal["trusted"] = True


class GraphSpec(Message):
    nodes: list[GraphNode] = Field(min_length=1, max_length=MAX_NODES)


class StartPipelineRun(Message):
    """A pipeline run begins: its tracking run exists; every node starts ``pending``."""

    pipeline: AssetName
    ref: Ref
    run_id: Id
    executor: Annotated[str, Field(min_length=1, max_length=64), text(64)]
    trigger: Annotated[str, Field(max_length=256), text(256)] = ""
    params: dict[str, JsonValue] = Field(default_factory=dict)
    graph: GraphSpec


class Attempt(Message):
    attempt: Attempts
    status: Literal["succeeded", "failed"]
    start_time: Time | None = None
    end_time: Time | None = None
    error: ErrorText = ""


class StepRecord(Message):
    """A node's state as the driver last saw it (written in batches)."""

    node: NodeId
    status: StepStatus
    attempts: list[Attempt] = Field(default_factory=list, max_length=101)
    cache_key: Digest | None = None
    cache_hit: StrictBool = False
    start_time: Time | None = None
    end_time: Time | None = None
    log_tail: LogText = ""
    error: ErrorText = ""


class CacheEntry(Message):
    """A step output stored for reuse: inline JSON, or an artifact of ``run_id``."""

    key: Digest
    step: AssetName
    format: StoredFormat
    run_id: Id
    path: Annotated[str, Field(max_length=512), text(512)] = ""
    digest: Digest
    inline: str | None = Field(default=None, max_length=65_536)


class RecordPipelineRun(Message):
    """Changed step states, new cache entries, and at the end the run's outcome."""

    id: RunNumber
    steps: list[StepRecord] = Field(default_factory=list, max_length=MAX_NODES)
    cache: list[CacheEntry] = Field(default_factory=list, max_length=MAX_NODES)
    status: RunStatus | None = None
    outputs: JsonValue = None
    error: ErrorText = ""
    end_time: Time | None = None


class LookupCache(Message):
    keys: list[Digest] = Field(max_length=MAX_NODES)


class CacheEntries(Message):
    entries: list[CacheEntry]


class PipelineRunId(Message):
    id: RunNumber


class PipelineRunInfo(Message):
    id: int
    pipeline: str
    ref: str
    run_id: str
    status: RunStatus
    executor: str
    trigger: str
    params: dict[str, JsonValue]
    outputs: JsonValue = None
    error: str = ""
    created_by: str
    start_time: int
    end_time: int | None = None
    duration_ms: int | None = None


class StepRun(StepRecord):
    step: str
    duration_ms: int | None = None


class ModelOut(Message):
    name: str
    version: int


class DatasetIn(Message):
    name: str
    digest: str
    context: str
    # The registered dataset version with that digest (None: an input logged by other tools).
    version: int | None = None


class PipelineRunDetail(PipelineRunInfo):
    graph: GraphSpec
    steps: list[StepRun]
    models: list[ModelOut]
    datasets: list[DatasetIn]


class ListPipelineRuns(Message):
    """Runs newest first; filter by pipeline, status or a model they registered a version of."""

    pipeline: AssetName | None = None
    status: RunStatus | None = None
    model: AssetName | None = None
    max_results: int = Field(default=100, ge=1, le=MAX_LIST)


class PipelineRunList(Message):
    runs: list[PipelineRunInfo]


class ListPipelines(Message):
    max_results: int = Field(default=100, ge=1, le=MAX_LIST)


class PipelineSummary(Message):
    name: str
    ref: str
    runs: int
    succeeded: int
    failed: int
    last_run: PipelineRunInfo


class PipelineList(Message):
    pipelines: list[PipelineSummary]
