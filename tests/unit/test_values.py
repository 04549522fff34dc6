"""Value objects: mail addresses (ADR-2), phone numbers (SEC-5), time, password policy."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta, timezone, tzinfo
from typing import Any
from uuid import uuid5

import pytest
from hypothesis import given
from hypothesis import strategies as st

from domain import ids
from domain.address import EmailAddress
from domain.errors import InvalidInput
from domain.phone import PhoneNumber
from domain.security import PasswordPolicy, SecurityPolicy
from domain.time import utc
from tests.strategies import (
    domains,
    local_parts,
    login_texts,
    naive_datetimes,
    phone_inputs,
    utc_datetimes,
)

# -- EmailAddress (ADR-2) --------------------------------------------------------------


@given(text=login_texts())
def test_valid_addresses_are_accepted_and_printed_back(text: str) -> None:
    # rule ADR-2
    address = EmailAddress.parse(text)
    local, _, domain = text.rpartition("@")
    assert address.local_part == local
    assert address.domain == domain.lower()
    assert str(address) == f"{local}@{domain.lower()}"
    assert EmailAddress.parse(f"  {text}\t") == address


@given(text=login_texts())
def test_addresses_compare_case_insensitively_by_identity(text: str) -> None:
    # rule ADR-2
    address = EmailAddress.parse(text)
    for variant in (text.upper(), text.lower(), text.swapcase()):
        other = EmailAddress.parse(variant)
        assert other.identity == address.identity
        assert other.domain == address.domain
    assert address.identity == str(address).lower()


def test_the_local_part_keeps_its_case_but_the_identity_does_not() -> None:
    # rule ADR-2
    a = EmailAddress.parse("Alice.Smith@Example.COM")
    b = EmailAddress.parse("alice.smith@example.com")
    assert a.local_part == "Alice.Smith"
    assert a.domain == "example.com"
    assert a != b
    assert a.identity == b.identity == "alice.smith@example.com"


def test_the_longest_parts_are_accepted() -> None:
    # rule ADR-2: 64-octet local part, 63-octet labels
    assert EmailAddress.parse("l" * 64 + "@example.org").local_part == "l" * 64
    assert EmailAddress.parse("a@" + "d" * 63 + ".org").domain == "d" * 63 + ".org"


MALFORMED = [
    pytest.param("a@" + "d" * 64 + ".org", id="label-over-63"),
    pytest.param("x" * 64 + "@" + ".".join(["d" * 63] * 3) + ".ch", id="over-254"),
    pytest.param("", id="empty"),
    pytest.param("   ", id="blank"),
    pytest.param("alice", id="no-at"),
    pytest.param("a b@example.org", id="space-local"),
    pytest.param("alice@exa mple.org", id="space-domain"),
    pytest.param("a@@example.org", id="double-at"),
    pytest.param("a@b@example.org", id="two-ats"),
    pytest.param("@example.org", id="empty-local"),
    pytest.param("alice@", id="empty-domain"),
    pytest.param("a..b@example.org", id="double-dot"),
    pytest.param(".a@example.org", id="leading-dot"),
    pytest.param("a.@example.org", id="trailing-dot"),
    pytest.param("a@example", id="single-label-domain"),
    pytest.param("a@-example.org", id="label-leading-hyphen"),
    pytest.param("a@ex_ample.org", id="underscore-domain"),
    pytest.param("a\x00b@example.org", id="nul"),
    pytest.param("a(b@example.org", id="bracket"),
    pytest.param("Alice <a@example.org>", id="display-name"),
]


@pytest.mark.parametrize("text", MALFORMED)
def test_malformed_addresses_are_refused_naming_the_input(text: str) -> None:
    # rule ADR-2
    with pytest.raises(InvalidInput) as refused:
        EmailAddress.parse(text, what="login")
    message = str(refused.value)
    assert message.startswith("login ")
    assert repr(text) in message


# Found by this test: parse() accepted 65+ characters before the @ until it passed
# strict=True to email_validator (which checks the limit only in strict mode).
def test_a_local_part_over_64_characters_is_refused() -> None:
    # rule ADR-2
    with pytest.raises(InvalidInput, match="too long"):
        EmailAddress.parse("a" * 65 + "@example.org")


@given(local=local_parts(), extra=st.integers(65, 300), domain=domains())
def test_no_local_part_over_64_characters_is_accepted(
    local: str, extra: int, domain: str
) -> None:
    # rule ADR-2
    long_local = local + "x" * extra
    with pytest.raises(InvalidInput):
        EmailAddress.parse(f"{long_local}@{domain}")


@given(text=login_texts(), junk=st.sampled_from(' @,;:<>[]\\"\x00\n'))
def test_a_forbidden_character_in_the_local_part_is_refused(
    text: str, junk: str
) -> None:
    # rule ADR-2
    local, _, domain = text.rpartition("@")
    bad = f"{local[:1]}{junk}{local[1:]}@{domain}"
    with pytest.raises(InvalidInput) as refused:
        EmailAddress.parse(bad)
    assert repr(bad) in str(refused.value)


# -- PhoneNumber (SEC-5) ---------------------------------------------------------------


@pytest.mark.parametrize("code", ["+41", "41", "0041", " +41 "])
def test_swiss_mobile_is_normalised_to_e164(code: str) -> None:
    # rule SEC-5
    assert PhoneNumber.parse(code, "079 123 45 67").e164 == "+41791234567"


@pytest.mark.parametrize(
    "number",
    [
        "079 123 45 67",
        "79 123 45 67",
        "079-123-45-67",
        "0791234567",
        "+41 79 123 45 67",
    ],
)
def test_swiss_number_in_any_usual_notation(number: str) -> None:
    # rule SEC-5
    assert str(PhoneNumber.parse("+41", number)) == "+41791234567"


@pytest.mark.parametrize(
    ("code", "number"),
    [("+39", "06 1234 5678"), ("0039", "06 1234 5678"), ("39", "02 1234 5678")],
)
def test_italian_numbers_keep_their_leading_zero(code: str, number: str) -> None:
    # rule SEC-5: the 0 of an Italian fixed line is part of the number
    assert PhoneNumber.parse(code, number).e164 == "+39" + number.replace(" ", "")


def test_an_italian_mobile_has_no_leading_zero_to_keep() -> None:
    # rule SEC-5
    assert PhoneNumber.parse("+39", "312 345 6789").e164 == "+393123456789"


@given(phone=phone_inputs())
def test_valid_numbers_parse_to_their_e164_form(phone: tuple[str, str, str]) -> None:
    # rule SEC-5
    code, number, expected = phone
    parsed = PhoneNumber.parse(code, number)
    assert parsed.e164 == expected
    assert parsed.e164.startswith("+" + code.removeprefix("+").removeprefix("00"))
    assert parsed.e164[1:].isdigit()
    assert PhoneNumber.parse(code, parsed.e164) == parsed


def _bad_number(number: str, case: str, named: str | None = None) -> Any:  # noqa: ANN401 - a pytest ParameterSet
    """A Swiss code with ``number``; the refusal names ``repr(number)`` unless said."""
    return pytest.param("+41", number, named or repr(number), id=case)


def _bad_code(code: str, case: str, named: str | None = None) -> Any:  # noqa: ANN401 - a pytest ParameterSet
    """A good Swiss mobile behind ``code``; the refusal names ``repr(code)`` unless said."""
    return pytest.param(code, "079 123 45 67", named or repr(code), id=case)


@pytest.mark.parametrize(
    ("code", "number", "named"),
    [
        _bad_number("079 ABC 45 67", "letters"),
        _bad_number("079 123 45 67 x1", "extension"),
        _bad_number("", "empty"),
        _bad_number("   ", "blank"),
        _bad_number("+39 06 1234 5678", "other-country"),
        _bad_number("0039 06 1234 5678", "other-00"),
        _bad_number("123", "too-short"),
        _bad_number("079 123 45 678", "too-long"),
        _bad_number("000 000 00 00", "not-assigned"),
        _bad_code("+999", "code-unassigned", "+999"),
        _bad_code("+0", "code-zero", "+0"),
        _bad_code("abc", "code-letters"),
        _bad_code("+1234", "code-too-long"),
        _bad_code("", "code-empty"),
        # Found by issue 7 (item 15): str.isdigit() takes these, int() then crashed.
        _bad_code("\u00b2", "code-superscript"),
        _bad_code("+\u0664\u0661", "code-arabic"),
        _bad_code("\uff14\uff11", "code-fullwidth"),
        _bad_code("\x00", "code-nul"),
        _bad_code("\ud800", "code-surrogate"),
        _bad_number("079\x00123", "nul"),
        _bad_number("\ud800", "surrogate"),
        _bad_number("\u0660\u0667\u0669", "arabic"),
        _bad_number("1" * 10_000_000, "10-MB", "10000000 characters"),
        _bad_code("4" * 10_000_000, "code-10-MB", "10000000 characters"),
    ],
)
def test_bad_phone_numbers_are_refused_naming_the_input(
    code: str, number: str, named: str
) -> None:
    # rule SEC-5
    with pytest.raises(InvalidInput) as refused:
        PhoneNumber.parse(code, number)
    message = str(refused.value)
    assert named in message
    assert message.startswith("phone number")
    assert len(message) < 500  # a 10 MB input is not echoed whole


@given(phone=phone_inputs(), letter=st.sampled_from("abcxyzABC#*,;"))
def test_a_number_with_a_letter_is_refused(
    phone: tuple[str, str, str], letter: str
) -> None:
    # rule SEC-5
    code, number, _ = phone
    with pytest.raises(InvalidInput):
        PhoneNumber.parse(code, number + letter)


# -- time ------------------------------------------------------------------------------


@given(at=naive_datetimes())
def test_naive_datetimes_are_refused(at: datetime) -> None:
    with pytest.raises(InvalidInput, match="no time zone"):
        utc(at)


class _NoOffset(tzinfo):
    """A tzinfo that knows no offset: still naive for all purposes."""

    def utcoffset(self, _dt: datetime | None) -> timedelta | None:
        return None

    def dst(self, _dt: datetime | None) -> timedelta | None:
        return None

    def tzname(self, _dt: datetime | None) -> str | None:
        return None


def test_a_tzinfo_without_offset_is_refused() -> None:
    with pytest.raises(InvalidInput):
        utc(datetime(2024, 1, 1, tzinfo=_NoOffset()))


@given(at=utc_datetimes(), hours=st.integers(-14, 14))
def test_aware_datetimes_become_the_same_instant_in_utc(
    at: datetime, hours: int
) -> None:
    local = at.astimezone(timezone(timedelta(hours=hours)))
    converted = utc(local)
    assert converted == at
    assert converted.tzinfo is UTC
    assert converted.replace(tzinfo=None) == at.replace(tzinfo=None)


# -- PasswordPolicy (ASVS 6.2) ---------------------------------------------------------

POLICY = PasswordPolicy()


@pytest.mark.parametrize("password", ["", "a", "1234567", "short!!"])
def test_empty_and_short_passwords_are_refused(password: str) -> None:
    with pytest.raises(InvalidInput):
        POLICY.check(password)


@pytest.mark.parametrize("length", [8, 15, 64, 65, 128, 1000, 4096])
def test_long_passwords_are_accepted_without_truncation(length: int) -> None:
    POLICY.check("p" * length)


def test_a_password_over_the_maximum_is_refused() -> None:
    with pytest.raises(InvalidInput):
        POLICY.check("p" * 4097)


@pytest.mark.parametrize(
    "password", ["alice@example.org", "Alice@Example.ORG", "ALICE@EXAMPLE.ORG"]
)
def test_the_login_is_not_a_password(password: str) -> None:
    with pytest.raises(InvalidInput, match="login"):
        POLICY.check(password, login="alice@example.org")


# Every character a new password may hold: all but controls (C0, DEL, C1) and lone
# surrogates; emoji joiners, private-use and unassigned code points included.
PASSWORD_CHARACTERS = st.characters(exclude_categories=("Cc", "Cs"))


@given(
    password=st.text(PASSWORD_CHARACTERS, min_size=8, max_size=300),
    login=login_texts(),
)
def test_any_long_enough_password_other_than_the_login_is_accepted(
    password: str, login: str
) -> None:
    if password.casefold() == login.casefold():
        with pytest.raises(InvalidInput):
            POLICY.check(password, login=login)
    else:
        POLICY.check(password, login=login)


@given(
    before=st.text(PASSWORD_CHARACTERS, min_size=8, max_size=40),
    control=st.sampled_from([chr(c) for c in (*range(0x20), *range(0x7F, 0xA0))]),
    after=st.text(PASSWORD_CHARACTERS, max_size=40),
)
def test_any_password_holding_a_control_character_is_refused(
    before: str, control: str, after: str
) -> None:
    # rule SEC-6: NUL is SASL PLAIN's separator, CR/LF end a protocol line
    password = before + control + after
    with pytest.raises(InvalidInput, match="password contains a control") as refused:
        POLICY.check(password)
    assert f"U+{ord(control):04X}" in str(refused.value)
    assert password not in str(refused.value)


@given(password=st.text(min_size=1, max_size=7))
def test_any_password_under_8_characters_is_refused(password: str) -> None:
    with pytest.raises(InvalidInput, match="shorter"):
        POLICY.check(password)


# -- SecurityPolicy --------------------------------------------------------------------


@pytest.mark.parametrize(
    "kwargs",
    [
        {"failed_login_window": timedelta(0)},
        {"failed_login_window": timedelta(seconds=-1)},
        {"throttle_period": timedelta(0)},
        {"throttle_limit": 0},
        {"throttle_limit": 1001},
        {"throttle_limit": 5, "account_limit": 4},
        {"account_limit": 1001},
    ],
)
def test_security_policy_refuses_limits_it_cannot_honour(
    kwargs: dict[str, object],
) -> None:
    # rule SEC-2
    with pytest.raises(InvalidInput):
        SecurityPolicy(**kwargs)  # type: ignore[arg-type]


def test_the_account_ceiling_defaults_to_ten_sources_worth() -> None:
    # rule SEC-2 (ASVS 6.3.1): settings construct the policy with the old two fields
    policy = SecurityPolicy(failed_login_window=timedelta(minutes=5), throttle_limit=4)
    assert (policy.throttle_limit, policy.account_limit) == (4, 40)
    assert SecurityPolicy().account_limit == 1000
    assert SecurityPolicy(throttle_limit=500).account_limit == 1000
    assert SecurityPolicy(throttle_limit=3, account_limit=3).account_limit == 3


@pytest.mark.parametrize("password", ["\ud800" * 10, "long enough \udcff pass"])
def test_a_password_with_a_lone_surrogate_is_refused(password: str) -> None:
    # Found by issue 7 (item 15): the hasher crashed with UnicodeEncodeError.
    with pytest.raises(InvalidInput, match="password"):
        POLICY.check(password)


# -- identities (issue 7, item 7) --------------------------------------------------------


@pytest.mark.parametrize(
    ("one", "other"),
    [
        pytest.param("stra\u00dfe@example.org", "strasse@example.org", id="sharp-s"),
        pytest.param("\u017fupport@example.org", "support@example.org", id="long-s"),
        pytest.param(
            "\u03c3\u03b1\u03c2@example.org",
            "\u03c3\u03b1\u03c3@example.org",
            id="final-sigma",
        ),
        pytest.param("\ufb01le@example.org", "file@example.org", id="ligature"),
    ],
)
def test_addresses_that_only_fold_alike_are_distinct_identities(
    one: str, other: str
) -> None:
    # rule ADR-2: case-folding merges distinct Unicode addresses; lower-casing does not
    assert EmailAddress.parse(one).identity != EmailAddress.parse(other).identity
    assert ids.account_id(one) != ids.account_id(other)


# Spellings of one login: case, normal form, the domain in Unicode or as IDNA.
ONE_IDENTITY: Mapping[str, tuple[str, str]] = {
    "ascii-case": ("ANN@Example.ORG", "ann@example.org"),
    "upper": ("STRASSE@example.org", "strasse@example.org"),
    "umlaut": ("J\u00dcRGEN@example.org", "j\u00fcrgen@example.org"),
    "nfd": ("ju\u0308rgen@example.org", "j\u00fcrgen@example.org"),
    "idn": ("ann@b\u00fccher.example", "ann@xn--bcher-kva.example"),
    "idn-case": ("ann@B\u00dcCHER.example", "ann@XN--BCHER-KVA.example"),
}


@pytest.mark.parametrize(
    ("one", "other"), ONE_IDENTITY.values(), ids=ONE_IDENTITY.keys()
)
def test_addresses_differing_in_case_form_or_idn_are_one_identity(
    one: str, other: str
) -> None:
    # rule ADR-2 (logins compare case-insensitively), domains through IDNA
    assert EmailAddress.parse(one).identity == EmailAddress.parse(other).identity
    assert ids.account_id(one) == ids.account_id(other)
    assert ids.account_id(str(EmailAddress.parse(one))) == ids.account_id(other)


@given(text=login_texts())
def test_ascii_logins_keep_the_ids_they_had_when_ids_case_folded(text: str) -> None:
    # Stored accounts stay valid: for ASCII, lower() is casefold() and NFC changes nothing.
    login = str(EmailAddress.parse(text))
    legacy = uuid5(ids.NAMESPACE, f"account:{login.casefold()}")
    assert ids.account_id(login) == legacy


@pytest.mark.parametrize(
    "text",
    [
        pytest.param("a\x00b@example.org", id="nul"),
        pytest.param("\ud800@example.org", id="surrogate"),
        pytest.param("a@ex\ud800ample.org", id="surrogate-domain"),
        pytest.param("a" * 10_000_000 + "@example.org", id="10-MB"),
        pytest.param("a@" + "b" * 10_000_000 + ".org", id="10-MB-domain"),
    ],
)
def test_hostile_logins_are_refused_naming_the_field(text: str) -> None:
    # Found by issue 7 (item 15): a refusal of a 10 MB login echoed all of it.
    with pytest.raises(InvalidInput) as refused:
        EmailAddress.parse(text, what="login")
    message = str(refused.value)
    assert message.startswith("login ")
    assert len(message) < 1000
