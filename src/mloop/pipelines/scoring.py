"""Built-in batch scoring: a model version over a dataset version, in parallel partitions,
written as a new dataset version.

``batch_score`` runs the pipeline :data:`batch_score_pipeline`, made of ordinary steps:

1. ``plan_scoring`` pins the model version and dataset version the references name, checks
   the columns, records the dataset version as the run's input (lineage) and splits its rows
   into ``partitions`` ranges (on row-group boundaries when it can);
2. ``score_partition`` (one per partition, in parallel) reads its rows of the version's
   Parquet file, only the columns needed, predicts with the model (loaded once per worker
   process and kept) and stores its output as a Parquet artifact of the run;
3. ``register_scores`` registers the partition files, in order, as a version of dataset
   ``output``, produced by the run, whose tags name the model version and the input.

The same steps run on the local and the Ray executor: partitions exchange only their plan
and the artifact path of their output, never the rows. On the local executor the workers
start with the model's library imported (:func:`scoring_modules`, preloaded once in the
forkserver) and keep each model they load, so a pool passed to several calls loads a model
once per worker. Each partition reports where its time went (``seconds``); the run logs the
sums as metrics ``scoring_<phase>_s``.
"""

from __future__ import annotations

import contextlib
import importlib
import tempfile
import time
from collections import OrderedDict
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mloop.pipelines.decorators import pipeline, step
from mloop.pipelines.executors import Executor

if TYPE_CHECKING:
    import pyarrow as pa

    from mloop.client.client import Client
    from mloop.client.datasets_fluent import DatasetVersion
    from mloop.models.loading import LoadedModel
    from mloop.pipelines.driver import PipelineRun

ARTIFACT_DIR = "batch-score"
TAG_MODEL = "mloop.scoring.model"
TAG_DATASET = "mloop.scoring.dataset"
TAG_OUTPUT = "mloop.scoring.output"

# The libraries a model of each flavor loads with; imported before the first partition
# (skops' import alone walks every scikit-learn module: seconds, once per process).
_FLAVOR_MODULES = {
    "sklearn": ("sklearn", "skops.io", "mloop.models.sklearn_model"),
    "lightgbm": ("lightgbm", "mloop.models.lightgbm_model"),
    "xgboost": ("xgboost", "mloop.models.xgboost_model"),
}
_COMMON_MODULES = (
    "mloop.pipelines.scoring",
    "mloop.client.client",
    "mloop.models.loading",
    "numpy",
    "pandas",
    "pyarrow.parquet",
)
# Models loaded in this worker process, by content digest and trust: a worker scoring many
# partitions of one version loads it once. The digest names the files, whatever store they
# came from. A long-lived pool scoring many models keeps only the latest few.
MODELS_KEPT = 4
_MODELS: OrderedDict[tuple[str, bool], LoadedModel] = OrderedDict()


def scoring_modules(flavor: str | None) -> list[str]:
    """The modules a scoring worker imports for a model of ``flavor``: what
    ``LocalExecutor(preload=...)`` should load before the first partition."""
    return [*_COMMON_MODULES, *_FLAVOR_MODULES.get(flavor or "", ())]


def _model(plan: dict[str, Any]) -> LoadedModel:
    key = (plan["model_digest"], bool(plan["trusted"]))
    loaded = _MODELS.get(key)
    if loaded is None:
        import mloop

        loaded = mloop.load_model(plan["model"], trusted=plan["trusted"])
        _MODELS[key] = loaded
        while len(_MODELS) > MODELS_KEPT:
            _MODELS.popitem(last=False)
    _MODELS.move_to_end(key)
    return loaded


def _dataset_file(plan: dict[str, Any]) -> Path:
    """The local copy of the input version's Parquet file (downloaded once, digest checked)."""
    from mloop.client.client import Client
    from mloop.client.datasets_fluent import cached_file

    name, _, version = plan["dataset"].partition("/")
    return cached_file(Client(), name, int(version), plan["dataset_digest"])


@step(cache=False)
def plan_scoring(
    model: str,
    dataset: str,
    output: str,
    partitions: int,
    columns: list[str] | None,
    keep: list[str] | None,
    trusted: bool,
) -> dict[str, Any]:
    """Pin the model and dataset versions, check the columns, split the rows."""
    import pyarrow.parquet as pq

    import mloop
    from mloop.client.client import Client
    from mloop.pipelines.scoring_plan import make_plan, with_ranges

    plan = make_plan(
        Client(),
        model=model,
        dataset=dataset,
        output=output,
        partitions=partitions,
        columns=columns,
        keep=keep,
        trusted=trusted,
    )
    mloop.get_dataset(plan["dataset"], context="scoring")  # the run's input, for lineage
    meta = pq.ParquetFile(_dataset_file(plan)).metadata
    plan = with_ranges(plan, [meta.row_group(i).num_rows for i in range(meta.num_row_groups)])
    mloop.set_tags({TAG_MODEL: plan["model"], TAG_DATASET: plan["dataset"]})
    print(f"scoring {plan['rows']} rows of {plan['dataset']} with {plan['model']}")
    return plan


