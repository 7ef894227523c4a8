"""Rollouts over HTTP on the main server: real predictions go to the inference log, a check
promotes a healthy canary, labels attach to the request ids the answers carry, the A/B
comparison reads them, and bad rollout plans get a 400 naming the field."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

API = "/api/v1/serving"


def _predict(http: TestClient, features: Any, i: int) -> Any:
    row = features.iloc[i % len(features)].to_dict()
    answer = http.post(
        "/endpoints/churn-api/invocations",
        json={"inputs": [row]},
        headers={"X-Mloop-Request-Key": f"user-{i}"},
    )
    assert answer.status_code == 200, answer.text
    return answer


def test_a_canary_over_http_promotes_itself_and_compares(
    http: TestClient, models: dict[str, Any]
) -> None:
    features = models["features"]
    assert http.post(f"{API}/endpoints/create", json={"name": "churn-api"}).status_code == 200
    first = http.post(
        f"{API}/deploy",
        json={"endpoint": "churn-api", "variants": [{"model": "churn", "version": 1}]},
    )
    assert first.status_code == 200, first.text
    rollout = {
        "ramp": {"steps": [50, 100], "min_seconds": 0, "min_requests": 5},
        "rules": [{"kind": "error_rate", "threshold": 0.1, "min_samples": 5}],
    }
    deployed = http.post(
        f"{API}/deploy",
        json={
            "endpoint": "churn-api",
            "strategy": "canary",
            "variants": [{"model": "churn", "version": 1}, {"model": "churn", "version": 2}],
            "rollout": rollout,
        },
    )
    assert deployed.status_code == 200, deployed.text
    answers = [_predict(http, features, i) for i in range(40)]
    http.app.state.serving.get().inference_log.flush()  # type: ignore[attr-defined]

    checked = http.post(f"{API}/rollouts/check", json={"endpoint": "churn-api"})
    assert checked.status_code == 200, checked.text
    body = checked.json()
    assert body["action"] == "promote", body
    assert body["rules"][0]["status"] == "ok" and body["rules"][0]["observed"] == 0.0
    rollouts = http.get(f"{API}/rollouts", params={"endpoint": "churn-api"}).json()["rollouts"]
    assert rollouts[0]["state"] == "completed" and rollouts[0]["weight"] == 100
    status = http.get(f"{API}/status", params={"name": "churn-api"}).json()
    assert [(v["version"], v["weight"]) for v in status["deployment"]["variants"]] == [(2, 100)]

    labels = [
        {"request_id": a.headers["x-mloop-request-id"], "label": int(a.json()["predictions"][0])}
        for a in answers
    ]
    attached = http.post(f"{API}/labels", json={"endpoint": "churn-api", "labels": labels})
    assert attached.json() == {"stored": 40, "unmatched": 0, "unmatched_examples": []}
    compared = http.get(f"{API}/compare", params={"endpoint": "churn-api"}).json()
    versions = [compared["baseline"]] + [o["version"] for o in compared["others"]]
    assert sum(v["requests"] for v in versions) == 40
    assert all(v["metric_value"] == 1.0 for v in versions if v["labelled"])


def test_bad_rollout_plans_get_400_naming_the_field(
    http: TestClient, models: dict[str, Any]
) -> None:
    http.post(f"{API}/endpoints/create", json={"name": "churn-api"})
    base = {
        "endpoint": "churn-api",
        "strategy": "canary",
        "variants": [{"model": "churn", "version": 1}, {"model": "churn", "version": 2}],
    }
    answer = http.post(f"{API}/deploy", json={**base, "rollout": {"ramp": {"steps": [5, 5, 100]}}})
    assert answer.status_code == 400
    assert answer.json()["error"]["field"] == "rollout.ramp.steps[1]"
    answer = http.post(
        f"{API}/deploy", json={**base, "rollout": {"ramp": {"steps": [5, 100], "min_seconds": -1}}}
    )
    assert answer.status_code in (400, 422)
    assert "min_seconds" in answer.json()["error"]["field"]
    answer = http.post(
        f"{API}/deploy",
        json={**base, "rollout": {"rules": [{"kind": "p99", "threshold": 1}], "ramp": None}},
    )
    assert answer.status_code in (400, 422) and "kind" in answer.json()["error"]["field"]
    missing = http.post(f"{API}/rollouts/check", json={"endpoint": "nope"})
    assert missing.status_code == 404
