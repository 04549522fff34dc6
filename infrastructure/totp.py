"""TOTP (RFC 6238) through pyotp: 30-second steps, six digits, SHA-1 as every app expects.

pyotp has no replay protection: it only says whether a code fits a time. This adapter
answers *which* time step the code belongs to, so the aggregate can record that step and
refuse it and every earlier one (rule MFA-3). The time is always passed explicitly and
must be aware: pyotp reads a naive datetime as local time, which on a server outside UTC
would shift every step by hours.
"""

from __future__ import annotations

import base64
import secrets
from datetime import UTC, datetime

import pyotp
from pyotp.exceptions import OTPVerificationError

from domain.errors import InvalidInput

STEP_SECONDS = 30
DIGITS = 6
SEED_BYTES = 20  # 160 bits, the length RFC 4226 recommends (and authenticator apps use)
MAX_DRIFT = 10  # steps; more would accept codes minutes old, whatever the caller asks


class PyotpTotp:
    """The ``TotpVerifier`` port on pyotp."""

    def __repr__(self) -> str:
        return "PyotpTotp()"

    def new_seed(self) -> str:
        """160 random bits as unpadded base32 (32 characters): what the QR code carries."""
        return base64.b32encode(secrets.token_bytes(SEED_BYTES)).decode("ascii")

    def provisioning_uri(self, seed: str, account_name: str, issuer: str) -> str:
        """``otpauth://totp/Issuer:account?secret=...&issuer=Issuer`` (Key Uri Format).

        A colon in either name would make the label ambiguous (the format splits the
        label at its first colon), so it is refused rather than silently mis-shown.
        """
        for what, value in (("issuer", issuer), ("account name", account_name)):
            if not value.strip():
                raise InvalidInput(f"the TOTP {what} is empty")
            if ":" in value:
                raise InvalidInput(f"the TOTP {what} must not contain a colon")
        _check_seed(seed)
        totp = pyotp.TOTP(seed, digits=DIGITS, interval=STEP_SECONDS)
        return totp.provisioning_uri(name=account_name, issuer_name=issuer)

    def matching_step(
        self, seed: str, code: str, at: datetime, drift: int
    ) -> int | None:
        """The step (floor(unix time / 30)) whose code ``code`` is, within +-``drift``.

        None for a wrong code and for anything that is not exactly six ASCII digits
        (``str.isdigit`` alone would let Arabic-Indic or superscript digits through).
        """
        if at.tzinfo is None or at.utcoffset() is None:
            raise ValueError(
                "matching_step needs an aware datetime (pyotp reads naive as local)"
            )
        if not 0 <= drift <= MAX_DRIFT:
            raise ValueError(f"drift must be between 0 and {MAX_DRIFT} steps")
        if not is_totp_code(code):
            return None
        _check_seed(seed)
        totp = pyotp.TOTP(seed, digits=DIGITS, interval=STEP_SECONDS)
        try:
            return totp.verify_and_get_timecode(
                code, for_time=at.astimezone(UTC), valid_window=drift
            )
        except OTPVerificationError:
            return None


def is_totp_code(code: str) -> bool:
    """Exactly six ASCII digits: what a TOTP app shows (a backup code never is)."""
    return len(code) == DIGITS and code.isascii() and code.isdigit()


def step_start(step: int) -> datetime:
    """The first instant of a step, for tests and for messages ("valid until ...")."""
    return datetime.fromtimestamp(step * STEP_SECONDS, UTC)


def _check_seed(seed: str) -> None:
    try:
        raw = base64.b32decode(seed + "=" * (-len(seed) % 8), casefold=True)
    except ValueError:
        raise InvalidInput("the TOTP seed is not base32") from None
    if len(raw) < SEED_BYTES:
        raise InvalidInput("the TOTP seed has fewer than 160 bits")
