"""Push, SMS and security-key challenges: issued, answered, checked once (MFA-1).

Each challenge is a fact in the TwoStep aggregate (issued, expiring, single use, rate
limited); what must stay secret lives in the credential store: an SMS code sealed under
the challenge's id (a job unseals it to send it, the check unseals it to compare), a
WebAuthn challenge's random bytes, a key's public key and signature counter. Nothing
secret is in an event or a job's arguments (SEC-6).
"""

from __future__ import annotations

import base64
import hmac
import secrets
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from typing import TypeVar
from uuid import UUID, uuid4

from attrs import frozen

from application.challengefacts import (
    CHALLENGE_BYTES,
    SMS_DIGITS,
    Issue,
    SecurityKeyRefused,
    StoredKey,
    WrongPushNumber,
    bounded_response,
    key_row,
    push_row,
    push_use,
    response_id,
    sms_context,
)
from application.credentials import staged_secret
from application.log import MailHostLog
from application.ports import Clock, CredentialStore, Sealer
from application.secondfactor import SecondFactorRefused
from application.twostepports import (
    KeyRefused,
    RegisteredKey,
    SecurityKeys,
    TwoStepAdapters,
)
from domain.errors import InvalidInput, NotPermitted
from domain.ids import two_step_id
from domain.twostep import TwoStep
from domain.twostepfacts import ChallengeKind, ChallengeState, FactorKind, KeyPurpose

T = TypeVar("T")
__all__ = [
    "Challenges",
    "Issue",
    "SecurityKeyRefused",
    "StoredKey",
    "WrongPushNumber",
]


