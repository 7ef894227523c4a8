"""Confidence routing: which rows are doubtful (confidence, per-class thresholds, margin,
entropy), the cap on the share routed, and an endpoint served over HTTP whose doubtful
predictions are flagged, replaced by a fallback or held pending a reviewer's answer, with
policy changes picked up by the running service."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import pandas as pd
import pytest
from fastapi.testclient import TestClient
from sklearn.linear_model import LogisticRegression

import mloop
from mloop.core.errors import NotFoundError, ValidationError
from mloop.review.routing import WINDOW, _Share, class_key, doubtful_rows
from mloop.review.schemas import RoutingPolicy
from mloop.store.runtime import Runtime
from tests.review.review_testing import answer, call, make_queue

# -- which rows are doubtful -------------------------------------------------------------


def _policy(**fields: Any) -> RoutingPolicy:
    return RoutingPolicy(
        id=1,
        endpoint="e",
        queue="q",
        created_by="x",
        created_at=0,
        updated_at=0,
        **fields,
    )


PROBS = [[0.9, 0.1], [0.6, 0.4], [0.52, 0.48], [0.3, 0.7]]
PREDS = [0, 0, 0, 1]


def test_confidence_under_the_threshold() -> None:
    assert doubtful_rows(_policy(), PREDS, PROBS, None) == [1, 2]
    assert doubtful_rows(_policy(threshold=0.55), PREDS, PROBS, None) == [2]
    # At the threshold is not under it.
    assert doubtful_rows(_policy(threshold=0.7), [1], [[0.3, 0.7]], None) == []
    # A model's own confidence is used when given (and is all a model without probabilities has).
    assert doubtful_rows(_policy(), PREDS, PROBS, [0.9, 0.9, 0.9, 0.5]) == [3]
    assert doubtful_rows(_policy(), ["a", "b"], None, [0.65, 0.95]) == [0]
    # Neither probabilities nor confidence: never routed.
    assert doubtful_rows(_policy(), ["a", "b"], None, None) == []


def test_class_thresholds() -> None:
    # Class 1 is costly to get wrong: it needs 0.8; class 0 keeps the default 0.7.
    policy = _policy(class_thresholds={"1": 0.8})
    assert doubtful_rows(policy, PREDS, PROBS, None) == [1, 2, 3]
    labels = _policy(class_thresholds={"fraud": 0.95, "ok": 0.5})
    rows = doubtful_rows(labels, ["ok", "ok", "fraud"], [[0.6], [0.4], [0.9]], None)
    assert rows == [1, 2]
    assert (class_key(1), class_key("1"), class_key(True)) == ("1", "1", "true")


def test_margin() -> None:
    policy = _policy(criterion="margin", threshold=0.25)
    assert doubtful_rows(policy, PREDS, PROBS, None) == [1, 2]
    three = [[0.5, 0.45, 0.05], [0.8, 0.1, 0.1]]
    assert doubtful_rows(policy, [0, 0], three, None) == [0]
    # Margin needs two probabilities at least.
    assert doubtful_rows(policy, [0], None, [0.5]) == []
    assert doubtful_rows(policy, [0], [[1.0]], None) == []


def test_entropy() -> None:
    policy = _policy(criterion="entropy", threshold=0.9)
    # Normalised entropy of [0.6, 0.4] is 0.971, of [0.9, 0.1] 0.469, of [0.7, 0.3] 0.881.
    assert doubtful_rows(policy, PREDS, PROBS, None) == [1, 2]
    uniform = [[1 / 3] * 3, [1.0, 0.0, 0.0]]
    assert doubtful_rows(_policy(criterion="entropy", threshold=0.99), [0, 0], uniform, None) == [0]
    assert doubtful_rows(_policy(criterion="entropy", threshold=0.0), [0], [[1.0, 0.0]], None) == []


def test_the_share_routed_is_capped_over_the_last_requests() -> None:
    share = _Share()
    taken = [share.admit(True, 0.25) for _ in range(5 * WINDOW)]
    # Never more than a quarter of any WINDOW consecutive requests...
    windows = [sum(taken[i : i + WINDOW]) for i in range(0, len(taken) - WINDOW + 1, 50)]
    assert max(windows) <= WINDOW // 4
    # ...and routing goes on as the window moves, instead of stopping for good.
    assert sum(taken[:WINDOW]) == WINDOW // 4
    assert sum(taken[-WINDOW:]) >= WINDOW // 4 - 5
    # Requests that are not doubtful are never routed, and count in the window.
    calm = _Share()
    assert [calm.admit(False, 1.0) for _ in range(10)] == [False] * 10
    for _ in range(WINDOW):
        calm.admit(False, 0.1)
    assert sum(calm.admit(True, 0.1) for _ in range(WINDOW)) == WINDOW // 10


# -- an endpoint over HTTP ---------------------------------------------------------------

URL = "/endpoints/loans-api/invocations"
DOUBTFUL = {"a": 0.0, "b": 0.0, "c": 0.0}
CERTAIN = {"a": 8.0, "b": 4.0, "c": 0.0}


@pytest.fixture
def http(runtime: Runtime, settings: Any) -> Iterator[TestClient]:
    """An endpoint ``loans-api`` serving a logistic regression (class 1 when a + b/2 > 0),
    over the main server, refreshing its policies every 0.1 s."""
    from mloop.server.app import create_app

    rng = np.random.default_rng(7)
    features = pd.DataFrame(rng.normal(size=(60, 3)), columns=["a", "b", "c"])
    labels = (features["a"] + 0.5 * features["b"] > 0).astype(int)
    model = LogisticRegression().fit(features, labels)
    # The two inputs the tests send: one the model is unsure of, one it is sure of.
    probs = model.predict_proba(pd.DataFrame([DOUBTFUL, CERTAIN]))
    assert probs[0].max() < 0.6 and probs[1].max() > 0.95
    with mloop.start_run():
        info = mloop.sklearn.log_model(model, "model", input_example=features.iloc[:5])
    version = mloop.register_model(info.model_uri, "loans").version
    client = mloop.Client()
    client.call("create_endpoint", name="loans-api")
    client.call("deploy", endpoint="loans-api", variants=[{"model": "loans", "version": version}])
    make_queue(runtime, "loans-review", choices=[0, 1])
    with TestClient(create_app(runtime)) as test_client:
        test_client.app.state.serving.get().refresh_seconds = 0.1  # type: ignore[attr-defined]
        yield test_client


def _route(runtime: Runtime, **fields: Any) -> Any:
    return call(
        runtime,
        "set_review_routing",
        actor="ops",
        endpoint="loans-api",
        queue="loans-review",
        **fields,
    )


def _within(seconds: float, check: Callable[[], Any]) -> Any:
    """``check()``'s first truthy result, trying every 50 ms for at most ``seconds``."""
    deadline = time.monotonic() + seconds
    while True:
        found = check()
        if found or time.monotonic() > deadline:
            return found
        time.sleep(0.05)


