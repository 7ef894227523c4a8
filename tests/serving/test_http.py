"""Predictions over HTTP on the main server: mloop's JSON and MLflow's four scoring
formats, 422 naming the field, traffic by strategy, shadows, the inference log."""

from __future__ import annotations

import re
from typing import Any

import pandas as pd
import pytest
from fastapi.testclient import TestClient
from tests.serving.serving_testing import call, variant

URL = "/endpoints/churn-api/invocations"


def _service(http: TestClient) -> Any:
    return http.app.state.serving.get()  # type: ignore[attr-defined]


def _refresh(http: TestClient) -> None:
    """Pick up a deployment change now instead of at the next poll."""
    http.portal.call(_service(http).refresh)  # type: ignore[union-attr]


def _rows(features: pd.DataFrame, n: int = 3) -> list[dict[str, float]]:
    return features.iloc[:n].to_dict(orient="records")


@pytest.fixture
def deployed(http: TestClient, models: dict[str, Any]) -> pd.DataFrame:
    call("create_endpoint", name="churn-api")
    call("deploy", endpoint="churn-api", variants=[variant("churn", version=1)])
    return models["features"]


def test_mloop_json_records_and_columns(http: TestClient, deployed: pd.DataFrame) -> None:
    expected = (deployed["a"] + 0.5 * deployed["b"] > 0).astype(int).iloc[:3].tolist()
    answer = http.post(URL, json={"inputs": _rows(deployed)})
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["predictions"] == expected
    assert body["classes"] == [0, 1]
    assert len(body["probabilities"]) == 3 and all(len(p) == 2 for p in body["probabilities"])
    assert body["confidence"] == [max(p) for p in body["probabilities"]]
    assert (body["endpoint"], body["variant"], body["model"], body["version"]) == (
        "churn-api",
        "stable",
        "churn",
        1,
    )
    assert answer.headers["x-mloop-request-id"] == body["request_id"]
    columns = {k: deployed[k].iloc[:3].tolist() for k in ("a", "b", "c")}
    assert http.post(URL, json={"inputs": columns}).json()["predictions"] == expected


def test_mlflow_scoring_formats(http: TestClient, deployed: pd.DataFrame) -> None:
    frame = deployed.iloc[:4]
    expected = (frame["a"] + 0.5 * frame["b"] > 0).astype(int).tolist()
    bodies = {
        "dataframe_split": {"dataframe_split": frame.to_dict(orient="split")},
        "dataframe_records": {"dataframe_records": frame.to_dict(orient="records")},
        "instances": {"instances": frame.to_dict(orient="records")},
        "instances as rows": {"instances": frame.to_numpy().tolist()},
    }
    for name, body in bodies.items():
        answer = http.post(URL, json=body)
        assert answer.status_code == 200, (name, answer.text)
        assert answer.json() == {"predictions": expected}, name
    # MLflow's "inputs" is mloop's own format: its answer has the predictions too.
    assert http.post(URL, json={"inputs": frame.to_numpy().tolist()}).json()["predictions"] == (
        expected
    )


def test_regressor_has_no_confidence(http: TestClient, models: dict[str, Any]) -> None:
    call("create_endpoint", name="price-api")
    call("deploy", endpoint="price-api", variants=[variant("price", version=1)])
    features = models["features"]
    body = http.post("/endpoints/price-api/invocations", json={"inputs": _rows(features, 2)}).json()
    assert body["predictions"] == pytest.approx((features["a"].iloc[:2] * 2).tolist())
    assert body["confidence"] is None and body["probabilities"] is None and body["classes"] is None


def test_schema_violations_are_422_naming_the_field(
    http: TestClient, deployed: pd.DataFrame
) -> None:
    missing = http.post(URL, json={"inputs": [{"a": 1.0, "b": 2.0}]})
    assert missing.status_code == 422
    error = missing.json()["error"]
    assert error["field"] == "inputs.c"
    assert "missing the required column 'c'" in error["message"]
    wrong_type = http.post(URL, json={"inputs": [{"a": "x", "b": 2.0, "c": 1.0}]})
    assert wrong_type.status_code == 422
    assert wrong_type.json()["error"]["field"] == "inputs.a"
    # pandas 3 names string columns "str", earlier versions "object".
    assert re.fullmatch(
        r"column 'a' has dtype (str|object); the model expects float64",
        wrong_type.json()["error"]["message"],
    )


def test_bad_requests_are_400_naming_the_field(http: TestClient, deployed: pd.DataFrame) -> None:
    cases = {
        b"": "body",
        b"[1, 2]": "body",
        b'{"rows": []}': "rows",
        b'{"inputs": [], "instances": []}': "body",
        b'{"dataframe_split": {"columns": ["a"], "data": [[1, 2]]}}': "dataframe_split.columns",
        b'{"inputs": [{"a": 1}], "params": {"t": 1}}': "params",
    }
    for body, field in cases.items():
        answer = http.post(URL, content=body)
        assert answer.status_code == 400, body
        assert answer.json()["error"]["field"] == field, body
    unknown = http.post("/endpoints/nope/invocations", json={"inputs": [{"a": 1}]})
    assert unknown.status_code == 404
    assert unknown.json()["error"]["message"] == "endpoint 'nope' does not exist"


