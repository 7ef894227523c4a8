"""Prediction routes: ``POST /endpoints/{name}/invocations`` on the main server, and the
MLflow-style ``/invocations``, ``/ping``, ``/health`` and ``/version`` of ``mloop serve``.

Errors have mloop's shape (``{"error": {"code", "message", "field"}}``); a request that does
not match the model's signature gets 422 naming the column and why, and one beyond what the
endpoint may hold at once 503 with ``Retry-After``. Headers:
``X-Mloop-Request-Key`` keeps a caller on one canary variant (as the body's ``key`` does),
``X-Mloop-Variant`` asks for a variant by name (to try a blue/green candidate before the
switch); answers carry ``X-Mloop-Request-Id`` and ``X-Mloop-Variant``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import orjson
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from mloop.core.errors import MloopError, ValidationError
from mloop.core.http import Route, ServerParts, Surface
from mloop.core.roles import Role

log = logging.getLogger("mloop.serving")

# Calling an endpoint records the request in the inference log: a write, as for the gateway.
INVOKE_ROLE: Role = "writer"


def error_response(
    exc: BaseException, *, status: int | None = None, headers: dict[str, str] | None = None
) -> Response:
    if isinstance(exc, MloopError):
        body = {"error": exc.to_dict()}
        code = exc.http_status
        retry_after = getattr(exc, "retry_after_s", None)  # an overloaded endpoint's
        if retry_after is not None:
            headers = {**(headers or {}), "retry-after": str(retry_after)}
    else:
        log.error("unexpected serving error", exc_info=exc)
        body = {
            "error": {"code": "INTERNAL_ERROR", "message": f"internal error: {type(exc).__name__}"}
        }
        code = 500
    return Response(
        orjson.dumps(body),
        status_code=status or code,
        media_type="application/json",
        headers=headers,
    )


def _method_not_allowed(allowed: list[str]) -> Response:
    joined = ", ".join(allowed)
    return error_response(
        ValidationError(f"use {joined} for this path"), status=405, headers={"allow": joined}
    )


def _feature_lookup(runtime: Any) -> Any:
    """The feature store's lookup of entity keys, with the feature repository of
    ``MLOOP_FEATURE_REPO`` importable for on-demand features."""
    from mloop.features.online.lookup import feature_lookup
    from mloop.features.repo import use_repo_from_env

    use_repo_from_env()
    return feature_lookup(runtime)


def _review_router(runtime: Any) -> Any:
    """Routes doubtful predictions to review queues (``mloop.review``'s routing policies)."""
    from mloop.review.routing import ReviewRouter

    return ReviewRouter(runtime)


class ServingHolder:
    """Builds the process's :class:`~mloop.serving.service.ServingService` on the first
    prediction, so that a server nobody asks for predictions imports no pandas or pyarrow."""

    def __init__(self, runtime: Any, *, check_seconds: float = 10.0, **options: Any) -> None:
        self._runtime = runtime
        self._options = options
        self._service: Any = None
        self._check_seconds = check_seconds
        self._evaluator: Any = None

    def get(self) -> Any:
        if self._service is None:
            from mloop.serving.service import ServingService
            from mloop.store.eventlog.inference import InferenceLog

            options = dict(self._options)
            options.setdefault("inference_log", InferenceLog(self._runtime))
            if "feature_lookup" not in options:
                options["feature_lookup"] = _feature_lookup(self._runtime)
            options.setdefault("review", _review_router(self._runtime))
            self._service = ServingService(self._runtime, **options)
            service = self._service
            self._evaluator = start_evaluator(
                self._runtime,
                lambda: [live.name for live in list(service.endpoints())],
                self._check_seconds,
            )
        return self._service

    async def aclose(self) -> None:
        if self._evaluator is not None:
            await run_in_threadpool(self._evaluator.close)
        if self._service is not None:
            await self._service.aclose()


def start_evaluator(runtime: Any, endpoints: Callable[[], list[str]], interval_s: float) -> Any:
    """Check the rollouts of the endpoints this process serves, in the background (the
    replicas claim each rollout once per interval; see :mod:`mloop.serving.evaluator`)."""
    from mloop.serving.evaluator import RolloutEvaluator

    evaluator = RolloutEvaluator(runtime, endpoints=endpoints, interval_s=interval_s)
    evaluator.start()
    return evaluator


async def _authorize(request: Request, auth: Any) -> None:
    if auth.require_cached(request, INVOKE_ROLE) is None:
        await run_in_threadpool(auth.require, request, INVOKE_ROLE)


async def invoke(service: Any, endpoint: str, request: Request) -> Response:
    """Parse, predict, answer in the request's format."""
    from mloop.serving.formats import answer, parse_request

    body = await request.body()
    parsed = parse_request(body)
    variant = request.headers.get("x-mloop-variant")
    outcome = await service.invoke(
        endpoint, parsed, key=request.headers.get("x-mloop-request-key"), variant=variant
    )
    chosen = outcome.variant
    routed = outcome.review
    predictions = outcome.result.predictions
    probabilities, confidence = outcome.result.probabilities, outcome.result.confidence
    headers = {"x-mloop-request-id": outcome.request_id, "x-mloop-variant": chosen.name}
    review = None
    if routed is not None:
        review = routed.answer(outcome.request_id)
        headers["x-mloop-review"] = routed.status
        if routed.status == "fallback":
            fallback = routed.policy.fallback
            predictions = [fallback if i in routed.rows else p for i, p in enumerate(predictions)]
        elif routed.status == "pending":  # the answer is the reviewer's, not the model's
            predictions = probabilities = confidence = None
    content = answer(
        parsed.style,
        predictions,
        probabilities=probabilities,
        classes=chosen.predictor.classes,
        confidence=confidence,
        request_id=outcome.request_id,
        endpoint=endpoint,
        variant=chosen.name,
        model=chosen.variant.model,
        version=chosen.variant.version,
        review=review,
    )
    pending = routed is not None and routed.status == "pending"
    return Response(
        content, status_code=202 if pending else 200, media_type="application/json", headers=headers
    )


class EndpointHandlers:
    """The main server's prediction route over the holder's service."""

    def __init__(self, get_service: Callable[[], Any], auth: Any) -> None:
        self._get_service = get_service
        self._auth = auth

    async def invocations(self, request: Request) -> Response:
        await _authorize(request, self._auth)
        return await invoke(self._get_service(), request.path_params["name"], request)

    def routes(self) -> list[Route]:
        return [
            Route(
                "POST",
                "/endpoints/{name}/invocations",
                self.invocations,
                INVOKE_ROLE,
                name="invoke_endpoint",
                is_async=True,
                summary="Predict with an endpoint (mloop JSON or MLflow's scoring formats)",
                tag="serving",
            )
        ]


def serving_http(server: ServerParts) -> list[Surface]:
    """The prediction route of the main server; the runtime starts on first use."""
    holder = ServingHolder(server.runtime)
    server.state["serving"] = holder
    server.on_close.append(holder.aclose)
    handlers = EndpointHandlers(holder.get, server.auth)
    return [Surface("serving", handlers.routes(), error_response, _method_not_allowed)]


def standalone_app(
    runtime: Any, endpoint: str, *, auth_enabled: bool, check_seconds: float = 10.0, **options: Any
) -> Any:
    """The app of ``mloop serve ENDPOINT``: MLflow's scoring server paths for one endpoint,
    checking the endpoint's rollout every ``check_seconds``."""
    from starlette.applications import Starlette
    from starlette.routing import Route as StarletteRoute

    from mloop import __version__
    from mloop.auth.authenticator import Authenticator
    from mloop.serving.service import ServingService
    from mloop.store.eventlog.inference import InferenceLog

    auth = Authenticator(runtime, enabled=auth_enabled)
    options.setdefault("inference_log", InferenceLog(runtime))
    if "feature_lookup" not in options:
        options["feature_lookup"] = _feature_lookup(runtime)
    options.setdefault("review", _review_router(runtime))
    service = ServingService(runtime, **options)

    async def invocations(request: Request) -> Response:
        try:
            await _authorize(request, auth)
            return await invoke(service, endpoint, request)
        except Exception as exc:
            return error_response(exc)

    async def ping(_request: Request) -> Response:
        return Response("\n", media_type="application/json")

    async def version(_request: Request) -> Response:
        return Response(__version__, media_type="text/plain")

    async def lifespan(_app: Any) -> Any:
        try:
            await service.live(endpoint)  # load now: a broken deployment shows at start
        except MloopError as exc:
            log.error("endpoint %s is not served yet: %s", endpoint, exc.message)
        _freeze_startup_objects()
        evaluator = start_evaluator(runtime, lambda: [endpoint], check_seconds)
        yield
        await run_in_threadpool(evaluator.close)
        await service.aclose()

    app = Starlette(
        routes=[
            StarletteRoute("/invocations", invocations, methods=["POST"]),
            StarletteRoute(f"/endpoints/{endpoint}/invocations", invocations, methods=["POST"]),
            StarletteRoute("/ping", ping, methods=["GET"]),
            StarletteRoute("/health", ping, methods=["GET"]),
            StarletteRoute("/version", version, methods=["GET"]),
        ],
        lifespan=_as_context(lifespan),
    )
    app.state.serving = service
    return app


def _freeze_startup_objects() -> None:
    """Leave what is loaded by now (modules, the model: some 170,000 objects) out of the
    garbage collector's full passes. Each pass over them took about 45 ms, a stall of every
    request in flight: the p99 at concurrency 64 went from about 180 ms to about 50 ms on the
    serving benchmark. Those objects are still freed when nothing refers to them."""
    import gc

    gc.collect()
    gc.freeze()


def _as_context(gen: Any) -> Any:
    from contextlib import asynccontextmanager

    return asynccontextmanager(gen)
