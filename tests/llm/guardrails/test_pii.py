"""PII detection and redaction: each kind, its validity checks, overlaps, redaction styles,
input limits and hostile input."""

from __future__ import annotations

from collections.abc import Collection

import pytest

from mloop.core.errors import ValidationError
from mloop.llm.guardrails.pii import (
    MAX_TEXT_CHARS,
    PII_KINDS,
    PiiMatch,
    RedactionResult,
    _resolve_overlaps,
    find_pii,
    iban_valid,
    luhn_valid,
    redact,
    steuer_id_valid,
)


def kinds_and_values(text: str, kinds: Collection[str] | None = None) -> list[tuple[str, str]]:
    return [(m.kind, m.value) for m in find_pii(text, kinds)]


# --- payment cards -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "card",
    [
        "4242 4242 4242 4242",
        "4242424242424242",
        "5555-5555-5555-4444",
        "378282246310005",
        "3782 822463 10005",
        "4222222222222",  # 13-digit Visa test number
        "6011 1111 1111 1117",
    ],
)
def test_real_cards_are_detected(card: str) -> None:
    assert kinds_and_values(f"my card is {card}, thanks") == [("payment_card", card)]


@pytest.mark.parametrize(
    "text",
    [
        "4242 4242 4242 4241",
        "5555-5555-5555-4445",
        "378282246310006",
        "4242 4242-4242 4242",  # mixed separators
        "4242424242424242abc",  # digits running into a word
        "1234",
    ],
)
def test_luhn_invalid_or_malformed_cards_are_not_detected(text: str) -> None:
    assert kinds_and_values(text, ["payment_card"]) == []


def test_card_inside_a_longer_run_of_groups() -> None:
    text = "ref 1234 4242 4242 4242 4242 ok"
    assert kinds_and_values(text) == [("payment_card", "4242 4242 4242 4242")]
    m = find_pii(text)[0]
    assert text[m.start : m.end] == m.value


def test_luhn() -> None:
    assert luhn_valid("4242424242424242")
    assert not luhn_valid("4242424242424241")
    assert not luhn_valid("4242x")


# --- IBAN --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "iban",
    [
        "DE89 3704 0044 0532 0130 00",
        "DE89370400440532013000",
        "GB82 WEST 1234 5698 7654 32",
        "FR14 2004 1010 0505 0001 3M02 606",
        "NL91 ABNA 0417 1643 00",
        "BE68 5390 0754 7034",
        "CH93 0076 2011 6238 5295 7",
    ],
)
def test_valid_ibans_are_detected(iban: str) -> None:
    assert kinds_and_values(f"IBAN: {iban}.") == [("iban", iban)]


@pytest.mark.parametrize(
    "text",
    [
        "DE89 3704 0044 0532 0130 01",  # typo in the account number
        "DE88 3704 0044 0532 0130 00",  # wrong check digits
        "GB82 WEST 1234 5698 7654 3",  # too short for GB
        "XX82 WEST 1234 5698 7654 32",  # no such country
        "DE89 3704 0044 0532 0130 00X",  # runs into a word
    ],
)
def test_invalid_ibans_are_not_detected(text: str) -> None:
    assert kinds_and_values(text, ["iban"]) == []


def test_iban_stops_at_its_country_length() -> None:
    text = "send to GB82 WEST 1234 5698 7654 32 TODAY please"
    assert kinds_and_values(text) == [("iban", "GB82 WEST 1234 5698 7654 32")]
    assert kinds_and_values("de89 3704 0044 0532 0130 00") == [
        ("iban", "de89 3704 0044 0532 0130 00")
    ]


def test_iban_valid() -> None:
    assert iban_valid("DE89370400440532013000")
    assert not iban_valid("DE8937040044053201300")
    assert not iban_valid("ZZ89370400440532013000")


# --- email -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "email",
    ["jane.doe@example.com", "a+tag@mail.example.co.uk", "x_y-z@sub-domain.example.org"],
)
def test_emails_are_detected(email: str) -> None:
    assert kinds_and_values(f"write to <{email}>.") == [("email", email)]


@pytest.mark.parametrize("text", ["no at sign here", "user@localhost", "@example.com", "a@b.c"])
def test_non_emails_are_not_detected(text: str) -> None:
    assert kinds_and_values(text, ["email"]) == []


# --- phones ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "phone",
    [
        "+49 30 1234567",
        "(415) 555-2671",
        "+1-415-555-2671",
        "+1 (415) 555-2671",
        "+14155552671",
        "+44 (0)20 7946 0958",
        "415-555-2671",
        "415.555.2671",
        "030 1234567",
        "020 7946 0958",
        "06 12 34 56 78",
    ],
)
def test_phones_are_detected(phone: str) -> None:
    assert kinds_and_values(f"call {phone} today") == [("phone", phone)]


