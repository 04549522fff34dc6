"""What one account's two-step verification holds and answers, and what it refuses.

The state and queries of :class:`domain.twostep.TwoStep`, with the read-only checks
its commands run before recording, apart from the commands and events so each module
stays one readable piece; the aggregate inherits them. Each ``_check`` method refuses
with a clear message (domain.errors) or returns what the event stores.
"""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from domain import twostepchecks as check
from domain.errors import AlreadyExists, InvalidInput, NotFound, NotPermitted
from domain.phone import PhoneNumber
from domain.time import utc
from domain.twostepfacts import (
    LAST_USE_RESOLUTION,
    MAX_APP_PASSWORDS,
    MAX_FACTORS,
    AppPassword,
    Challenge,
    ChallengeKind,
    Factor,
    FactorKind,
    KeyPurpose,
    TwoStepPolicy,
)


class TwoStepRecord:
    # Declared for snapshots: the mapper restores each attribute to this type.
    account_id: UUID
    enrolled: dict[UUID, Factor]
    # The last accepted TOTP step per factor (MFA-3), kept after a removal: an id
    # enrolled again never accepts a step twice.
    steps: dict[UUID, int]
    backup_set: UUID | None
    backup_codes: tuple[UUID, ...]
    backup_used: frozenset[int]
    passwords: dict[UUID, AppPassword]
    challenges: dict[UUID, Challenge]
    failures: int
    locked_until: datetime | None

    # -- queries -----------------------------------------------------------------------

    @property
    def factors(self) -> tuple[Factor, ...]:
        """Every factor, confirmed or not, in the order they were enrolled."""
        return tuple(self.enrolled.values())

    @property
    def confirmed_factors(self) -> tuple[Factor, ...]:
        return tuple(f for f in self.enrolled.values() if f.confirmed)

    @property
    def enabled(self) -> bool:
        """Two-step verification is on once any factor is confirmed."""
        return bool(self.confirmed_factors)

    def factor(self, factor_id: UUID) -> Factor:
        found = self.enrolled.get(factor_id)
        if found is None:
            raise NotFound(f"two-step factor {factor_id} is not enrolled")
        return found

    def is_locked(self, at: datetime) -> bool:
        return self.locked_until is not None and utc(at) < self.locked_until

    def last_step(self, factor_id: UUID) -> int | None:
        return self.steps.get(factor_id)

    @property
    def backup_remaining(self) -> int:
        return len(self.backup_codes) - len(self.backup_used)

    @property
    def unused_backup_codes(self) -> tuple[tuple[int, UUID], ...]:
        """(index, credential id) of each usable code: what a typed code is checked
        against."""
        codes = enumerate(self.backup_codes)
        return tuple((i, c) for i, c in codes if i not in self.backup_used)

    @property
    def app_passwords(self) -> tuple[AppPassword, ...]:
        return tuple(self.passwords.values())

    def app_password(self, app_id: UUID) -> AppPassword:
        found = self.passwords.get(app_id)
        if found is None:
            raise NotFound(f"application password {app_id} does not exist")
        return found

    def challenge(self, challenge_id: UUID) -> Challenge:
        found = self.challenges.get(challenge_id)
        if found is None:
            raise NotFound(f"challenge {challenge_id} does not exist (or is too old)")
        return found

    def pending_push(self, challenge_id: UUID) -> Challenge:
        """The push challenge in whatever state it is (the login page polls it)."""
        return check.find_challenge(self.challenges, challenge_id, ChallengeKind.PUSH)

    # -- checks of factors and codes ----------------------------------------------------

    def _check_enrolment(
        self,
        factor_id: UUID,
        kind: FactorKind | str,
        label: str,
        phone: PhoneNumber | str | None,
    ) -> tuple[FactorKind, str, str | None]:
        """The method, label and number an enrolment records."""
        method = check.factor_kind(kind)
        if factor_id in self.enrolled:
            raise AlreadyExists(f"two-step factor {factor_id} is enrolled already")
        if len(self.enrolled) >= MAX_FACTORS:
            raise NotPermitted(f"an account has at most {MAX_FACTORS} two-step methods")
        number = check.enrolment_phone(method, phone)
        if number is not None and any(f.phone == number for f in self.factors):
            raise AlreadyExists(f"{number} is enrolled for SMS already")
        return method, check.factor_label(method, label), number

    def _check_confirmation(
        self, factor_id: UUID, step: int | None, at: datetime
    ) -> None:
        factor = self.factor(factor_id)
        if factor.confirmed:
            raise InvalidInput(f"two-step factor {factor.label!r} is confirmed already")
        check.locked(self.locked_until, at)
        if factor.kind is FactorKind.TOTP:
            if step is None:
                raise InvalidInput("a TOTP factor is confirmed with a code")
            check.require_new_step(self.steps, factor_id, step)
        elif step is not None:
            raise InvalidInput(f"a {factor.kind} factor is not confirmed with a code")

    def _check_totp(self, factor_id: UUID, step: int, at: datetime) -> None:
        factor = self.factor(factor_id)
        if factor.kind is not FactorKind.TOTP or not factor.confirmed:
            raise NotPermitted(f"{factor.label!r} is not a confirmed TOTP factor")
        check.locked(self.locked_until, at)
        check.require_new_step(self.steps, factor_id, step)

    def _check_backup_code(self, index: int, at: datetime) -> UUID:
        """The set the usable code at ``index`` belongs to."""
        if self.backup_set is None:
            raise NotFound("no backup codes were issued")
        if not 0 <= index < len(self.backup_codes):
            raise InvalidInput(f"backup code index {index} is not in the current set")
        if index in self.backup_used:
            raise NotPermitted("this backup code was already used")  # rule MFA-2
        check.locked(self.locked_until, at)
        return self.backup_set

    def _check_failure(
        self, at: datetime, policy: TwoStepPolicy
    ) -> tuple[int, datetime | None]:
        """The count of failures in a row, and the end of the lock they start."""
        check.locked(self.locked_until, at)
        failures = self.failures + 1
        locking = failures >= policy.max_failures
        return failures, utc(at) + policy.lock if locking else None

    # -- checks of application passwords (MFA-4) ----------------------------------------

    def _check_app_password(self, app_id: UUID, name: str) -> str:
        """The new password's name, unique whatever its case."""
        name = check.app_password_name(name)
        if app_id in self.passwords:
            raise AlreadyExists(f"application password {app_id} exists already")
        if any(p.name.casefold() == name.casefold() for p in self.app_passwords):
            raise AlreadyExists(f"an application password named {name!r} exists")
        if len(self.passwords) >= MAX_APP_PASSWORDS:
            raise NotPermitted(f"at most {MAX_APP_PASSWORDS} application passwords")
        return name

    def _use_to_record(self, app_id: UUID, protocol: str, at: datetime) -> str | None:
        """The protocol of a use worth recording; None when the same protocol used it
        within LAST_USE_RESOLUTION."""
        used, protocol = self.app_password(app_id), check.protocol_name(protocol)
        last = used.last_used_at
        if (
            used.last_protocol == protocol
            and last
            and utc(at) - last < LAST_USE_RESOLUTION
        ):
            return None
        return protocol

    # -- checks of challenges -------------------------------------------------------------

    def _has(self, kind: FactorKind, *, confirmed: bool = False) -> bool:
        return any(
            f.kind is kind and (f.confirmed or not confirmed)
            for f in self.enrolled.values()
        )

    def _require_factor(self, kind: FactorKind, what: str) -> None:
        if not self._has(kind):
            raise InvalidInput(f"no {what} is enrolled")

    def _check_fresh(
        self,
        challenge_id: UUID,
        kind: ChallengeKind,
        at: datetime,
        policy: TwoStepPolicy,
    ) -> None:
        """A new push or SMS challenge: not locked, a new id, within the rate limit."""
        check.locked(self.locked_until, at)
        check.fresh_challenge(self.challenges, challenge_id)
        check.rate_limit(self.challenges, kind, utc(at), policy)

    def _check_push(
        self,
        challenge_id: UUID,
        number: int,
        expires_at: datetime,
        policy: TwoStepPolicy,
        at: datetime,
    ) -> tuple[int, datetime]:
        """The number shown and the end of a new push challenge."""
        self._require_factor(FactorKind.PUSH, "push device")
        shown = check.push_number(number)
        until = check.expiry(expires_at, utc(at), policy.push_expiry)
        self._check_fresh(challenge_id, ChallengeKind.PUSH, at, policy)
        return shown, until

    def _check_sms(
        self,
        challenge_id: UUID,
        expires_at: datetime,
        policy: TwoStepPolicy,
        at: datetime,
    ) -> datetime:
        """The end of a new SMS code."""
        self._require_factor(FactorKind.SMS, "SMS number")
        until = check.expiry(expires_at, utc(at), policy.sms_expiry)
        self._check_fresh(challenge_id, ChallengeKind.SMS, at, policy)
        return until

    def _check_key_challenge(
        self,
        challenge_id: UUID,
        purpose: KeyPurpose | str,
        expires_at: datetime,
        policy: TwoStepPolicy,
        at: datetime,
    ) -> tuple[KeyPurpose, datetime]:
        """The purpose and end of a new key challenge (no rate limit: nothing is sent)."""
        purpose = check.key_purpose(purpose)
        if purpose is KeyPurpose.AUTHENTICATE:
            if not self._has(FactorKind.SECURITY_KEY, confirmed=True):
                raise InvalidInput("no security key is enrolled")
            check.locked(self.locked_until, at)
        check.fresh_challenge(self.challenges, challenge_id)
        return purpose, check.expiry(expires_at, utc(at), policy.challenge_expiry)

    def _open_challenge(
        self, challenge_id: UUID, kind: ChallengeKind, at: datetime
    ) -> Challenge:
        return check.open_challenge(self.challenges, challenge_id, kind, at)

    def _check_use(self, challenge_id: UUID, kind: ChallengeKind, at: datetime) -> None:
        """An SMS code or key challenge that may be used now: open, and (unless it
        registers a key, no second factor yet) not locked."""
        challenge = self._open_challenge(challenge_id, kind, at)
        if challenge.purpose is not KeyPurpose.REGISTER:
            check.locked(self.locked_until, at)
