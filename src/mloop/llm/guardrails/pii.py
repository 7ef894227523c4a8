"""PII detection and redaction for the gateway's guardrails.

``find_pii`` finds personal data in a text and ``redact`` replaces it. Detection is a set of
regular expressions that find candidates plus checks in Python that accept or reject them
(Luhn for payment cards, ISO 13616 mod-97 and country lengths for IBANs, allocation rules for
SSNs and UK National Insurance numbers, ISO 7064 for the German Steuer-ID).

Every pattern is written so that a match attempt at one position does a bounded amount of work
(bounded quantifiers, or unambiguous repetitions that never backtrack far) and most patterns
may start only at a word boundary, so the scan of a text is linear in its length. Texts are
limited to ``MAX_TEXT_CHARS`` characters.

Supported kinds (see ``docs/gateway.md``):

* ``email``: ``local@domain.tld`` addresses.
* ``phone``: international numbers starting with ``+`` and a country code (8 to 15 digits);
  North American numbers ``(415) 555-2671``, ``415-555-2671``, ``415.555.2671``,
  ``415 555 2671``; national numbers with a leading trunk ``0`` and separators
  (``030 1234567``, ``020 7946 0958``, ``06 12 34 56 78``).
* ``payment_card``: 13 to 19 digits, contiguous or in groups of 3 or more separated by one
  kind of separator (space or dash), that pass the Luhn check.
* ``iban``: country code, two check digits and BBAN, optionally in groups separated by single
  spaces, with the country's length and the mod-97 check.
* ``national_id``: US Social Security numbers (``123-45-6789`` or ``123 45 6789``), UK National
  Insurance numbers (``AB123456C``, ``AB 12 34 56 C``) and German tax ids (Steuer-ID,
  11 contiguous digits).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Collection, Iterable, Sequence
from dataclasses import dataclass
from typing import Literal

from mloop.core.errors import ValidationError

MAX_TEXT_CHARS = 1_000_000
"""The longest text ``find_pii`` and ``redact`` accept, in characters."""

PII_KINDS: tuple[str, ...] = ("email", "phone", "payment_card", "iban", "national_id")
"""Every kind ``find_pii`` detects."""

# When two matches overlap, the longer one wins; on equal length, the more specific kind
# (earlier in this tuple) wins.
_SPECIFICITY: dict[str, int] = {
    kind: rank
    for rank, kind in enumerate(("iban", "payment_card", "national_id", "email", "phone"))
}

RedactionStyle = Literal["label", "mask"]


@dataclass(frozen=True)
class PiiMatch:
    """One piece of personal data found in a text: ``text[start:end] == value``."""

    kind: str
    start: int
    end: int
    value: str


@dataclass(frozen=True)
class RedactionResult:
    """The redacted text and the matches that were replaced, sorted by position."""

    text: str
    matches: tuple[PiiMatch, ...]


# ---------------------------------------------------------------------------------------------
# input checks


def _check_text(text: object, field: str = "text") -> str:
    if not isinstance(text, str):
        raise ValidationError(
            f"{field} must be a str, got {type(text).__name__}",
            field=field,
        )
    if len(text) > MAX_TEXT_CHARS:
        raise ValidationError(
            f"{field} is {len(text):,} characters, over the limit of {MAX_TEXT_CHARS:,} "
            "characters for PII detection",
            field=field,
        )
    return text


def _check_kinds(kinds: Collection[str] | None) -> frozenset[str]:
    if kinds is None:
        return frozenset(PII_KINDS)
    if isinstance(kinds, str):
        raise ValidationError(
            f"kinds must be a collection of kind names, not the string {kinds!r}; use [{kinds!r}]",
            field="kinds",
        )
    chosen = frozenset(kinds)
    unknown = sorted(str(k) for k in chosen - set(PII_KINDS))
    if unknown:
        raise ValidationError(
            f"unknown PII kind(s) {', '.join(unknown)}; known kinds are {', '.join(PII_KINDS)}",
            field="kinds",
        )
    return chosen


# ---------------------------------------------------------------------------------------------
# email

_EMAIL = re.compile(
    r"(?<![A-Za-z0-9._%+\-])"
    r"[A-Za-z0-9_%+\-](?:[A-Za-z0-9._%+\-]{0,62}[A-Za-z0-9_%+\-])?"
    r"@"
    r"(?:[A-Za-z0-9](?:[A-Za-z0-9\-]{0,61}[A-Za-z0-9])?\.){1,8}"
    r"[A-Za-z]{2,24}"
    r"(?![A-Za-z0-9\-])"
)


def _find_emails(text: str) -> Iterable[PiiMatch]:
    for m in _EMAIL.finditer(text):
        yield PiiMatch("email", m.start(), m.end(), m.group())


# ---------------------------------------------------------------------------------------------
# payment cards

# A run of digit groups separated by single spaces or dashes. The separator makes the
# repetition unambiguous and nothing follows it, so a match never backtracks.
_DIGIT_RUN = re.compile(r"(?<![\w\-])\d+(?:[ \-]\d+)*")
_GROUP = re.compile(r"\d+")


def luhn_valid(digits: str) -> bool:
    """Whether a string of digits passes the Luhn (mod 10) check."""
    if not digits.isdigit():
        return False
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = ord(ch) - 48
        if i % 2 == 1:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return total % 10 == 0


def _find_cards(text: str) -> Iterable[PiiMatch]:
    for run in _DIGIT_RUN.finditer(text):
        if run.end() < len(text) and text[run.end()].isalnum():
            continue  # the digits go on into a word, such as 4242...4242abc
        groups = [
            (g.start() + run.start(), g.end() + run.start()) for g in _GROUP.finditer(run.group())
        ]
        i = 0
        while i < len(groups):
            found = _card_from(text, groups, i)
            if found is None:
                i += 1
                continue
            j, match = found
            yield match
            i = j + 1


def _card_from(text: str, groups: Sequence[tuple[int, int]], i: int) -> tuple[int, PiiMatch] | None:
    """The longest Luhn-valid card made of groups i..j, as (j, match), or None."""
    candidates: list[int] = []
    total = 0
    for j in range(i, len(groups)):
        start, end = groups[j]
        total += end - start
        if total > 19:
            break
        if j > i:
            if end - start < 3 or groups[i][1] - groups[i][0] < 3:
                break
            if text[groups[j - 1][1]] != text[groups[i][1]]:
                break  # mixed separators
        if total >= 13:
            candidates.append(j)
    for j in reversed(candidates):
        value = text[groups[i][0] : groups[j][1]]
        if luhn_valid(value.replace(" ", "").replace("-", "")):
            return j, PiiMatch("payment_card", groups[i][0], groups[j][1], value)
    return None


# ---------------------------------------------------------------------------------------------
# IBAN

# ISO 13616 lengths: the SEPA countries and other common ones.
IBAN_LENGTHS: dict[str, int] = {
    "AD": 24, "AE": 23, "AL": 28, "AT": 20, "AZ": 28, "BA": 20, "BE": 16, "BG": 22, "BH": 22,
    "BR": 29, "CH": 21, "CR": 22, "CY": 28, "CZ": 24, "DE": 22, "DK": 18, "DO": 28, "EE": 20,
    "EG": 29, "ES": 24, "FI": 18, "FO": 18, "FR": 27, "GB": 22, "GE": 22, "GI": 23, "GL": 18,
    "GR": 27, "GT": 28, "HR": 21, "HU": 28, "IE": 22, "IL": 23, "IS": 26, "IT": 27, "JO": 30,
    "KW": 30, "KZ": 20, "LB": 28, "LI": 21, "LT": 20, "LU": 20, "LV": 21, "MC": 27, "MD": 24,
    "ME": 22, "MK": 19, "MR": 27, "MT": 31, "MU": 30, "NL": 18, "NO": 15, "PK": 24, "PL": 28,
    "PS": 29, "PT": 25, "QA": 29, "RO": 24, "RS": 22, "SA": 24, "SE": 24, "SI": 19, "SK": 24,
    "SM": 27, "TN": 24, "TR": 26, "UA": 29, "VA": 22, "VG": 24, "XK": 20,
}  # fmt: skip

# Country code and check digits, then alphanumerics with optional single spaces. Each
# repetition consumes exactly one alphanumeric, so the match is unambiguous and bounded.
_IBAN = re.compile(r"(?<![A-Za-z0-9])[A-Za-z]{2}\d{2}(?: ?[A-Za-z0-9]){11,30}")


def iban_valid(iban: str) -> bool:
    """Whether a compact IBAN (no spaces) has its country's length and passes mod-97."""
    iban = iban.upper()
    if IBAN_LENGTHS.get(iban[:2]) != len(iban) or not iban.isalnum() or not iban.isascii():
        return False
    rearranged = iban[4:] + iban[:4]
    return int("".join(str(int(ch, 36)) for ch in rearranged)) % 97 == 1


