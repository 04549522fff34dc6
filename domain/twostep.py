"""Two-step verification of one account (MFA-1..MFA-5): factors, codes, challenges.

The application verifies each proof against the credential store (a TOTP code with the
sealed seed, a backup code or app password with its digest, a WebAuthn assertion with
the public key) and hands over only what it found: which factor, which time step, which
code index, which challenge. The aggregate decides what may count, so a replayed code,
a used challenge or a locked factor is refused here whatever the caller does. The
state, queries and the checks each command runs are in domain/twosteprecord.py (the
base class), the challenges (push, SMS, key) in domain/twostepchallenges.py, the checks
of single values in domain/twostepchecks.py.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, TypeVar, cast
from uuid import UUID

from attrs import evolve
from eventsourcing.domain import Aggregate

from domain import ids
from domain import twostepchecks as check
from domain.errors import AlreadyExists, InvalidInput
from domain.phone import PhoneNumber
from domain.time import utc
from domain.twostepchallenges import TwoStepChallenges
from domain.twostepfacts import (
    DEFAULT_POLICY,
    AppPassword,
    ChallengeKind,
    Factor,
    FactorKind,
    TwoStepPolicy,
)

E = TypeVar("E", bound=Aggregate.Event)


class TwoStep(TwoStepChallenges, Aggregate):
    class Opened(Aggregate.Created):
        account_id: UUID

    def __init__(self, account_id: UUID) -> None:
        self.account_id = account_id
        self.enrolled = {}
        self.steps = {}
        self.backup_set = None
        self.backup_codes = ()
        self.backup_used = frozenset()
        self.passwords = {}
        self.challenges = {}
        self.failures = 0
        self.locked_until = None

    @classmethod
    def open(cls, account_id: UUID, *, at: datetime) -> TwoStep:
        return cls._create(
            cls.Opened,
            id=ids.two_step_id(account_id),
            timestamp=utc(at),
            account_id=account_id,
        )

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
        method, label, number = self._check_enrolment(factor_id, kind, label, phone)
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
        self._check_confirmation(factor_id, step, at)
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
        self._check_totp(factor_id, step, at)
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
        set_id = self._check_backup_code(index, at)
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
        failures, until = self._check_failure(at, policy)
        return self._record(
            self.SecondFactorFailed,
            at,
            failures=failures,
            locked_until=until,
            notify=until is not None,
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
        name = self._check_app_password(app_id, name)
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
        recorded = self._use_to_record(app_id, protocol, at)
        if recorded is None:
            return None
        return self._record(self.AppPasswordUsed, at, app_id=app_id, protocol=recorded)

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

    # -- challenges: push, SMS, security key (domain/twostepchallenges.py) ---------------

    # Stored under this class's topics; fields, effects and commands are the mixin's.
    class PushIssued(TwoStepChallenges.PushIssued):
        pass

    class PushApproved(TwoStepChallenges.PushApproved):
        pass

    class PushDenied(TwoStepChallenges.PushDenied):
        pass

    class SmsCodeIssued(TwoStepChallenges.SmsCodeIssued):
        pass

    class SmsCodeUsed(TwoStepChallenges.SmsCodeUsed):
        pass

    class KeyChallengeIssued(TwoStepChallenges.KeyChallengeIssued):
        pass

    class KeyChallengeUsed(TwoStepChallenges.KeyChallengeUsed):
        pass

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
        challenge = self._open_challenge(challenge_id, ChallengeKind.PUSH, at)
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
