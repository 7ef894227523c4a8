"""The gateway's price table and cost computation: lookup, overrides, usage shapes, exactness."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path

import pytest
import yaml

from mloop.core.errors import NotFoundError, ValidationError
from mloop.llm.cost.pricing import DEFAULT_PRICES_PATH, Alias, Price, PriceTable, compute_cost
from mloop.llm.usage import MAX_TOKENS, Usage


def _price(model: str = "m", start: date = date(2024, 1, 1), **kw: object) -> Price:
    values: dict[str, object] = {
        "provider": "acme",
        "model": model,
        "input": Decimal("1"),
        "output": Decimal("2"),
        "cached_input": Decimal("0.5"),
        "cache_write": Decimal("1.25"),
        "effective_from": start,
    }
    values.update(kw)
    return Price(**values)  # type: ignore[arg-type]


def _write(tmp_path: Path, data: object, name: str = "prices.yaml") -> Path:
    path = tmp_path / name
    if name.endswith(".json"):
        path.write_text(json.dumps(data))
    else:
        path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def _entry(**kw: object) -> dict[str, object]:
    entry: dict[str, object] = {
        "provider": "openai",
        "model": "gpt-4o",
        "input": "9.00",
        "output": "18.00",
        "effective_from": "2024-10-02",
    }
    entry.update(kw)
    return entry


# --- shipped defaults --------------------------------------------------------------------


def test_shipped_table_loads_and_is_dated() -> None:
    table = PriceTable.default()
    assert len(table) >= 5
    text = DEFAULT_PRICES_PATH.read_text()
    assert "PRICES CHANGE" in text and "override" in text
    for price in table.prices():
        assert price.source, f"{price.provider}/{price.model} has no source note"
    assert ("openai", "gpt-4o") in table.models()
    assert ("anthropic", "claude-sonnet-4-20250514") in table.models("Anthropic")


def test_load_without_defaults_is_empty() -> None:
    assert len(PriceTable.load(default=False)) == 0


# --- lookup ------------------------------------------------------------------------------


def test_lookup_follows_effective_dates() -> None:
    table = PriceTable(
        [
            _price(start=date(2024, 1, 1), input=Decimal("10")),
            _price(start=date(2024, 6, 1), input=Decimal("5")),
            _price(start=date(2025, 1, 1), input=Decimal("2")),
        ]
    )
    assert table.lookup("acme", "m", datetime(2024, 3, 1, tzinfo=UTC)).input == Decimal("10")
    assert table.lookup("acme", "m", datetime(2024, 6, 1, tzinfo=UTC)).input == Decimal("5")
    assert table.lookup("acme", "m", datetime(2024, 12, 31, 23, 59)).input == Decimal("5")
    assert table.lookup("acme", "m", date(2030, 1, 1)).input == Decimal("2")
    assert table.lookup("ACME", " m ", datetime(2025, 2, 1)).input == Decimal("2")
    # a time zone ahead of UTC: 2024-06-01 01:00+02:00 is still 2024-05-31 in UTC
    plus2 = timezone(timedelta(hours=2))
    assert table.lookup("acme", "m", datetime(2024, 6, 1, 1, tzinfo=plus2)).input == Decimal("10")


def test_lookup_before_first_price_and_after_end_is_not_found() -> None:
    table = PriceTable([_price(start=date(2024, 1, 1), effective_to=date(2024, 6, 1))])
    assert table.lookup("acme", "m", date(2024, 5, 31)).input == Decimal("1")
    with pytest.raises(NotFoundError, match="in effect on 2023-12-31"):
        table.lookup("acme", "m", date(2023, 12, 31))
    with pytest.raises(NotFoundError, match="in effect on 2024-06-01"):
        table.lookup("acme", "m", date(2024, 6, 1))  # effective_to is exclusive


def test_shipped_gpt4o_history() -> None:
    table = PriceTable.default()
    assert table.lookup("openai", "gpt-4o", date(2024, 6, 1)).input == Decimal("5.00")
    later = table.lookup("openai", "gpt-4o", date(2025, 1, 1))
    assert (later.input, later.cached_input, later.output) == (
        Decimal("2.50"),
        Decimal("1.25"),
        Decimal("10.00"),
    )


def test_dated_snapshot_only_through_an_explicit_alias() -> None:
    table = PriceTable.default()
    via_alias = table.lookup("openai", "gpt-4o-2024-11-20", date(2025, 1, 1))
    assert via_alias.model == "gpt-4o" and via_alias.input == Decimal("2.50")
    # a snapshot with its own price is not folded into the undated name
    assert table.lookup("openai", "gpt-4o-2024-05-13", date(2025, 1, 1)).input == Decimal("5.00")
    # an unlisted snapshot is not guessed
    with pytest.raises(NotFoundError, match="gpt-4o-2024-08-06"):
        table.lookup("openai", "gpt-4o-2024-08-06", date(2025, 1, 1))


def test_unknown_model_error_says_how_to_add_a_price() -> None:
    table = PriceTable.default()
    with pytest.raises(NotFoundError) as info:
        table.lookup("openai", "gpt-9", date(2025, 1, 1))
    message = str(info.value)
    assert "openai/gpt-9" in message
    assert "overrides_path" in message and "effective_from" in message
    assert "gpt-4o" in message  # lists the known models
    assert info.value.field == "model"
    with pytest.raises(NotFoundError, match="no models of provider 'nobody'"):
        table.lookup("nobody", "x", date(2025, 1, 1))


# --- overrides ---------------------------------------------------------------------------


def test_override_file_wins_for_same_date_and_adds_history(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        {
            "prices": [
                _entry(),  # same provider/model/effective_from as the shipped one
                _entry(input="1.00", output="4.00", effective_from="2026-01-01"),
                _entry(provider="local", model="llama", input="0", output="0"),
            ]
        },
    )
    table = PriceTable.load(overrides_path=path)
    assert table.lookup("openai", "gpt-4o", date(2025, 1, 1)).input == Decimal("9.00")
    # cached_input defaults to the input rate when the override omits it
    assert table.lookup("openai", "gpt-4o", date(2025, 1, 1)).cached_input == Decimal("9.00")
    assert table.lookup("openai", "gpt-4o", date(2026, 2, 1)).input == Decimal("1.00")
    assert table.lookup("openai", "gpt-4o", date(2024, 6, 1)).input == Decimal("5.00")
    assert table.lookup("local", "llama", date(2025, 1, 1)).output == Decimal("0")
    # the alias of the shipped table follows the overridden price
    assert table.lookup("openai", "gpt-4o-2024-11-20", date(2025, 1, 1)).input == Decimal("9.00")
    # the shipped table itself is untouched
    assert PriceTable.default().lookup("openai", "gpt-4o", date(2025, 1, 1)).input == Decimal(
        "2.50"
    )


def test_json_override_with_alias_to_a_shipped_model(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        {"aliases": [{"provider": "openai", "model": "my-4o", "price_of": "gpt-4o"}]},
        name="prices.json",
    )
    table = PriceTable.load(overrides_path=path)
    assert table.lookup("openai", "my-4o", date(2025, 1, 1)).model == "gpt-4o"
    with pytest.raises(ValidationError, match="price_of openai/gpt-4o has no price"):
        PriceTable.from_file(path)  # on its own, the alias points at nothing


def test_override_price_replaces_a_shipped_alias(tmp_path: Path) -> None:
    path = _write(tmp_path, {"prices": [_entry(model="gpt-4o-2024-11-20", input="7")]})
    table = PriceTable.load(overrides_path=path)
    price = table.lookup("openai", "gpt-4o-2024-11-20", date(2025, 1, 1))
    assert price.model == "gpt-4o-2024-11-20" and price.input == Decimal("7")


def test_with_overrides_objects() -> None:
    base = PriceTable([_price(input=Decimal("1"))])
    new = base.with_overrides([_price(input=Decimal("3")), Alias("acme", "m-latest", "m")])
    assert new.lookup("acme", "m-latest", date(2025, 1, 1)).input == Decimal("3")
    assert base.lookup("acme", "m", date(2025, 1, 1)).input == Decimal("1")
    with pytest.raises(ValidationError, match="Price or Alias"):
        base.with_overrides(["nope"])  # type: ignore[list-item]


def test_missing_override_file(tmp_path: Path) -> None:
    with pytest.raises(NotFoundError, match="does not exist"):
        PriceTable.load(overrides_path=tmp_path / "nope.yaml")


def test_table_round_trips_through_to_dict(tmp_path: Path) -> None:
    table = PriceTable.default()
    again = PriceTable.from_file(_write(tmp_path, table.to_dict()))
    assert again.prices() == table.prices()
    assert again.aliases() == table.aliases()


# --- malformed files ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "pattern"),
    [
        ({"prices": [_entry(), _entry(model="x", colour="red")]}, r"prices\[1\].*colour"),
        ({"prices": [_entry(input="-1")]}, r"prices\[0\] \(openai/gpt-4o\): input .*negative"),
        ({"prices": [_entry(output=-0.5)]}, r"prices\[0\].*output .*negative"),
        ({"prices": [_entry(cached_input="abc")]}, r"prices\[0\].*cached_input must be a number"),
        ({"prices": [_entry(input="NaN")]}, r"prices\[0\].*input must be finite"),
        ({"prices": [_entry(input=True)]}, r"prices\[0\].*input must be a number"),
        ({"prices": [_entry(input="5000000")]}, r"prices\[0\].*exceeds"),
        ({"prices": [_entry(effective_from="2024-13-01")]}, r"prices\[0\].*effective_from"),
        ({"prices": [_entry(effective_from="yesterday")]}, r"prices\[0\].*YYYY-MM-DD"),
        ({"prices": [_entry(effective_to="2024-01-01")]}, r"prices\[0\].*not after"),
        ({"prices": [{"provider": "openai", "model": "x"}]}, r"prices\[0\].*missing.*input"),
        ({"prices": [_entry(model="")]}, r"prices\[0\].*model must be a non-empty"),
        ({"prices": ["gpt-4o"]}, r"prices\[0\].*must be a mapping"),
        ({"prices": {"gpt-4o": 1}}, r"'prices' must be a list"),
        ({"price": []}, r"unknown top-level key.*price"),
        (
            {"prices": [_entry(), _entry(input="3")]},
            r"prices\[1\].*second price from 2024-10-02.*prices\[0\]",
        ),
        (
            {
                "prices": [
                    _entry(effective_from="2024-01-01", effective_to="2024-07-01"),
                    _entry(effective_from="2024-06-01"),
                ]
            },
            r"prices\[1\].*overlaps.*prices\[0\]",
        ),
        (
            {"aliases": [{"provider": "openai", "model": "a", "price_of": "b", "x": 1}]},
            r"aliases\[0\].*unknown key.*x",
        ),
        (
            {
                "prices": [_entry()],
                "aliases": [{"provider": "openai", "model": "gpt-4o", "price_of": "gpt-4o"}],
            },
            r"aliases\[0\].*prices of its own and an alias",
        ),
    ],
)
def test_malformed_override_file_names_the_entry(
    tmp_path: Path, data: object, pattern: str
) -> None:
    path = _write(tmp_path, data)
    with pytest.raises(ValidationError, match=pattern) as info:
        PriceTable.load(overrides_path=path)
    assert str(path) in str(info.value)


def test_dates_with_times_and_bad_yaml_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "p.yaml"
    path.write_text("prices:\n  - provider: openai\n    model: [unclosed\n")
    with pytest.raises(ValidationError, match="not valid YAML"):
        PriceTable.load(overrides_path=path)
    path.write_text(
        "prices:\n  - {provider: a, model: b, input: 1, output: 1,"
        " effective_from: 2024-01-01T10:00:00}\n"
    )
    with pytest.raises(ValidationError, match=r"prices\[0\].*date and time"):
        PriceTable.load(overrides_path=path)
    path.write_text("")
    assert len(PriceTable.load(default=False, overrides_path=path)) == 0


def test_override_that_overlaps_a_shipped_range_is_refused(tmp_path: Path) -> None:
    base = PriceTable([_price(start=date(2024, 1, 1), effective_to=date(2024, 12, 1))])
    over = PriceTable([_price(start=date(2024, 6, 1))])
    with pytest.raises(ValidationError, match="overlaps"):
        base.with_overrides(over)


def test_yaml_floats_are_read_as_written(tmp_path: Path) -> None:
    path = tmp_path / "p.yaml"
    path.write_text(
        "prices:\n  - {provider: a, model: b, input: 0.1, output: 2.5,"
        " cached_input: 0.075, effective_from: 2024-01-01}\n"
    )
    price = PriceTable.load(default=False, overrides_path=path).lookup("a", "b", date(2025, 1, 1))
    assert (price.input, price.output, price.cached_input) == (
        Decimal("0.1"),
        Decimal("2.5"),
        Decimal("0.075"),
    )


# --- the cost of each usage shape --------------------------------------------------------


def test_openai_cached_tokens_are_taken_out_of_prompt_tokens() -> None:
    usage = Usage.from_openai(
        {
            "prompt_tokens": 2006,
            "completion_tokens": 300,
            "total_tokens": 2306,
            "prompt_tokens_details": {"cached_tokens": 1920, "audio_tokens": 0},
            "completion_tokens_details": {"reasoning_tokens": 100},
        }
    )
    assert usage == Usage(input_tokens=86, output_tokens=300, cached_input_tokens=1920)
    assert usage.total_input_tokens == 2006
    # gpt-4o at 2.50 / cached 1.25 / output 10.00 per 1M tokens
    cost = PriceTable.default().cost("openai", "gpt-4o", usage, date(2025, 1, 1))
    assert cost.input == Decimal("0.000215")  # 86 * 2.50 / 1e6
    assert cost.cached_input == Decimal("0.0024")  # 1920 * 1.25 / 1e6
    assert cost.output == Decimal("0.003")  # 300 * 10 / 1e6
    assert cost.cache_write == 0
    assert cost.total == Decimal("0.005615")
    assert cost.to_dict()["total"] == "0.005615"


def test_openai_responses_and_embeddings_shapes() -> None:
    responses = Usage.from_openai(
        {"input_tokens": 100, "input_tokens_details": {"cached_tokens": 40}, "output_tokens": 7}
    )
    assert responses == Usage(input_tokens=60, output_tokens=7, cached_input_tokens=40)
    embeddings = Usage.from_openai({"prompt_tokens": 8, "total_tokens": 8})
    assert embeddings == Usage(input_tokens=8)
    cost = PriceTable.default().cost(
        "openai", "text-embedding-3-small", embeddings, date(2025, 1, 1)
    )
    assert cost.total == Decimal("0.00000016")


def test_anthropic_cache_read_and_creation_billing() -> None:
    usage = Usage.from_anthropic(
        {
            "input_tokens": 21,
            "cache_creation_input_tokens": 188086,
            "cache_read_input_tokens": 0,
            "output_tokens": 393,
        }
    )
    assert usage == Usage(input_tokens=21, output_tokens=393, cache_write_tokens=188086)
    price = PriceTable.default().lookup("anthropic", "claude-sonnet-4-0", date(2025, 6, 1))
    cost = compute_cost(usage, price)
    assert cost.input == Decimal("0.000063")  # 21 * 3 / 1e6
    assert cost.cache_write == Decimal("0.7053225")  # 188086 * 3.75 / 1e6
    assert cost.output == Decimal("0.005895")  # 393 * 15 / 1e6
    assert cost.total == Decimal("0.7112805")

    second = Usage.from_anthropic(
        {"input_tokens": 5, "cache_read_input_tokens": 188086, "output_tokens": 10}
    )
    cost2 = compute_cost(second, price)
    assert cost2.cached_input == Decimal("0.0564258")  # 188086 * 0.30 / 1e6
    assert cost2.total == Decimal("0.0564258") + Decimal("0.000015") + Decimal("0.00015")


# --- exactness and limits ----------------------------------------------------------------


def test_arithmetic_is_exact_where_floats_are_not() -> None:
    price = _price(input=Decimal("0.1"), output=Decimal("0.2"), cached_input=Decimal("0.1"))
    cost = compute_cost(Usage(input_tokens=1, output_tokens=1), price)
    assert cost.total == Decimal("0.0000003")
    million = compute_cost(Usage(input_tokens=1_000_000, output_tokens=1_000_000), price)
    assert million.total == Decimal("0.3")
    assert 0.1 + 0.2 != 0.3  # the float sum the Decimals avoid
    big = compute_cost(
        Usage(input_tokens=MAX_TOKENS, output_tokens=MAX_TOKENS, cached_input_tokens=MAX_TOKENS),
        _price(input=Decimal("123456.789"), output=Decimal("0.000001"), cached_input=Decimal("0")),
    )
    assert big.total == Decimal("123456789") + Decimal("0.001")
    assert isinstance(big.total, Decimal)


def test_rounded_is_half_even_for_display() -> None:
    cost = compute_cost(Usage(input_tokens=5), _price(input=Decimal("0.1")))
    assert cost.total == Decimal("0.0000005")
    assert cost.rounded(6) == Decimal("0.000000")
    assert cost.rounded(7) == Decimal("0.0000005")


def test_price_objects_validate_themselves() -> None:
    with pytest.raises(ValidationError, match="negative"):
        _price(output=Decimal("-0.01"))
    with pytest.raises(ValidationError, match="finite Decimal"):
        _price(input=0.5)
    with pytest.raises(ValidationError, match="not after"):
        _price(start=date(2024, 1, 1), effective_to=date(2024, 1, 1))
    with pytest.raises(ValidationError, match="significant digits"):
        _price(input=Decimal("0." + "1" * 40))


def test_a_relative_prices_path_is_read_beside_the_configuration_file(tmp_path: Path) -> None:
    from mloop.llm.config import GatewayConfig

    folder = tmp_path / "moved-later"
    folder.mkdir()
    (folder / "prices.yaml").write_text("prices: []\n")
    config = {"providers": {"sim": {"kind": "simulated"}}, "prices_path": "prices.yaml"}
    (folder / "gateway.yaml").write_text(yaml.safe_dump(config))
    moved = folder.rename(tmp_path / "elsewhere")
    loaded = GatewayConfig.from_file(moved / "gateway.yaml")
    assert loaded.prices_path == str(moved / "prices.yaml")
    absolute = {**config, "prices_path": str(tmp_path / "abs.yaml")}
    (moved / "gateway.yaml").write_text(yaml.safe_dump(absolute))
    assert GatewayConfig.from_file(moved / "gateway.yaml").prices_path == str(tmp_path / "abs.yaml")
