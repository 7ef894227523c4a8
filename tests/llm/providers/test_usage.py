"""Usage read back from the OpenAI-shaped reports every adapter returns."""

from __future__ import annotations

import pytest

from mloop.core.errors import ValidationError
from mloop.llm.cost.pricing import Usage
from mloop.llm.providers.usage import stream_usage, usage_from_openai


def test_plain_openai_usage() -> None:
    usage = usage_from_openai({"prompt_tokens": 10, "completion_tokens": 4, "total_tokens": 14})
    assert usage == Usage(input_tokens=10, output_tokens=4)


def test_cache_reads_and_writes_are_taken_out_of_the_prompt() -> None:
    raw = {
        "prompt_tokens": 360,
        "completion_tokens": 4,
        "prompt_tokens_details": {"cached_tokens": 300, "cache_write_tokens": 50},
    }
    assert usage_from_openai(raw) == Usage(
        input_tokens=10, output_tokens=4, cached_input_tokens=300, cache_write_tokens=50
    )


@pytest.mark.parametrize("written", [None, 0, -5, "50", True])
def test_unusable_cache_write_counts_are_ignored(written: object) -> None:
    raw = {
        "prompt_tokens": 20,
        "completion_tokens": 1,
        "prompt_tokens_details": {"cache_write_tokens": written},
    }
    assert usage_from_openai(raw) == Usage(input_tokens=20, output_tokens=1)


def test_cache_writes_cannot_exceed_the_prompt() -> None:
    raw = {
        "prompt_tokens": 20,
        "completion_tokens": 1,
        "prompt_tokens_details": {"cache_write_tokens": 999},
    }
    assert usage_from_openai(raw) == Usage(input_tokens=0, output_tokens=1, cache_write_tokens=20)


def test_corrupt_reports_are_refused() -> None:
    with pytest.raises(ValidationError):
        usage_from_openai({"prompt_tokens": -1})


def test_stream_usage() -> None:
    assert stream_usage({"choices": [{"delta": {"content": "x"}}]}) is None
    assert stream_usage({"choices": [], "usage": None}) is None
    assert stream_usage(
        {"choices": [], "usage": {"prompt_tokens": 3, "completion_tokens": 2}}
    ) == Usage(input_tokens=3, output_tokens=2)
