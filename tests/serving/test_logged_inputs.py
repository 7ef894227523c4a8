"""The inference log keeps a request's inputs as records, whatever format it came in."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from mloop.serving.formats import parse_request

RECORDS = [{"a": 1.0, "b": "x"}, {"a": 2.5, "b": "y"}]


@pytest.mark.parametrize(
    "body",
    [
        {"inputs": RECORDS},
        {"inputs": {"a": [1.0, 2.5], "b": ["x", "y"]}},
        {"dataframe_split": {"columns": ["a", "b"], "data": [[1.0, "x"], [2.5, "y"]]}},
        {"dataframe_records": RECORDS},
        {"instances": RECORDS},
    ],
    ids=["records", "columns", "split", "dataframe_records", "instances"],
)
def test_every_table_format_is_logged_as_records(body: dict[str, Any]) -> None:
    assert parse_request(orjson.dumps(body)).logged == RECORDS


def test_one_record_and_unnamed_rows() -> None:
    assert parse_request(b'{"inputs": {"a": 1, "b": 2}}').logged == [{"a": 1, "b": 2}]
    assert parse_request(b'{"inputs": [[1, 2], [3, 4]]}').logged == [[1, 2], [3, 4]]
    split = b'{"dataframe_split": {"data": [[1, 2]]}}'
    assert parse_request(split).logged == [[1, 2]]
