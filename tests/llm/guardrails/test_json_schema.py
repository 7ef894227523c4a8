"""JSON-schema validation of answers: schemas from options and from the request, error
messages that do not leak values, the bounded re-ask, and hostile answers."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

from mloop.core.errors import ValidationError
from mloop.llm.guardrails import GuardrailPipeline, OutputOutcome
from mloop.llm.types import ChatRequest

ORDER = {
    "type": "object",
    "properties": {
        "order_id": {"type": "string", "pattern": "^ORD-[0-9]{6}$"},
        "quantity": {"type": "integer", "minimum": 1},
        "status": {"enum": ["open", "shipped"]},
        "items": {"type": "array", "items": {"type": "object", "required": ["sku"]}},
    },
    "required": ["order_id", "quantity"],
    "additionalProperties": False,
}


def request(**extra: Any) -> ChatRequest:
    return ChatRequest(model="m", messages=[{"role": "user", "content": "order?"}], **extra)


def schema_format(schema: Any) -> dict[str, Any]:
    return {"type": "json_schema", "json_schema": {"name": "order", "schema": schema}}


def check(
    answer: str, req: ChatRequest | None = None, reasks: int = 0, **entry: Any
) -> OutputOutcome:
    pipeline = GuardrailPipeline.from_config(
        {"output": [{"check": "json_schema", "action": "reask", **entry}]}
    )
    return asyncio.run(pipeline.check_output(req or request(), answer, reasks_done=reasks))


def test_a_valid_answer_passes() -> None:
    out = check('{"order_id": "ORD-123456", "quantity": 2, "status": "open"}', schema=ORDER)
    assert out.action == "pass" and not out.decisions[0].triggered


def test_errors_name_the_place_and_rule_but_not_the_value() -> None:
    answer = json.dumps(
        {
            "order_id": "jane.doe@example.com",
            "quantity": "many",
            "status": "lost in 4111111111111111",
            "items": [{"name": "x"}],
            "ssn": "123-45-6789",
        }
    )
    out = check(answer, schema=ORDER)
    assert out.action == "reask"
    errors = out.decisions[0].details["errors"]
    assert "$: has properties the schema does not allow" in errors
    assert "$.items[0]: missing required property 'sku'" in errors
    assert '$.quantity: must be of type "integer"' in errors
    assert '$.status: must be one of ["open", "shipped"]' in errors
    assert any(e.startswith("$.order_id: does not satisfy pattern") for e in errors)
    recorded = json.dumps(out.decisions[0].to_dict()) + (out.reask_message or "")
    for value in ("jane.doe", "many", "4111111111111111", "123-45-6789", "lost in"):
        assert value not in recorded
    assert out.reask_message is not None and "$.quantity" in out.reask_message


def test_missing_required_properties_are_listed() -> None:
    out = check("{}", schema=ORDER)
    assert out.decisions[0].details["errors"] == [
        "$: missing required properties 'order_id', 'quantity'"
    ]


def test_an_answer_that_is_not_json() -> None:
    out = check("Sure! Here is your order: {", schema=ORDER)
    assert out.action == "reask"
    [error] = out.decisions[0].details["errors"]
    assert error.startswith("not valid JSON: Expecting value at line 1 column 1")
    assert "Sure" not in out.decisions[0].reason


def test_the_request_schema_is_used_when_the_check_has_none() -> None:
    req = request(response_format=schema_format(ORDER))
    assert check('{"order_id": "ORD-000001", "quantity": 1}', req).action == "pass"
    assert check('{"order_id": "ORD-000001"}', req).action == "reask"


def test_the_check_schema_wins_over_the_request() -> None:
    req = request(response_format=schema_format({"type": "array"}))
    assert check('{"order_id": "ORD-000001", "quantity": 1}', req, schema=ORDER).action == "pass"


def test_json_object_without_a_schema_must_be_an_object() -> None:
    req = request(response_format={"type": "json_object"})
    assert check('{"a": 1}', req).action == "pass"
    out = check("[1, 2]", req)
    assert out.decisions[0].details["errors"] == ["$: must be a JSON object, got list"]


def test_no_schema_anywhere_is_recorded_as_skipped() -> None:
    out = check("plain text")
    assert out.action == "pass"
    assert out.decisions[0].details == {"skipped": "no schema for this request"}


def test_code_fences_are_stripped_only_when_asked() -> None:
    fenced = '```json\n{"order_id": "ORD-123456", "quantity": 1}\n```'
    assert check(fenced, schema=ORDER).action == "reask"
    assert check(fenced, schema=ORDER, strip_code_fence=True).action == "pass"


def test_the_reask_is_bounded() -> None:
    assert check("{}", schema=ORDER, max_reasks=2, reasks=1).action == "reask"
    out = check("{}", schema=ORDER, max_reasks=2, reasks=2)
    assert out.action == "block" and out.error() is not None
    assert check("{}", schema=ORDER, action="block").action == "block"
    warned = check("{}", schema=ORDER, action="warn")
    assert warned.action == "pass" and warned.decisions[0].triggered


def test_an_invalid_schema_in_the_options_is_refused_at_load() -> None:
    with pytest.raises(ValidationError, match=r"output\[0\]\.schema: the schema is invalid"):
        GuardrailPipeline.from_config(
            {"output": [{"check": "json_schema", "schema": {"type": "banana"}}]}
        )
    with pytest.raises(ValidationError, match="must be a mapping"):
        GuardrailPipeline.from_config({"output": [{"check": "json_schema", "schema": "x"}]})


def test_an_invalid_schema_in_the_request_fails_closed() -> None:
    out = check("{}", request(response_format=schema_format({"type": 12})))
    decision = out.decisions[0]
    assert decision.error and "response_format schema" in decision.reason
    assert out.action == "reask"


@pytest.mark.parametrize(
    "answer",
    [
        "[" * 100_000 + "]" * 100_000,
        '{"a": ' * 50_000 + "1" + "}" * 50_000,
        "9" * 100_000,
        "",
        "\x00\x01",
        '{"order_id": "ORD-123456", "quantity": NaN}',
    ],
)
def test_hostile_answers_are_reported_not_raised(answer: str) -> None:
    out = check(answer, schema=ORDER)
    assert out.action == "reask"
    assert out.decisions[0].triggered and out.decisions[0].details["errors"]


def test_nesting_beyond_the_parser_is_reported_as_invalid_json() -> None:
    recursive = {"type": "array", "items": {"$ref": "#"}}
    out = check("[" * 5_000 + "]" * 5_000, schema=recursive)
    assert out.decisions[0].details["errors"] == [
        "not valid JSON: too deeply nested or a number too long"
    ]
    assert check("[[[[]]]]", schema=recursive).action == "pass"
