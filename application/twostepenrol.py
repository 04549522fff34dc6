"""Enrolling a factor and issuing backup codes (MFA-1, MFA-2, MFA-5).

A TOTP seed is sealed (the engine's key, bound to the factor id) into the credential
store before the event that names it is saved; the provisioning URI is returned this
once and never stored. Backup codes are stored as keyed digests, one row each; a new
set voids the old one, whose rows are then deleted.
"""

from __future__ import annotations

from typing import Any
from uuid import UUID, uuid4

from attrs import evolve, frozen

from application.challenges import Challenges, Issue, StoredKey
from application.credentials import staged_secret
from application.log import MailHostLog
from application.ports import Clock, CredentialStore, Sealer
from application.secondfactor import (
    SecondFactor,
    SecondFactorRefused,
    opened,
    seed_context,
)
from application.twostepports import TwoStepAdapters
from domain.errors import InvalidInput
from domain.twostep import TwoStep
from domain.twostepfacts import (
    DEFAULT_LABELS,
    FactorKind,
    KeyPurpose,
    sms_number,
)


@frozen
class Enrolment:
    """What the user sees once: the URI (TOTP), the options (key), the backup codes.

    ``challenge_id`` is the SMS code sent, the push sent or the key challenge that
    confirms the factor; ``number`` is the push's number, shown beside the enrolment
    for the user to type on the device (number matching, ASVS 6.6.4).
    """

    factor_id: UUID
    kind: FactorKind
    otpauth_uri: str | None = None
    key_options: dict[str, Any] | None = None
    challenge_id: UUID | None = None
    backup_codes: tuple[str, ...] = ()
    number: int | None = None


def parse_kind(method: str) -> FactorKind:
    try:
        return FactorKind(method.strip().lower().replace("-", "_"))
    except ValueError:
        names = ", ".join(k.value for k in FactorKind)
        raise InvalidInput(
            f"unknown two-step method {method!r}: one of {names}"
        ) from None


def _phone(kind: FactorKind, phone: str | None) -> str | None:
    """The E.164 number of an SMS factor (none for the others)."""
    if kind is not FactorKind.SMS:
        if phone is not None:
            raise InvalidInput("a phone number is for the sms method only")
        return None
    if phone is None:
        raise InvalidInput("the sms method needs a mobile phone number")
    return sms_number(phone)  # rule MFA-1: CH, FR, BE, DE mobiles only


@frozen
class FactorProof:
    """What the user gave to prove a new factor; which part counts is the factor's.

    A code for an authenticator app or an SMS factor (with the SMS ``challenge_id``), a
    registration ``key_response`` for a security key (with its ``challenge_id``), an
    approved ``push`` for a push device.
    """

    code: str | None = None
    key_response: str | None = None
    push: UUID | None = None
    challenge_id: UUID | None = None


