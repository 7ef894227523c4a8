"""``run_pipeline``: trace the pipeline, then run its graph on an executor, tracked.

The driver runs where ``run_pipeline`` is called. It creates the tracking run, records the
pipeline run (every node pending), then hands each node whose inputs are ready to the
executor, independent nodes in parallel. Before a cached step runs its key is looked up;
after a step ends its state is buffered and written in batches (at most once a second while
the run goes on, and once at its end), so recording costs a few statements per run, not
per step. A step that fails after its retries stops the run: steps already running finish,
those not started are marked skipped.
"""

from __future__ import annotations

import importlib
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mloop.core.errors import MloopError, ValidationError
from mloop.pipelines.decorators import Pipeline
from mloop.pipelines.executors import Executor, resolve_executor
from mloop.pipelines.graph import Graph, Handle, Node, select, trace, walk
from mloop.pipelines.params import validate_params
from mloop.pipelines.values import Encoded, cache_key, decode, encode, literal_digest
from mloop.pipelines.worker import Outcome, Task, driver_env, now_ms

if TYPE_CHECKING:
    from mloop.client.client import Client
    from mloop.pipelines.schemas import CacheEntry

FLUSH_INTERVAL_S = 1.0
INLINE_LIMIT = 16_384  # JSON outputs up to this many bytes are cached in the database
CACHE_DIR = "pipeline-cache"
_EXTENSIONS = {
    "json": "json",
    "npy": "npy",
    "pandas": "parquet",
    "arrow": "parquet",
    "pickle": "pkl",
}


class PipelineFailed(MloopError):
    """A pipeline run ended without succeeding."""

    code = "PIPELINE_FAILED"


@dataclass
class StepResult:
    """A node's state in a pipeline run."""

    node: str
    step: str
    status: str = "pending"
    attempts: list[dict[str, Any]] = field(default_factory=list)
    cache_key: str | None = None
    cache_hit: bool = False
    start_time: int | None = None
    end_time: int | None = None
    log_tail: str = ""
    error: str = ""

    def record(self) -> dict[str, Any]:
        return {
            "node": self.node,
            "status": self.status,
            "attempts": self.attempts,
            "cache_key": self.cache_key,
            "cache_hit": self.cache_hit,
            "start_time": self.start_time,
            "end_time": self.end_time,
            "log_tail": _clean(self.log_tail),
            "error": _clean(self.error),
        }


@dataclass
class PipelineRun:
    """The result of :func:`run_pipeline`."""

    id: int
    name: str
    status: str
    outputs: Any
    run_id: str
    error: str
    steps: dict[str, StepResult]

    def result(self) -> Any:
        """The outputs; raises :class:`PipelineFailed` when the run did not succeed."""
        if self.status != "succeeded":
            raise PipelineFailed(f"pipeline run {self.id} ({self.name}) failed: {self.error}")
        return self.outputs


def _clean(text: str) -> str:
    """Printed output may hold NUL; the database and JSON bodies take the rest."""
    return text.replace("\x00", "\ufffd")[-8000:]


def resolve_pipeline(pipeline: Pipeline | str) -> Pipeline:
    """A :class:`Pipeline`, or the one named ``"package.module:function"``."""
    if isinstance(pipeline, Pipeline):
        return pipeline
    if not isinstance(pipeline, str) or pipeline.count(":") != 1:
        raise ValidationError(
            "pipeline must be a @pipeline function or 'package.module:function'",
            field="pipeline",
        )
    module_name, _, attribute = pipeline.partition(":")
    try:
        found: Any = importlib.import_module(module_name)
        for part in attribute.split("."):
            found = getattr(found, part)
    except (ImportError, AttributeError) as exc:
        raise ValidationError(
            f"pipeline {pipeline!r} cannot be imported: {exc}", field="pipeline"
        ) from None
    if not isinstance(found, Pipeline):
        raise ValidationError(
            f"{pipeline} is not a @pipeline function (found {type(found).__name__})",
            field="pipeline",
        )
    return found


