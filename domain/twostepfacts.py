"""Values and limits of two-step verification (MFA-1..MFA-7).

The aggregate (domain/twostep.py) records facts only: which factor, which time step,
which challenge. Seeds, codes, public keys and digests live in the credential store
under the ``credential_id`` a value names (MFA-5, SEC-6), so replaying the log reveals
no secret.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from uuid import UUID

import phonenumbers
from attrs import Attribute, field, frozen

from domain.errors import InvalidInput
from domain.time import utc

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

# Bounds of what one account keeps: each is far above honest use and keeps the
# aggregate (and an attacker's effect on it) small.
MAX_FACTORS = 20
MAX_APP_PASSWORDS = 50
MAX_LABEL = 64
MAX_PROTOCOL = 20
MAX_BACKUP_CODES = 100
MAX_DRIFT_STEPS = 10
MAX_FAILURES = 100
# Challenges of each kind kept for the rate limits: the last ones, of the last day.
MAX_KEPT_CHALLENGES = 32
CHALLENGE_MEMORY = timedelta(days=1)
# A sync tool logs in every few minutes: its use is recorded at most once per hour and
# protocol, or the log would grow by hundreds of events a day per tool.
LAST_USE_RESOLUTION = timedelta(hours=1)


class FactorKind(StrEnum):
    TOTP = "totp"
    PUSH = "push"
    SECURITY_KEY = "security_key"
    SMS = "sms"


# The label a factor gets when the user gives none.
DEFAULT_LABELS = {
    FactorKind.TOTP: "Authenticator app",
    FactorKind.PUSH: "Push approval",
    FactorKind.SECURITY_KEY: "Security key",
    FactorKind.SMS: "SMS",
}


class KeyPurpose(StrEnum):
    REGISTER = "register"
    AUTHENTICATE = "authenticate"


class ChallengeKind(StrEnum):
    PUSH = "push"
    SMS = "sms"
    KEY = "key"


class ChallengeState(StrEnum):
    PENDING = "pending"
    APPROVED = "approved"
    DENIED = "denied"
    USED = "used"


@frozen
class Factor:
    """One enrolled method. ``credential_id`` names its secret row (a sealed TOTP seed,
    a WebAuthn credential); ``phone`` is the E.164 number of an SMS factor only."""

    factor_id: UUID
    kind: FactorKind
    label: str
    credential_id: UUID
    phone: str | None
    confirmed: bool
    enrolled_at: datetime


@frozen
class AppPassword:
    """A password for one sync tool (MFA-4); its digest is in the credential store."""

    app_id: UUID
    name: str
    credential_id: UUID
    created_at: datetime
    last_used_at: datetime | None = None
    last_protocol: str | None = None


@frozen
class Challenge:
    """A pending push, SMS code or security-key challenge: single use, expiring.

    ``number`` is what the login page shows for a push (number matching against
    push-bombing, ASVS 6.6.4); ``credential_id`` names the digest of an SMS code;
    ``purpose`` tells a key registration from an assertion.
    """

    challenge_id: UUID
    kind: ChallengeKind
    issued_at: datetime
    expires_at: datetime
    state: ChallengeState = ChallengeState.PENDING
    number: int | None = None
    credential_id: UUID | None = None
    purpose: KeyPurpose | None = None

    def is_open(self, at: datetime) -> bool:
        return self.state is ChallengeState.PENDING and utc(at) < self.expires_at


def _positive(_: object, attribute: object, value: timedelta) -> None:
    if value <= timedelta(0):
        raise InvalidInput(f"{getattr(attribute, 'name', 'duration')} must be positive")


def _window(_: object, attribute: object, value: timedelta) -> None:
    _positive(_, attribute, value)
    if value > CHALLENGE_MEMORY:
        # The aggregate keeps a day of challenges: a longer window could not be counted.
        raise InvalidInput(f"{getattr(attribute, 'name', 'window')} is over a day")


def _step(_: object, __: object, value: timedelta) -> None:
    if value < timedelta(seconds=1) or value % timedelta(seconds=1):
        raise InvalidInput("totp_step must be a whole number of seconds, at least 1")


def _between(low: int, high: int) -> Callable[[object, Attribute[int], int], None]:
    def check(_: object, attribute: Attribute[int], value: int) -> None:
        if not low <= value <= high:
            raise InvalidInput(f"{attribute.name} must be between {low} and {high}")

    return check


@frozen
class TwoStepPolicy:
    """The limits of two-step verification; the defaults are the documented ones.

    TOTP: 30 s steps (RFC 6238) and one step of drift either way (MFA-3). Five wrong
    codes in a row lock the second factor for 15 minutes. Push and SMS challenges
    expire quickly and are rate limited, so a stolen password cannot bomb the user's
    phone (ASVS 6.6.4).
    """

    totp_step: timedelta = field(default=timedelta(seconds=30), validator=_step)
    totp_drift_steps: int = field(default=1, validator=_between(0, MAX_DRIFT_STEPS))
    max_failures: int = field(default=5, validator=_between(1, MAX_FAILURES))
    lock: timedelta = field(default=timedelta(minutes=15), validator=_positive)
    push_expiry: timedelta = field(default=timedelta(seconds=60), validator=_positive)
    push_per_window: int = field(default=3, validator=_between(1, MAX_KEPT_CHALLENGES))
    push_window: timedelta = field(default=timedelta(minutes=10), validator=_window)
    sms_expiry: timedelta = field(default=timedelta(minutes=5), validator=_positive)
    sms_per_window: int = field(default=3, validator=_between(1, MAX_KEPT_CHALLENGES))
    sms_window: timedelta = field(default=timedelta(hours=1), validator=_window)
    backup_codes: int = field(default=10, validator=_between(1, MAX_BACKUP_CODES))
    reauth_window: timedelta = field(default=timedelta(minutes=5), validator=_positive)
    challenge_expiry: timedelta = field(
        default=timedelta(minutes=5), validator=_positive
    )


DEFAULT_POLICY = TwoStepPolicy()


def totp_step(at: datetime, policy: TwoStepPolicy = DEFAULT_POLICY) -> int:
    """The RFC 6238 time step of ``at``: floor(unix time / step), exact (no floats)."""
    return (utc(at) - EPOCH) // policy.totp_step


# -- SMS (MFA-1) ------------------------------------------------------------------------

SMS_REGIONS = frozenset({"CH", "FR", "BE", "DE"})


def sms_allowed(region: str, is_mobile: bool) -> None:
    """Refuse SMS unless the number is a mobile number of CH, FR, BE or DE (MFA-1).

    The region is the number's own (phonenumbers' ``region_code_for_number``), not its
    calling code's main region: +262 (Réunion, Mayotte) and +423 (Liechtenstein) are
    look-alikes of France and Switzerland and are refused.
    """
    if region not in SMS_REGIONS:
        raise InvalidInput(
            "SMS codes are sent only to mobile numbers of CH, FR, BE or DE "
            f"(rule MFA-1); this number is of {region or 'no known region'}"
        )
    if not is_mobile:
        raise InvalidInput(
            "SMS codes are sent only to mobile numbers of CH, FR, BE or DE "
            f"(rule MFA-1); this {region} number is not a mobile number"
        )


# Said with every refusal of a number, so the user learns which numbers do work.
SMS_RULE = "SMS codes go only to mobile numbers of CH, FR, BE or DE (rule MFA-1)"


def sms_number(e164: str) -> str:
    """The E.164 number an SMS factor may use, checked by the rule MFA-1."""
    try:
        parsed = phonenumbers.parse(str(e164), None)
    except phonenumbers.NumberParseException:
        raise InvalidInput(
            f"SMS number is not an international (E.164) phone number; {SMS_RULE}"
        ) from None
    if not phonenumbers.is_valid_number(parsed):
        raise InvalidInput(f"SMS number is not a valid phone number; {SMS_RULE}")
    region = phonenumbers.region_code_for_number(parsed) or ""
    is_mobile = phonenumbers.number_type(parsed) == phonenumbers.PhoneNumberType.MOBILE
    sms_allowed(region, is_mobile)
    return str(phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164))


# -- challenges kept ---------------------------------------------------------------------


def issued_within(
    challenges: dict[UUID, Challenge],
    kind: ChallengeKind,
    at: datetime,
    window: timedelta,
) -> int:
    """How many challenges of ``kind`` were issued in the ``window`` before ``at``."""
    since = utc(at) - window
    return sum(1 for c in challenges.values() if c.kind is kind and c.issued_at > since)


def kept_challenges(
    challenges: dict[UUID, Challenge], new: Challenge
) -> dict[UUID, Challenge]:
    """The challenges kept once ``new`` is issued: a day's worth, the last few per kind.

    Pure, so a replay keeps the same ones. Counting per kind keeps a flood of one kind
    (key challenges have no rate limit) from pushing the others' history out.
    """
    since = new.issued_at - CHALLENGE_MEMORY
    recent = [c for c in challenges.values() if c.issued_at > since]
    same = [c for c in recent if c.kind is new.kind]
    dropped = {
        c.challenge_id for c in same[: max(0, len(same) - MAX_KEPT_CHALLENGES + 1)]
    }
    kept = {c.challenge_id: c for c in recent if c.challenge_id not in dropped}
    kept[new.challenge_id] = new
    return kept
