"""Hostile artifact paths sent raw to a real server: the SDK cleans paths before sending, so
these requests are built by hand, and the server alone must refuse them.

Each path goes out twice: as written (the request target is set byte for byte, so no client
removes ``..`` segments) and percent-encoded (``%2E%2E%2F``, decoded by the server). Both
mloop's file routes and MLflow's artifact proxy must answer 400 naming the path, and write
nothing: not in the artifact root, not in a directory beside it.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from tests.conftest import ServerHandle

FILES = "/api/v1/artifacts/files"
MLFLOW = "/api/2.0/mlflow-artifacts/artifacts"

# Paths inside a run's artifact directory (<root>/experiments/<id>/<run>/artifacts/): four
# levels up is the artifact root, five its parent, where the directory "beside" lives.
HOSTILE = [
    "../escape.txt",
    "a/../../escape.txt",
    "../../../../escape.txt",
    "../../../../../beside/escape.txt",
    "./../escape.txt",
    "..\\..\\escape.txt",
    "C:/escape.txt",
    "a\x00b.txt",
    "<beside>/escape.txt",  # absolute: the directory beside the root, filled in by the test
]
# Only at the start of a path does a drive or a slash make it absolute.
ABSOLUTE = ("C:", "<beside>")


def _encoded(path: str) -> str:
    """Every character but letters and digits percent-encoded, slashes included."""
    return "".join(c if c.isalnum() else f"%{ord(c):02X}" for c in path)


def _raw(path: str) -> str:
    """The path as written, where a request target can carry it (not NUL)."""
    return path.replace("\x00", "%00")


@pytest.fixture
def http(server: ServerHandle) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url, timeout=30) as client:
        yield client


@pytest.fixture
def run(http: httpx.Client) -> dict[str, str]:
    response = http.post("/api/v1/runs/create", json={})
    assert response.status_code == 200, response.text
    info = response.json()["info"]
    return {"run_id": info["run_id"], "artifact_uri": info["artifact_uri"]}


@pytest.fixture
def beside(server: ServerHandle) -> Path:
    """A directory next to the artifact root, holding one file."""
    root = Path(server.runtime.settings.artifact_root)
    directory = root.parent / "beside"
    directory.mkdir()
    (directory / "keep.txt").write_text("keep")
    return directory


def _files(server: ServerHandle) -> set[str]:
    """Every file under the store's home (artifact root and what is beside it), but the
    database's own files, which change with every request."""
    home = Path(server.runtime.settings.artifact_root).parent
    return {
        str(p.relative_to(home))
        for p in home.rglob("*")
        if p.is_file() and ".db" not in p.name and not p.name.endswith((".lock", "-wal", "-shm"))
    }


def _send(http: httpx.Client, method: str, prefix: str, path: str, how: str) -> httpx.Response:
    """``method`` on ``prefix/path``, the path sent as written or percent-encoded."""
    if how == "encoded":
        return http.request(method, prefix + "/" + _encoded(path), content=b"pwned")
    # The target extension makes httpx send these bytes as the request target unchanged.
    target = (prefix + "/" + _raw(path)).encode()
    return http.request(method, prefix + "/x", content=b"pwned", extensions={"target": target})


def _assert_refused(response: httpx.Response, path: str, *, mlflow: bool) -> None:
    assert response.status_code == 400, (path, response.status_code, response.text)
    body = response.json()
    if mlflow:
        assert body["error_code"] == "INVALID_PARAMETER_VALUE", body
        message = body["message"]
    else:
        assert body["error"]["field"] == "path", body
        message = body["error"]["message"]
    # The server saw the hostile path itself, not a cleaned one.
    assert any(word in message for word in ("'..'", "absolute", "NUL", "backslash", "outside")), (
        message
    )


@pytest.mark.parametrize("how", ["raw", "encoded"])
@pytest.mark.parametrize("path", HOSTILE)
def test_mloop_file_routes_refuse_hostile_paths(
    server: ServerHandle,
    http: httpx.Client,
    run: dict[str, str],
    beside: Path,
    path: str,
    how: str,
) -> None:
    path = path.replace("<beside>", str(beside))
    before = _files(server)
    prefix = f"{FILES}/{run['run_id']}"
    for method in ("PUT", "GET"):
        _assert_refused(_send(http, method, prefix, path, how), path, mlflow=False)
    assert _files(server) == before
    assert sorted(p.name for p in beside.iterdir()) == ["keep.txt"]


@pytest.mark.parametrize("how", ["raw", "encoded"])
@pytest.mark.parametrize("path", HOSTILE)
def test_mlflow_artifact_routes_refuse_hostile_paths(
    server: ServerHandle,
    http: httpx.Client,
    run: dict[str, str],
    beside: Path,
    path: str,
    how: str,
) -> None:
    before = _files(server)
    # MLflow clients address artifacts by store path: <run artifact uri>/<path in the run>.
    targets = [path.replace("<beside>", str(beside))]
    if not path.startswith(ABSOLUTE):
        targets.append(f"{run['artifact_uri']}/{path}")
    for target in targets:
        for method in ("PUT", "GET"):
            _assert_refused(_send(http, method, MLFLOW, target, how), target, mlflow=True)
        listing = http.get(MLFLOW, params={"path": target})
        _assert_refused(listing, target, mlflow=True)
    assert _files(server) == before
    assert sorted(p.name for p in beside.iterdir()) == ["keep.txt"]
