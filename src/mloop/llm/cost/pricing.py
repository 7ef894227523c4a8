"""Model prices and the cost of each LLM call, in exact decimal USD.

A :class:`PriceTable` holds, per provider and model, a history of :class:`Price` entries (USD per
one million tokens for input, cached input, cache writes and output), each with the date it took
effect. mloop ships a small dated table (``prices.yaml`` next to this module); prices change, so
users override or extend it with a file of the same format::

    table = PriceTable.load(overrides_path="my-prices.yaml")
    price = table.lookup("openai", "gpt-4o", at=datetime.now(UTC))
    cost = compute_cost(Usage.from_openai(response["usage"]), price)
    cost.total  # Decimal("0.0123")

The price file format (YAML or JSON)::

    prices:
      - provider: openai            # lower-cased on load
        model: gpt-4o
        input: "2.50"               # USD per 1M input tokens billed at the full rate
        output: "10.00"             # USD per 1M output tokens (reasoning tokens included)
        cached_input: "1.25"        # optional, USD per 1M cache-read tokens; default: input
        cache_write: "2.50"         # optional, USD per 1M cache-write tokens; default: input
        effective_from: 2024-10-02  # UTC date the price takes effect
        effective_to: 2025-01-01    # optional, exclusive; default: until the next entry
        source: "where the figure comes from"   # optional note
    aliases:                        # optional: a model name billed at another model's prices
      - provider: openai
        model: gpt-4o-2024-11-20
        price_of: gpt-4o

Lookup matches the model name exactly; a name that has no price of its own is looked up under
the model its alias names, and only when the table has such an alias (dated snapshots are
often priced differently from the name they later become, so nothing is guessed).

Arithmetic is exact: token counts are integers, prices are decimals, and nothing passes
through a float.
"""

from __future__ import annotations

import decimal
import itertools
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import yaml

from mloop.core.errors import NotFoundError, ValidationError
from mloop.llm.usage import Usage

__all__ = [
    "DEFAULT_PRICES_PATH",
    "Alias",
    "Cost",
    "Price",
    "PriceTable",
    "compute_cost",
    "cost",
]

DEFAULT_PRICES_PATH = Path(__file__).with_name("prices.yaml")

#: The most a price may be, in USD per 1M tokens; more is taken as a typo.
MAX_PRICE = Decimal(1_000_000)

_PER = Decimal(1_000_000)
_ENTRY_KEYS = {
    "provider",
    "model",
    "input",
    "output",
    "cached_input",
    "cache_write",
    "effective_from",
    "effective_to",
    "source",
}
_REQUIRED_KEYS = ("provider", "model", "input", "output", "effective_from")
_ALIAS_KEYS = {"provider", "model", "price_of", "source"}
_TOP_KEYS = {"prices", "aliases"}


def _context() -> decimal.Context:
    # Enough digits for any product of a bounded price and a bounded token count; Inexact is
    # trapped so a rounding, were one ever to happen, is an error rather than a wrong bill.
    return decimal.Context(prec=60, traps=[decimal.Inexact, decimal.InvalidOperation])


# --------------------------------------------------------------------------------------------
# prices


@dataclass(frozen=True)
class Price:
    """One model's prices, USD per one million tokens, from ``effective_from`` (a UTC date)."""

    provider: str
    model: str
    input: Decimal
    output: Decimal
    cached_input: Decimal
    cache_write: Decimal
    effective_from: date
    effective_to: date | None = None
    source: str | None = None
    origin: str = field(default="<code>", compare=False, repr=False)
    """Where the entry was read from (file and index), for error messages."""

    def __post_init__(self) -> None:
        where = f"{self.origin} ({self.provider}/{self.model})"
        for name in ("input", "output", "cached_input", "cache_write"):
            value = getattr(self, name)
            if not isinstance(value, Decimal) or not value.is_finite():
                raise ValidationError(f"{where}: {name} must be a finite Decimal", field=name)
            if value < 0:
                raise ValidationError(f"{where}: {name} price {value} is negative", field=name)
            if len(value.as_tuple().digits) > 24:
                raise ValidationError(
                    f"{where}: {name} price {value} has more than 24 significant digits",
                    field=name,
                )
            if value > MAX_PRICE:
                raise ValidationError(
                    f"{where}: {name} price {value} exceeds {MAX_PRICE} USD per 1M tokens",
                    field=name,
                )
        if self.effective_to is not None and self.effective_to <= self.effective_from:
            raise ValidationError(
                f"{where}: effective_to {self.effective_to} is not after "
                f"effective_from {self.effective_from}",
                field="effective_to",
            )

    @property
    def key(self) -> tuple[str, str, date]:
        return (self.provider, self.model, self.effective_from)

    def in_effect(self, day: date) -> bool:
        return self.effective_from <= day and (self.effective_to is None or day < self.effective_to)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "provider": self.provider,
            "model": self.model,
            "input": str(self.input),
            "output": str(self.output),
            "cached_input": str(self.cached_input),
            "cache_write": str(self.cache_write),
            "effective_from": self.effective_from.isoformat(),
        }
        if self.effective_to is not None:
            out["effective_to"] = self.effective_to.isoformat()
        if self.source is not None:
            out["source"] = self.source
        return out