@pytest.mark.parametrize(
    "text",
    [
        "2024-11-22",
        "order 2024-11-22-0042",
        "on 22.11.2024 at 10:30",
        "01-02-2024",
        "01/02/2024",
        "invoice 1234567890",
        "123-456-7890",  # NANP area codes do not start with 0 or 1
        "415-055-2671",  # nor do exchanges
        "version 1.2.3",
        "+12",  # too short for a phone number
    ],
)
def test_dates_and_order_numbers_are_not_phones(text: str) -> None:
    assert kinds_and_values(text) == []


# --- national ids ------------------------------------------------------------------------------


def test_ssn() -> None:
    assert kinds_and_values("SSN 123-45-6789") == [("national_id", "123-45-6789")]
    assert kinds_and_values("SSN 123 45 6789") == [("national_id", "123 45 6789")]


@pytest.mark.parametrize(
    "text",
    ["000-12-3456", "666-12-3456", "900-12-3456", "999-12-3456", "123-00-4567", "123-45-0000"],
)
def test_ssn_invalid_ranges_are_not_detected(text: str) -> None:
    assert kinds_and_values(text) == []


@pytest.mark.parametrize("nino", ["AB123456C", "AB 12 34 56 C", "JG103759A", "ab123456d"])
def test_uk_national_insurance_numbers(nino: str) -> None:
    assert kinds_and_values(f"NI {nino}.") == [("national_id", nino)]


@pytest.mark.parametrize(
    "text",
    [
        "QQ123456C",  # HMRC's specimen prefix, never allocated (Q is not a valid first letter)
        "DA123456C",  # D is not a valid first letter
        "AO123456C",  # O is not a valid second letter
        "GB123456A",  # a prefix that is not allocated
        "AB123456E",  # the suffix is A to D
        "AB1234567",
    ],
)
def test_invalid_uk_national_insurance_numbers(text: str) -> None:
    assert kinds_and_values(text, ["national_id"]) == []


def test_german_steuer_id() -> None:
    assert steuer_id_valid("65929970489")
    assert steuer_id_valid("26954371827")
    assert not steuer_id_valid("65929970488")  # check digit
    assert not steuer_id_valid("12345678901")  # every digit once: not a Steuer-ID structure
    assert not steuer_id_valid("05929970489")
    assert kinds_and_values("Steuer-ID 65929970489") == [("national_id", "65929970489")]


# --- several kinds, overlaps, kinds filter -----------------------------------------------------


def test_mixed_text_sorted_by_position() -> None:
    text = (
        "Jane (jane@example.com, +49 30 1234567) paid with 4242 4242 4242 4242 "
        "from DE89 3704 0044 0532 0130 00; SSN 123-45-6789."
    )
    assert kinds_and_values(text) == [
        ("email", "jane@example.com"),
        ("phone", "+49 30 1234567"),
        ("payment_card", "4242 4242 4242 4242"),
        ("iban", "DE89 3704 0044 0532 0130 00"),
        ("national_id", "123-45-6789"),
    ]
    for m in find_pii(text):
        assert text[m.start : m.end] == m.value
    starts = [m.start for m in find_pii(text)]
    assert starts == sorted(starts)


def test_overlap_longest_wins() -> None:
    # The local part is a valid card number; the whole email is longer and wins.
    text = "4242424242424242@example.com"
    assert kinds_and_values(text, ["payment_card"]) == [("payment_card", "4242424242424242")]
    assert kinds_and_values(text) == [("email", text)]
    # The IBAN's first 16 BBAN digits are a Luhn-valid card number: the IBAN wins.
    iban = "DE12 3704 0044 0532 0107 00"
    assert kinds_and_values(iban, ["payment_card"]) == [("payment_card", "3704 0044 0532 0107")]
    assert kinds_and_values(iban) == [("iban", iban)]


def test_resolve_overlaps_rules() -> None:
    a = PiiMatch("phone", 0, 11, "x" * 11)
    b = PiiMatch("national_id", 0, 11, "x" * 11)
    c = PiiMatch("email", 5, 30, "x" * 25)
    d = PiiMatch("payment_card", 40, 56, "x" * 16)
    assert _resolve_overlaps([a, b, d]) == [b, d]
    assert _resolve_overlaps([d, a, c]) == [c, d]


def test_overlap_equal_length_most_specific_wins() -> None:
    # 078-05-1120 is shaped like a national phone number (trunk 0) and like an SSN.
    assert kinds_and_values("078-05-1120") == [("national_id", "078-05-1120")]
    assert kinds_and_values("078-05-1120", ["phone"]) == []


def test_kinds_filter() -> None:
    text = "jane@example.com 4242 4242 4242 4242"
    assert kinds_and_values(text, ["email"]) == [("email", "jane@example.com")]
    assert kinds_and_values(text, {"payment_card"}) == [("payment_card", "4242 4242 4242 4242")]
    assert kinds_and_values(text, []) == []
    assert set(PII_KINDS) == {"email", "phone", "payment_card", "iban", "national_id"}


