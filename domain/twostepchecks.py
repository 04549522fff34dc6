"""The checks of two-step verification's commands, as pure functions of their input.

domain/twostep.py decides with these: each refuses bad input with a clear message
(domain.errors) and returns the value the event stores, so the aggregate stays a list
of commands and the facts they record.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from uuid import UUID

from domain.errors import AlreadyExists, InvalidInput, NotFound, NotPermitted
from domain.phone import PhoneNumber
from domain.text import clean_line, required_line
from domain.time import utc
from domain.twostepfacts import (
    DEFAULT_LABELS,
    MAX_BACKUP_CODES,
    MAX_LABEL,
    MAX_PROTOCOL,
    Challenge,
    ChallengeKind,
    ChallengeState,
    FactorKind,
    KeyPurpose,
    TwoStepPolicy,
    issued_within,
    sms_number,
)

PUSH_NUMBERS = range(10, 100)
MAX_REASON = 64


def factor_kind(kind: FactorKind | str) -> FactorKind:
    """The method as typed (``--method totp``) or as the enum."""
    try:
        return FactorKind(kind)
    except ValueError:
        known = ", ".join(FactorKind)
        raise InvalidInput(
            f"unknown two-step method {str(kind)[:40]!r}; use one of {known}"
        ) from None


def key_purpose(purpose: KeyPurpose | str) -> KeyPurpose:
    try:
        return KeyPurpose(purpose)
    except ValueError:
        raise InvalidInput(
            f"a key challenge is for {' or '.join(KeyPurpose)}, not {str(purpose)[:40]!r}"
        ) from None


def factor_label(kind: FactorKind, label: str) -> str:
    """The user's name for the factor (it is shown in mails), or the method's."""
    clean = clean_line(label, field="two-step method label", max_length=MAX_LABEL)
    return clean or DEFAULT_LABELS[kind]


def enrolment_phone(kind: FactorKind, phone: PhoneNumber | str | None) -> str | None:
    """An SMS factor's number, checked by MFA-1; no other factor has one."""
    if kind is not FactorKind.SMS:
        if phone is not None:
            raise InvalidInput(f"a {kind} factor has no phone number")
        return None
    if phone is None:
        raise InvalidInput("an SMS factor needs a mobile phone number")
    return sms_number(str(phone))


def time_step(step: int) -> int:
    """A TOTP time step: a whole number from the Unix epoch on."""
    if isinstance(step, bool) or not isinstance(step, int) or step < 0:
        raise InvalidInput(f"TOTP time step {step!r} is not a whole number >= 0")
    return step


def require_new_step(steps: Mapping[UUID, int], factor_id: UUID, step: int) -> None:
    """MFA-3: a code is accepted at most once, and never one older than the last."""
    last = steps.get(factor_id)
    if last is not None and time_step(step) <= last:
        raise NotPermitted("this code was already used")


def backup_credentials(credential_ids: tuple[UUID, ...]) -> tuple[UUID, ...]:
    ids = tuple(credential_ids)
    if not 1 <= len(ids) <= MAX_BACKUP_CODES:
        raise InvalidInput(f"a backup code set holds 1 to {MAX_BACKUP_CODES} codes")
    if len(set(ids)) != len(ids):
        raise InvalidInput("a backup code set names a credential twice")
    return ids


def app_password_name(name: str) -> str:
    return required_line(
        name,
        field="application password name",
        max_length=MAX_LABEL,
        empty="an application password needs a name (the tool using it)",
    )


def protocol_name(protocol: str) -> str:
    return required_line(protocol, field="protocol", max_length=MAX_PROTOCOL).lower()


def revoke_reason(reason: str) -> str:
    return required_line(reason, field="revocation reason", max_length=MAX_REASON)


def push_number(number: int) -> int:
    """The number shown on the login page, chosen on the device (number matching)."""
    if isinstance(number, bool) or number not in PUSH_NUMBERS:
        raise InvalidInput(f"push number {number!r} is not between 10 and 99")
    return number


def expiry(expires_at: datetime, at: datetime, longest: timedelta) -> datetime:
    """A challenge's end: after ``at``, at most ``longest`` later."""
    until = utc(expires_at)
    if not at < until <= at + longest:
        raise InvalidInput(
            f"a challenge expires after it is issued and within {longest}"
        )
    return until


def locked(locked_until: datetime | None, at: datetime) -> None:
    """Refuse every proof while the second factor is locked (brute force)."""
    if locked_until is not None and utc(at) < locked_until:
        raise NotPermitted(
            "the second factor is locked after too many wrong codes until "
            f"{locked_until:%Y-%m-%d %H:%M} UTC"
        )


def rate_limit(
    challenges: Mapping[UUID, Challenge],
    kind: ChallengeKind,
    at: datetime,
    policy: TwoStepPolicy,
) -> None:
    """ASVS 6.6.4: a stolen password cannot bomb the user's phone into a yes."""
    if kind is ChallengeKind.PUSH:
        window, most, what = policy.push_window, policy.push_per_window, "push requests"
    else:
        window, most, what = policy.sms_window, policy.sms_per_window, "SMS codes"
    if issued_within(dict(challenges), kind, at, window) >= most:
        raise NotPermitted(f"too many {what} in a short time; try again later")


def fresh_challenge(challenges: Mapping[UUID, Challenge], challenge_id: UUID) -> None:
    if challenge_id in challenges:
        raise AlreadyExists(f"challenge {challenge_id} was issued already")


def find_challenge(
    challenges: Mapping[UUID, Challenge], challenge_id: UUID, kind: ChallengeKind
) -> Challenge:
    found = challenges.get(challenge_id)
    if found is None or found.kind is not kind:
        raise NotFound(f"no {kind} challenge {challenge_id} (or it is too old)")
    return found


def open_challenge(
    challenges: Mapping[UUID, Challenge],
    challenge_id: UUID,
    kind: ChallengeKind,
    at: datetime,
) -> Challenge:
    """A challenge that may still be answered: pending and not expired (single use)."""
    challenge = find_challenge(challenges, challenge_id, kind)
    if challenge.state is not ChallengeState.PENDING:
        raise NotPermitted(f"this {kind} challenge was {challenge.state} already")
    if not challenge.is_open(at):
        raise NotPermitted(f"this {kind} challenge has expired; ask for a new one")
    return challenge
