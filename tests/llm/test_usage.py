"""Usage: the token counts of one call, and the parsers of OpenAI's and Anthropic's usage
reports (cache reads and cache writes included)."""

from __future__ import annotations

import pytest

from mloop.core.errors import ValidationError
from mloop.llm.usage import MAX_TOKENS, Usage

# --- OpenAI's shape (every adapter's answers, the gateway's own, streams' last chunk) ----


def test_plain_openai_usage() -> None:
    usage = Usage.from_openai({"prompt_tokens": 10, "completion_tokens": 4, "total_tokens": 14})
    assert usage == Usage(input_tokens=10, output_tokens=4)
    assert usage.total_input_tokens == 10


def test_openai_cache_reads_and_writes_are_taken_out_of_the_prompt() -> None:
    raw = {
        "prompt_tokens": 360,
        "completion_tokens": 4,
        "prompt_tokens_details": {"cached_tokens": 300, "cache_write_tokens": 50},
    }
    usage = Usage.from_openai(raw)
    assert usage == Usage(
        input_tokens=10, output_tokens=4, cached_input_tokens=300, cache_write_tokens=50
    )
    assert usage.total_input_tokens == 360


def test_openai_responses_shape_reads_cache_reads_and_writes() -> None:
    raw = {
        "input_tokens": 100,
        "output_tokens": 7,
        "input_tokens_details": {"cached_tokens": 40, "cache_write_tokens": 25},
    }
    assert Usage.from_openai(raw) == Usage(
        input_tokens=35, output_tokens=7, cached_input_tokens=40, cache_write_tokens=25
    )


@pytest.mark.parametrize("written", [None, 0, -5, "50", True, 2.5])
def test_unusable_cache_write_counts_are_ignored(written: object) -> None:
    raw = {
        "prompt_tokens": 20,
        "completion_tokens": 1,
        "prompt_tokens_details": {"cache_write_tokens": written},
    }
    assert Usage.from_openai(raw) == Usage(input_tokens=20, output_tokens=1)


def test_cache_writes_cannot_exceed_what_the_prompt_leaves() -> None:
    raw = {
        "prompt_tokens": 20,
        "completion_tokens": 1,
        "prompt_tokens_details": {"cached_tokens": 5, "cache_write_tokens": 999},
    }
    assert Usage.from_openai(raw) == Usage(
        input_tokens=0, output_tokens=1, cached_input_tokens=5, cache_write_tokens=15
    )


def test_openai_details_that_are_not_a_mapping_are_refused() -> None:
    with pytest.raises(ValidationError, match="prompt_tokens_details must be a mapping"):
        Usage.from_openai({"prompt_tokens": 3, "prompt_tokens_details": [1]})


# --- Anthropic's shape -------------------------------------------------------------------


def test_anthropic_usage_reports_cache_reads_and_writes_apart() -> None:
    raw = {
        "input_tokens": 21,
        "cache_creation_input_tokens": 188,
        "cache_read_input_tokens": 1000,
        "output_tokens": 393,
    }
    usage = Usage.from_anthropic(raw)
    assert usage == Usage(
        input_tokens=21, output_tokens=393, cached_input_tokens=1000, cache_write_tokens=188
    )
    assert usage.total_input_tokens == 1209


def test_anthropic_usage_without_cache_fields() -> None:
    assert Usage.from_anthropic({"input_tokens": 8, "output_tokens": 2}) == Usage(
        input_tokens=8, output_tokens=2
    )


def test_both_shapes_agree_on_the_same_call() -> None:
    """The Anthropic adapter reports its usage in OpenAI's shape: read back, it is the same."""
    anthropic = Usage.from_anthropic(
        {
            "input_tokens": 3,
            "cache_read_input_tokens": 30,
            "cache_creation_input_tokens": 300,
            "output_tokens": 9,
        }
    )
    openai = Usage.from_openai(
        {
            "prompt_tokens": anthropic.total_input_tokens,
            "completion_tokens": 9,
            "prompt_tokens_details": {"cached_tokens": 30, "cache_write_tokens": 300},
        }
    )
    assert openai == anthropic


# --- corrupt reports ---------------------------------------------------------------------


def test_openai_cached_more_than_prompt_is_refused() -> None:
    with pytest.raises(ValidationError, match="cached_tokens") as info:
        Usage.from_openai({"prompt_tokens": 10, "prompt_tokens_details": {"cached_tokens": 11}})
    assert info.value.field == "prompt_tokens_details.cached_tokens"


@pytest.mark.parametrize(
    "kwargs",
    [
        {"input_tokens": -1},
        {"output_tokens": MAX_TOKENS + 1},
        {"cached_input_tokens": 10**30},
        {"cache_write_tokens": 1.5},
        {"input_tokens": "12"},
        {"output_tokens": True},
    ],
)
def test_bad_token_counts_are_refused(kwargs: dict[str, object]) -> None:
    name = next(iter(kwargs))
    with pytest.raises(ValidationError) as info:
        Usage(**kwargs)  # type: ignore[arg-type]
    assert info.value.field == name


def test_bad_provider_usage_reports_are_refused() -> None:
    with pytest.raises(ValidationError, match="completion_tokens is negative"):
        Usage.from_openai({"prompt_tokens": 1, "completion_tokens": -3})
    with pytest.raises(ValidationError, match="cache_read_input_tokens is 1000000000000"):
        Usage.from_anthropic({"input_tokens": 1, "cache_read_input_tokens": 10**12})
    with pytest.raises(ValidationError, match="usage must be a mapping"):
        Usage.from_anthropic([1, 2])  # type: ignore[arg-type]
    # an integral float (some JSON decoders) is accepted as the integer it is
    assert Usage.from_openai({"prompt_tokens": 3.0}).input_tokens == 3
