"""The serving runtime of one process: live deployments, traffic, batching, shadows, logging.

Deployment state lives in the metadata database. The runtime loads an endpoint's live
deployment on its first request, then re-reads the live deployment ids of the endpoints it
serves every ``refresh_seconds`` (one indexed query), so a deploy, promotion or rollback
made anywhere reaches every process serving that endpoint within about that long. A new
deployment is loaded beside the old one and swapped in whole; when one of its models cannot
be loaded, the endpoint keeps serving the old one and a ``load_failed`` event says why.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import os
import time
import uuid
from collections import Counter
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from mloop.core.errors import MloopError, NotFoundError, ServiceUnavailableError, ValidationError
from mloop.models.loading import LoadedModel
from mloop.serving.batcher import MicroBatcher
from mloop.serving.deployments import current_deployment, current_deployment_ids
from mloop.serving.events import record_event
from mloop.serving.features import FeatureLookup, with_features
from mloop.serving.formats import ParsedRequest
from mloop.serving.loader import MODELS, ModelCache, StoredVersion, stored_version
from mloop.serving.predictor import Predictor, Result, SchemaViolation
from mloop.serving.schemas import Deployment, Variant
from mloop.serving.traffic import choose, mirrored
from mloop.store.runtime import Runtime

log = logging.getLogger("mloop.serving")

DEFAULT_MAX_PENDING = 256
"""Requests of one endpoint a process holds at once (predicting or waiting for a batch):
about a fifth of a second of work at the rates measured on two cores (benchmarks/README.md),
far above what a client pool of 64 connections keeps in flight."""


class OverloadedError(ServiceUnavailableError):
    """The endpoint holds as many requests as it may in this process: answered at once with
    503 and ``Retry-After`` instead of queueing without bound."""

    def __init__(self, message: str, *, retry_after_s: int, field: str | None = None) -> None:
        super().__init__(message, field=field)
        self.retry_after_s = retry_after_s


@dataclass(frozen=True)
class BatchOptions:
    """Micro-batching per loaded model (see :mod:`mloop.serving.batcher`).

    One batch in flight by default: a scikit-learn model spends most of a small batch in
    Python under the GIL, so a second batch in parallel only contends with the first and
    with the event loop. On the serving benchmark (2 cores, logistic regression) one gave
    1,570-1,670 req/s at concurrency 16 (p99 18-22 ms) against 1,130-1,230 (p99 30-35 ms)
    for two. A model that releases the GIL (large matrix products, native runtimes) may
    want more."""

    max_batch_rows: int = 64
    max_wait_s: float = 0.0
    max_in_flight: int = 1


@dataclass
class LiveVariant:
    variant: Variant
    stored: StoredVersion
    predictor: Predictor
    batcher: MicroBatcher[Result]

    @property
    def name(self) -> str:
        return self.variant.name

    @property
    def weight(self) -> int:
        return self.variant.weight


@dataclass
class LiveEndpoint:
    name: str
    deployment: Deployment
    variants: dict[str, LiveVariant]
    serving: list[LiveVariant] = field(default_factory=list)
    shadows: list[LiveVariant] = field(default_factory=list)
    # The digests of the deployment this one replaced in this process: kept loaded so a
    # rollback switches back without loading.
    kept: frozenset[str] = frozenset()


@dataclass(frozen=True)
class Outcome:
    """One answered request."""

    request_id: str
    endpoint: str
    variant: LiveVariant
    result: Result
    # Set when the request was routed to human review (a mloop.review.routing.Routed).
    review: Any = None


class ServingService:
    """Serves endpoints' live deployments in this process (the main server or ``mloop serve``).

    ``inference_log`` gets one record per request and per shadow copy (an
    :class:`~mloop.store.eventlog.InferenceLog`, or anything with its ``record``); None
    turns logging off (tests of the runtime alone).

    ``feature_lookup`` resolves requests' entity keys to features
    (:mod:`mloop.serving.features`); without one such requests are answered 422.

    ``review`` (a :class:`mloop.review.routing.ReviewRouter`) routes doubtful predictions
    to review queues by the endpoints' routing policies; without one nothing is routed.

    ``max_pending`` bounds the requests (and shadow copies) of one endpoint that this
    process holds at once, predicting or waiting for a batch; beyond it a request is refused
    at once with :class:`OverloadedError` (503, ``Retry-After: retry_after_s``), logged with
    status ``"overloaded"`` and counted in ``overloaded``, so overload costs admitted
    requests nothing and queues stay short.
    """

    def __init__(
        self,
        runtime: Runtime,
        *,
        inference_log: Any = None,
        models: ModelCache = MODELS,
        batching: BatchOptions | None = None,
        refresh_seconds: float = 1.0,
        threads: int | None = None,
        max_pending: int = DEFAULT_MAX_PENDING,
        retry_after_s: int = 1,
        feature_lookup: FeatureLookup | None = None,
        review: Any = None,
    ) -> None:
        if max_pending < 1 or retry_after_s < 0:
            raise ValueError("max_pending must be >= 1 and retry_after_s >= 0")
        self.runtime = runtime
        self.inference_log = inference_log
        self.models = models
        self.batching = batching or BatchOptions()
        self.refresh_seconds = refresh_seconds
        self.executor = ThreadPoolExecutor(
            max_workers=threads or min(8, (os.cpu_count() or 2) + 2),
            thread_name_prefix="mloop-serving",
        )
        self.shadow_failures = 0
        self.max_pending = max_pending
        self.retry_after_s = retry_after_s
        self.feature_lookup = feature_lookup
        self.review = review
        self.overloaded: Counter[str] = Counter()  # refused requests per endpoint
        self._pending: Counter[str] = Counter()
        self._overload_logged: dict[str, float] = {}
        self._live: dict[str, LiveEndpoint] = {}
        self._locks: dict[str, asyncio.Lock] = {}
        self._batchers: dict[
            tuple[str, Any], tuple[LoadedModel, Predictor, MicroBatcher[Result]]
        ] = {}
        self._failed: set[int] = set()
        self._refresher: asyncio.Task[None] | None = None
        self._tasks: set[asyncio.Task[Any]] = set()

    # -- requests ------------------------------------------------------------------------

    async def invoke(
        self,
        endpoint: str,
        request: ParsedRequest,
        *,
        key: str | None = None,
        variant: str | None = None,
    ) -> Outcome:
        """Answer one request: choose a variant, check, predict (batched), mirror, log."""
        started = time.perf_counter()
        request_id = uuid.uuid4().hex
        live = await self.live(endpoint)
        if request.entities is not None:
            request = await self._resolve(request, live.name)
        chosen = self._choose(live, request_id, key or request.key, variant)
        if self._pending[live.name] >= self.max_pending:
            raise self._refuse(request_id, live, chosen, request, started)
        self._pending[live.name] += 1
        try:
            checked = chosen.predictor.check(request.data)
            result = await chosen.batcher.submit(checked, request.rows)
        except Exception as exc:
            status = "invalid" if isinstance(exc, SchemaViolation) else "error"
            self._record(request_id, live, chosen, request, None, started, status, exc)
            if isinstance(exc, MloopError):
                raise
            log.exception("variant %s of endpoint %s failed", chosen.name, endpoint)
            raise ServiceUnavailableError(
                f"variant {chosen.name!r} (models:/{chosen.variant.model}/"
                f"{chosen.variant.version}) failed: {type(exc).__name__}: {exc}",
                field="inputs",
            ) from exc
        finally:
            self._pending[live.name] -= 1
        self._record(request_id, live, chosen, request, result, started, "ok", None)
        for shadow in mirrored(live.shadows, key or request.key or request_id, endpoint):
            self._spawn(self._shadow(request_id, live, shadow, request))
        routed = None
        if self.review is not None:
            routed = await self._route(request_id, live, chosen, request, result)
        return Outcome(request_id, endpoint, chosen, result, routed)

    async def _route(
        self,
        request_id: str,
        live: LiveEndpoint,
        chosen: LiveVariant,
        request: ParsedRequest,
        result: Result,
    ) -> Any:
        """Send a doubtful request to review. A caller told ``pending`` polls the item, so
        it is written before the answer; otherwise it is written in the background."""
        routed = self.review.decide(
            live.name, result.predictions, result.probabilities, result.confidence
        )
        if routed is None:
            return None
        write = functools.partial(
            self.review.enqueue,
            routed,
            request_id=request_id,
            endpoint=live.name,
            variant=chosen.name,
            model_name=chosen.variant.model,
            model_version=chosen.variant.version,
            inputs=request.logged,
            predictions=result.predictions,
            probabilities=result.probabilities,
            classes=chosen.predictor.classes,
            confidence=result.confidence,
        )
        if routed.status == "pending":
            try:
                await self._run(write)
            except Exception as exc:
                raise ServiceUnavailableError(
                    f"request {request_id} needs review but could not be queued: "
                    f"{type(exc).__name__}: {exc}",
                    field="review",
                ) from exc
        else:
            self._spawn(self._quietly(write))
        return routed

    async def _quietly(self, fn: Any) -> None:
        with contextlib.suppress(Exception):  # the router logs and counts its failures
            await self._run(fn)

    async def _resolve(self, request: ParsedRequest, endpoint: str) -> ParsedRequest:
        """The request with its entities' features looked up (in a worker thread)."""
        try:
            resolved: ParsedRequest = await self._run(
                with_features, request, endpoint, self.feature_lookup
            )
        except MloopError:
            raise
        except Exception as exc:
            log.exception("feature lookup failed for endpoint %s", endpoint)
            raise ServiceUnavailableError(
                f"the feature lookup of endpoint {endpoint!r} failed: {type(exc).__name__}: {exc}",
                field="entities",
            ) from exc
        return resolved

    def _refuse(
        self,
        request_id: str,
        live: LiveEndpoint,
        variant: LiveVariant,
        request: ParsedRequest,
        started: float,
    ) -> OverloadedError:
        """Count, log and record a request refused for overload; the error to raise."""
        self.overloaded[live.name] += 1
        error = OverloadedError(
            f"endpoint {live.name!r} is overloaded: {self.max_pending} requests are already "
            f"being served by this process; retry after {self.retry_after_s} s, or add "
            "workers or replicas",
            retry_after_s=self.retry_after_s,
        )
        now = time.monotonic()
        if now - self._overload_logged.get(live.name, -60.0) >= 10.0:  # not once per request
            self._overload_logged[live.name] = now
            log.warning(
                "endpoint %s is overloaded: refusing requests beyond %d pending (%d so far)",
                live.name,
                self.max_pending,
                self.overloaded[live.name],
            )
        self._record(request_id, live, variant, request, None, started, "overloaded", error)
        return error

    def _choose(
        self, live: LiveEndpoint, request_id: str, key: str | None, name: str | None
    ) -> LiveVariant:
        if name is not None:
            found = live.variants.get(name)
            if found is None:
                raise ValidationError(
                    f"endpoint {live.name!r} has no variant {name!r} (variants: "
                    f"{sorted(live.variants)})",
                    field="X-Mloop-Variant",
                )
            return found
        return choose(live.serving, key or request_id, live.name)

    async def _shadow(
        self, request_id: str, live: LiveEndpoint, shadow: LiveVariant, request: ParsedRequest
    ) -> None:
        """Predict a copy of a request with a shadow variant and record it; never raises."""
        started = time.perf_counter()
        if self._pending[live.name] >= self.max_pending:  # a copy never queues past the bound
            self._refuse(request_id, live, shadow, request, started)
            return
        self._pending[live.name] += 1
        try:
            checked = shadow.predictor.check(request.data)
            result = await shadow.batcher.submit(checked, request.rows)
        except Exception as exc:
            self.shadow_failures += 1
            status = "invalid" if isinstance(exc, SchemaViolation) else "error"
            self._record(request_id, live, shadow, request, None, started, status, exc)
            return
        finally:
            self._pending[live.name] -= 1
        self._record(request_id, live, shadow, request, result, started, "ok", None)

    def _record(
        self,
        request_id: str,
        live: LiveEndpoint,
        variant: LiveVariant,
        request: ParsedRequest,
        result: Result | None,
        started: float,
        status: str,
        error: BaseException | None,
    ) -> None:
        if self.inference_log is None:
            return
        from mloop.store.eventlog.inference import InferenceRecord

        outputs: dict[str, Any] | None = None
        confidence = None
        if result is not None:
            outputs = {"predictions": result.predictions}
            if result.probabilities is not None:
                outputs["probabilities"] = result.probabilities
                # The probabilities' column order: monitors score them against labels.
                outputs["classes"] = variant.predictor.classes
            if result.confidence:
                # A request's confidence is its least confident row's: what review wants.
                confidence = min(result.confidence)
        try:
            self.inference_log.record(
                InferenceRecord(
                    request_id=request_id,
                    endpoint=live.name,
                    variant=variant.name,
                    model_name=variant.variant.model,
                    model_version=variant.variant.version,
                    inputs=request.logged,
                    outputs=outputs,
                    confidence=confidence,
                    latency_ms=(time.perf_counter() - started) * 1000.0,
                    status=status,
                    error=None if error is None else f"{type(error).__name__}: {error}"[:2000],
                )
            )
        except Exception:  # the log must never fail a prediction; its writer counts drops
            log.exception("could not record request %s of endpoint %s", request_id, live.name)

    def _spawn(self, coroutine: Any) -> None:
        task = asyncio.get_running_loop().create_task(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # -- deployment state ----------------------------------------------------------------

    async def live(self, endpoint: str) -> LiveEndpoint:
        """The endpoint's live deployment, loaded on first use."""
        found = self._live.get(endpoint)
        if found is not None:
            return found
        self._start_refresher()
        lock = self._locks.setdefault(endpoint, asyncio.Lock())
        async with lock:
            found = self._live.get(endpoint)
            if found is None:
                found = await self._run(self._load_current, endpoint)
                self._live[endpoint] = found
        return found

    async def refresh(self) -> None:
        """Re-read the live deployment of every endpoint served here; swap in changes."""
        if not self._live:
            return
        names = list(self._live)
        ids = await self._run(
            lambda: self.runtime.run(lambda ctx: current_deployment_ids(ctx, names), write=False)
        )
        if self.review is not None:
            await self._run(self.review.refresh, names)
        for name in names:
            live = self._live.get(name)
            wanted = ids.get(name)
            if live is None:
                continue
            if wanted is None:  # deleted, or nothing deployed any more
                self._live.pop(name, None)
                continue
            if wanted == live.deployment.id or wanted in self._failed:
                continue
            try:
                fresh = await self._run(self._load_current, name, live)
            except NotFoundError:
                self._live.pop(name, None)
                continue
            except MloopError as exc:
                await self._run(self._note_failure, name, live.deployment.id, wanted, exc)
                continue
            self._live[name] = fresh
        used = self._digests_in_use()
        self.models.retain(used)
        for key in [k for k in self._batchers if k[0] not in used]:
            del self._batchers[key]

    def _digests_in_use(self) -> set[str]:
        used: set[str] = set()
        for live in self._live.values():
            used.update(v.stored.sha256 for v in live.variants.values())
            used.update(live.kept)
        return used

    def _load_current(self, endpoint: str, replacing: LiveEndpoint | None = None) -> LiveEndpoint:
        """Load the endpoint's live deployment (in a worker thread)."""

        def read(ctx: Any) -> tuple[Deployment | None, list[StoredVersion]]:
            deployment = current_deployment(ctx, endpoint)
            if deployment is None:
                return None, []
            return deployment, [
                stored_version(ctx, v.model, v.version) for v in deployment.variants
            ]

        deployment, stored = self.runtime.run(read, write=False)
        if deployment is None:
            raise NotFoundError(
                f"endpoint {endpoint!r} has no deployment: deploy a model to it first",
                field="endpoint",
            )
        variants: dict[str, LiveVariant] = {}
        for variant, where in zip(deployment.variants, stored, strict=True):
            model = self.models.load(self.runtime.artifacts, where, variant.trusted)
            predictor, batcher = self._predictor(where, variant, model)
            variants[variant.name] = LiveVariant(variant, where, predictor, batcher)
        if self.review is not None:
            self.review.load(endpoint)
        kept: frozenset[str] = frozenset()
        if replacing is not None:
            kept = frozenset(v.stored.sha256 for v in replacing.variants.values())
        return LiveEndpoint(
            name=endpoint,
            deployment=deployment,
            variants=variants,
            serving=[v for v in variants.values() if v.variant.role != "shadow" and v.weight > 0],
            shadows=[v for v in variants.values() if v.variant.role == "shadow"],
            kept=kept,
        )

    def _predictor(
        self, stored: StoredVersion, variant: Variant, model: LoadedModel
    ) -> tuple[Predictor, MicroBatcher[Result]]:
        """One predictor and batcher per loaded model, shared by the variants that use it."""
        trust = variant.trusted if isinstance(variant.trusted, bool) else tuple(variant.trusted)
        key = (stored.sha256, trust)
        found = self._batchers.get(key)
        if found is None or found[0] is not model:
            predictor = Predictor(model)
            batcher: MicroBatcher[Result] = MicroBatcher(
                predictor.predict_batch,
                self.executor,
                max_batch_rows=self.batching.max_batch_rows,
                max_wait_s=self.batching.max_wait_s,
                max_in_flight=self.batching.max_in_flight,
            )
            found = (model, predictor, batcher)
            self._batchers[key] = found
        return found[1], found[2]

    def _note_failure(self, endpoint: str, serving: int, wanted: int, exc: MloopError) -> None:
        """Keep serving the old deployment; say so once per deployment in the trail."""
        self._failed.add(wanted)
        log.error(
            "endpoint %s: deployment %s cannot be loaded here, still serving %s: %s",
            endpoint,
            wanted,
            serving,
            exc.message,
        )
        self.runtime.run(
            lambda ctx: record_event(
                ctx,
                endpoint,
                "load_failed",
                serving,
                wanted,
                reason=exc.message,
                detail={"host": os.uname().nodename, "pid": os.getpid()},
                actor="mloop-serving",
            ),
            write=True,
        )

    # -- lifecycle -----------------------------------------------------------------------

    def _start_refresher(self) -> None:
        if self._refresher is None or self._refresher.done():
            self._refresher = asyncio.get_running_loop().create_task(self._refresh_loop())

    async def _refresh_loop(self) -> None:
        while True:
            await asyncio.sleep(self.refresh_seconds)
            try:
                await self.refresh()
            except Exception:  # a database hiccup: keep serving, try again next time
                log.exception("could not refresh deployments")

    async def _run(self, fn: Any, *args: Any) -> Any:
        return await asyncio.get_running_loop().run_in_executor(self.executor, fn, *args)

    def endpoints(self) -> Iterable[LiveEndpoint]:
        return self._live.values()

    async def aclose(self) -> None:
        if self._refresher is not None:
            self._refresher.cancel()
        # Let shadow predictions in flight finish and record (they never raise).
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self.executor.shutdown(wait=False, cancel_futures=True)
        if self.inference_log is not None:
            await asyncio.get_running_loop().run_in_executor(None, self.inference_log.close)