class _Driver:
    """One pipeline run's scheduling loop and records."""

    def __init__(
        self, graph: Graph, client: Client, executor: Executor, run: Any, pipeline_run: int
    ) -> None:
        self.graph = graph
        self.client = client
        self.executor = executor
        self.run = run
        self.id = pipeline_run
        self.steps = {n.id: StepResult(n.id, n.step.name) for n in graph.nodes.values()}
        self.values: dict[str, Any] = {}
        self.digests: dict[str, str | None] = {}
        self.downstream = graph.downstream()
        self.waiting = {n.id: set(n.upstream) for n in graph.nodes.values()}
        # Encode an output when it is cached, or when a cached step downstream needs its
        # digest for its own key.
        self.encode = {
            n.id: bool(n.step.cache)
            or any(graph.nodes[d].step.cache for d in self.downstream[n.id])
            for n in graph.nodes.values()
        }
        self.staging = Path(tempfile.mkdtemp(prefix="mloop-pipeline-"))
        self.cache_entries: list[CacheEntry] = []
        self.dirty: set[str] = set()
        self.running: dict[str, Task] = {}
        self.failed = False
        self.last_flush = time.monotonic()
        self.sys_path = [p for p in sys.path if p]
        self.env = driver_env()
        self.ready: list[str] = [n for n, ups in self.waiting.items() if not ups]
        self.task_starts: dict[str, int] = {}

    # -- cache ----------------------------------------------------------------------------

    def _input_tree(self, value: Any) -> Any:
        """The JSON tree of digests a cache key covers; None leaves make it uncacheable."""
        if isinstance(value, Handle):
            return {"output": self.digests.get(value.node), "path": list(value.path)}
        if isinstance(value, list | tuple):
            return [type(value).__name__, *(self._input_tree(v) for v in value)]
        if isinstance(value, dict) and all(isinstance(k, str) for k in value):
            return {"dict": {k: self._input_tree(v) for k, v in value.items()}}
        return {"literal": literal_digest(value)}

    def _key(self, node: Node) -> str | None:
        if not node.step.cache:
            return None
        tree = self._input_tree([list(node.args), node.kwargs])
        if _has_none(tree):
            return None
        return cache_key(node.step.ref, node.step.source_digest, tree)

    def _load_cached(self, node: Node, entry: CacheEntry) -> Any:
        if entry.inline is not None:
            data = entry.inline.encode()
        else:
            where = self.client.download_artifacts(
                entry.run_id, entry.path, self.staging / "_hits" / entry.key
            )
            data = where.read_bytes()
        encoded = Encoded(entry.format, data)
        if encoded.digest != entry.digest:
            raise ValidationError(
                "the cached output's bytes do not match its digest", field="cache"
            )
        return decode(encoded, trusted=node.step.cache == "trusted")

    # -- scheduling ---------------------------------------------------------------------

    def _arguments(self, node: Node) -> tuple[tuple[Any, ...], dict[str, Any]]:
        def value_of(h: Handle) -> Any:
            return select(self.values[h.node], h.path, h.node)

        return walk(node.args, value_of), walk(node.kwargs, value_of)

    def _start(self, ready: list[str]) -> None:
        keys = {n: self._key(self.graph.nodes[n]) for n in ready}
        wanted = sorted({k for k in keys.values() if k})
        hits = {}
        if wanted:
            found = self.client.call("lookup_pipeline_cache", keys=wanted).entries
            hits = {e.key: e for e in found}
        for node_id in ready:
            node = self.graph.nodes[node_id]
            result = self.steps[node_id]
            result.cache_key = keys[node_id]
            entry = hits.get(keys[node_id] or "")
            if entry is not None:
                try:
                    value = self._load_cached(node, entry)
                except (MloopError, OSError, ValueError):
                    pass  # the stored output is gone or unreadable: run the step
                else:
                    now = now_ms()
                    result.status, result.cache_hit = "cached", True
                    result.start_time = result.end_time = now
                    self._completed(node_id, value, entry.digest)
                    continue
            try:
                args, kwargs = self._arguments(node)
            except MloopError as exc:
                self._fail(node_id, str(exc), now_ms(), now_ms(), "")
                continue
            self._submit(node, args, kwargs, attempt=1)

    def _submit(
        self, node: Node, args: tuple[Any, ...], kwargs: dict[str, Any], attempt: int
    ) -> None:
        task = Task(
            node=node.id,
            step_ref=node.step.ref,
            args=args,
            kwargs=kwargs,
            attempt=attempt,
            tracking_uri=self.client.tracking_uri,
            run=self.run,
            encode=self.encode[node.id],
            trusted=node.step.cache == "trusted",
            timeout_s=node.step.timeout_s,
            sys_path=self.sys_path,
            env=self.env,
        )
        result = self.steps[node.id]
        result.status = "running"
        if result.start_time is None:
            result.start_time = now_ms()
        self.dirty.add(node.id)
        self.running[node.id] = task
        self.task_starts[node.id] = now_ms()
        self.executor.submit(task)

    def _completed(self, node_id: str, value: Any, digest: str | None) -> list[str]:
        self.values[node_id] = value
        self.digests[node_id] = digest
        self.dirty.add(node_id)
        ready = []
        for down in self.downstream[node_id]:
            self.waiting[down].discard(node_id)
            if not self.waiting[down]:
                ready.append(down)
        self.ready += ready
        return ready

    def _fail(self, node_id: str, error: str, start: int, end: int, log_tail: str) -> None:
        result = self.steps[node_id]
        result.status, result.error, result.log_tail = "failed", error, log_tail
        result.start_time = result.start_time or start
        result.end_time = end
        self.dirty.add(node_id)
        self.failed = True

    def _finished(self, outcome: Outcome) -> None:
        task = self.running.pop(outcome.node)
        node = self.graph.nodes[outcome.node]
        result = self.steps[outcome.node]
        start = outcome.start_ms or self.task_starts[outcome.node]
        end = outcome.end_ms or now_ms()
        result.attempts.append(
            {
                "attempt": task.attempt,
                "status": "succeeded" if outcome.ok else "failed",
                "start_time": start,
                "end_time": end,
                "error": _clean(outcome.error),
            }
        )
        result.log_tail = outcome.log_tail
        if outcome.ok:
            result.status, result.end_time, result.error = "succeeded", end, ""
            encoded = outcome.encoded
            if encoded is not None and node.step.cache and result.cache_key:
                self._stage(node, result.cache_key, encoded)
            self._completed(
                outcome.node, outcome.value, encoded.digest if encoded is not None else None
            )
        elif task.attempt <= node.step.retries and not self.failed:
            self.dirty.add(outcome.node)
            self._submit(node, task.args, task.kwargs, attempt=task.attempt + 1)
        else:
            self._fail(outcome.node, outcome.error, start, end, outcome.log_tail)

    def _stage(self, node: Node, key: str, encoded: Encoded) -> None:
        from mloop.pipelines.schemas import CacheEntry

        run_id = self.run.info.run_id
        common = {
            "key": key,
            "step": node.step.name,
            "format": encoded.format,
            "run_id": run_id,
            "digest": encoded.digest,
        }
        if encoded.format == "json" and len(encoded.data) <= INLINE_LIMIT:
            self.cache_entries.append(CacheEntry(**common, inline=encoded.data.decode()))
            return
        name = f"{node.id}.{_EXTENSIONS[encoded.format]}"
        (self.staging / CACHE_DIR).mkdir(parents=True, exist_ok=True)
        (self.staging / CACHE_DIR / name).write_bytes(encoded.data)
        self.cache_entries.append(CacheEntry(**common, path=f"{CACHE_DIR}/{name}"))

    def _flush(self, **final: Any) -> None:
        steps = [self.steps[n].record() for n in self.dirty]
        self.dirty.clear()
        cache, self.cache_entries = (self.cache_entries, []) if final else ([], self.cache_entries)
        self.client.call(
            "record_pipeline_run",
            id=self.id,
            steps=steps,
            cache=[c.model_dump() for c in cache],
            **final,
        )
        self.last_flush = time.monotonic()

    def execute(self) -> None:
        try:
            while self.ready or self.running:
                if self.ready and not self.failed:
                    ready, self.ready = self.ready, []
                    self._start(ready)
                    continue
                self.ready = []
                if not self.running:
                    break
                for outcome in self.executor.wait(FLUSH_INTERVAL_S):
                    self._finished(outcome)
                if self.dirty and time.monotonic() - self.last_flush >= FLUSH_INTERVAL_S:
                    self._flush()
        finally:
            for node_id, result in self.steps.items():
                if result.status in ("pending", "running"):
                    result.status = "skipped"
                    self.dirty.add(node_id)

    def upload_cache(self) -> None:
        """Store the staged outputs as artifacts of the run (their entries go in the final
        record, after the files are in place)."""
        if (self.staging / CACHE_DIR).is_dir():
            self.client.log_artifacts(self.run.info.run_id, self.staging / CACHE_DIR, CACHE_DIR)

    def close(self) -> None:
        shutil.rmtree(self.staging, ignore_errors=True)


