"""The one-time challenges of two-step verification: a push, an SMS code, a key.

Each challenge is issued under a rate limit, answered once before it expires, and then
settled; only the push is answered here in part (a wrong number counts as a failed
second factor, which the aggregate records). The events are declared with their fields
and effects here; :class:`domain.twostep.TwoStep` stores them as its own nested
subclasses, so their topics name the aggregate (tests/unit/test_stored_topics.py).
"""

from __future__ import annotations

from abc import abstractmethod
from datetime import datetime
from typing import Any, TypeVar
from uuid import UUID

from attrs import evolve
from eventsourcing.domain import Aggregate

from domain.twostepfacts import (
    DEFAULT_POLICY,
    Challenge,
    ChallengeKind,
    ChallengeState,
    KeyPurpose,
    TwoStepPolicy,
    kept_challenges,
)
from domain.twosteprecord import TwoStepRecord

E = TypeVar("E", bound=Aggregate.Event)


class TwoStepChallenges(TwoStepRecord):
    @abstractmethod
    def _record(self, event_class: type[E], at: datetime, **fields: Any) -> E:  # noqa: ANN401 - the event's own fields
        """Trigger ``event_class`` at ``at`` and return it: the aggregate records."""

    class PushIssued(Aggregate.Event):
        challenge_id: UUID
        number: int
        expires_at: datetime

        def apply(self, aggregate: TwoStepChallenges) -> None:
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
        shown, until = self._check_push(challenge_id, number, expires_at, policy, at)
        return self._issued(self.PushIssued, challenge_id, until, at, number=shown)

    class PushApproved(Aggregate.Event):
        challenge_id: UUID

        def apply(self, aggregate: TwoStepChallenges) -> None:
            aggregate._settle(self.challenge_id, ChallengeState.APPROVED)
            aggregate.failures = 0

    class PushDenied(Aggregate.Event):
        challenge_id: UUID
        wrong_number: bool

        def apply(self, aggregate: TwoStepChallenges) -> None:
            aggregate._settle(self.challenge_id, ChallengeState.DENIED)

    class SmsCodeIssued(Aggregate.Event):
        challenge_id: UUID
        credential_id: UUID
        expires_at: datetime

        def apply(self, aggregate: TwoStepChallenges) -> None:
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
        until = self._check_sms(challenge_id, expires_at, policy, at)
        return self._issued(
            self.SmsCodeIssued, challenge_id, until, at, credential_id=credential_id
        )

    class SmsCodeUsed(Aggregate.Event):
        challenge_id: UUID

        def apply(self, aggregate: TwoStepChallenges) -> None:
            aggregate._settle(self.challenge_id, ChallengeState.USED)
            aggregate.failures = 0

    def use_sms_code(self, challenge_id: UUID, *, at: datetime) -> SmsCodeUsed:
        """The code sent matched: it works once, before it expires."""
        self._check_use(challenge_id, ChallengeKind.SMS, at)
        return self._record(self.SmsCodeUsed, at, challenge_id=challenge_id)

    class KeyChallengeIssued(Aggregate.Event):
        challenge_id: UUID
        purpose: KeyPurpose
        expires_at: datetime

        def apply(self, aggregate: TwoStepChallenges) -> None:
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
        purpose, until = self._check_key_challenge(
            challenge_id, purpose, expires_at, policy, at
        )
        return self._issued(
            self.KeyChallengeIssued, challenge_id, until, at, purpose=purpose
        )

    class KeyChallengeUsed(Aggregate.Event):
        challenge_id: UUID

        def apply(self, aggregate: TwoStepChallenges) -> None:
            used = aggregate._settle(self.challenge_id, ChallengeState.USED)
            if used.purpose is KeyPurpose.AUTHENTICATE:
                aggregate.failures = 0

    def use_key_challenge(
        self, challenge_id: UUID, *, at: datetime
    ) -> KeyChallengeUsed:
        """The response to the challenge verified; it never verifies again (for a key
        whose counter stays 0, single use is what stops a replay)."""
        self._check_use(challenge_id, ChallengeKind.KEY, at)
        return self._record(self.KeyChallengeUsed, at, challenge_id=challenge_id)

    def _issued(
        self,
        event_class: type[E],
        challenge_id: UUID,
        expires_at: datetime,
        at: datetime,
        **fact: Any,  # noqa: ANN401 - what the kind of challenge adds
    ) -> E:
        """Record a challenge issued; ``fact`` is its kind's own (a number, a purpose)."""
        return self._record(
            event_class, at, challenge_id=challenge_id, expires_at=expires_at, **fact
        )

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
