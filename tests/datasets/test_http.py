"""The datasets routes over raw HTTP: uploads checked against their digest, downloads,
size limits, hostile names and malformed requests."""

from __future__ import annotations

import dataclasses
import hashlib
from pathlib import Path

import httpx
import pandas as pd
import pytest
from tests.conftest import ServerHandle

import mloop
from mloop.core.config import Settings
from mloop.datasets.parquet import describe_location, write_canonical
from mloop.store.runtime import open_runtime

UPLOADS = "/api/v1/datasets/uploads"
FILES = "/api/v1/datasets/files"


def _error(response: httpx.Response) -> dict[str, str]:
    body: dict[str, dict[str, str]] = response.json()
    return body["error"]


@pytest.fixture
def parquet(tmp_path: Path) -> tuple[Path, str]:
    df = pd.DataFrame({"a": [1, 2, 3], "b": ["x", "y", "z"]})
    written = write_canonical(df, tmp_path / "data.parquet")
    return written.path, written.digest


@pytest.fixture
def http(remote: ServerHandle) -> httpx.Client:
    # The first /api/openapi.json builds the whole document: seconds on a loaded machine,
    # past httpx's 5 s default.
    return httpx.Client(base_url=remote.url, timeout=60)


def test_upload_must_match_its_digest(
    http: httpx.Client, parquet: tuple[Path, str], remote: ServerHandle
) -> None:
    path, digest = parquet
    body = path.read_bytes()
    ok = http.put(f"{UPLOADS}/tx/{digest}", content=body)
    assert ok.status_code == 200, ok.text
    assert ok.json()["digest"] == digest and ok.json()["size"] == len(body)

    tampered = body[:-10] + b"x" + body[-9:]
    bad = http.put(f"{UPLOADS}/tx/{digest}", content=tampered)
    assert bad.status_code == 400 and _error(bad)["field"] == "digest"
    assert "sha256" in _error(bad)["message"]
    not_parquet = b"id,amount\n1,2\n"
    bad = http.put(f"{UPLOADS}/tx/{hashlib.sha256(not_parquet).hexdigest()}", content=not_parquet)
    assert bad.status_code == 400 and "Parquet" in _error(bad)["message"]
    for url, field in [
        (f"{UPLOADS}/tx/{'A' * 64}", "digest"),
        (f"{UPLOADS}/tx/abc", "digest"),
        (f"{UPLOADS}/%2e%2e/{digest}", "name"),
        (f"{UPLOADS}/a%20b/{digest}", "name"),
    ]:
        response = http.put(url, content=body)
        assert response.status_code == 400, (url, response.text)
        assert _error(response)["field"] == field, url
    # A name with a slash is no route at all.
    assert http.put(f"{UPLOADS}/..%2f..%2fetc/{digest}", content=body).status_code == 404
    # Only the accepted upload is left in the store; the refused ones were removed.
    staged = remote.runtime.artifacts.walk("datasets/_uploads")
    assert [e.size for e in staged] == [len(body)]

    # Creating a version from an upload made for other content is refused.
    client = mloop.Client()
    upload_id = ok.json()["upload_id"]
    profile = {"format_version": 1, "row_count": 3, "columns": [{"name": "a"}, {"name": "b"}]}
    schema = [{"name": "a", "type": "int64"}, {"name": "b", "type": "string"}]
    with pytest.raises(mloop.core.errors.ValidationError) as err:
        client.create_dataset_version("other", upload_id, digest, 3, schema, profile)
    assert err.value.field == "upload_id"
    for bad_profile, field in [
        ({"row_count": 3, "columns": []}, "profile.format_version"),
        ({"format_version": 1, "row_count": 4, "columns": []}, "profile.row_count"),
        ({"format_version": 1, "row_count": 3, "columns": [{"name": "a"}]}, "profile.columns"),
        ({"format_version": 1, "row_count": 3, "columns": "x"}, "profile.columns"),
    ]:
        with pytest.raises(mloop.core.errors.ValidationError) as err:
            client.create_dataset_version("tx", upload_id, digest, 3, schema, bad_profile)
        assert err.value.field == field
    created = client.create_dataset_version("tx", upload_id, digest, 3, schema, profile)
    assert created.created and created.dataset_version.version == 1
    with pytest.raises(mloop.core.errors.NotFoundError) as gone:  # an upload is used once
        client.create_dataset_version("tx", upload_id, digest, 3, schema, profile)
    assert gone.value.field == "upload_id"


def test_download_route(http: httpx.Client, parquet: tuple[Path, str]) -> None:
    mloop.register_dataset("tx", pd.DataFrame({"a": [1, 2, 3], "b": ["x", "y", "z"]}))
    _, digest = parquet
    got = http.get(f"{FILES}/tx/1")
    assert got.status_code == 200 and hashlib.sha256(got.content).hexdigest() == digest
    for url, status, field in [
        (f"{FILES}/tx/2", 404, "version"),
        (f"{FILES}/tx/abc", 400, "version"),
        (f"{FILES}/nope/1", 404, "name"),
        (f"{FILES}/%2e%2e/1", 400, "name"),
    ]:
        response = http.get(url)
        assert response.status_code == status, (url, response.text)
        assert _error(response)["field"] == field, url
    spec = http.get("/api/openapi.json").json()
    assert "/api/v1/datasets/versions/create" in spec["paths"]
    assert f"{UPLOADS}/{{name}}/{{digest}}" in spec["paths"]


def test_uploads_over_the_artifact_limit_are_refused(
    settings: Settings, parquet: tuple[Path, str]
) -> None:
    path, digest = parquet
    small = dataclasses.replace(settings, max_artifact_bytes=100)
    runtime = open_runtime(small)
    handle = ServerHandle(runtime).start()
    try:
        response = httpx.put(f"{handle.url}{UPLOADS}/tx/{digest}", content=path.read_bytes())
        assert response.status_code == 413 and _error(response)["code"] == "PAYLOAD_TOO_LARGE"

        def chunks():  # type: ignore[no-untyped-def]  # no Content-Length: counted as it comes
            yield path.read_bytes()

        response = httpx.put(f"{handle.url}{UPLOADS}/tx/{digest}", content=chunks())
        assert response.status_code == 413
        assert runtime.artifacts.walk("datasets/_uploads") == []
    finally:
        handle.stop()
        runtime.close()


def test_upload_needs_a_writer_token_when_auth_is_on(
    runtime: object, parquet: tuple[Path, str]
) -> None:
    from mloop.store.runtime import Runtime

    assert isinstance(runtime, Runtime)
    path, digest = parquet
    handle = ServerHandle(runtime, auth_enabled=True).start()
    try:
        response = httpx.put(f"{handle.url}{UPLOADS}/tx/{digest}", content=path.read_bytes())
        assert response.status_code == 401
        assert httpx.get(f"{handle.url}{FILES}/tx/1").status_code == 401
    finally:
        handle.stop()


def test_sources_are_stored_without_credentials() -> None:
    assert describe_location("s3://key:secret@bucket/x/data.parquet?token=1") == (
        "s3://bucket/x/data.parquet"
    )
    assert describe_location("data/x.csv") == "data/x.csv"