@dataclass(frozen=True)
class Alias:
    """``model`` is billed at the prices of ``price_of`` (same provider)."""

    provider: str
    model: str
    price_of: str
    source: str | None = None
    origin: str = field(default="<code>", compare=False, repr=False)


# --------------------------------------------------------------------------------------------
# parsing


def _decimal(value: Any, where: str, name: str) -> Decimal:
    if isinstance(value, bool) or value is None:
        raise ValidationError(f"{where}: {name} must be a number, got {value!r}", field=name)
    if isinstance(value, float):
        value = repr(value)  # the shortest text that reads back as this float: what was written
    if isinstance(value, int | str):
        try:
            result = Decimal(str(value).strip())
        except decimal.InvalidOperation:
            raise ValidationError(
                f"{where}: {name} must be a number, got {value!r}", field=name
            ) from None
        if not result.is_finite():
            raise ValidationError(f"{where}: {name} must be finite, got {value!r}", field=name)
        if result < 0:
            raise ValidationError(f"{where}: {name} price {value} is negative", field=name)
        return result
    raise ValidationError(f"{where}: {name} must be a number, got {value!r}", field=name)


def _date(value: Any, where: str, name: str) -> date:
    if isinstance(value, datetime):
        raise ValidationError(
            f"{where}: {name} must be a date (YYYY-MM-DD), got a date and time {value!r}",
            field=name,
        )
    if isinstance(value, date):
        return value
    if isinstance(value, str):
        try:
            return date.fromisoformat(value.strip())
        except ValueError:
            pass
    raise ValidationError(f"{where}: {name} must be a date (YYYY-MM-DD), got {value!r}", field=name)


