"""Request and response messages of the evals API: suites and gate decisions."""

from __future__ import annotations

from typing import Annotated, Literal, get_args

from pydantic import Field, JsonValue, StrictBool, StrictFloat

from mloop.alerts.fields import Whole
from mloop.core.fields import MAX_SAFE_INTEGER, AssetName, text
from mloop.core.operations import Message

Task = Literal["classification", "regression", "ranking"]
Method = Literal["bootstrap", "mcnemar"]
FairnessMetric = Literal[
    "demographic_parity_difference", "demographic_parity_ratio", "equalized_odds_difference"
]
Outcome = Literal["passed", "failed", "no_champion", "same_version"]

MAX_ID = 2**31 - 1
MAX_LIST = 1000
MAX_ITEMS = 100  # metrics, slices, fairness constraints, scorers of one suite

_WHOLE = get_args(Whole)[1]  # its BeforeValidator, after the bounds (see review.schemas)
Version = Annotated[int, Field(ge=1, le=MAX_ID), _WHOLE]
# GET requests travel as query strings ("7"): their integers are plain ints.
QueryId = Annotated[int, Field(ge=1, le=MAX_ID)]
Column = Annotated[str, Field(min_length=1, max_length=256), text(256)]
MetricText = Annotated[str, Field(min_length=1, max_length=512), text(512)]
Ref = Annotated[str, Field(min_length=1, max_length=512), text(512)]
Tolerance = Annotated[float, Field(ge=0.0, le=1e12, allow_inf_nan=False)]
Number = float | None


class SliceSpec(Message):
    """Rows of the suite judged on their own: ``column == value``, ``column in values``, or
    one slice per bin ``[bins[i], bins[i+1])`` of a numeric column. The candidate may be
    worse than the champion on a slice's metric (default: the primary) by ``tolerance`` at
    most."""

    column: Column
    value: JsonValue = None
    values: list[JsonValue] | None = Field(default=None, max_length=1000)
    bins: list[Annotated[float, Field(allow_inf_nan=False)]] | None = Field(
        default=None, max_length=101
    )
    name: Annotated[str, Field(max_length=256), text(256)] | None = None
    metric: MetricText | None = None
    tolerance: Tolerance = 0.0


class FairnessSpec(Message):
    """A fairness constraint on the candidate's decisions across the groups of ``column``:
    differences at most ``bound``, the demographic parity ratio at least ``bound``. Groups
    with fewer than ``min_group_size`` rows are reported but not judged."""

    column: Column
    metric: FairnessMetric
    bound: Annotated[float, Field(ge=0.0, le=1.0, allow_inf_nan=False)]
    positive_label: JsonValue = None
    min_group_size: Annotated[int, Field(ge=0, le=1_000_000), _WHOLE] = 30


class SuiteSpec(Message):
    """An evaluation suite (see ``docs/evals.md``): a fixed dataset version, what to
    compute on it and how a candidate must compare with the champion to pass a gate.

    ``dataset``: ``name/3``, ``name@alias`` or ``name`` (the newest), pinned to a version
    at registration. ``guards``: metric -> the largest regression allowed against the
    champion. ``margin``: how much the candidate must beat the champion on ``primary`` by,
    with ``confidence``, by paired ``bootstrap`` (``resamples``, ``seed``) or ``mcnemar``
    (classification, primary accuracy). Budgets: p95 latency of one-row predictions in ms
    and the model's files in MB.
    """

    name: AssetName
    description: Annotated[str, Field(max_length=2000), text(2000)] = ""
    dataset: Ref
    target: Column
    task: Task
    primary: MetricText
    metrics: list[MetricText] = Field(default_factory=list, max_length=MAX_ITEMS)
    guards: dict[MetricText, Tolerance] = Field(default_factory=dict)
    slices: list[SliceSpec] = Field(default_factory=list, max_length=MAX_ITEMS)
    fairness: list[FairnessSpec] = Field(default_factory=list, max_length=MAX_ITEMS)
    scorers: list[Ref] = Field(default_factory=list, max_length=MAX_ITEMS)
    features: list[Column] | None = Field(default=None, max_length=10_000)
    group: Column | None = None
    positive_label: JsonValue = None
    margin: Tolerance = 0.0
    confidence: Annotated[StrictFloat, Field(ge=0.5, le=0.9999)] = 0.95
    method: Method = "bootstrap"
    resamples: Annotated[int, Field(ge=100, le=100_000), _WHOLE] = 1000
    seed: Annotated[int, Field(ge=0, le=MAX_SAFE_INTEGER), _WHOLE] = 0
    max_latency_ms: Annotated[StrictFloat, Field(gt=0.0, le=1e9)] | None = None
    max_size_mb: Annotated[StrictFloat, Field(gt=0.0, le=1e9)] | None = None