def _item_of(runtime: Runtime, request_id: str) -> Any:
    try:
        return call(runtime, "get_review_item_by_request", request_id=request_id)
    except NotFoundError:
        return None


def test_flag_answers_and_queues_the_case(runtime: Runtime, http: TestClient) -> None:
    _route(runtime)
    sure = http.post(URL, json={"inputs": [CERTAIN]})
    assert sure.status_code == 200 and "review" not in sure.json()
    assert "x-mloop-review" not in sure.headers

    unsure = http.post(URL, json={"inputs": [DOUBTFUL]})
    assert unsure.status_code == 200, unsure.text
    body = unsure.json()
    request_id = body["request_id"]
    assert body["predictions"] in ([0], [1]) and body["confidence"][0] < 0.7
    assert body["review"] == {
        "status": "needs_review",
        "queue": "loans-review",
        "rows": [0],
        "poll": f"/api/v1/review/items/by-request?request_id={request_id}",
    }
    assert unsure.headers["x-mloop-review"] == "needs_review"

    detail = _within(5, lambda: _item_of(runtime, request_id))
    assert detail is not None, "the flagged request never reached the queue"
    item = detail.item
    assert (item.queue, item.source, item.target, item.reason) == (
        "loans-review",
        "endpoint",
        "loans-api",
        "confidence",
    )
    assert (item.model_name, item.model_version, item.variant) == ("loans", 1, "stable")
    assert item.prediction == body["predictions"][0]
    assert item.confidence == pytest.approx(body["confidence"][0])
    assert item.payload["inputs"] == [DOUBTFUL]
    assert item.payload["doubtful_rows"] == [0] and item.payload["classes"] == [0, 1]
    assert item.payload["probabilities"][0] == pytest.approx(body["probabilities"][0])
    # The sure request was not queued.
    queued = call(runtime, "list_review_items", queue="loans-review").items
    assert [i.request_id for i in queued] == [request_id]