def read_rows(path: Path, start: int, end: int, columns: list[str]) -> pa.Table:
    """Rows ``[start, end)`` of a Parquet file, only ``columns``, reading only the row
    groups that hold them."""
    import pyarrow.parquet as pq

    file = pq.ParquetFile(path)
    meta = file.metadata
    groups, first, offset = [], None, 0
    for i in range(meta.num_row_groups):
        size = meta.row_group(i).num_rows
        if offset < end and offset + size > start:
            groups.append(i)
            first = offset if first is None else first
        offset += size
    if not groups or first is None:
        return file.schema_arrow.empty_table().select(columns)
    table = file.read_row_groups(groups, columns=columns)
    return table.slice(start - first, end - start)


def _predictions(loaded: LoadedModel, frame: Any) -> dict[str, Any]:
    """The output columns of the model's predictions for ``frame``."""
    import numpy as np

    predicted = loaded.predict(frame)
    values = np.asarray(predicted.to_numpy() if hasattr(predicted, "to_numpy") else predicted)
    if values.ndim == 2 and values.shape[1] == 1:
        values = values[:, 0]
    if values.ndim == 1:
        return {"prediction": values}
    if values.ndim == 2:
        return {f"prediction_{j}": values[:, j] for j in range(values.shape[1])}
    raise ValueError(f"the model's predictions have shape {values.shape}; expected 1 or 2 axes")


PHASES = ("imports", "model", "read", "predict", "write", "store")
"""Where a partition's time goes: importing the libraries (nothing when the worker was
forked with them), loading the model (nothing when the worker already holds it), reading
its rows, predicting, writing its Parquet file, storing it as an artifact."""


class _Clock:
    """Seconds spent in each phase, in the order they ran."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = dict.fromkeys(PHASES, 0.0)
        self._last = time.perf_counter()
        self._cpu = time.process_time()

    def cpu_s(self) -> float:
        """CPU seconds this process used since the clock started (all its threads): below
        the phases' sum when the worker waited for a core, or for the store."""
        return time.process_time() - self._cpu

    def lap(self, phase: str) -> None:
        now = time.perf_counter()
        self.seconds[phase] += now - self._last
        self._last = now


@step(cache=False)
def score_partition(plan: dict[str, Any], index: int) -> dict[str, Any]:
    """Score one partition's rows; its output is stored as the run's artifact
    ``batch-score/part-NNNNN.parquet``. Returns its path, row count, ``seconds`` per
    phase (:data:`PHASES`) and ``cpu_s``, the CPU seconds it used."""
    clock = _Clock()
    for module in scoring_modules(plan.get("flavor")):
        # one missing here (skops, for a pickled model) is reported by the load if needed
        with contextlib.suppress(ImportError):
            importlib.import_module(module)
    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq

    import mloop

    clock.lap("imports")
    start, end = plan["ranges"][index]
    columns, keep = plan["columns"], plan["keep"]
    model = _model(plan)  # an empty partition still checks that the model loads
    clock.lap("model")
    needed = list(dict.fromkeys([*columns, *keep]))
    table = read_rows(_dataset_file(plan), start, end, needed)
    out: dict[str, Any] = {"row": np.arange(start, end, dtype=np.int64)}
    out.update({name: table.column(name) for name in keep})
    frame = table.select(columns).to_pandas() if table.num_rows else None
    clock.lap("read")
    if frame is not None:
        out.update(_predictions(model, frame))
    else:
        out["prediction"] = pa.array([], type=pa.float64())
    clock.lap("predict")
    name = f"part-{index:05d}.parquet"
    with tempfile.TemporaryDirectory(prefix="mloop-score-") as tmp:
        target = Path(tmp) / name
        # An intermediate file, read once by register_scores: no dictionary pages (row
        # positions and ids are unique; dictionaries would only be built and dropped).
        pq.write_table(pa.table(out), target, compression="zstd", use_dictionary=False)
        clock.lap("write")
        mloop.log_artifact(target, ARTIFACT_DIR)
        clock.lap("store")
    print(
        f"partition {index}: rows {start}-{end}, "
        + ", ".join(f"{phase} {s:.3f} s" for phase, s in clock.seconds.items())
    )
    return {
        "path": f"{ARTIFACT_DIR}/{name}",
        "rows": end - start,
        "seconds": clock.seconds,
        "cpu_s": clock.cpu_s(),
    }