def _name(value: Any, where: str, name: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ValidationError(f"{where}: {name} must be a non-empty string", field=name)
    return value.strip()


def _parse_price(raw: Any, where: str) -> Price:
    if not isinstance(raw, Mapping):
        raise ValidationError(f"{where}: an entry must be a mapping, got {type(raw).__name__}")
    unknown = sorted(str(k) for k in raw if k not in _ENTRY_KEYS)
    if unknown:
        raise ValidationError(
            f"{where}: unknown key(s) {', '.join(unknown)}; "
            f"allowed: {', '.join(sorted(_ENTRY_KEYS))}",
            field=unknown[0],
        )
    for key in _REQUIRED_KEYS:
        if key not in raw:
            raise ValidationError(f"{where}: missing required key {key!r}", field=key)
    provider = _name(raw["provider"], where, "provider").lower()
    model = _name(raw["model"], where, "model")
    where = f"{where} ({provider}/{model})"
    input_ = _decimal(raw["input"], where, "input")
    source = raw.get("source")
    if source is not None and not isinstance(source, str):
        raise ValidationError(f"{where}: source must be a string", field="source")
    effective_to = raw.get("effective_to")
    return Price(
        provider=provider,
        model=model,
        input=input_,
        output=_decimal(raw["output"], where, "output"),
        cached_input=(
            _decimal(raw["cached_input"], where, "cached_input")
            if raw.get("cached_input") is not None
            else input_
        ),
        cache_write=(
            _decimal(raw["cache_write"], where, "cache_write")
            if raw.get("cache_write") is not None
            else input_
        ),
        effective_from=_date(raw["effective_from"], where, "effective_from"),
        effective_to=None if effective_to is None else _date(effective_to, where, "effective_to"),
        source=source,
        origin=where,
    )


def _parse_alias(raw: Any, where: str) -> Alias:
    if not isinstance(raw, Mapping):
        raise ValidationError(f"{where}: an alias must be a mapping, got {type(raw).__name__}")
    unknown = sorted(str(k) for k in raw if k not in _ALIAS_KEYS)
    if unknown:
        raise ValidationError(
            f"{where}: unknown key(s) {', '.join(unknown)}; "
            f"allowed: {', '.join(sorted(_ALIAS_KEYS))}",
            field=unknown[0],
        )
    for key in ("provider", "model", "price_of"):
        if key not in raw:
            raise ValidationError(f"{where}: missing required key {key!r}", field=key)
    source = raw.get("source")
    if source is not None and not isinstance(source, str):
        raise ValidationError(f"{where}: source must be a string", field="source")
    provider = _name(raw["provider"], where, "provider").lower()
    model = _name(raw["model"], where, "model")
    return Alias(
        provider=provider,
        model=model,
        price_of=_name(raw["price_of"], where, "price_of"),
        source=source,
        origin=f"{where} ({provider}/{model})",
    )


# --------------------------------------------------------------------------------------------
# the table


def _check_history(prices: Iterable[Price]) -> None:
    """Refuse two entries of one model with the same start, or overlapping explicit ranges."""
    by_model: dict[tuple[str, str], list[Price]] = {}
    for p in prices:
        by_model.setdefault((p.provider, p.model), []).append(p)
    for history in by_model.values():
        history.sort(key=lambda p: p.effective_from)
        for a, b in itertools.pairwise(history):
            if a.effective_from == b.effective_from:
                raise ValidationError(
                    f"{b.origin}: a second price from {b.effective_from} (the first is {a.origin})",
                    field="effective_from",
                )
            if a.effective_to is not None and a.effective_to > b.effective_from:
                raise ValidationError(
                    f"{b.origin}: effective from {b.effective_from}, which overlaps "
                    f"{a.origin} ({a.effective_from} to {a.effective_to})",
                    field="effective_from",
                )


def _check_aliases(prices: Mapping[tuple[str, str], list[Price]], aliases: Iterable[Alias]) -> None:
    for a in aliases:
        if (a.provider, a.model) in prices:
            raise ValidationError(
                f"{a.origin}: {a.provider}/{a.model} has prices of its own and an alias",
                field="model",
            )
        if (a.provider, a.price_of) not in prices:
            raise ValidationError(
                f"{a.origin}: price_of {a.provider}/{a.price_of} has no price in the table",
                field="price_of",
            )


def _as_utc_date(at: datetime | date | None) -> date:
    if at is None:
        return datetime.now(UTC).date()
    if isinstance(at, datetime):
        if at.tzinfo is not None:
            at = at.astimezone(UTC)
        return at.date()  # a naive datetime is taken as UTC
    if isinstance(at, date):
        return at
    raise ValidationError(f"at must be a datetime or a date, got {type(at).__name__}", field="at")


class PriceTable:
    """Prices by provider and model, each with its history of effective dates."""

    def __init__(self, prices: Iterable[Price] = (), aliases: Iterable[Alias] = ()) -> None:
        self._build(list(prices), list(aliases))
        _check_aliases(self._prices, self._aliases.values())

    def _build(self, prices: list[Price], aliases: list[Alias]) -> None:
        _check_history(prices)
        self._prices: dict[tuple[str, str], list[Price]] = {}
        for p in prices:
            self._prices.setdefault((p.provider, p.model), []).append(p)
        for history in self._prices.values():
            history.sort(key=lambda p: p.effective_from)
        self._aliases: dict[tuple[str, str], Alias] = {}
        for a in aliases:
            if (a.provider, a.model) in self._aliases:
                raise ValidationError(
                    f"{a.origin}: a second alias for {a.provider}/{a.model} "
                    f"(the first is {self._aliases[a.provider, a.model].origin})",
                    field="model",
                )
            if (a.provider, a.model) in self._prices:
                raise ValidationError(
                    f"{a.origin}: {a.provider}/{a.model} has prices of its own and an alias",
                    field="model",
                )
            self._aliases[a.provider, a.model] = a

    # --- construction ---------------------------------------------------------------------

    @classmethod
    def from_dict(cls, data: Any, *, source: str = "<dict>") -> PriceTable:
        """Build a table from parsed file content; errors name ``source`` and the entry."""
        if not isinstance(data, Mapping):
            raise ValidationError(
                f"{source}: the top level must be a mapping with a 'prices' list, "
                f"got {type(data).__name__}"
            )
        unknown = sorted(str(k) for k in data if k not in _TOP_KEYS)
        if unknown:
            raise ValidationError(
                f"{source}: unknown top-level key(s) {', '.join(unknown)}; "
                f"allowed: {', '.join(sorted(_TOP_KEYS))}",
                field=unknown[0],
            )
        raw_prices = data.get("prices") or []
        raw_aliases = data.get("aliases") or []
        if not isinstance(raw_prices, list):
            raise ValidationError(f"{source}: 'prices' must be a list", field="prices")
        if not isinstance(raw_aliases, list):
            raise ValidationError(f"{source}: 'aliases' must be a list", field="aliases")
        prices = [_parse_price(r, f"{source}: prices[{i}]") for i, r in enumerate(raw_prices)]
        aliases = [_parse_alias(r, f"{source}: aliases[{i}]") for i, r in enumerate(raw_aliases)]
        return cls._partial(prices, aliases)

    @classmethod
    def _partial(cls, prices: list[Price], aliases: list[Alias]) -> PriceTable:
        """A table whose aliases may point at models priced elsewhere (an overrides file)."""
        table = cls.__new__(cls)
        table._build(prices, aliases)
        return table

    @staticmethod
    def _read(path: Path) -> Any:
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            raise NotFoundError(f"price file {path} does not exist", field="path") from None
        except OSError as exc:
            raise ValidationError(f"price file {path} cannot be read: {exc}") from None
        try:
            data = json.loads(text) if path.suffix.lower() == ".json" else yaml.safe_load(text)
        except (yaml.YAMLError, json.JSONDecodeError) as exc:
            kind = "JSON" if path.suffix.lower() == ".json" else "YAML"
            raise ValidationError(f"{path}: not valid {kind}: {exc}") from None
        return {} if data is None else data

    @classmethod
    def from_file(cls, path: str | Path) -> PriceTable:
        """Read a YAML (``.yaml``/``.yml``) or JSON price file that stands on its own."""
        path = Path(path)
        table = cls.from_dict(cls._read(path), source=str(path))
        _check_aliases(table._prices, table._aliases.values())
        return table

    @classmethod
    def default(cls) -> PriceTable:
        """The prices shipped with mloop (dated; see the comment at the top of the file)."""
        return cls.from_file(DEFAULT_PRICES_PATH)

    @classmethod
    def load(cls, default: bool = True, overrides_path: str | Path | None = None) -> PriceTable:
        """The shipped prices (unless ``default`` is False) with a user file merged over them.

        The overrides file may alias a model to one priced only in the shipped table.
        """
        table = cls.default() if default else cls()
        if overrides_path is None:
            return table
        path = Path(overrides_path)
        return table.with_overrides(cls.from_dict(cls._read(path), source=str(path)))

    def with_overrides(self, overrides: PriceTable | Iterable[Price | Alias]) -> PriceTable:
        """A new table: ``overrides`` win over this table's entries.

        A price replaces the entry of the same provider, model and ``effective_from``; other
        dates are added to the model's history. A model priced in the overrides loses any alias
        it had here; a model aliased in the overrides loses any prices it had here.
        """
        if isinstance(overrides, PriceTable):
            new_prices = overrides.prices()
            new_aliases = overrides.aliases()
        else:
            items = list(overrides)
            new_prices = [x for x in items if isinstance(x, Price)]
            new_aliases = [x for x in items if isinstance(x, Alias)]
            bad = [x for x in items if not isinstance(x, Price | Alias)]
            if bad:
                raise ValidationError(
                    f"overrides must be Price or Alias objects, got {type(bad[0]).__name__}"
                )
        priced = {(p.provider, p.model) for p in new_prices}
        aliased = {(a.provider, a.model) for a in new_aliases}
        replaced = {p.key for p in new_prices}
        prices = [
            p
            for p in self.prices()
            if p.key not in replaced and (p.provider, p.model) not in aliased
        ]
        aliases = [
            a
            for a in self.aliases()
            if (a.provider, a.model) not in aliased and (a.provider, a.model) not in priced
        ]
        return PriceTable([*prices, *new_prices], [*aliases, *new_aliases])

    # --- reading --------------------------------------------------------------------------

    def prices(self) -> list[Price]:
        return [p for history in self._prices.values() for p in history]

    def aliases(self) -> list[Alias]:
        return list(self._aliases.values())

    def models(self, provider: str | None = None) -> list[tuple[str, str]]:
        """``(provider, model)`` of every priced or aliased model, sorted."""
        keys = set(self._prices) | set(self._aliases)
        if provider is not None:
            keys = {k for k in keys if k[0] == provider.strip().lower()}
        return sorted(keys)

    def lookup(self, provider: str, model: str, at: datetime | date | None = None) -> Price:
        """The price of ``provider``/``model`` in effect at ``at`` (default: now).

        A naive datetime is taken as UTC. The model name is matched exactly, then through an
        alias listed in the table; nothing else is guessed.
        """
        provider_key = provider.strip().lower()
        model_key = model.strip()
        day = _as_utc_date(at)
        history = self._prices.get((provider_key, model_key))
        via = ""
        if history is None and (provider_key, model_key) in self._aliases:
            target = self._aliases[provider_key, model_key].price_of
            history = self._prices.get((provider_key, target))
            via = f" (an alias of {provider_key}/{target})"
        if history is None:
            known = [m for p, m in self.models(provider_key)]
            hint = (
                f"known {provider_key} models: {', '.join(known)}"
                if known
                else f"no models of provider {provider_key!r} are priced"
            )
            raise NotFoundError(
                f"no price for {provider_key}/{model_key}; {hint}. Add one in a price overrides "
                f"file (PriceTable.load(overrides_path=...)), an entry under 'prices:' with "
                f"provider: {provider_key}, model: {model_key}, input, output (USD per 1M "
                f"tokens) and effective_from, or an entry under 'aliases:' with price_of: "
                f"<a priced model>",
                field="model",
            )
        in_effect = [p for p in history if p.in_effect(day)]
        if not in_effect:
            spans = ", ".join(f"{p.effective_from} to {p.effective_to or 'open'}" for p in history)
            raise NotFoundError(
                f"no price for {provider_key}/{model_key}{via} in effect on {day}; the table "
                f"has prices for {spans}. Add an entry with an effective_from on or before "
                f"{day} in a price overrides file",
                field="at",
            )
        return in_effect[-1]

    def cost(
        self, provider: str, model: str, usage: Usage, at: datetime | date | None = None
    ) -> Cost:
        """Look up the price in effect at ``at`` and compute the cost of ``usage``."""
        return compute_cost(usage, self.lookup(provider, model, at))

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"prices": [p.to_dict() for p in self.prices()]}
        if self._aliases:
            out["aliases"] = [
                {"provider": a.provider, "model": a.model, "price_of": a.price_of}
                | ({"source": a.source} if a.source is not None else {})
                for a in self.aliases()
            ]
        return out

    def __len__(self) -> int:
        return sum(len(h) for h in self._prices.values())

    def __repr__(self) -> str:
        return f"PriceTable({len(self)} prices, {len(self._aliases)} aliases)"