def test_fallback_replaces_the_doubtful_rows(runtime: Runtime, http: TestClient) -> None:
    _route(runtime, on_route="fallback", fallback="ask a person")
    answered = http.post(URL, json={"inputs": [CERTAIN, DOUBTFUL, CERTAIN]})
    assert answered.status_code == 200, answered.text
    body = answered.json()
    assert body["predictions"] == [1, "ask a person", 1]
    assert body["review"]["status"] == "fallback" and body["review"]["rows"] == [1]
    assert answered.headers["x-mloop-review"] == "fallback"
    # MLflow's format gets the fallback too.
    mlflow = http.post(URL, json={"dataframe_records": [DOUBTFUL]}).json()
    assert mlflow["predictions"] == ["ask a person"] and mlflow["review"]["status"] == "fallback"
    detail = _within(5, lambda: _item_of(runtime, body["request_id"]))
    assert detail is not None
    # The reviewer sees the model's own predictions, not the fallback.
    assert detail.item.prediction == [1, detail.item.payload["predictions"][1], 1]
    assert detail.item.payload["doubtful_rows"] == [1]


def test_pending_holds_the_answer_for_a_reviewer(runtime: Runtime, http: TestClient) -> None:
    _route(runtime, on_route="pending")
    pending = http.post(URL, json={"inputs": [DOUBTFUL]})
    assert pending.status_code == 202, pending.text
    body = pending.json()
    assert body["predictions"] is None and body["probabilities"] is None
    assert body["confidence"] is None and body["review"]["status"] == "pending"
    # Written before the answer: the caller's first poll finds it.
    polled = http.get(body["review"]["poll"])
    assert polled.status_code == 200, polled.text
    assert polled.json()["item"]["status"] == "open"
    item_id = polled.json()["item"]["id"]
    assert http.post(URL, json={"inputs": [CERTAIN]}).status_code == 200

    answer(runtime, item_id, "ann", 1)
    final = http.get(body["review"]["poll"]).json()["item"]
    assert (final["status"], final["final_label"]) == ("done", 1)


def test_a_running_service_picks_up_policy_changes(runtime: Runtime, http: TestClient) -> None:
    def review_status() -> str | None:
        return http.post(URL, json={"inputs": [DOUBTFUL]}).headers.get("x-mloop-review")

    # The endpoint is served (and its lack of policy loaded) before any policy exists.
    assert review_status() is None
    _route(runtime)
    assert _within(5, lambda: review_status() == "needs_review")
    _route(runtime, on_route="fallback", fallback=-1)
    assert _within(5, lambda: review_status() == "fallback")
    _route(runtime, enabled=False)
    assert _within(5, lambda: review_status() is None)
    _route(runtime, on_route="pending")
    assert _within(5, lambda: review_status() == "pending")
    call(runtime, "delete_review_routing", endpoint="loans-api")
    assert _within(5, lambda: review_status() is None)


def test_routing_policy_input(runtime: Runtime, http: TestClient) -> None:
    with pytest.raises(ValidationError, match="needs the fallback"):
        _route(runtime, on_route="fallback")
    with pytest.raises(ValidationError, match="confidence criterion only"):
        _route(runtime, criterion="margin", class_thresholds={"1": 0.9})
    with pytest.raises(NotFoundError):
        call(runtime, "set_review_routing", endpoint="nope", queue="loans-review")
    with pytest.raises(NotFoundError, match="review queue 'nope'"):
        call(runtime, "set_review_routing", endpoint="loans-api", queue="nope")
    with pytest.raises(NotFoundError, match="has no review routing"):
        call(runtime, "get_review_routing", endpoint="loans-api")
    made = _route(runtime, threshold=0.6, class_thresholds={"1": 0.9}, max_share=0.5)
    again = _route(runtime, criterion="entropy", threshold=0.8)
    # One policy per endpoint: setting it again replaces it (defaults included).
    assert again.id == made.id and again.class_thresholds == {} and again.max_share == 0.25
    assert call(runtime, "get_review_routing", endpoint="loans-api").criterion == "entropy"
    listed = call(runtime, "list_review_policies", endpoint="loans-api")
    assert [p.id for p in listed.routing] == [made.id] and listed.sampling == []
    with pytest.raises(ValidationError) as caught:
        call(runtime, "list_review_policies", endpoint="no such/name")
    assert caught.value.field == "endpoint"
    call(runtime, "delete_review_routing", endpoint="loans-api")
    with pytest.raises(NotFoundError):
        call(runtime, "delete_review_routing", endpoint="loans-api")