def test_no_pii() -> None:
    assert find_pii("") == []
    assert find_pii("The weather in Berlin is fine, 21 degrees on 2024-11-22.") == []


# --- redaction ---------------------------------------------------------------------------------


def test_redact_label_style() -> None:
    text = "mail jane@example.com, card 4242 4242 4242 4242, iban GB82 WEST 1234 5698 7654 32"
    result = redact(text)
    assert isinstance(result, RedactionResult)
    assert result.text == "mail [EMAIL], card [PAYMENT_CARD], iban [IBAN]"
    assert [m.kind for m in result.matches] == ["email", "payment_card", "iban"]


def test_redact_mask_style() -> None:
    text = "card 4242 4242 4242 4242, iban DE89 3704 0044 0532 0130 00, ssn 123-45-6789"
    result = redact(text, style="mask")
    assert result.text == ("card ************4242, iban ******************3000, ssn ***********")
    assert redact("378282246310005", style="mask").text == "***********0005"


def test_redact_with_kinds_and_given_matches() -> None:
    text = "jane@example.com 4242 4242 4242 4242"
    assert redact(text, kinds=["email"]).text == "[EMAIL] 4242 4242 4242 4242"
    matches = find_pii(text)
    assert redact(text, matches).text == "[EMAIL] [PAYMENT_CARD]"
    assert redact(text, matches, kinds=["payment_card"]).text == "jane@example.com [PAYMENT_CARD]"
    custom = [PiiMatch("email", 0, 4, "jane")]
    assert redact(text, custom).text == "[EMAIL]@example.com 4242 4242 4242 4242"


def test_redact_rejects_bad_matches_and_style() -> None:
    text = "jane@example.com"
    with pytest.raises(ValidationError, match="does not fit"):
        redact(text, [PiiMatch("email", 0, 40, "x")])
    with pytest.raises(ValidationError, match="overlap"):
        redact(text, [PiiMatch("email", 0, 4, "jane"), PiiMatch("email", 2, 6, "ne@e")])
    with pytest.raises(ValidationError, match="PiiMatch"):
        redact(text, [(0, 4)])  # type: ignore[list-item]
    with pytest.raises(ValidationError, match="style") as err:
        redact(text, style="stars")  # type: ignore[arg-type]
    assert err.value.field == "style"


def test_redact_no_pii_returns_text_unchanged() -> None:
    result = redact("nothing to see")
    assert result == RedactionResult("nothing to see", ())


def test_match_and_result_are_frozen() -> None:
    m = PiiMatch("email", 0, 1, "x")
    with pytest.raises(AttributeError, match="cannot assign to field 'start'"):
        m.start = 3  # type: ignore[misc]


# --- input limits and hostile input ------------------------------------------------------------


@pytest.mark.parametrize("bad", [None, b"jane@example.com", 42, ["jane@example.com"]])
def test_non_str_input_is_refused(bad: object) -> None:
    with pytest.raises(ValidationError, match="must be a str") as err:
        find_pii(bad)  # type: ignore[arg-type]
    assert err.value.field == "text"
    with pytest.raises(ValidationError, match="must be a str"):
        redact(bad)  # type: ignore[arg-type]


def test_oversized_input_is_refused() -> None:
    text = "a" * (MAX_TEXT_CHARS + 1)
    with pytest.raises(ValidationError, match="1,000,000 characters"):
        find_pii(text)
    with pytest.raises(ValidationError, match="limit"):
        redact(text)
    assert find_pii("a" * MAX_TEXT_CHARS) == []


def test_bad_kinds_are_refused() -> None:
    with pytest.raises(ValidationError, match="unknown PII kind") as err:
        find_pii("x", ["email", "passport"])
    assert err.value.field == "kinds"
    with pytest.raises(ValidationError, match="collection"):
        find_pii("x", "email")


@pytest.mark.parametrize(
    "hostile",
    [
        "a" * 100_000,
        "1" * 100_000,
        "1 " * 50_000,
        "1-" * 50_000,
        "0 " * 50_000,
        "a@" * 50_000,
        "a@b." * 25_000,
        "a." * 50_000 + "@",
        "x@" + "a-" * 50_000,
        "+1 " * 33_000,
        "+1 (0)" * 16_000,
        "DE89 " * 20_000,
        "A1" * 50_000,
        "AB 12 " * 16_000,
        "(415) " * 16_000,
        "4242 4242 4242 4241 " * 5_000,
    ],
    ids=lambda s: repr(s[:8]),
)
def test_hostile_input_completes(hostile: str) -> None:
    # No timing assertion: with catastrophic backtracking this would not finish.
    matches = find_pii(hostile)
    assert all(hostile[m.start : m.end] == m.value for m in matches)
    redact(hostile)
