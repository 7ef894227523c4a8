"""Token authentication and roles."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from mloop.auth.tables import api_tokens
from mloop.auth.tokens import create_token, list_tokens, revoke_token
from mloop.core.errors import ConflictError, NotFoundError, ValidationError
from mloop.server.app import create_app
from mloop.server.run import auth_required
from mloop.store.runtime import Runtime


def _token(runtime: Runtime, name: str, role: str) -> str:
    return runtime.run(lambda ctx: create_token(ctx, name, role), write=True)


def test_tokens_are_stored_hashed(runtime: Runtime) -> None:
    secret = _token(runtime, "ci", "writer")
    rows = runtime.run(lambda ctx: list(ctx.conn.execute(select(api_tokens))), write=False)
    assert secret not in str(rows) and secret.startswith("mlp_")
    assert [t.name for t in runtime.run(list_tokens, write=False)] == ["ci"]
    with pytest.raises(ConflictError, match="a token named 'ci' already exists"):
        _token(runtime, "ci", "reader")
    with pytest.raises(
        ValidationError,
        match=r"role must be one of reader, reviewer, writer, deployer, admin, got 'root'",
    ):
        _token(runtime, "bad-role", "root")


def test_roles_are_enforced(runtime: Runtime) -> None:
    reader = _token(runtime, "r", "reader")
    writer = _token(runtime, "w", "writer")
    http = TestClient(create_app(runtime, auth_enabled=True))
    assert http.get("/health").status_code == 200
    response = http.get("/api/v1/experiments/list")
    assert response.status_code == 401 and response.json()["error"]["code"] == "UNAUTHENTICATED"
    bad = http.get("/api/v1/experiments/list", headers={"Authorization": "Bearer mlp_wrong"})
    assert bad.status_code == 401
    as_reader = {"Authorization": f"Bearer {reader}"}
    as_writer = {"Authorization": f"Bearer {writer}"}
    assert http.get("/api/v1/experiments/list", headers=as_reader).status_code == 200
    denied = http.post("/api/v1/experiments/create", json={"name": "x"}, headers=as_reader)
    assert denied.status_code == 403 and denied.json()["error"]["code"] == "PERMISSION_DENIED"
    assert (
        http.post("/api/v1/experiments/create", json={"name": "x"}, headers=as_writer).status_code
        == 200
    )
    # Searching is a read even though it is a POST.
    assert http.post("/api/v1/runs/search", json={}, headers=as_reader).status_code == 200


def test_revoked_token_stops_working(runtime: Runtime) -> None:
    secret = _token(runtime, "temp", "admin")
    runtime.run(lambda ctx: revoke_token(ctx, "temp"), write=True)
    http = TestClient(create_app(runtime, auth_enabled=True))
    assert (
        http.get(
            "/api/v1/experiments/list", headers={"Authorization": f"Bearer {secret}"}
        ).status_code
        == 401
    )
    with pytest.raises(NotFoundError, match="no active token named 'temp'"):
        runtime.run(lambda ctx: revoke_token(ctx, "temp"), write=True)


def test_non_loopback_requires_auth() -> None:
    assert auth_required("127.0.0.1", None) is False
    assert auth_required("::1", None) is False
    assert auth_required("0.0.0.0", True) is True
    with pytest.raises(ValidationError, match="authentication"):
        auth_required("0.0.0.0", None)
    with pytest.raises(
        ValidationError, match=r"refusing to listen on 192\.0\.2\.10 without authentication"
    ):
        auth_required("192.0.2.10", False)


def test_remote_sdk_sends_the_token(runtime: Runtime, monkeypatch: pytest.MonkeyPatch) -> None:
    from tests.conftest import ServerHandle

    import mloop
    from mloop.client import connection

    secret = _token(runtime, "sdk", "writer")
    handle = ServerHandle(runtime, auth_enabled=True).start()
    try:
        monkeypatch.setenv("MLOOP_TRACKING_URI", handle.url)
        connection.close_all()
        monkeypatch.setenv("MLOOP_TOKEN", secret)
        assert mloop.Client().create_experiment("with-token")
        connection.close_all()
        monkeypatch.setenv("MLOOP_TOKEN", "mlp_invalid")
        from mloop.core.errors import AuthenticationError

        with pytest.raises(AuthenticationError, match="the token is unknown or revoked"):
            mloop.Client().list_experiments()
    finally:
        connection.close_all()
        handle.stop()