def _find_ibans(text: str) -> Iterable[PiiMatch]:
    for m in _IBAN.finditer(text):
        raw = m.group()
        length = IBAN_LENGTHS.get(raw[:2].upper())
        if length is None:
            continue
        # The pattern is greedy and may have taken a following word; cut it at the
        # country's length, which must end at a group boundary.
        count = 0
        cut = -1
        for pos, ch in enumerate(raw):
            if ch != " ":
                count += 1
                if count == length:
                    cut = pos + 1
                    break
        if cut < 0:
            continue
        end = m.start() + cut
        if end < len(text) and (text[end].isalnum() or (cut < len(raw) and raw[cut] != " ")):
            continue
        value = raw[:cut]
        if iban_valid(value.replace(" ", "")):
            yield PiiMatch("iban", m.start(), end, value)


# ---------------------------------------------------------------------------------------------
# national ids

_SSN = re.compile(r"(?<![\w\-])(\d{3})([\- ])(\d{2})\2(\d{4})(?![\w\-])")

_UK_NINO = re.compile(
    r"(?<![A-Za-z0-9])([A-Za-z]{2}) ?(\d{2}) ?(\d{2}) ?(\d{2}) ?([A-Da-d])(?![A-Za-z0-9])"
)
_NINO_BAD_FIRST = set("DFIQUV")
_NINO_BAD_SECOND = set("DFIOQUV")
_NINO_BAD_PREFIXES = {"BG", "GB", "NK", "KN", "TN", "NT", "ZZ"}

