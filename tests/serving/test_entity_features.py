"""Entity keys in a request: parsed and checked at the boundary, resolved by the endpoint's
feature lookup before the signature check, answered 422 where no lookup is configured, and
logged with the row the model got."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from typing import Any

import httpx
import orjson
import pandas as pd
import pytest
from tests.serving.serving_testing import call, variant

from mloop.core.errors import ValidationError
from mloop.serving.formats import parse_request
from mloop.serving.http import standalone_app
from mloop.store.runtime import Runtime

STORE = {7: {"a": 0.5, "b": -1.0}, 9: {"a": -2.0, "b": 0.25}}


def lookup(endpoint: str, entities: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """A dictionary standing in for the feature store."""
    assert endpoint == "churn-api"
    try:
        return [dict(STORE[entity["customer_id"]]) for entity in entities]
    except KeyError as exc:
        raise ValidationError(f"no features for customer {exc}", field="entities") from None


class _Log:
    def __init__(self) -> None:
        self.records: list[Any] = []

    def record(self, record: Any) -> None:
        self.records.append(record)

    def close(self) -> None:
        pass


def _post(app: Any, bodies: list[dict[str, Any]]) -> list[httpx.Response]:
    async def scenario() -> list[httpx.Response]:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://serving") as client:
            answers = [await client.post("/invocations", json=body) for body in bodies]
            await app.state.serving.aclose()
        return answers

    return asyncio.run(scenario())


@pytest.fixture
def endpoint(runtime: Runtime, models: dict[str, Any]) -> str:
    call("create_endpoint", name="churn-api")
    call("deploy", endpoint="churn-api", variants=[variant("churn", version=1)])
    return "churn-api"


def test_entities_are_resolved_joined_to_inputs_and_logged(
    runtime: Runtime, models: dict[str, Any], endpoint: str
) -> None:
    log = _Log()
    app = standalone_app(
        runtime, endpoint, auth_enabled=False, feature_lookup=lookup, inference_log=log
    )
    body = {
        "entities": [{"customer_id": 7}, {"customer_id": 9}],
        "inputs": [{"c": 1.0}, {"c": -0.5}],
    }
    plain = {"inputs": [{"a": 0.5, "b": -1.0, "c": 1.0}, {"a": -2.0, "b": 0.25, "c": -0.5}]}
    resolved, direct = _post(app, [body, plain])
    assert resolved.status_code == 200, resolved.text
    assert resolved.json()["predictions"] == direct.json()["predictions"]
    assert resolved.json()["probabilities"] == direct.json()["probabilities"]
    # Each row: the entity's keys and the feature vector the model got.
    assert log.records[0].inputs == [
        {"customer_id": 7, **plain["inputs"][0]},
        {"customer_id": 9, **plain["inputs"][1]},
    ]


def test_without_a_lookup_entities_get_422_saying_what_to_send(
    runtime: Runtime, models: dict[str, Any], endpoint: str
) -> None:
    app = standalone_app(
        runtime, endpoint, auth_enabled=False, inference_log=_Log(), feature_lookup=None
    )
    (answer,) = _post(app, [{"entities": [{"customer_id": 7}]}])
    assert answer.status_code == 422
    error = answer.json()["error"]
    assert error["field"] == "entities"
    assert "has no feature lookup" in error["message"]
    assert 'features themselves in "inputs"' in error["message"]


def test_the_feature_store_answers_for_a_model_without_a_feature_service(
    runtime: Runtime, models: dict[str, Any], endpoint: str
) -> None:
    """By default the server's lookup is the feature store's; a model version that names
    no feature service cannot take entity keys, and the answer says what to do."""
    app = standalone_app(runtime, endpoint, auth_enabled=False, inference_log=_Log())
    (answer,) = _post(app, [{"entities": [{"customer_id": 7}]}])
    assert answer.status_code == 422
    error = answer.json()["error"]
    assert error["field"] == "entities"
    assert "names no feature service (tag mloop.feature_service)" in error["message"]


def test_lookup_errors_and_clashes(runtime: Runtime, models: dict[str, Any], endpoint: str) -> None:
    app = standalone_app(
        runtime, endpoint, auth_enabled=False, feature_lookup=lookup, inference_log=_Log()
    )
    unknown, clash, incomplete = _post(
        app,
        [
            {"entities": [{"customer_id": 8}], "inputs": [{"c": 1.0}]},
            {"entities": [{"customer_id": 7}], "inputs": [{"a": 1.0, "c": 1.0}]},
            {"entities": [{"customer_id": 7}]},  # "c" is missing: the signature check's 422
        ],
    )
    assert unknown.status_code == 422 and "no features for customer 8" in unknown.text
    assert clash.status_code == 422
    assert clash.json()["error"]["field"] == "inputs[0].a"
    assert incomplete.status_code == 422 and "'c'" in incomplete.json()["error"]["message"]


def test_a_failing_lookup_is_a_503_naming_it(
    runtime: Runtime, models: dict[str, Any], endpoint: str
) -> None:
    def broken(endpoint: str, entities: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
        raise ConnectionError("online store unreachable")

    app = standalone_app(
        runtime, endpoint, auth_enabled=False, feature_lookup=broken, inference_log=_Log()
    )
    (answer,) = _post(app, [{"entities": [{"customer_id": 7}], "inputs": [{"c": 1.0}]}])
    assert answer.status_code == 503
    assert "feature lookup of endpoint 'churn-api' failed" in answer.text
    assert "online store unreachable" in answer.text


@pytest.mark.parametrize(
    ("body", "field", "words"),
    [
        ({"entities": []}, "entities", "non-empty list of records"),
        ({"entities": {"customer_id": 7}}, "entities", "non-empty list of records"),
        ({"entities": [{}]}, "entities", "non-empty record"),
        ({"entities": [{"customer_id": [7]}]}, "entities[0].customer_id", "entity key"),
        ({"entities": [{"customer_id": True}]}, "entities[0].customer_id", "entity key"),
        ({"entities": [{"id": 1}], "inputs": [{"c": 1}, {"c": 2}]}, "inputs", "2 rows"),
        ({"entities": [{"id": 1}], "inputs": {"c": [1]}}, "inputs", "list of records"),
        ({"entities": [{"id": 1}], "instances": [{"c": 1}]}, "instances", 'with "inputs"'),
    ],
)
def test_malformed_entities_are_refused_at_the_boundary(
    body: dict[str, Any], field: str, words: str
) -> None:
    with pytest.raises(ValidationError) as raised:
        parse_request(orjson.dumps(body))
    assert raised.value.field == field
    assert words in raised.value.message


def test_entities_alone_parse_to_no_inputs() -> None:
    parsed = parse_request(b'{"entities": [{"customer_id": "c-7"}], "key": "c-7"}')
    assert parsed.entities == [{"customer_id": "c-7"}]
    assert parsed.data is None and parsed.rows == 1 and parsed.key == "c-7"
    assert parsed.style == "mloop"
    assert not isinstance(parsed.data, pd.DataFrame)