@frozen
class Enrolling:
    log: MailHostLog
    credentials: CredentialStore
    sealer: Sealer
    adapters: TwoStepAdapters
    clock: Clock
    second: SecondFactor
    challenges: Challenges

    def start(
        self,
        account_id: UUID,
        login: str,
        kind: FactorKind,
        *,
        label: str = "",
        phone: str | None = None,
    ) -> Enrolment:
        key = opened(self.log, account_id, self.clock)
        factor_id = uuid4()
        credential_id = uuid4()
        name = label or DEFAULT_LABELS[kind]
        number = _phone(kind, phone)
        uri, secret = self._secret(kind, factor_id, login)
        # The code or push that proves the new factor is issued in the same save, so
        # a refusal (the rate limit, MFA-1) leaves no unconfirmed factor behind.
        issue: Issue | None = None
        if kind is FactorKind.SMS:
            issue = self.challenges.sms_issue(factor_id)
        elif kind is FactorKind.PUSH:
            issue = self.challenges.push_issue(factor_id)

        def decide(two_step: TwoStep) -> None:
            two_step.start_enrolment(
                factor_id, kind, name, credential_id, number, at=self.clock.now()
            )
            if issue is not None:
                issue.decide(two_step)

        with (
            staged_secret(self.credentials, credential_id, secret, owner=key),
            self.challenges.issuing(account_id, issue),
        ):
            self.log.update(key, TwoStep, "two-step", decide)
        enrolment = Enrolment(factor_id, kind, otpauth_uri=uri)
        if issue is not None:
            enrolment = evolve(
                enrolment, challenge_id=issue.challenge_id, number=issue.number
            )
        elif kind is FactorKind.SECURITY_KEY:
            challenge_id, challenge = self.challenges.issue_key_challenge(
                account_id, KeyPurpose.REGISTER
            )
            options = self.challenges.keys().registration_options(
                account_id.bytes, login, challenge, self.key_ids(key)
            )
            enrolment = evolve(
                enrolment, key_options=options, challenge_id=challenge_id
            )
        two_step = self.log.load(key, TwoStep, "two-step")
        if two_step.backup_set is None:  # rule MFA-2: shown once, with the first factor
            codes = self.issue_backup_codes(account_id)
            enrolment = evolve(enrolment, backup_codes=tuple(codes))
        return enrolment

    def _secret(
        self, kind: FactorKind, factor_id: UUID, login: str
    ) -> tuple[str | None, str]:
        """The provisioning URI (TOTP only) and what the factor's row starts with."""
        if kind is FactorKind.TOTP:
            seed = self.adapters.totp.new_seed()
            uri = self.adapters.totp.provisioning_uri(seed, login, self.adapters.issuer)
            sealed = self.sealer.seal(seed.encode(), context=seed_context(factor_id))
            return uri, sealed
        if kind is FactorKind.SECURITY_KEY:
            self.challenges.keys()  # refused before anything is stored
            return None, StoredKey("", "", 0).encoded()  # filled in by the registration
        return None, "{}"

    def key_ids(self, key: UUID) -> list[str]:
        two_step = self.log.load(key, TwoStep, "two-step")
        ids = []
        for factor in two_step.confirmed_factors:
            raw = self.credentials.secret(factor.credential_id)
            if factor.kind is FactorKind.SECURITY_KEY and raw is not None:
                ids.append(StoredKey.decoded(raw).credential_id_b64)
        return ids

    def confirm(self, account_id: UUID, factor_id: UUID, proof: FactorProof) -> None:
        """The first proof of a new factor: a code (TOTP, SMS), a key or a push."""
        code, key_response = proof.code, proof.key_response
        push, challenge_id = proof.push, proof.challenge_id
        key = opened(self.log, account_id, self.clock)
        factor = self.log.load(key, TwoStep, "two-step").factor(factor_id)
        step: int | None = None
        if factor.kind is FactorKind.TOTP:
            step = self._totp_step(factor_id, factor.credential_id, code)
        elif factor.kind is FactorKind.SMS:
            if code is None or challenge_id is None:
                raise InvalidInput("an SMS factor is confirmed with the code sent")
            if not self.challenges.check_sms(account_id, challenge_id, code.strip()):
                self._fail(key)
        elif factor.kind is FactorKind.PUSH:
            if push is None:
                raise InvalidInput("a push factor is confirmed by an approved push")
            self.challenges.push_approved(account_id, push, factor_id)
        else:
            self._register(account_id, factor.credential_id, key_response, challenge_id)
        self.log.update(
            key, TwoStep, "two-step",
            lambda t: t.confirm(factor_id, step, at=self.clock.now()),
        )  # fmt: skip

    def _totp_step(self, factor_id: UUID, credential_id: UUID, code: str | None) -> int:
        if code is None or not code.strip():
            raise InvalidInput("an authenticator app is confirmed with a code")
        seed = self.second.seed(factor_id, credential_id)
        step = self.adapters.totp.matching_step(
            seed, code.strip(), self.clock.now(), self.adapters.policy.totp_drift_steps
        )
        if step is None:
            raise InvalidInput("the code does not match the new authenticator app")
        return step

    def _fail(self, key: UUID) -> None:
        self.log.update(
            key, TwoStep, "two-step",
            lambda t: t.fail(self.clock.now(), self.adapters.policy),
        )  # fmt: skip
        raise SecondFactorRefused("the code is wrong or expired")

    def _register(
        self,
        account_id: UUID,
        credential_id: UUID,
        key_response: str | None,
        challenge_id: UUID | None,
    ) -> None:
        if key_response is None or challenge_id is None:
            raise InvalidInput("a security key is confirmed with its registration")
        # Verified before the challenge is used: another origin's response leaves the
        # challenge usable and the log unchanged.
        registered = self.challenges.verify_registration(
            account_id, challenge_id, key_response
        )
        stored = StoredKey(
            registered.credential_id_b64,
            registered.public_key_b64,
            registered.sign_count,
        )
        if not self.credentials.swap_secret(
            credential_id, StoredKey("", "", 0).encoded(), stored.encoded()
        ):
            raise InvalidInput("this security key was registered already")

    def issue_backup_codes(self, account_id: UUID) -> list[str]:
        """A new set, shown once; the old set's rows deleted once the new one is saved."""
        key = opened(self.log, account_id, self.clock)
        codes = self.adapters.backup_codes.generate(self.adapters.policy.backup_codes)
        rows = tuple(uuid4() for _ in codes)
        stored: list[UUID] = []
        try:
            for row, code in zip(rows, codes, strict=True):
                digest = self.adapters.backup_codes.digest(code)
                self.credentials.put_secret(row, digest, owner=key)
                stored.append(row)
            old = self.log.load(key, TwoStep, "two-step").backup_codes
            set_id = uuid4()
            self.log.update(
                key, TwoStep, "two-step",
                lambda t: t.issue_backup_codes(set_id, rows, at=self.clock.now()),
            )  # fmt: skip
        except BaseException:
            for row in stored:
                self.credentials.forget_secret(row)
            raise
        for row in old:
            self.credentials.forget_secret(row)
        return codes
