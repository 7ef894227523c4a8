"""docs/mlflow.md's endpoint table stays true: it lists every endpoint of the pinned MLflow,
and what it says is served is routed by mloop, and what it says is not served is not."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import mlflow
import pytest
from mlflow.server.handlers import get_endpoints

from mloop.compat.mlflow.surface import mlflow_http
from mloop.core.http import ServerParts
from mloop.store.runtime import Runtime

DOC = Path(__file__).resolve().parents[2] / "docs" / "mlflow.md"
STATUSES = ("served", "partly", "not served")


@dataclass(frozen=True)
class Row:
    method: str
    path: str
    status: str

    def covers(self, method: str, path: str) -> bool:
        if self.method not in ("any", method):
            return False
        if self.path.endswith("*"):
            return path.startswith(self.path[:-1])
        return _shape(self.path) == _shape(path)


def _shape(path: str) -> str:
    """A path with every parameter, Flask's ``<x>`` or Starlette's ``{x}``, as ``{}``."""
    return re.sub(r"<[^>]+>|\{[^}]+\}", "{}", path)


def _rows() -> list[Row]:
    section = DOC.read_text().split("## Every MLflow endpoint", 1)[1].split("\n## ", 1)[0]
    rows = []
    for line in section.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 4 and cells[1].startswith("`"):
            rows.append(Row(cells[0], cells[1].strip("`"), cells[2]))
    return rows


def _mlflow_endpoints() -> set[tuple[str, str]]:
    return {
        (method, path)
        for path, _handler, methods in get_endpoints()
        for method in methods
        if not path.startswith("/ajax-api/")
    }


def _mloop_routes(runtime: Runtime) -> set[tuple[str, str]]:
    surfaces = mlflow_http(ServerParts(runtime=runtime, auth=None))
    return {(r.method, _shape(r.path)) for s in surfaces for r in s.routes}


def test_the_table_is_of_the_pinned_client() -> None:
    assert mlflow.__version__ == "3.17.2", "update docs/mlflow.md's table for the new client"
    rows = _rows()
    assert len(rows) > 50 and all(r.status in STATUSES for r in rows), rows


def test_every_mlflow_endpoint_has_exactly_one_row() -> None:
    rows = _rows()
    for method, path in sorted(_mlflow_endpoints()):
        found = [r for r in rows if r.covers(method, path)]
        assert len(found) == 1, f"{method} {path}: rows {found}"
    for row in rows:
        assert any(row.covers(m, p) for m, p in _mlflow_endpoints()), f"stale row {row}"


def test_served_rows_are_routed_and_the_others_are_not(runtime: Runtime) -> None:
    routes = _mloop_routes(runtime)
    for row in _rows():
        served = row.status != "not served"
        if row.path.endswith("*"):
            prefix = row.path[:-1]
            assert served or not any(p.startswith(prefix) for _m, p in routes), row
            continue
        methods = {"GET", "POST", "PUT", "PATCH", "DELETE"} if row.method == "any" else {row.method}
        variants = [row.path]
        if row.path.startswith("/api/2.0/mlflow/"):  # the prefix MLflow's UI calls
            variants.append("/ajax-api/" + row.path.removeprefix("/api/"))
        for method in methods:
            for path in variants:
                routed = (method, _shape(path)) in routes
                assert routed == served, f"{method} {path} is {row.status} in docs/mlflow.md"


@pytest.mark.parametrize("status", STATUSES)
def test_each_status_is_used(status: str) -> None:
    assert any(r.status == status for r in _rows())
