"""The prompts API over raw HTTP: status codes and error bodies callers rely on."""

from __future__ import annotations

import httpx
import pytest
from tests.conftest import ServerHandle

API = "/api/v1/prompts"


@pytest.fixture
def http(remote: ServerHandle) -> httpx.Client:
    return httpx.Client(base_url=remote.url)


def _create(http: httpx.Client, user: str, text: str = "Hi {{ who }}") -> dict[str, object]:
    response = http.post(
        f"{API}/versions/create",
        json={"name": "greet", "text": text, "variables": {"who": {"type": "string"}}},
        headers={"x-mloop-user": user},
    )
    assert response.status_code == 200, response.text
    body: dict[str, object] = response.json()
    return body


def test_policy_refusal_is_409_and_self_approval_403(http: httpx.Client) -> None:
    created = _create(http, "ana")
    assert created["created"] is True
    assert http.post(
        f"{API}/policy/set", json={"name": "greet", "require_approval_for": ["production"]}
    ).json()["require_approval_for"] == ["production"]
    label = {"name": "greet", "label": "production", "version": 1}
    refused = http.post(f"{API}/labels/set", json=label)
    assert refused.status_code == 409
    error = refused.json()["error"]
    assert error["field"] == "label" and "mloop prompts approve greet 1" in error["message"]
    own = http.post(
        f"{API}/reviews/create",
        json={"name": "greet", "version": 1},
        headers={"x-mloop-user": "ana"},
    )
    assert own.status_code == 403 and own.json()["error"]["code"] == "PERMISSION_DENIED"
    ok = http.post(
        f"{API}/reviews/create",
        json={"name": "greet", "version": 1, "comment": "fine"},
        headers={"x-mloop-user": "bob"},
    )
    assert ok.status_code == 200 and ok.json()["reviewer"] == "bob"
    moved = http.post(f"{API}/labels/set", json=label, headers={"x-mloop-user": "carl"})
    assert moved.status_code == 200 and moved.json()["labels"] == ["production"]
    history = http.get(f"{API}/labels/history", params={"name": "greet"}).json()["entries"]
    assert [(e["actor"], e["to_version"]) for e in history] == [("carl", 1)]


def test_render_over_http(http: httpx.Client) -> None:
    _create(http, "ana")
    rendered = http.post(f"{API}/render", json={"ref": "greet:1", "variables": {"who": "Bo"}})
    assert rendered.status_code == 200
    assert rendered.json()["messages"] == [{"role": "user", "content": "Hi Bo"}]
    for body, field in [
        ({"ref": "greet", "variables": {}}, "variables.who"),
        ({"ref": "greet", "variables": {"who": 1}}, "variables.who"),
        ({"ref": "greet:x"}, "ref"),
        ({"ref": "greet@3"}, "ref"),
    ]:
        response = http.post(f"{API}/render", json=body)
        assert response.status_code == 400, body
        assert response.json()["error"]["field"] == field
    assert http.post(f"{API}/render", json={"ref": "nope"}).status_code == 404
    assert http.post(f"{API}/render", json={"ref": "greet@production"}).status_code == 404
    hostile = _create(http, "ana", "{{ who.__class__.__mro__ }}")
    assert hostile["created"] is True
    response = http.post(f"{API}/render", json={"ref": "greet", "variables": {"who": "x"}})
    assert response.status_code == 400 and "sandbox" in response.json()["error"]["message"]


def test_malformed_requests_are_400(http: httpx.Client) -> None:
    for body in (
        {"name": "../x", "text": "hi"},
        {"name": "x", "text": "hi", "variables": {"a": {"type": "date"}}},
        {"name": "x", "text": "hi", "extra": 1},
        {"name": "x", "text": "a" * 300_000},
    ):
        assert http.post(f"{API}/versions/create", json=body).status_code == 400, body
    assert (
        http.get(f"{API}/versions/diff", params={"name": "x", "a": "1", "b": "z"}).status_code
        == 400
    )
