"""MLflow 3's ``/api/3.0/mlflow/server-info``: what the client may use on this server.

The client asks before it uploads artifacts (multipart or not) and before it uses
workspaces; an answer saves it a 404 and states plainly what mloop does not offer.
"""

from __future__ import annotations

from fastapi import Request
from fastapi.responses import Response

from mloop.auth.authenticator import Authenticator
from mloop.compat.mlflow.http import json_response
from mloop.core.http import Route

PATHS = ("/api/3.0/mlflow/server-info", "/ajax-api/3.0/mlflow/server-info")
# Nothing secret or specific to a tenant: MLflow serves this before a client signs in.
_INFO = {
    "store_type": None,  # neither of MLflow's stores; no client feature depends on it
    "workspaces_enabled": False,
    "trace_archival_enabled": False,
    "multipart_uploads_enabled": False,
    "multipart_downloads_enabled": False,
    "presigned_upload_run_id_supported": False,
    "presigned_upload_model_id_supported": False,
}


def server_info_routes(auth: Authenticator) -> list[Route]:
    def server_info(request: Request, _body: bytes) -> Response:
        auth.require(request, "reader")
        return json_response(dict(_INFO))

    return [
        Route("GET", path, server_info, "reader", name=f"mlflow{path}", quick=True)
        for path in PATHS
    ]
