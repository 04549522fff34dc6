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
import json
import secrets
from collections.abc import Callable
from typing import Any, TypeVar
from uuid import UUID, uuid4, uuid5

from attrs import frozen

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
CHALLENGE_NAMESPACE = UUID("a41f2b7e-9c3d-5e08-b6f1-0d2c4e6a8b13")
CHALLENGE_BYTES = 32  # WebAuthn asks for at least 16 random bytes
SMS_DIGITS = 6
MAX_RESPONSE = 64 * 1024


def sms_context(challenge_id: UUID) -> str:
    return f"mailhost/sms-code:{challenge_id}"


def key_row(challenge_id: UUID) -> UUID:
    """The credential row of a WebAuthn challenge's bytes, derived from its id."""
    return uuid5(CHALLENGE_NAMESPACE, f"key-challenge:{challenge_id}")


class SecurityKeyRefused(SecondFactorRefused):
    """A security key's response refused; ``reason`` names why (``clone_suspected``,
    ``wrong_origin``, ``wrong_challenge``...), as the SecurityKeys port does."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


class WrongPushNumber(SecondFactorRefused):
    """The device approved with a number the sign-in page did not show."""

    def __init__(self) -> None:
        super().__init__(
            "the number does not match the one shown on the sign-in page: refused"
        )


@frozen
class StoredKey:
    """A registered key's public half, as its credential row holds it (JSON)."""

    credential_id_b64: str
    public_key_b64: str
    sign_count: int

    def encoded(self) -> str:
        return json.dumps(
            [self.credential_id_b64, self.public_key_b64, self.sign_count]
        )

    @classmethod
    def decoded(cls, raw: str) -> StoredKey:
        cid, key, count = json.loads(raw)
        return cls(str(cid), str(key), int(count))


@frozen
class Challenges:
    log: MailHostLog
    credentials: CredentialStore
    sealer: Sealer
    adapters: TwoStepAdapters
    clock: Clock

    def _update(self, account_id: UUID, decide: Callable[[TwoStep], T]) -> T:
        return self.log.update(two_step_id(account_id), TwoStep, "two-step", decide)

    # -- push ---------------------------------------------------------------------------

    def issue_push(
        self, account_id: UUID, factor_id: UUID | None = None
    ) -> tuple[UUID, int]:
        """A push to the user's app; the number to show beside the login (matching).

        The number is shown by the sign-in page only; the push names the challenge,
        and the user types the number on the device (``answer_push``). ``factor_id``:
        the push that confirms a device being enrolled (not yet confirmed).
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

        self._update(account_id, decide)
        return challenge_id, number

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

    def push_approved(self, account_id: UUID, challenge_id: UUID) -> None:
        """Refused unless the device approved this very challenge."""
        two_step = self.log.load(two_step_id(account_id), TwoStep, "two-step")
        challenge = two_step.challenges.get(challenge_id)
        if challenge is None or challenge.state is not ChallengeState.APPROVED:
            raise SecondFactorRefused("the push was not approved on your device")

    # -- SMS ----------------------------------------------------------------------------

    def issue_sms(self, account_id: UUID, factor_id: UUID | None = None) -> UUID:
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

        owner = two_step_id(account_id)
        with staged_secret(self.credentials, credential_id, sealed, owner=owner):
            self._update(account_id, decide)
        return challenge_id

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
        _bounded(response_json)
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
        _bounded(response_json)
        claimed = _response_id(response_json)
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
                    stored.public_key_b64,
                    stored.sign_count,
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


def _bounded(response_json: str) -> None:
    if not isinstance(response_json, str) or len(response_json) > MAX_RESPONSE:
        raise InvalidInput("the security-key response is malformed")


def _response_id(response_json: str) -> str:
    try:
        data: Any = json.loads(response_json)
    except ValueError:
        raise InvalidInput("the security-key response is not JSON") from None
    if not isinstance(data, dict) or not isinstance(data.get("id"), str):
        raise InvalidInput("the security-key response names no credential id")
    return str(data["id"])