# --------------------------------------------------------------------------------------------
# cost


@dataclass(frozen=True)
class Cost:
    """The exact USD cost of one call, by part; ``total`` is their sum."""

    input: Decimal
    cached_input: Decimal
    cache_write: Decimal
    output: Decimal
    total: Decimal
    price: Price
    usage: Usage
    currency: str = "USD"

    def rounded(self, places: int = 6) -> Decimal:
        """``total`` rounded half-even to ``places`` decimal places, for display."""
        return self.total.quantize(Decimal(1).scaleb(-places), rounding=decimal.ROUND_HALF_EVEN)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: amounts as decimal strings, so nothing is lost to floats."""
        return {
            "currency": self.currency,
            "total": str(self.total),
            "input": str(self.input),
            "cached_input": str(self.cached_input),
            "cache_write": str(self.cache_write),
            "output": str(self.output),
            "provider": self.price.provider,
            "model": self.price.model,
            "price_effective_from": self.price.effective_from.isoformat(),
        }


def compute_cost(usage: Usage, price: Price) -> Cost:
    """The exact cost of ``usage`` at ``price`` (USD per 1M tokens)."""
    if not isinstance(usage, Usage):
        raise ValidationError(f"usage must be a Usage, got {type(usage).__name__}", field="usage")
    if not isinstance(price, Price):
        raise ValidationError(f"price must be a Price, got {type(price).__name__}", field="price")
    ctx = _context()

    def part(tokens: int, rate: Decimal) -> Decimal:
        return ctx.divide(ctx.multiply(Decimal(tokens), rate), _PER)

    parts = (
        part(usage.input_tokens, price.input),
        part(usage.cached_input_tokens, price.cached_input),
        part(usage.cache_write_tokens, price.cache_write),
        part(usage.output_tokens, price.output),
    )
    total = Decimal(0)
    for p in parts:
        total = ctx.add(total, p)
    return Cost(
        input=parts[0],
        cached_input=parts[1],
        cache_write=parts[2],
        output=parts[3],
        total=total,
        price=price,
        usage=usage,
    )


cost = compute_cost
"""Alias of :func:`compute_cost`."""