_STEUER_ID = re.compile(r"(?<![\w\-])[1-9]\d{10}(?![\w\-])")


def ssn_valid(area: str, group: str, serial: str) -> bool:
    """Whether an SSN's parts are in the ranges the SSA issues."""
    return (
        area != "000"
        and area != "666"
        and not area.startswith("9")
        and group != "00"
        and serial != "0000"
    )


def uk_nino_valid(prefix: str) -> bool:
    """Whether a National Insurance number's two-letter prefix can be allocated."""
    prefix = prefix.upper()
    return (
        prefix[0] not in _NINO_BAD_FIRST
        and prefix[1] not in _NINO_BAD_SECOND
        and prefix not in _NINO_BAD_PREFIXES
    )


def steuer_id_valid(digits: str) -> bool:
    """Whether 11 digits form a valid German Steuer-ID (structure and ISO 7064 MOD 11,10)."""
    if len(digits) != 11 or not digits.isdigit() or digits[0] == "0":
        return False
    counts = sorted((digits[:10].count(d) for d in set(digits[:10])), reverse=True)
    # one digit twice or three times, every other digit at most once
    if counts[0] not in (2, 3) or (len(counts) > 1 and counts[1] != 1):
        return False
    if counts[0] == 3 and any(digits[k] == digits[k + 1] == digits[k + 2] for k in range(8)):
        return False  # a digit may not appear three times in a row
    product = 10
    for ch in digits[:10]:
        s = (int(ch) + product) % 10 or 10
        product = (s * 2) % 11
    check = (11 - product) % 10
    return check == int(digits[10])


def _find_national_ids(text: str) -> Iterable[PiiMatch]:
    for m in _SSN.finditer(text):
        if ssn_valid(m.group(1), m.group(3), m.group(4)):
            yield PiiMatch("national_id", m.start(), m.end(), m.group())
    for m in _UK_NINO.finditer(text):
        if uk_nino_valid(m.group(1)):
            yield PiiMatch("national_id", m.start(), m.end(), m.group())
    for m in _STEUER_ID.finditer(text):
        if steuer_id_valid(m.group()):
            yield PiiMatch("national_id", m.start(), m.end(), m.group())


# ---------------------------------------------------------------------------------------------
# phones

_PHONE_INTL = re.compile(
    r"(?<![\w+])\+[1-9]\d{0,2}"
    r"(?:(?:[ .\-]?\(0\)[ .\-]?|[ .\-])\(?\d{1,5}\)?(?:[ .\-]\d{2,14}){0,5}|\d{6,13})"
    r"(?![\w\-])"
)
_PHONE_NANP = re.compile(
    r"(?<![\w\-.+])(?:\((\d{3})\) ?|(\d{3})([ .\-]))(\d{3})(?(3)\3|[ .\-])\d{4}(?![\w\-])"
)
_PHONE_NATIONAL = re.compile(r"(?<![\w\-./+])0\d{1,4}(?:[ /\-]\d{2,8}){1,4}(?![\w\-./])")
_SSN_SHAPED = re.compile(r"\d{3}([\- ])\d{2}\1\d{4}")
_DATE_LIKE = re.compile(r"\d{1,2}[\-/. ]\d{1,2}[\-/. ]\d{2,4}|\d{4}[\-/. ]\d{1,2}[\-/. ]\d{1,2}")


def _digit_count(value: str) -> int:
    return sum(ch.isdigit() for ch in value)


