"""Two-step verification of one account (MFA-1..MFA-5): factors, codes, challenges.

The application verifies each proof against the credential store (a TOTP code with the
sealed seed, a backup code or app password with its digest, a WebAuthn assertion with
the public key) and hands over only what it found: which factor, which time step, which
code index, which challenge. The aggregate decides what may count, so a replayed code,
a used challenge or a locked factor is refused here whatever the caller does. The
checks themselves are in domain/twostepchecks.py.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, TypeVar, cast
from uuid import UUID

from attrs import evolve
from eventsourcing.domain import Aggregate

from domain import ids
from domain import twostepchecks as check
from domain.errors import AlreadyExists, InvalidInput, NotFound, NotPermitted
from domain.phone import PhoneNumber
from domain.time import utc
from domain.twostepfacts import (
    DEFAULT_POLICY,
    LAST_USE_RESOLUTION,
    MAX_APP_PASSWORDS,
    MAX_FACTORS,
    AppPassword,
    Challenge,
    ChallengeKind,
    ChallengeState,
    Factor,
    FactorKind,
    KeyPurpose,
    TwoStepPolicy,
    kept_challenges,
)

E = TypeVar("E", bound=Aggregate.Event)
two_step_id = ids.two_step_id


class TwoStep(Aggregate):
    # Declared for snapshots: the mapper restores each attribute to this type.
    account_id: UUID
    enrolled: dict[UUID, Factor]
    steps: dict[UUID, int]
    backup_set: UUID | None
    backup_codes: tuple[UUID, ...]
    backup_used: frozenset[int]
    passwords: dict[UUID, AppPassword]
    challenges: dict[UUID, Challenge]
    failures: int
    locked_until: datetime | None

    class Opened(Aggregate.Created):
        account_id: UUID

    def __init__(self, account_id: UUID) -> None:
        self.account_id = account_id
        self.enrolled: dict[UUID, Factor] = {}
        # The last accepted TOTP step per factor (MFA-3), kept after a removal: an id
        # enrolled again never accepts a step twice.
        self.steps: dict[UUID, int] = {}
        self.backup_set: UUID | None = None
        self.backup_codes: tuple[UUID, ...] = ()
        self.backup_used: frozenset[int] = frozenset()
        self.passwords: dict[UUID, AppPassword] = {}
        self.challenges: dict[UUID, Challenge] = {}
        self.failures = 0
        self.locked_until: datetime | None = None

    @classmethod
    def open(cls, account_id: UUID, *, at: datetime) -> TwoStep:
        return cls._create(
            cls.Opened,
            id=ids.two_step_id(account_id),
            timestamp=utc(at),
            account_id=account_id,
        )

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

    # -- enrolment ---------------------------------------------------------------------

    class EnrolmentStarted(Aggregate.Event):
        factor_id: UUID
        kind: FactorKind
        label: str
        credential_id: UUID
        phone: str | None

        def apply(self, aggregate: TwoStep) -> None:
            aggregate.enrolled[self.factor_id] = Factor(
                self.factor_id,
                self.kind,
                self.label,
                self.credential_id,
                self.phone,
                confirmed=False,
                enrolled_at=self.timestamp,
            )

    def start_enrolment(
        self,
        factor_id: UUID,
        kind: FactorKind | str,
        label: str,
        credential_id: UUID,
        phone: PhoneNumber | str | None = None,
        *,
        at: datetime,
    ) -> EnrolmentStarted:
        """A factor set up and not yet proved: it counts once confirmed."""
        method = check.factor_kind(kind)
        if factor_id in self.enrolled:
            raise AlreadyExists(f"two-step factor {factor_id} is enrolled already")
        if len(self.enrolled) >= MAX_FACTORS:
            raise NotPermitted(f"an account has at most {MAX_FACTORS} two-step methods")
        number = check.enrolment_phone(method, phone)
        if number is not None and any(f.phone == number for f in self.factors):
            raise AlreadyExists(f"{number} is enrolled for SMS already")
        label = check.factor_label(method, label)
        return self._record(
            self.EnrolmentStarted,
            at,
            factor_id=factor_id,
            kind=method,
            label=label,
            credential_id=credential_id,
            phone=number,
        )

    class FactorConfirmed(Aggregate.Event):
        factor_id: UUID
        step: int | None

        def apply(self, aggregate: TwoStep) -> None:
            factor = aggregate.enrolled[self.factor_id]
            aggregate.enrolled[self.factor_id] = evolve(factor, confirmed=True)
            if self.step is not None:
                aggregate.steps[self.factor_id] = self.step
            aggregate.failures = 0

    def confirm(
        self, factor_id: UUID, step: int | None = None, *, at: datetime
    ) -> FactorConfirmed:
        """The user proved the new factor; a TOTP one by the step its code matched."""
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
        return self._record(self.FactorConfirmed, at, factor_id=factor_id, step=step)

    class FactorRemoved(Aggregate.Event):
        factor_id: UUID

        def apply(self, aggregate: TwoStep) -> None:
            del aggregate.enrolled[self.factor_id]

    def remove(self, factor_id: UUID, *, at: datetime) -> FactorRemoved:
        self.factor(factor_id)
        return self._record(self.FactorRemoved, at, factor_id=factor_id)

    class Disabled(Aggregate.Event):
        factor_ids: tuple[UUID, ...]
        app_ids: tuple[UUID, ...]

        def apply(self, aggregate: TwoStep) -> None:
            aggregate.enrolled, aggregate.passwords, aggregate.challenges = {}, {}, {}
            aggregate.backup_set, aggregate.backup_codes = None, ()
            aggregate.backup_used = frozenset()

    def disable(self, *, at: datetime) -> Disabled:
        """Every factor and the backup codes go; app passwords are revoked (MFA-4)."""
        if not (self.enrolled or self.backup_set or self.passwords):
            raise InvalidInput("two-step verification is not set up")
        factor_ids, app_ids = tuple(self.enrolled), tuple(self.passwords)
        return self._record(self.Disabled, at, factor_ids=factor_ids, app_ids=app_ids)

    # -- proofs and failures -------------------------------------------------------------

    class TotpAccepted(Aggregate.Event):
        factor_id: UUID
        step: int

        def apply(self, aggregate: TwoStep) -> None:
            aggregate.steps[self.factor_id] = self.step
            aggregate.failures = 0

    def accept_totp(self, factor_id: UUID, step: int, *, at: datetime) -> TotpAccepted:
        """Accept the code of time ``step`` (the step it matched, within drift).

        MFA-3: a step at or below the last accepted one is refused, so a code works
        once. Two processes accepting one code save the same version: one conflicts,
        reloads and is refused here.
        """
        factor = self.factor(factor_id)
        if factor.kind is not FactorKind.TOTP or not factor.confirmed:
            raise NotPermitted(f"{factor.label!r} is not a confirmed TOTP factor")
        check.locked(self.locked_until, at)
        check.require_new_step(self.steps, factor_id, step)
        return self._record(self.TotpAccepted, at, factor_id=factor_id, step=step)

    class BackupCodesIssued(Aggregate.Event):
        set_id: UUID
        credential_ids: tuple[UUID, ...]

        def apply(self, aggregate: TwoStep) -> None:
            aggregate.backup_set, aggregate.backup_codes = (
                self.set_id,
                self.credential_ids,
            )
            aggregate.backup_used = frozenset()

    def issue_backup_codes(
        self, set_id: UUID, credential_ids: tuple[UUID, ...], *, at: datetime
    ) -> BackupCodesIssued:
        """A new set of backup codes (MFA-2); the old set is void from now on."""
        if set_id == self.backup_set:
            raise AlreadyExists(f"backup code set {set_id} is issued already")
        codes = check.backup_credentials(credential_ids)
        return self._record(
            self.BackupCodesIssued, at, set_id=set_id, credential_ids=codes
        )

    class BackupCodeUsed(Aggregate.Event):
        set_id: UUID
        index: int

        def apply(self, aggregate: TwoStep) -> None:
            aggregate.backup_used = aggregate.backup_used | {self.index}
            aggregate.failures = 0

    def use_backup_code(self, index: int, *, at: datetime) -> BackupCodeUsed:
        """The code at ``index`` of the current set matched; it works this once."""
        if self.backup_set is None:
            raise NotFound("no backup codes were issued")
        if not 0 <= index < len(self.backup_codes):
            raise InvalidInput(f"backup code index {index} is not in the current set")
        if index in self.backup_used:
            raise NotPermitted("this backup code was already used")  # rule MFA-2
        check.locked(self.locked_until, at)
        set_id = self.backup_set
        return self._record(self.BackupCodeUsed, at, set_id=set_id, index=index)

    class SecondFactorFailed(Aggregate.Event):
        failures: int
        locked_until: datetime | None
        notify: bool

        def apply(self, aggregate: TwoStep) -> None:
            if self.locked_until is not None:
                aggregate.locked_until, aggregate.failures = self.locked_until, 0
            else:
                aggregate.failures = self.failures

    def fail(self, at: datetime, policy: TwoStepPolicy) -> SecondFactorFailed:
        """A wrong second factor after a right password; ``max_failures`` in a row lock
        it for ``policy.lock``, and the locking event's ``notify`` is the one mail.

        While locked, failures are refused (nothing checked, nothing recorded): an
        attacker can neither grow the log nor the count of mails.
        """
        check.locked(self.locked_until, at)
        failures = self.failures + 1
        locking = failures >= policy.max_failures
        until = utc(at) + policy.lock if locking else None
        return self._record(
            self.SecondFactorFailed,
            at,
            failures=failures,
            locked_until=until,
            notify=locking,
        )

    # -- application passwords (MFA-4) -----------------------------------------------------

    class AppPasswordCreated(Aggregate.Event):
        app_id: UUID
        name: str
        credential_id: UUID

        def apply(self, aggregate: TwoStep) -> None:
            aggregate.passwords[self.app_id] = AppPassword(
                self.app_id, self.name, self.credential_id, self.timestamp
            )

    def create_app_password(
        self, app_id: UUID, name: str, credential_id: UUID, *, at: datetime
    ) -> AppPasswordCreated:
        name = check.app_password_name(name)
        if app_id in self.passwords:
            raise AlreadyExists(f"application password {app_id} exists already")
        if any(p.name.casefold() == name.casefold() for p in self.app_passwords):
            raise AlreadyExists(f"an application password named {name!r} exists")
        if len(self.passwords) >= MAX_APP_PASSWORDS:
            raise NotPermitted(f"at most {MAX_APP_PASSWORDS} application passwords")
        return self._record(
            self.AppPasswordCreated,
            at,
            app_id=app_id,
            name=name,
            credential_id=credential_id,
        )

    class AppPasswordUsed(Aggregate.Event):
        app_id: UUID
        protocol: str

        def apply(self, aggregate: TwoStep) -> None:
            used = aggregate.passwords[self.app_id]
            aggregate.passwords[self.app_id] = evolve(
                used, last_used_at=self.timestamp, last_protocol=self.protocol
            )

    def record_app_password_use(
        self, app_id: UUID, protocol: str, *, at: datetime
    ) -> AppPasswordUsed | None:
        """Note a login with the password; None (nothing recorded) when the same
        protocol used it within LAST_USE_RESOLUTION: the list shows it to the hour."""
        used, protocol = self.app_password(app_id), check.protocol_name(protocol)
        last = used.last_used_at
        if (
            used.last_protocol == protocol
            and last
            and utc(at) - last < LAST_USE_RESOLUTION
        ):
            return None
        return self._record(self.AppPasswordUsed, at, app_id=app_id, protocol=protocol)

    class AppPasswordRevoked(Aggregate.Event):
        app_id: UUID

        def apply(self, aggregate: TwoStep) -> None:
            del aggregate.passwords[self.app_id]

    def revoke_app_password(self, app_id: UUID, *, at: datetime) -> AppPasswordRevoked:
        self.app_password(app_id)
        return self._record(self.AppPasswordRevoked, at, app_id=app_id)

    class AppPasswordsRevoked(Aggregate.Event):
        app_ids: tuple[UUID, ...]
        reason: str

        def apply(self, aggregate: TwoStep) -> None:
            for app_id in self.app_ids:
                del aggregate.passwords[app_id]

    def revoke_all_app_passwords(
        self, reason: str, *, at: datetime
    ) -> AppPasswordsRevoked | None:
        """SEC-4: the account password changed; None when there was none to revoke."""
        reason = check.revoke_reason(reason)
        if not self.passwords:
            return None
        app_ids = tuple(self.passwords)
        return self._record(
            self.AppPasswordsRevoked, at, app_ids=app_ids, reason=reason
        )

    # -- challenges: push, SMS, security key ------------------------------------------------

    class PushIssued(Aggregate.Event):
        challenge_id: UUID
        number: int
        expires_at: datetime

        def apply(self, aggregate: TwoStep) -> None:
            aggregate._issue(self, ChallengeKind.PUSH, number=self.number)

    def issue_push(
        self,
        challenge_id: UUID,
        number: int,
        expires_at: datetime,
        policy: TwoStepPolicy = DEFAULT_POLICY,
        *,
        at: datetime,
    ) -> PushIssued:
        """A push to the device, ``number`` shown on the login page, rate limited."""
        self._require_factor(FactorKind.PUSH, "push device")
        shown = check.push_number(number)
        until = check.expiry(expires_at, utc(at), policy.push_expiry)
        self._fresh(challenge_id, ChallengeKind.PUSH, at, policy)
        return self._record(
            self.PushIssued,
            at,
            challenge_id=challenge_id,
            number=shown,
            expires_at=until,
        )

    class PushApproved(Aggregate.Event):
        challenge_id: UUID

        def apply(self, aggregate: TwoStep) -> None:
            aggregate._settle(self.challenge_id, ChallengeState.APPROVED)
            aggregate.failures = 0

    class PushDenied(Aggregate.Event):
        challenge_id: UUID
        wrong_number: bool

        def apply(self, aggregate: TwoStep) -> None:
            aggregate._settle(self.challenge_id, ChallengeState.DENIED)

    def answer_push(
        self,
        challenge_id: UUID,
        approved: bool,
        number: int,
        *,
        at: datetime,
        policy: TwoStepPolicy = DEFAULT_POLICY,
    ) -> PushApproved | PushDenied:
        """The device's answer. A yes with the wrong number is a guess, not a yes: the
        challenge is denied and a failed second factor recorded (it may lock)."""
        challenge = check.open_challenge(
            self.challenges, challenge_id, ChallengeKind.PUSH, at
        )
        if not approved:
            return self._record(
                self.PushDenied, at, challenge_id=challenge_id, wrong_number=False
            )
        check.locked(self.locked_until, at)
        if number != challenge.number:
            denied = self._record(
                self.PushDenied, at, challenge_id=challenge_id, wrong_number=True
            )
            self.fail(at, policy)
            return denied
        return self._record(self.PushApproved, at, challenge_id=challenge_id)

    class SmsCodeIssued(Aggregate.Event):
        challenge_id: UUID
        credential_id: UUID
        expires_at: datetime

        def apply(self, aggregate: TwoStep) -> None:
            aggregate._issue(self, ChallengeKind.SMS, credential_id=self.credential_id)

    def issue_sms_code(
        self,
        challenge_id: UUID,
        credential_id: UUID,
        expires_at: datetime,
        policy: TwoStepPolicy = DEFAULT_POLICY,
        *,
        at: datetime,
    ) -> SmsCodeIssued:
        """An SMS code (its digest stored under ``credential_id``), rate limited."""
        self._require_factor(FactorKind.SMS, "SMS number")
        until = check.expiry(expires_at, utc(at), policy.sms_expiry)
        self._fresh(challenge_id, ChallengeKind.SMS, at, policy)
        return self._record(
            self.SmsCodeIssued,
            at,
            challenge_id=challenge_id,
            credential_id=credential_id,
            expires_at=until,
        )

    class SmsCodeUsed(Aggregate.Event):
        challenge_id: UUID

        def apply(self, aggregate: TwoStep) -> None:
            aggregate._settle(self.challenge_id, ChallengeState.USED)
            aggregate.failures = 0

    def use_sms_code(self, challenge_id: UUID, *, at: datetime) -> SmsCodeUsed:
        """The code sent matched: it works once, before it expires."""
        check.open_challenge(self.challenges, challenge_id, ChallengeKind.SMS, at)
        check.locked(self.locked_until, at)
        return self._record(self.SmsCodeUsed, at, challenge_id=challenge_id)

    class KeyChallengeIssued(Aggregate.Event):
        challenge_id: UUID
        purpose: KeyPurpose
        expires_at: datetime

        def apply(self, aggregate: TwoStep) -> None:
            aggregate._issue(self, ChallengeKind.KEY, purpose=self.purpose)

    def issue_key_challenge(
        self,
        challenge_id: UUID,
        purpose: KeyPurpose | str,
        expires_at: datetime,
        policy: TwoStepPolicy = DEFAULT_POLICY,
        *,
        at: datetime,
    ) -> KeyChallengeIssued:
        """A WebAuthn challenge (its random bytes are in the credential store)."""
        purpose = check.key_purpose(purpose)
        if purpose is KeyPurpose.AUTHENTICATE:
            if not self._has(FactorKind.SECURITY_KEY, confirmed=True):
                raise InvalidInput("no security key is enrolled")
            check.locked(self.locked_until, at)
        check.fresh_challenge(self.challenges, challenge_id)
        return self._record(
            self.KeyChallengeIssued,
            at,
            challenge_id=challenge_id,
            purpose=purpose,
            expires_at=check.expiry(expires_at, utc(at), policy.challenge_expiry),
        )

    class KeyChallengeUsed(Aggregate.Event):
        challenge_id: UUID

        def apply(self, aggregate: TwoStep) -> None:
            used = aggregate._settle(self.challenge_id, ChallengeState.USED)
            if used.purpose is KeyPurpose.AUTHENTICATE:
                aggregate.failures = 0

    def use_key_challenge(
        self, challenge_id: UUID, *, at: datetime
    ) -> KeyChallengeUsed:
        """The response to the challenge verified; it never verifies again (for a key
        whose counter stays 0, single use is what stops a replay)."""
        challenge = check.open_challenge(
            self.challenges, challenge_id, ChallengeKind.KEY, at
        )
        if challenge.purpose is KeyPurpose.AUTHENTICATE:
            check.locked(self.locked_until, at)
        return self._record(self.KeyChallengeUsed, at, challenge_id=challenge_id)

    class CloneSuspected(Aggregate.Event):
        factor_id: UUID

        def apply(self, aggregate: TwoStep) -> None:
            """Recorded for the mail and the audit; the assertion itself was refused."""

    def record_clone_suspected(
        self, factor_id: UUID, *, at: datetime
    ) -> CloneSuspected:
        if self.factor(factor_id).kind is not FactorKind.SECURITY_KEY:
            raise InvalidInput(f"two-step factor {factor_id} is not a security key")
        return self._record(self.CloneSuspected, at, factor_id=factor_id)

    # -- plumbing ----------------------------------------------------------------------

    def _record(self, event_class: type[E], at: datetime, **fields: Any) -> E:  # noqa: ANN401 - the event's own fields
        self.trigger_event(event_class, timestamp=utc(at), **fields)
        return cast("E", self.pending_events[-1])

    def _has(self, kind: FactorKind, *, confirmed: bool = False) -> bool:
        return any(
            f.kind is kind and (f.confirmed or not confirmed)
            for f in self.enrolled.values()
        )

    def _require_factor(self, kind: FactorKind, what: str) -> None:
        if not self._has(kind):
            raise InvalidInput(f"no {what} is enrolled")

    def _fresh(
        self,
        challenge_id: UUID,
        kind: ChallengeKind,
        at: datetime,
        policy: TwoStepPolicy,
    ) -> None:
        check.locked(self.locked_until, at)
        check.fresh_challenge(self.challenges, challenge_id)
        check.rate_limit(self.challenges, kind, utc(at), policy)

    def _issue(self, event: Any, kind: ChallengeKind, **facts: Any) -> None:  # noqa: ANN401 - one of the three issued events
        new = Challenge(
            event.challenge_id, kind, event.timestamp, event.expires_at, **facts
        )
        self.challenges = kept_challenges(self.challenges, new)

    def _settle(self, challenge_id: UUID, state: ChallengeState) -> Challenge:
        challenge = self.challenges[challenge_id]
        self.challenges = {
            **self.challenges,
            challenge_id: evolve(challenge, state=state),
        }
        return challenge