@frozen
class Challenges:
    log: MailHostLog
    credentials: CredentialStore
    sealer: Sealer
    adapters: TwoStepAdapters
    clock: Clock

    def _update(self, account_id: UUID, decide: Callable[[TwoStep], T]) -> T:
        return self.log.update(two_step_id(account_id), TwoStep, "two-step", decide)

    @contextmanager
    def issuing(self, account_id: UUID, issue: Issue | None) -> Iterator[None]:
        """The issue's rows stored for the block that saves it; taken back on refusal."""
        owner = two_step_id(account_id)
        with ExitStack() as stack:
            for row, value in () if issue is None else issue.rows:
                stack.enter_context(
                    staged_secret(self.credentials, row, value, owner=owner)
                )
            yield

    def _issued(self, account_id: UUID, issue: Issue) -> Issue:
        with self.issuing(account_id, issue):
            self._update(account_id, issue.decide)
        return issue

    # -- push ---------------------------------------------------------------------------

    def push_issue(self, factor_id: UUID | None = None) -> Issue:
        """A push to the user's app and the number to show beside the login (matching).

        The number is shown by the sign-in page only; the push names the challenge,
        and the user types the number on the device (``answer_push``). ``factor_id``:
        the push that confirms a device being enrolled (not yet confirmed). Its row
        says what it may be used for, once (``push_approved``).
        """
        challenge_id = uuid4()
        number = 10 + secrets.randbelow(90)
        policy = self.adapters.policy

        def decide(two_step: TwoStep) -> None:
            if factor_id is None:
                self._needs(two_step, FactorKind.PUSH)
            else:
                two_step.factor(factor_id)
            at = self.clock.now()
            two_step.issue_push(
                challenge_id, number, at + policy.push_expiry, policy, at=at
            )

        row = (push_row(challenge_id), push_use(factor_id))
        return Issue(challenge_id, decide, (row,), number)

    def issue_push(
        self, account_id: UUID, factor_id: UUID | None = None
    ) -> tuple[UUID, int]:
        """Issue ``push_issue``: the challenge and the number the page shows."""
        issue = self._issued(account_id, self.push_issue(factor_id))
        return issue.challenge_id, int(issue.number or 0)

    def answer_push(
        self, account_id: UUID, challenge_id: UUID, *, approved: bool, number: int
    ) -> None:
        """The device's answer; a wrong number is refused and counted (push-bombing).

        The denial and the failure are saved first, then ``WrongPushNumber`` tells the
        device: a guess is never silently taken for a yes.
        """
        answer = self._update(
            account_id,
            lambda t: t.answer_push(
                challenge_id,
                approved,
                number,
                at=self.clock.now(),
                policy=self.adapters.policy,
            ),
        )
        if isinstance(answer, TwoStep.PushDenied) and answer.wrong_number:
            raise WrongPushNumber

    def push_approved(
        self, account_id: UUID, challenge_id: UUID, factor_id: UUID | None = None
    ) -> None:
        """Use up the push the device approved, or refuse: single use (rule MFA-1).

        A push issued for a sign-in (``factor_id`` None) signs in once; one issued to
        confirm a device confirms that factor once. Its row is taken atomically, so of
        two racing uses only one finds it. A push not approved yet is left untouched.
        """
        two_step = self.log.load(two_step_id(account_id), TwoStep, "two-step")
        challenge = two_step.challenges.get(challenge_id)
        if (
            challenge is None
            or challenge.kind is not ChallengeKind.PUSH
            or challenge.state is not ChallengeState.APPROVED
        ):
            raise SecondFactorRefused("the push was not approved on your device")
        row = push_row(challenge_id)
        if (
            self.credentials.secret(row) != push_use(factor_id)
            or self.credentials.take_secret(row) is None
        ):
            raise SecondFactorRefused(
                "this approved push was used already or was for another request"
            )

    # -- SMS ----------------------------------------------------------------------------

    def sms_issue(self, factor_id: UUID | None = None) -> Issue:
        """A code sealed in the credential store, sent by a job (never in the event)."""
        challenge_id = uuid4()
        credential_id = uuid4()
        code = f"{secrets.randbelow(10**SMS_DIGITS):0{SMS_DIGITS}d}"
        sealed = self.sealer.seal(code.encode(), context=sms_context(challenge_id))
        policy = self.adapters.policy

        def decide(two_step: TwoStep) -> None:
            if factor_id is None:
                self._needs(two_step, FactorKind.SMS)
            at = self.clock.now()
            two_step.issue_sms_code(
                challenge_id,
                credential_id,
                at + policy.sms_expiry,
                policy,
                at=at,
            )

        return Issue(challenge_id, decide, ((credential_id, sealed),))

    def issue_sms(self, account_id: UUID, factor_id: UUID | None = None) -> UUID:
        """Issue ``sms_issue``: the challenge the code belongs to."""
        return self._issued(account_id, self.sms_issue(factor_id)).challenge_id

    def sms_code(self, account_id: UUID, challenge_id: UUID) -> str | None:
        """The code to send (for the sending job), or None when used or gone."""
        two_step = self.log.find(two_step_id(account_id), TwoStep)
        challenge = None if two_step is None else two_step.challenges.get(challenge_id)
        if challenge is None or challenge.credential_id is None:
            return None
        sealed = self.credentials.secret(challenge.credential_id)
        if sealed is None:
            return None
        return self.sealer.unseal(sealed, context=sms_context(challenge_id)).decode()

    def check_sms(self, account_id: UUID, challenge_id: UUID, code: str) -> bool:
        """True once for the right code; the row is taken so no second check matches."""
        expected = self.sms_code(account_id, challenge_id)
        if expected is None or not hmac.compare_digest(
            expected.encode(), code.encode()
        ):
            return False
        self._update(
            account_id, lambda t: t.use_sms_code(challenge_id, at=self.clock.now())
        )
        two_step = self.log.load(two_step_id(account_id), TwoStep, "two-step")
        row = two_step.challenges[challenge_id].credential_id
        if row is not None:
            self.credentials.forget_secret(row)
        return True

    # -- security keys ------------------------------------------------------------------

    def keys(self) -> SecurityKeys:
        if self.adapters.keys is None:
            raise NotPermitted("security keys are not configured on this server")
        return self.adapters.keys

    def issue_key_challenge(
        self, account_id: UUID, purpose: KeyPurpose
    ) -> tuple[UUID, bytes]:
        keys = self.keys()
        del keys
        challenge_id = uuid4()
        challenge = secrets.token_bytes(CHALLENGE_BYTES)
        encoded = base64.urlsafe_b64encode(challenge).decode()
        policy = self.adapters.policy

        def decide(two_step: TwoStep) -> None:
            if purpose is KeyPurpose.AUTHENTICATE:
                self._needs(two_step, FactorKind.SECURITY_KEY)
            at = self.clock.now()
            two_step.issue_key_challenge(
                challenge_id, purpose, at + policy.challenge_expiry, at=at
            )

        owner = two_step_id(account_id)
        with staged_secret(
            self.credentials, key_row(challenge_id), encoded, owner=owner
        ):
            self._update(account_id, decide)
        return challenge_id, challenge

    def _open_key_challenge(
        self, account_id: UUID, challenge_id: UUID, purpose: KeyPurpose
    ) -> tuple[str, bytes]:
        """The stored row and bytes of a pending, unexpired challenge for ``purpose``,
        left in place: a response that does not verify uses nothing up."""
        two_step = self.log.load(two_step_id(account_id), TwoStep, "two-step")
        challenge = two_step.challenges.get(challenge_id)
        raw = self.credentials.secret(key_row(challenge_id))
        if (
            challenge is None
            or challenge.kind is not ChallengeKind.KEY
            or challenge.purpose is not purpose
            or not challenge.is_open(self.clock.now())
            or raw is None
        ):
            raise SecondFactorRefused("this security-key challenge was used or expired")
        return raw, base64.urlsafe_b64decode(raw)

    def _use_key_challenge(self, account_id: UUID, challenge_id: UUID) -> None:
        """After the response verified: taken at once (only one of two racing
        responses finds the row), then recorded as used."""
        if self.credentials.take_secret(key_row(challenge_id)) is None:
            raise SecondFactorRefused("this security-key challenge was used or expired")
        self._update(
            account_id,
            lambda t: t.use_key_challenge(challenge_id, at=self.clock.now()),
        )

    def verify_registration(
        self, account_id: UUID, challenge_id: UUID, response_json: str
    ) -> RegisteredKey:
        """A new key's registration checked against its challenge, then the challenge
        used; a refused one (another origin, another challenge) changes nothing."""
        keys = self.keys()
        bounded_response(response_json)
        _, challenge = self._open_key_challenge(
            account_id, challenge_id, KeyPurpose.REGISTER
        )
        try:
            registered = keys.verify_registration(
                response_json, challenge, self.adapters.origins, self.adapters.rp_id
            )
        except KeyRefused as refused:
            raise InvalidInput(str(refused)) from None
        self._use_key_challenge(account_id, challenge_id)
        return registered

    def verify_key(
        self, account_id: UUID, challenge_id: UUID, response_json: str
    ) -> UUID:
        """Check an assertion against the key it names; the factor id it came from.

        The challenge is used up only once the assertion verified, so a response for
        another origin or challenge changes nothing; then it is taken atomically, so a
        replay (the only stop for a key whose counter stays 0) finds none. The counter
        moves by compare-and-set: two assertions racing on one stored count cannot
        both advance it. A count not above the stored one is a cloned key: refused,
        recorded (a mail follows) and counted as a failure.
        """
        keys = self.keys()
        bounded_response(response_json)
        claimed = response_id(response_json)
        _, challenge = self._open_key_challenge(
            account_id, challenge_id, KeyPurpose.AUTHENTICATE
        )
        two_step = self.log.load(two_step_id(account_id), TwoStep, "two-step")
        for factor in two_step.confirmed_factors:
            if factor.kind is not FactorKind.SECURITY_KEY:
                continue
            raw = self.credentials.secret(factor.credential_id)
            if raw is None:
                continue
            stored = StoredKey.decoded(raw)
            if claimed != stored.credential_id_b64:
                continue
            try:
                count = keys.verify_authentication(
                    response_json,
                    challenge,
                    self.adapters.origins,
                    self.adapters.rp_id,
                    RegisteredKey(
                        stored.credential_id_b64,
                        stored.public_key_b64,
                        stored.sign_count,
                    ),
                )
            except KeyRefused as refused:
                if refused.reason == "clone_suspected":
                    self._clone_suspected(account_id, factor.factor_id)
                raise SecurityKeyRefused(refused.reason, str(refused)) from None
            self._use_key_challenge(account_id, challenge_id)
            moved = StoredKey(stored.credential_id_b64, stored.public_key_b64, count)
            if not self.credentials.swap_secret(
                factor.credential_id, raw, moved.encoded()
            ):
                raise SecondFactorRefused("the security key was used at the same time")
            return factor.factor_id
        raise SecurityKeyRefused(
            "unknown_key", "this security key is not registered for the account"
        )

    def _clone_suspected(self, account_id: UUID, factor_id: UUID) -> None:
        """Recorded (a notice mail follows) and counted as a failed second factor."""

        def decide(two_step: TwoStep) -> None:
            at = self.clock.now()
            two_step.record_clone_suspected(factor_id, at=at)
            if not two_step.is_locked(at):
                two_step.fail(at, self.adapters.policy)

        self._update(account_id, decide)

    @staticmethod
    def _needs(two_step: TwoStep, kind: FactorKind) -> None:
        if not any(f.kind is kind for f in two_step.confirmed_factors):
            raise InvalidInput(f"no confirmed {kind.value.replace('_', ' ')} factor")