def _has_none(tree: Any) -> bool:
    if tree is None:
        return True
    if isinstance(tree, list):
        return any(_has_none(v) for v in tree)
    if isinstance(tree, dict):
        return any(_has_none(v) for k, v in tree.items() if k != "path")
    return False


def _outputs_json(outputs: Any) -> Any:
    encoded = encode(outputs)
    if encoded is None or encoded.format != "json":
        return None
    return outputs


def run_pipeline(
    pipeline: Pipeline | str,
    params: dict[str, Any] | None = None,
    *,
    executor: str | Executor = "local",
    workers: int | None = None,
    trigger: str | None = None,
    experiment_id: str | None = None,
    client: Client | None = None,
) -> PipelineRun:
    """Run a pipeline once and wait for it; returns the run (``.status``, ``.outputs``...).

    ``pipeline`` is a ``@pipeline`` function or ``"package.module:function"``; ``params``
    are checked against its type hints. ``executor`` is ``"local"`` (worker processes,
    ``workers`` of them, default the machine's cores), ``"ray"`` (``RAY_ADDRESS``, or a
    local Ray started for the run) or an :class:`Executor`. ``trigger`` says what started
    the run (recorded). A failed step does not raise: the run's ``status`` is ``"failed"``
    and ``error`` says why (``.result()`` raises).
    """
    from mloop.client.client import Client
    from mloop.client.entities import Param

    found = resolve_pipeline(pipeline)
    values, params_json = validate_params(found, params)
    if trigger is not None and (not isinstance(trigger, str) or len(trigger) > 256):
        raise ValidationError("trigger must be text of at most 256 characters", field="trigger")
    owned = not isinstance(executor, Executor)
    chosen = resolve_executor(executor, workers)
    graph = trace(found, values)
    client = client or Client()
    tags = {
        "mloop.pipeline": found.name,
        "mloop.pipeline.ref": found.ref,
        "mloop.pipeline.executor": chosen.name,
    }
    if trigger:
        tags["mloop.pipeline.trigger"] = trigger
    run = client.create_run(experiment_id=experiment_id, run_name=found.name, tags=tags)
    run_id = run.info.run_id
    if params_json:
        client.log_batch(run_id, params=[Param(k, _param_text(v)) for k, v in params_json.items()])
    info = client.call(
        "start_pipeline_run",
        pipeline=found.name,
        ref=found.ref,
        run_id=run_id,
        executor=chosen.name,
        trigger=trigger or "",
        params=params_json,
        graph=graph.describe(),
    )
    client.set_tag(run_id, "mloop.pipeline.run", str(info.id))
    driver = _Driver(graph, client, chosen, run, info.id)
    status, error, outputs = "failed", "", None
    try:
        chosen.start()
        driver.execute()
        if driver.failed:
            failed = [r for r in driver.steps.values() if r.status == "failed"]
            error = f"step {failed[0].node!r} failed: " + _last_line(failed[0].error)
        else:
            outputs = walk(graph.output, lambda h: select(driver.values[h.node], h.path, h.node))
            status = "succeeded"
        driver.upload_cache()
    except BaseException as exc:
        error = f"the pipeline run stopped: {type(exc).__name__}: {exc}"
        driver._flush(status="failed", error=_clean(error), end_time=now_ms())
        client.set_terminated(run_id, "KILLED" if isinstance(exc, KeyboardInterrupt) else "FAILED")
        raise
    finally:
        if owned:
            chosen.shutdown()
        driver.close()
    driver._flush(
        status=status, error=_clean(error), outputs=_outputs_json(outputs), end_time=now_ms()
    )
    client.set_terminated(run_id, "FINISHED" if status == "succeeded" else "FAILED")
    return PipelineRun(
        id=info.id,
        name=found.name,
        status=status,
        outputs=outputs,
        run_id=run_id,
        error=error,
        steps=driver.steps,
    )


def _param_text(value: Any) -> str:
    import json

    return value if isinstance(value, str) else json.dumps(value)


def _last_line(text: str) -> str:
    lines = [line for line in text.strip().splitlines() if line.strip()]
    return lines[-1] if lines else "no error message"