def _find_phones(text: str) -> Iterable[PiiMatch]:
    for m in _PHONE_INTL.finditer(text):
        if 8 <= _digit_count(m.group()) <= 15:
            yield PiiMatch("phone", m.start(), m.end(), m.group())
    for m in _PHONE_NANP.finditer(text):
        area = m.group(1) or m.group(2)
        if area[0] in "01" or m.group(4)[0] in "01":
            continue
        yield PiiMatch("phone", m.start(), m.end(), m.group())
    for m in _PHONE_NATIONAL.finditer(text):
        value = m.group()
        if (
            not 8 <= _digit_count(value) <= 13
            or _DATE_LIKE.fullmatch(value)
            or _SSN_SHAPED.fullmatch(value)
        ):
            continue
        yield PiiMatch("phone", m.start(), m.end(), value)


# ---------------------------------------------------------------------------------------------
# public API

_FINDERS: dict[str, Callable[[str], Iterable[PiiMatch]]] = {
    "email": _find_emails,
    "phone": _find_phones,
    "payment_card": _find_cards,
    "iban": _find_ibans,
    "national_id": _find_national_ids,
}


def _resolve_overlaps(matches: Iterable[PiiMatch]) -> list[PiiMatch]:
    """Keep the longest (then most specific) of overlapping matches, sorted by position."""
    ranked = sorted(matches, key=lambda m: (-(m.end - m.start), _SPECIFICITY[m.kind], m.start))
    kept: list[PiiMatch] = []
    taken: list[tuple[int, int]] = []  # kept spans, sorted by start
    for m in ranked:
        if any(m.start < end and start < m.end for start, end in taken):
            continue
        kept.append(m)
        taken.append((m.start, m.end))
    return sorted(kept, key=lambda m: m.start)


def find_pii(text: str, kinds: Collection[str] | None = None) -> list[PiiMatch]:
    """Find personal data in ``text``, sorted by position, without overlaps.

    ``kinds`` restricts the search to some of ``PII_KINDS`` (all by default). Where two
    candidates overlap, the longer wins; on equal length the more specific kind wins (iban,
    then payment_card, national_id, email, phone). Raises ``ValidationError`` for a text that
    is not a str or is longer than ``MAX_TEXT_CHARS``, and for unknown kinds.
    """
    text = _check_text(text)
    chosen = _check_kinds(kinds)
    found: list[PiiMatch] = []
    for kind in PII_KINDS:
        if kind in chosen:
            found.extend(_FINDERS[kind](text))
    return _resolve_overlaps(found)


def _mask(match: PiiMatch) -> str:
    if match.kind in ("payment_card", "iban"):
        compact = "".join(ch for ch in match.value if ch.isalnum())
        return "*" * (len(compact) - 4) + compact[-4:]
    return "*" * len(match.value)


def redact(
    text: str,
    matches: Sequence[PiiMatch] | None = None,
    *,
    kinds: Collection[str] | None = None,
    style: RedactionStyle = "label",
) -> RedactionResult:
    """Replace personal data in ``text``.

    ``matches`` are the spans to replace (``find_pii(text, kinds)`` when not given; when
    given, ``kinds`` filters them). ``style="label"`` replaces each by its kind in capitals in
    brackets (``[EMAIL]``, ``[PAYMENT_CARD]``); ``style="mask"`` replaces payment cards and
    IBANs by ``*`` for every character but the last 4 (``************4242``, separators
    dropped) and other kinds by as many ``*`` as the value has characters.
    """
    text = _check_text(text)
    if style not in ("label", "mask"):
        raise ValidationError(f"style must be 'label' or 'mask', got {style!r}", field="style")
    if matches is None:
        chosen_matches = find_pii(text, kinds)
    else:
        chosen = _check_kinds(kinds)
        if not all(isinstance(m, PiiMatch) for m in matches):
            raise ValidationError("matches must be PiiMatch objects", field="matches")
        chosen_matches = sorted(
            (m for m in matches if m.kind in chosen), key=lambda m: (m.start, m.end)
        )
        previous_end = 0
        for m in chosen_matches:
            if not 0 <= m.start < m.end <= len(text) or text[m.start : m.end] != m.value:
                raise ValidationError(
                    f"match {m.kind} at {m.start}:{m.end} does not fit the text",
                    field="matches",
                )
            if m.start < previous_end:
                raise ValidationError(f"matches overlap at {m.start}:{m.end}", field="matches")
            previous_end = m.end
    parts: list[str] = []
    position = 0
    for m in chosen_matches:
        parts.append(text[position : m.start])
        parts.append(f"[{m.kind.upper()}]" if style == "label" else _mask(m))
        position = m.end
    parts.append(text[position:])
    return RedactionResult("".join(parts), tuple(chosen_matches))