def _ordered_reader(files: list[Path]) -> pa.RecordBatchReader:
    """The partition files' rows in partition order, one batch at a time."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    schema = pq.read_schema(files[0])

    def batches() -> Any:
        for path in files:
            yield from pq.ParquetFile(path).iter_batches()

    return pa.RecordBatchReader.from_batches(schema, batches())


@step(cache=False)
def register_scores(plan: dict[str, Any], parts: list[dict[str, Any]]) -> dict[str, Any]:
    """Register the partitions' outputs as a version of dataset ``plan["output"]``."""
    import mloop
    from mloop.client.client import Client

    begin = time.perf_counter()
    run = mloop.active_run()
    if run is None:  # pragma: no cover - steps always run with the pipeline's run active
        raise RuntimeError("register_scores runs inside a pipeline run")
    with tempfile.TemporaryDirectory(prefix="mloop-scores-") as tmp:
        local = Client().download_artifacts(run.info.run_id, ARTIFACT_DIR, tmp)
        files = [local / Path(part["path"]).name for part in parts]
        version = mloop.register_dataset(
            plan["output"],
            _ordered_reader(files),
            source=f"batch scoring of {plan['dataset']} with {plan['model']}",
        )
    mloop.set_tag(TAG_OUTPUT, version.ref)
    # Worker seconds per phase over all partitions, and this step's own (serial) seconds.
    metrics = {
        f"scoring_{phase}_s": sum(part.get("seconds", {}).get(phase, 0.0) for part in parts)
        for phase in PHASES
    }
    metrics["scoring_cpu_s"] = sum(part.get("cpu_s", 0.0) for part in parts)
    metrics["scoring_register_s"] = time.perf_counter() - begin
    metrics["rows_scored"] = float(sum(part["rows"] for part in parts))
    mloop.log_metrics(metrics)
    return {"name": version.name, "version": version.version, "created": version.created}


@pipeline(name="batch_score")
def batch_score_pipeline(
    model: str,
    dataset: str,
    output: str,
    partitions: int = 4,
    columns: list[str] | None = None,
    keep: list[str] | None = None,
    trusted: bool = False,
) -> dict[str, Any]:
    """Score ``dataset`` with ``model`` in ``partitions`` parallel steps into ``output``."""
    plan = plan_scoring(model, dataset, output, partitions, columns, keep, trusted)
    parts = [score_partition(plan, i) for i in range(partitions)]
    return register_scores(plan, parts)


def batch_score_run(
    model: str,
    dataset: str,
    *,
    output: str,
    partitions: int = 4,
    executor: str | Executor = "local",
    workers: int | None = None,
    columns: list[str] | None = None,
    keep: list[str] | None = None,
    trusted: bool = False,
    trigger: str | None = None,
    client: Client | None = None,
) -> PipelineRun:
    """Like :func:`batch_score`, but returns the pipeline run (failed or not) instead of
    the dataset version; the CLI prints its steps."""
    from mloop.client.client import Client
    from mloop.pipelines.driver import run_pipeline
    from mloop.pipelines.scoring_plan import make_plan

    client = client or Client()
    # Checked here first, so bad input raises before a run is recorded; the run scores the
    # versions pinned now even if an alias moves while it starts.
    plan = make_plan(
        client,
        model=model,
        dataset=dataset,
        output=output,
        partitions=partitions,
        columns=columns,
        keep=keep,
        trusted=trusted,
    )
    params = {
        "model": plan["model"],
        "dataset": plan["dataset"],
        "output": output,
        "partitions": partitions,
        "columns": plan["columns"],
        "keep": plan["keep"],
        "trusted": trusted,
    }
    owned: Executor | None = None
    if executor == "local":
        from mloop.pipelines.local import LocalExecutor

        # Workers forked with the model's library already imported (the slow part of a
        # cold worker), shut down with the run as run_pipeline's own would be.
        owned = LocalExecutor(workers=workers, preload=scoring_modules(plan["flavor"]))
    try:
        return run_pipeline(
            batch_score_pipeline,
            params,
            executor=owned or executor,
            workers=workers,
            trigger=trigger,
            client=client,
        )
    finally:
        if owned is not None:
            owned.shutdown()


def batch_score(
    model: str,
    dataset: str,
    *,
    output: str,
    partitions: int = 4,
    executor: str | Executor = "local",
    workers: int | None = None,
    columns: list[str] | None = None,
    keep: list[str] | None = None,
    trusted: bool = False,
    trigger: str | None = None,
    client: Client | None = None,
) -> DatasetVersion:
    """Score a dataset version with a model version; returns the output dataset version.

    ``model``: ``models:/name/3``, ``models:/name@alias`` or ``models:/name/latest``;
    ``dataset``: ``name``, ``name/2`` or ``name@alias`` (both pinned when the call starts).
    The rows are split into ``partitions`` (1 to 1024) scored in parallel on ``executor``
    (``"local"`` worker processes, ``"ray"`` or an :class:`Executor`; ``workers`` of them).
    ``columns`` are the model's input columns (default: those of its signature); ``keep``
    columns are copied to the output beside ``row`` (the input row's position) and
    ``prediction``. ``trusted`` is passed to ``mloop.load_model``. The output is registered
    as a version of dataset ``output`` produced by the run, which records the input
    version and names the model version in its tags. Raises
    :class:`~mloop.pipelines.driver.PipelineFailed` when a step failed.
    """
    from mloop.client.datasets_fluent import DatasetVersion

    run = batch_score_run(
        model,
        dataset,
        output=output,
        partitions=partitions,
        executor=executor,
        workers=workers,
        columns=columns,
        keep=keep,
        trusted=trusted,
        trigger=trigger,
        client=client,
    )
    made = run.result()
    from mloop.client.client import Client

    owner = client or Client()
    return DatasetVersion(owner.get_dataset_version(made["name"], made["version"]), owner)
