"""The webhook route: ``POST /api/v1/automation/webhooks/{trigger}`` fires a webhook trigger.

A caller proves itself with the trigger's secret in the ``X-Mloop-Webhook-Secret`` header
(compared as sha256 digests in constant time; only the digest is stored), or, without that
header, with an ordinary token of the writer role (deployer for a trigger that starts a
deployment policy). The body, at most 64 KiB, is a JSON object that becomes the firing's
payload (``{"params": {...}}`` overrides the pipeline's parameters); an empty body is ``{}``.
"""

from __future__ import annotations

import hmac
import json
import logging
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from mloop.automation.records import load_trigger_row
from mloop.automation.schemas import MAX_PAYLOAD_BYTES
from mloop.automation.triggers import fire
from mloop.automation.triggers_api import secret_digest
from mloop.core.errors import (
    AuthenticationError,
    MloopError,
    NotFoundError,
    PayloadTooLargeError,
    PermissionDeniedError,
    ValidationError,
)
from mloop.core.http import Route, ServerParts, Surface
from mloop.core.naming import check_asset_name
from mloop.core.roles import role_allows
from mloop.core.timeutil import now_ms
from mloop.store.context import Context

log = logging.getLogger(__name__)

PATH = "/api/v1/automation/webhooks/{trigger}"
SECRET_HEADER = "x-mloop-webhook-secret"
_NO_SECRET = "0" * 64  # compared against when the trigger has none, to take the same time


def parse_body(body: bytes) -> dict[str, Any]:
    """The firing's payload from a webhook body; 413 over the limit, 400 unless an object."""
    if len(body) > MAX_PAYLOAD_BYTES:
        raise PayloadTooLargeError(
            f"a webhook body may be at most {MAX_PAYLOAD_BYTES // 1024} KiB", field="body"
        )
    if not body.strip():
        return {}
    try:
        payload = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValidationError(f"the body is not JSON: {exc}", field="body") from None
    if not isinstance(payload, dict):
        raise ValidationError("the body must be a JSON object", field="body")
    return payload


def _fire_with_secret(ctx: Context, name: str, secret: str, payload: dict[str, Any]) -> Any:
    try:
        row = load_trigger_row(ctx, name, lock=True)
    except NotFoundError:
        row = None
    stored = row.secret_sha256 if row is not None and row.secret_sha256 else _NO_SECRET
    matches = hmac.compare_digest(secret_digest(secret), stored)
    if row is None or row.kind != "webhook" or not matches:
        # One answer for an unknown trigger and a wrong secret: no probing for names.
        raise AuthenticationError(
            f"the webhook secret does not match trigger {name!r}", field=SECRET_HEADER
        )
    return fire(ctx, row, source="webhook", payload=payload, now=now_ms())


def _fire_with_token(ctx: Context, name: str, role: str, payload: dict[str, Any]) -> Any:
    row = load_trigger_row(ctx, name, lock=True)
    if row.kind != "webhook":
        raise ValidationError(
            f"trigger {name!r} is a {row.kind} trigger, not a webhook", field="trigger"
        )
    if row.policy is not None and not role_allows(role, "deployer"):
        raise PermissionDeniedError(
            f"trigger {name!r} starts deployment policy {row.policy!r}; this needs deployer",
            field="Authorization",
        )
    return fire(ctx, row, source="webhook", payload=payload, now=now_ms())


class WebhookHandler:
    """Fires webhook triggers for their callers."""

    def __init__(self, runtime: Any, auth: Any) -> None:
        self.runtime = runtime
        self.auth = auth

    def __call__(self, request: Request, body: bytes) -> Response:
        name = check_asset_name(request.path_params["trigger"], "trigger", what="trigger name")
        secret = request.headers.get(SECRET_HEADER)
        if secret is None:
            identity = self.auth.require(request, "writer")
            payload = parse_body(body)
            event, job = self.runtime.run(
                lambda ctx: _fire_with_token(ctx, name, identity.role, payload),
                write=True,
                actor=identity.name,
            )
        else:
            payload = parse_body(body)
            event, job = self.runtime.run(
                lambda ctx: _fire_with_secret(ctx, name, secret, payload),
                write=True,
                actor=f"webhook:{name}",
            )
        content = {
            "event": event.model_dump(mode="json"),
            "job": None if job is None else job.model_dump(mode="json"),
        }
        return JSONResponse(content, status_code=202 if job is not None else 200)


def _error(exc: BaseException) -> Response:
    if isinstance(exc, MloopError):
        return JSONResponse({"error": exc.to_dict()}, status_code=exc.http_status)
    log.error("unexpected webhook error", exc_info=exc)
    body = {"code": "INTERNAL_ERROR", "message": f"internal error: {type(exc).__name__}"}
    return JSONResponse({"error": body}, status_code=500)


def _method_not_allowed(allowed: list[str]) -> Response:
    joined = ", ".join(allowed)
    body = {"code": "METHOD_NOT_ALLOWED", "message": f"use {joined} for this path"}
    return JSONResponse({"error": body}, status_code=405, headers={"Allow": joined})


def webhook_http(parts: ServerParts) -> list[Surface]:
    """The webhook route of the main server (its own surface: it authenticates by secret)."""
    route = Route(
        "POST",
        PATH,
        WebhookHandler(parts.runtime, parts.auth),
        "writer",
        name="fire_webhook",
        summary="Fire a webhook trigger (its secret in X-Mloop-Webhook-Secret, or a token)",
        tag="automation",
    )
    return [Surface("automation", [route], _error, _method_not_allowed)]