class StoredSpec(Message):
    """What a suite version pins: the spec with its dataset resolved to ``name/version``."""

    dataset: str
    target: str
    task: Task
    primary: str
    metrics: list[str]
    guards: dict[str, float]
    slices: list[SliceSpec]
    fairness: list[FairnessSpec]
    scorers: list[str]
    features: list[str] | None
    group: str | None
    positive_label: JsonValue
    margin: float
    confidence: float
    method: Method
    resamples: int
    seed: int
    max_latency_ms: float | None
    max_size_mb: float | None


class SuiteVersion(Message):
    name: str
    version: int
    digest: str
    description: str = ""
    spec: StoredSpec
    dataset_name: str
    dataset_version: int
    dataset_digest: str
    created_by: str
    creation_time: int
    created: bool = False  # True when this call registered it

    @property
    def ref(self) -> str:
        """``name/version``, as ``run_suite`` and ``gate`` take it."""
        return f"{self.name}/{self.version}"


class SuiteRef(Message):
    """A suite by name; without ``version``, its newest."""

    name: AssetName
    version: QueryId | None = None


class SuiteName(Message):
    name: AssetName


class SuiteSummary(Message):
    name: str
    description: str
    latest_version: int | None
    created_by: str
    creation_time: int
    last_update_time: int


class ListSuites(Message):
    max_results: Annotated[int, Field(ge=1, le=MAX_LIST)] = 100


class SuiteList(Message):
    suites: list[SuiteSummary]


class SuiteVersionList(Message):
    versions: list[SuiteVersion]


# -- gate decisions ----------------------------------------------------------------------


class ModelRef(Message):
    name: AssetName
    version: Version

    @property
    def uri(self) -> str:
        return f"models:/{self.name}/{self.version}"


class HistogramBin(Message):
    low: float
    high: float
    count: int


class PrimaryComparison(Message):
    """The primary metric of both models and the test of the improvement.

    ``difference`` is the improvement (candidate minus champion, or champion minus candidate
    for a metric where lower is better), ``ci_low``/``ci_high`` its two-sided interval at
    ``confidence`` (bootstrap); ``p_value`` is McNemar's exact one-sided p (mcnemar).
    """

    metric: str
    higher_is_better: bool
    candidate: Number = None
    champion: Number = None
    difference: Number = None
    ci_low: Number = None
    ci_high: Number = None
    p_value: Number = None
    method: Method = "bootstrap"
    margin: float = 0.0
    confidence: float = 0.95
    resamples: int = 0
    discordant: list[int] | None = None  # McNemar: [candidate right only, champion right only]
    histogram: list[HistogramBin] = Field(default_factory=list)


class MetricComparison(Message):
    metric: str
    higher_is_better: bool
    candidate: Number = None
    champion: Number = None
    difference: Number = None  # improvement, as in PrimaryComparison
    tolerance: Number = None  # guarded metrics only
    passed: StrictBool | None = None


class SliceComparison(Message):
    name: str
    column: str
    rows: int
    metric: str
    candidate: Number = None
    champion: Number = None
    difference: Number = None
    tolerance: float = 0.0
    passed: StrictBool | None = None  # None: not judged (empty, or undefined)
    note: str = ""


class FairnessCheck(Message):
    column: str
    metric: str
    bound: float
    candidate: Number = None
    champion: Number = None
    passed: StrictBool | None = None
    note: str = ""


class BudgetCheck(Message):
    name: Literal["latency_p95_ms", "size_mb"]
    limit: float
    candidate: Number = None
    champion: Number = None
    passed: StrictBool


class GateDecisionIn(Message):
    """A decision the SDK computed, to be stored (``record_gate_decision``)."""

    suite: AssetName
    suite_version: Version
    candidate: ModelRef
    champion: ModelRef | None = None
    candidate_run_id: Annotated[str, Field(max_length=32), text(32)] | None = None
    champion_run_id: Annotated[str, Field(max_length=32), text(32)] | None = None
    outcome: Outcome
    passed: StrictBool
    reasons: list[Annotated[str, Field(max_length=2000), text(2000)]] = Field(
        default_factory=list, max_length=1000
    )
    n_rows: Annotated[int, Field(ge=0, le=MAX_SAFE_INTEGER), _WHOLE]
    primary: PrimaryComparison
    metrics: list[MetricComparison] = Field(default_factory=list, max_length=1000)
    slices: list[SliceComparison] = Field(default_factory=list, max_length=10_000)
    fairness: list[FairnessCheck] = Field(default_factory=list, max_length=1000)
    budgets: list[BudgetCheck] = Field(default_factory=list, max_length=2)


class GateDecision(GateDecisionIn):
    """A stored gate decision: every number and reason, the models, suite and runs."""

    id: int
    dataset_name: str
    dataset_version: int
    created_by: str
    created_at: int


class DecisionRef(Message):
    id: QueryId


class ListDecisions(Message):
    """Decisions newest first; ``model`` matches the candidate or the champion's name;
    ``before`` (an id) pages back."""

    model: AssetName | None = None
    suite: AssetName | None = None
    before: QueryId | None = None
    max_results: Annotated[int, Field(ge=1, le=MAX_LIST)] = 100


class DecisionList(Message):
    decisions: list[GateDecision]
