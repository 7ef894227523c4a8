"""Request and response messages of the monitoring API."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field

from mloop.core.fields import MAX_SAFE_INTEGER, AssetName, PageToken, Time, text
from mloop.core.operations import Message

ColumnKind = Literal["number", "category", "bool"]

# The columns of a window besides the watched inputs: they cannot be watched by name.
BASE_COLUMNS = ("request_id", "time", "variant", "model_version", "row")
OUTPUT_COLUMNS = ("prediction", "confidence", "probabilities", "classes", "label")
ReferenceKind = Literal["dataset", "window", "rolling"]
Task = Literal["classification", "regression"]
WindowStatus = Literal["ok", "empty", "failed"]

MIN_WINDOW_SECONDS = 60
MAX_WINDOW_SECONDS = 7 * 86_400
MAX_COLUMNS = 500
MAX_BACKFILL_WINDOWS = 1000
MAX_LIST_RESULTS = 1000
MAX_DESCRIPTION = 5000
MAX_CONTRACT_CHARS = 1024 * 1024
MAX_SLICE_COLUMNS = 5
MAX_SLICE_VALUES = 50  # values of a slice column reported per window, the largest first

TargetKind = Literal["endpoint", "dataset", "gateway"]

# The call log's columns a gateway monitor can watch, and their kinds; the first ones are
# watched by default.
GATEWAY_COLUMNS: dict[str, ColumnKind] = {
    "latency_ms": "number",
    "ttft_ms": "number",
    "input_tokens": "number",
    "output_tokens": "number",
    "cost_usd": "number",
    "status": "category",
    "model": "category",
    "cache": "category",
    "provider": "category",
    "error_code": "category",
    "route": "category",
    "prompt_name": "category",
    "prompt_version": "category",
    "token_name": "category",
    "project": "category",
    "cached_input_tokens": "number",
    "retries": "number",
    "fallbacks": "number",
    "stream": "bool",
}
DEFAULT_GATEWAY_COLUMNS = (
    "latency_ms",
    "ttft_ms",
    "input_tokens",
    "output_tokens",
    "cost_usd",
    "status",
    "model",
    "cache",
)

ColumnName = Annotated[str, text(256)]


class Reference(Message):
    """What windows are compared with.

    - ``dataset``: a registered dataset version (``version``; the latest when None), read
      once into per-column summaries; a held-out set the model scored (``label_column``,
      ``classes``, ``probability_columns``) also calibrates the estimate before labels;
    - ``window``: a fixed stretch of the watched log or dataset, ``since`` to ``until``;
    - ``rolling``: the ``windows`` windows before each window (merged summaries; no data is
      read again).
    """

    kind: ReferenceKind
    dataset: AssetName | None = None
    version: int | None = Field(default=None, ge=1)
    profile: bool = Field(
        default=False,
        description="A dataset reference from the version's stored profile, without reading "
        "its data (coarser: 20-bin histograms and top categories)",
    )
    label_column: ColumnName | None = Field(
        default=None,
        description="A dataset reference's outcomes; with classes and probability_columns "
        "(the model's scores of that held-out set) it calibrates estimates before labels",
    )
    classes: list[str | int | float | bool] | None = Field(
        default=None, min_length=2, max_length=1000
    )
    probability_columns: list[ColumnName] | None = Field(
        default=None, min_length=2, max_length=1000, description="One per class, in order"
    )
    since: Time | None = None
    until: Time | None = None
    windows: int | None = Field(default=None, ge=1, le=MAX_BACKFILL_WINDOWS)


class DriftOptions(Message):
    """Per-column overrides of the automatic choice of test and threshold, and the share of
    drifted columns that makes the dataset drifted."""

    methods: dict[ColumnName, Annotated[str, text(32)]] = Field(default_factory=dict)
    thresholds: dict[ColumnName, float] = Field(default_factory=dict)
    drift_share: float = Field(default=0.5, gt=0, le=1)
    multivariate: bool = Field(
        default=False,
        description="Also train a domain classifier (reference rows against the window's)",
    )


class PerformanceOptions(Message):
    """How labelled outcomes are scored: the task (from the model's classes when None),
    for binary classifiers the positive label, and the slice columns whose values each
    get their own performance."""

    task: Task | None = None
    positive_label: str | int | float | bool | None = None
    slices: list[ColumnName] = Field(
        default_factory=list,
        max_length=MAX_SLICE_COLUMNS,
        description="Input columns whose values each get their own performance per window",
    )


class FairnessOptions(Message):
    """A bias audit over the ``sensitive`` columns (inputs of the requests)."""

    sensitive: list[ColumnName] = Field(min_length=1, max_length=10)
    positive_label: str | int | float | bool | None = None
    min_group_size: int = Field(default=30, ge=1, le=1_000_000)


class DatasetTarget(Message):
    """A registered dataset watched by event time: a window is the rows of its version (the
    newest when each window is computed, unless ``version`` is given) whose ``time_column``
    (a timestamp, or integer ms since the epoch) falls in it. ``prediction_column`` and
    ``label_column`` name a model's scored outputs and the outcomes, when the table has them."""

    name: AssetName
    version: int | None = Field(default=None, ge=1)
    time_column: ColumnName
    prediction_column: ColumnName | None = None
    label_column: ColumnName | None = None


class GatewayTarget(Message):
    """The LLM gateway's call log: every call, or those of one route, prompt, served model
    or project. A window is the calls that arrived in it; its columns are the call log's
    (``latency_ms``, ``input_tokens``, ``status``, ``model``... see
    :data:`GATEWAY_COLUMNS`) and any other name is read from the calls' ``metadata``."""

    route: Annotated[str, text(256)] | None = None
    prompt: AssetName | None = None
    model: Annotated[str, text(256)] | None = None
    project: Annotated[str, text(256)] | None = None

    def scope(self) -> str:
        """``route support``, ``prompt summarise, model gpt-x`` or ``all calls``."""
        parts = [
            f"{what} {value}"
            for what, value in (
                ("route", self.route),
                ("prompt", self.prompt),
                ("model", self.model),
                ("project", self.project),
            )
            if value is not None
        ]
        return ", ".join(parts) or "all calls"


class MonitorContract(Message):
    """A data contract each window is validated against, by its row-level checks (null,
    bounds, allowed values, patterns, SQL rules): a dataset's registration policy
    (``dataset``) or the contract's YAML (``yaml``). The contract is copied into the
    monitor when it is created; ``name``, ``version`` and ``digest`` say which it was."""

    dataset: AssetName | None = None
    yaml: Annotated[str, text(MAX_CONTRACT_CHARS)] | None = None
    name: Annotated[str, text(256)] | None = None
    version: Annotated[str, text(256)] | None = None
    digest: Annotated[str, text(64)] | None = None


class CreateMonitor(Message):
    """A monitor of an endpoint's inference log, of a dataset by event time, or of the LLM
    gateway's call log, window by window, against a reference. Exactly one of
    ``endpoint``, ``dataset`` and ``gateway``."""

    name: AssetName
    endpoint: AssetName | None = None
    dataset: DatasetTarget | None = None
    gateway: GatewayTarget | None = None
    reference: Reference
    window_seconds: int = Field(
        default=3600, ge=MIN_WINDOW_SECONDS, le=MAX_WINDOW_SECONDS, description="UTC-aligned"
    )
    columns: dict[ColumnName, ColumnKind] | None = Field(
        default=None,
        max_length=MAX_COLUMNS,
        description="Inputs to watch and their kinds; None: the live model's signature",
    )
    variants: list[AssetName] | None = Field(default=None, max_length=16)
    drift: DriftOptions = Field(default_factory=DriftOptions)
    performance: PerformanceOptions = Field(default_factory=PerformanceOptions)
    fairness: FairnessOptions | None = None
    contract: MonitorContract | None = None
    review_threshold: float | None = Field(default=None, gt=0, lt=1)
    intervals: int = Field(
        default=200,
        ge=0,
        le=2000,
        description="Bootstrap resamples for the confidence intervals of performance and "
        "group metrics (0 or 1: none)",
    )
    schedule: bool = Field(default=True, description="Compute each window once it has closed")
    delay_seconds: int = Field(default=60, ge=0, le=86_400, description="Wait for late events")
    description: Annotated[str, text(MAX_DESCRIPTION)] | None = None


class Monitor(CreateMonitor):
    target: TargetKind = "endpoint"
    created_by: str = ""
    creation_time: int
    reference_summary_time: int | None = None
    reference_rows: int | None = None
    last_window_end: int | None = None


class MonitorName(Message):
    name: AssetName


class ListMonitors(Message):
    endpoint: AssetName | None = None
    dataset: AssetName | None = None
    target: TargetKind | None = Field(default=None, description="Only monitors of this kind")
    max_results: int = Field(default=100, ge=1, le=MAX_LIST_RESULTS)
    page_token: PageToken | None = Field(default=None, max_length=200)


class MonitorList(Message):
    monitors: list[Monitor]
    next_page_token: str | None = None


class RunMonitor(Message):
    """Compute the windows that start in ``[since, until)`` (UTC-aligned; both None: the
    last closed window). Windows already computed are computed again."""

    name: AssetName
    since: Time | None = None
    until: Time | None = None


class WindowSummary(Message):
    """One window's verdicts, without the full report."""

    start: int
    end: int
    status: WindowStatus
    rows: int
    metrics: dict[str, float | None]
    alerts: int = 0
    error: str | None = None
    computed_at: int


class MonitorRun(Message):
    monitor: str
    windows: list[WindowSummary]


# GET requests take times from the query string, as text: plain bounded ints (``Time``
# refuses text, as a JSON body must not send a time as a string).
QueryTime = Annotated[int, Field(ge=0, le=MAX_SAFE_INTEGER)]


class ListWindows(Message):
    name: AssetName
    since: QueryTime | None = Field(default=None, description="ms since the epoch")
    until: QueryTime | None = Field(default=None, description="ms since the epoch")
    max_results: int = Field(default=200, ge=1, le=MAX_LIST_RESULTS)


class WindowList(Message):
    monitor: str
    windows: list[WindowSummary]


class GetWindow(Message):
    name: AssetName
    start: QueryTime = Field(description="The window's start, ms since the epoch")


class WindowReport(WindowSummary):
    """A window's whole report: drift per column, data quality, performance, the bias
    audit, the outputs; and the summaries the UI draws histograms from."""

    monitor: str
    report: dict[str, Any]


__all__ = [
    "ColumnKind",
    "CreateMonitor",
    "DriftOptions",
    "FairnessOptions",
    "GatewayTarget",
    "GetWindow",
    "ListMonitors",
    "ListWindows",
    "Monitor",
    "MonitorContract",
    "MonitorList",
    "MonitorName",
    "MonitorRun",
    "PerformanceOptions",
    "Reference",
    "RunMonitor",
    "TargetKind",
    "WindowList",
    "WindowReport",
    "WindowSummary",
]