def test_canary_split_follows_weights_and_sticks_per_key(
    http: TestClient, deployed: pd.DataFrame
) -> None:
    call(
        "deploy",
        endpoint="churn-api",
        strategy="canary",
        variants=[variant("churn", version=1), variant("churn", version=2, weight=20)],
    )
    _refresh(http)
    row = {"inputs": _rows(deployed, 1)}
    seen: dict[str, str] = {}
    for i in range(400):
        answer = http.post(URL, json=row, headers={"X-Mloop-Request-Key": f"user-{i}"})
        seen[f"user-{i}"] = answer.headers["x-mloop-variant"]
    share = sum(v == "candidate" for v in seen.values()) / len(seen)
    # 400 keys at 20%: the binomial standard deviation is 2 points; 5 is 2.5 of them.
    assert 0.15 <= share <= 0.25, share
    for key in list(seen)[:40]:  # the same key, the same variant, also via the body's key
        again = http.post(URL, json={**row, "key": key}).headers["x-mloop-variant"]
        assert again == seen[key]
    # Widening the canary only moves callers onto it.
    call("set_traffic_weights", endpoint="churn-api", weights={"stable": 50, "candidate": 50})
    _refresh(http)
    for key, before in list(seen.items())[:100]:
        after = http.post(URL, json=row, headers={"X-Mloop-Request-Key": key}).headers[
            "x-mloop-variant"
        ]
        if before == "candidate":
            assert after == "candidate", key


def test_blue_green_switch_and_instant_rollback(http: TestClient, deployed: pd.DataFrame) -> None:
    call(
        "deploy",
        endpoint="churn-api",
        strategy="blue_green",
        variants=[variant("churn", version=1), variant("churn", version=2)],
    )
    _refresh(http)
    row = {"inputs": _rows(deployed, 1)}
    served = {http.post(URL, json=row).json()["version"] for _ in range(20)}
    assert served == {1}
    # The green candidate can be tried by name before the switch.
    tried = http.post(URL, json=row, headers={"X-Mloop-Variant": "green"}).json()
    assert (tried["variant"], tried["version"]) == ("green", 2)
    call("promote_candidate", endpoint="churn-api")
    _refresh(http)
    assert {http.post(URL, json=row).json()["version"] for _ in range(20)} == {2}
    call("rollback", endpoint="churn-api")
    _refresh(http)
    assert {http.post(URL, json=row).json()["version"] for _ in range(20)} == {1}


def test_shadow_is_recorded_and_never_returned(http: TestClient, deployed: pd.DataFrame) -> None:
    call(
        "deploy",
        endpoint="churn-api",
        strategy="shadow",
        variants=[variant("churn", version=1), variant("churn", version=2, weight=100)],
    )
    _refresh(http)
    ids = []
    for i in range(10):
        answer = http.post(
            URL, json={"inputs": _rows(deployed, 2)}, headers={"X-Mloop-Request-Key": f"k{i}"}
        )
        body = answer.json()
        assert (body["variant"], body["version"]) == ("stable", 1)
        ids.append(body["request_id"])
    service = _service(http)
    http.portal.call(service.aclose)  # waits for the shadows in flight, flushes the log
    table = service.inference_log.read(endpoints=["churn-api"]).to_pylist()
    by_variant: dict[str, set[str]] = {}
    for record in table:
        by_variant.setdefault(record["variant"], set()).add(record["request_id"])
        assert record["status"] == "ok"
    assert by_variant == {"stable": set(ids), "shadow": set(ids)}
    shadow = [r for r in table if r["variant"] == "shadow"]
    assert {r["model_version"] for r in shadow} == {2}
    assert all('"predictions":[1,1]' in r["outputs"] for r in shadow)


def test_every_request_is_logged_with_its_outcome(http: TestClient, deployed: pd.DataFrame) -> None:
    ok = http.post(URL, json={"inputs": _rows(deployed, 2)}).json()
    http.post(URL, json={"inputs": [{"a": 1.0}]})  # 422: logged as invalid
    service = _service(http)
    http.portal.call(service.aclose)
    records = {
        r["status"]: r for r in service.inference_log.read(endpoints=["churn-api"]).to_pylist()
    }
    assert set(records) == {"ok", "invalid"}
    good = records["ok"]
    assert good["request_id"] == ok["request_id"]
    assert (good["endpoint"], good["variant"], good["model_name"], good["model_version"]) == (
        "churn-api",
        "stable",
        "churn",
        1,
    )
    assert good["confidence"] == pytest.approx(min(ok["confidence"]))
    assert good["latency_ms"] > 0 and '"a":' in good["inputs"]
    assert "missing the required column 'b'" in records["invalid"]["error"]
    assert records["invalid"]["outputs"] is None
