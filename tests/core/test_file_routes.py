"""File route declarations: parameters, quoting and the fixed prefix."""

from __future__ import annotations

import pytest

from mloop.core.files import FileRoute


def _route(path: str) -> FileRoute:
    return FileRoute(name="r", method="GET", path=path, handler=lambda ctx, params: None)


def test_params_and_prefix() -> None:
    route = _route("/api/v1/artifacts/files/{run_id}/{path:path}")
    assert route.params == ("run_id", "path")
    assert route.prefix == "/api/v1/artifacts/files/"
    assert not route.is_upload


def test_url_quotes_segments_and_keeps_slashes_in_path_params() -> None:
    route = _route("/api/v1/things/{name}/{path:path}")
    url = route.url({"name": "a/b c", "path": "dir/file name.txt"})
    assert url == "/api/v1/things/a%2Fb%20c/dir/file%20name.txt"


def test_url_refuses_missing_params() -> None:
    with pytest.raises(KeyError, match="needs path"):
        _route("/x/{name}/{path:path}").url({"name": "a"})
