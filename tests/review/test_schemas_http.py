"""The review operations over the HTTP API with authentication on: a reviewer token claims
and answers but manages nothing (and reads nothing else); a reader lists queues and items
but answers nothing."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from mloop.auth.tokens import create_token
from mloop.domains import find_operation
from mloop.server.app import create_app
from mloop.store.runtime import Runtime


def _token(runtime: Runtime, name: str, role: str) -> str:
    return str(runtime.run(lambda ctx: create_token(ctx, name, role), write=True))


@pytest.fixture
def api(runtime: Runtime) -> Iterator[tuple[TestClient, dict[str, str]]]:
    """A server with authentication, and tokens named after their holders."""
    tokens = {
        name: _token(runtime, name, role)
        for name, role in (("ann", "reviewer"), ("rex", "reader"), ("wes", "writer"))
    }
    with TestClient(create_app(runtime, auth_enabled=True)) as http:
        yield http, tokens


def _send(http: TestClient, token: str, operation: str, **fields: Any) -> Any:
    """Call an operation by name, the way the SDK does (GET: query string; POST: JSON)."""
    op = find_operation(operation)
    headers = {"Authorization": f"Bearer {token}"}
    if op.method == "GET":
        return http.get(op.path, params=fields, headers=headers)
    return http.post(op.path, json=fields, headers=headers)


def test_a_reviewer_answers_but_manages_nothing(api: tuple[TestClient, dict[str, str]]) -> None:
    http, tokens = api
    made = _send(http, tokens["wes"], "create_review_queue", name="loans", choices=["a", "b"])
    assert made.status_code == 200, made.text
    added = _send(
        http,
        tokens["wes"],
        "add_review_items",
        queue="loans",
        items=[{"request_id": "r1", "prediction": "a"}],
    )
    assert added.status_code == 200, added.text

    refused = _send(http, tokens["ann"], "create_review_queue", name="mine", choices=["x"])
    assert refused.status_code == 403
    assert refused.json()["error"]["code"] == "PERMISSION_DENIED"
    managing: list[tuple[str, dict[str, Any]]] = [
        ("add_review_items", {"queue": "loans", "items": [{"request_id": "r2"}]}),
        ("assign_review_items", {"queue": "loans", "reviewer": "ann"}),
        ("delete_review_queue", {"name": "loans"}),
        ("list_endpoints", {}),  # nothing outside review
    ]
    for operation, fields in managing:
        assert _send(http, tokens["ann"], operation, **fields).status_code == 403, operation

    claimed = _send(http, tokens["ann"], "next_review_item", queue="loans")
    assert claimed.status_code == 200, claimed.text
    item_id = claimed.json()["item"]["id"]
    submitted = _send(http, tokens["ann"], "submit_review_answer", id=item_id, label="b")
    assert submitted.status_code == 200, submitted.text
    body = submitted.json()
    # The answer is the token's holder's.
    assert body["answer"]["reviewer"] == "ann" and body["item"]["final_label"] == "b"
    again = _send(http, tokens["ann"], "submit_review_answer", id=item_id, label="a")
    assert again.status_code == 409, again.text
    listed = _send(http, tokens["ann"], "list_review_queues")
    assert listed.status_code == 200 and [q["name"] for q in listed.json()["queues"]] == ["loans"]
    # The reviewer reads the item it answered, by id and by request id.
    by_id = _send(http, tokens["ann"], "get_review_item", id=item_id)
    assert by_id.status_code == 200 and by_id.json()["item"]["status"] == "done"
    mine = _send(http, tokens["ann"], "get_review_item_by_request", request_id="r1")
    assert mine.status_code == 200 and mine.json()["answers"][0]["label"] == "b"
    # No token at all: 401.
    assert http.get(find_operation("list_review_queues").path).status_code == 401


def test_a_reader_reads_but_does_not_answer(api: tuple[TestClient, dict[str, str]]) -> None:
    http, tokens = api
    _send(http, tokens["wes"], "create_review_queue", name="loans", choices=["a", "b"])
    added = _send(
        http, tokens["wes"], "add_review_items", queue="loans", items=[{"request_id": "r1"}]
    )
    item_id = added.json()["ids"][0]
    listed = _send(http, tokens["rex"], "list_review_queues")
    assert listed.status_code == 200 and listed.json()["queues"][0]["counts"]["open"] == 1
    assert _send(http, tokens["rex"], "list_review_items", queue="loans").status_code == 200
    for operation, fields in [
        ("submit_review_answer", {"id": item_id, "label": "a"}),
        ("next_review_item", {"queue": "loans"}),
        ("add_review_comment", {"id": item_id, "text": "hi"}),
    ]:
        refused = _send(http, tokens["rex"], operation, **fields)
        assert refused.status_code == 403, (operation, refused.text)
    detail = _send(http, tokens["rex"], "get_review_item_by_request", request_id="r1").json()
    assert detail["answers"] == [] and detail["item"]["status"] == "open"


def test_get_operations_take_their_query_string(api: tuple[TestClient, dict[str, str]]) -> None:
    http, tokens = api
    _send(http, tokens["wes"], "create_review_queue", name="loans", choices=["a", "b"])
    added = _send(http, tokens["wes"], "add_review_items", queue="loans", items=[{"payload": {}}])
    item_id = added.json()["ids"][0]
    got = _send(http, tokens["rex"], "get_review_item", id=item_id)
    assert got.status_code == 200, got.text
    assert got.json()["item"]["id"] == item_id
    for flag in ("low_agreement", "changed"):
        filtered = _send(http, tokens["rex"], "list_review_items", queue="loans", **{flag: False})
        assert filtered.status_code == 200, filtered.text
