"""Recovery phone numbers (SEC-5): a country calling code plus a number, kept as E.164."""

from __future__ import annotations

import phonenumbers
from attrs import frozen

from domain.address import shown
from domain.errors import InvalidInput

# E.164 numbers have at most 15 digits; separators may double that as typed.
MAX_DIALLED = 40


@frozen
class PhoneNumber:
    e164: str

    @classmethod
    def parse(cls, country_code: str, number: str) -> PhoneNumber:
        """Parse the number as dialled inside the country with that calling code.

        The user picks the calling code from a list and types the national number, so the
        code is authoritative: a number that is valid only under another code is refused
        rather than silently moved to another country.
        """
        code = country_code.strip().removeprefix("+").removeprefix("00")
        # str.isdigit alone takes "²" or Arabic-Indic digits, which int() then rejects
        # or reads as another number: only ASCII digits are a calling code.
        if not (code.isascii() and code.isdigit()) or not 1 <= len(code) <= 3:  # noqa: PLR2004 - ITU E.164 codes
            raise InvalidInput(
                f"phone number: country calling code {shown(country_code)} "
                "is not 1 to 3 digits (0-9)"
            )
        region = phonenumbers.region_code_for_country_code(int(code))
        if region == phonenumbers.UNKNOWN_REGION:
            raise InvalidInput(
                f"phone number: country calling code +{code} is not assigned"
            )
        if not number.strip() or any(ch not in _DIALLABLE for ch in number):
            raise InvalidInput(
                f"phone number {shown(number)} may hold only digits and separators"
            )
        if len(number) > MAX_DIALLED:
            raise InvalidInput(
                f"phone number {shown(number)} is longer than {MAX_DIALLED} characters"
            )
        try:
            # Parsed in the code's main region, which knows its national trunk prefix
            # ("079 ..." in CH drops the 0; Italian numbers keep theirs).
            parsed = phonenumbers.parse(number.strip(), region)
        except phonenumbers.NumberParseException as e:
            raise InvalidInput(
                f"phone number {shown(number)} cannot be read: {e}"
            ) from e
        if parsed.country_code != int(code):
            raise InvalidInput(
                f"phone number {shown(number)} belongs to +{parsed.country_code}, not +{code}"
            )
        if not phonenumbers.is_valid_number(parsed):
            raise InvalidInput(
                f"phone number {shown(number)} is not a valid number for +{code}"
            )
        return cls(
            phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)
        )

    def __str__(self) -> str:
        return self.e164


_DIALLABLE = frozenset("0123456789 +-./()")
