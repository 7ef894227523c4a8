"""MLflow's error shape: ``{"error_code": ..., "message": ...}`` with MLflow's codes.

Every answer under an MLflow path uses it, 404s for unknown endpoints and 413s included:
MLflow's client turns ``error_code`` into ``MlflowException.error_code`` and logs a warning
(and reports ``INTERNAL_ERROR``) for a code that is not in its ``ErrorCode`` enum, so mloop's
own codes that MLflow lacks are mapped to the nearest MLflow code.
"""

from __future__ import annotations

import logging

from fastapi.responses import JSONResponse

from mloop.core.errors import ConflictError, MloopError

log = logging.getLogger("mloop.server")

# mloop's codes that MLflow's ErrorCode enum lacks, and the MLflow code each is sent as.
_MLFLOW_CODES = {
    "PAYLOAD_TOO_LARGE": "RESOURCE_LIMIT_EXCEEDED",
    "DATA_CONTRACT_FAILED": "INVALID_PARAMETER_VALUE",
    "SERVICE_UNAVAILABLE": "TEMPORARILY_UNAVAILABLE",
    "METHOD_NOT_ALLOWED": "BAD_REQUEST",
}
# Paths whose answers are MLflow's: the REST API under both prefixes and API versions
# (MLflow 3 serves tracing under 3.0), and the artifact proxy.
PREFIXES = (
    "/api/2.0/mlflow/",
    "/ajax-api/2.0/mlflow/",
    "/api/3.0/mlflow/",
    "/ajax-api/3.0/mlflow/",
    "/api/2.0/mlflow-artifacts/",
)


def error_response(code: str, message: str, status: int) -> JSONResponse:
    return JSONResponse(
        {"error_code": _MLFLOW_CODES.get(code, code), "message": message}, status_code=status
    )


def mlflow_error(exc: BaseException) -> JSONResponse:
    """Any exception as MLflow's error body; an unexpected one is logged and is a 500."""
    if not isinstance(exc, MloopError):
        log.exception("unhandled error in an MLflow endpoint", exc_info=exc)
        return error_response("INTERNAL_ERROR", f"internal error: {type(exc).__name__}", 500)
    code, status = exc.code, exc.http_status
    # MLflow reports a changed param as an invalid value, not as a conflict.
    if isinstance(exc, ConflictError) and (exc.field or "").startswith("params"):
        code, status = "INVALID_PARAMETER_VALUE", 400
    return error_response(code, exc.message, status)


def endpoint_not_found(path: str) -> JSONResponse:
    """MLflow's answer for a path it does not serve (the client reports ENDPOINT_NOT_FOUND)."""
    return error_response("ENDPOINT_NOT_FOUND", f"mloop serves no MLflow endpoint {path}", 404)


def method_not_allowed(allowed: list[str]) -> JSONResponse:
    return JSONResponse(
        {"error_code": "BAD_REQUEST", "message": f"use {', '.join(allowed)} for this path"},
        status_code=405,
        headers={"Allow": ", ".join(allowed)},
    )
