"""Checking a second factor: a TOTP code or a backup code, counted and locking.

Shared by the login (``application.loginflow``) and by re-authentication before a
sensitive change (``application.twostep``). The aggregate decides: it refuses a time
step at or below the last accepted one (MFA-3), a used backup code (MFA-2), and any try
while the factor is locked; this module only finds which step or which code matched.
Two processes checking the same code load the same version: one save wins, the other is
decided again on fresh state and refused, so a code is accepted exactly once.
"""

from __future__ import annotations

import contextlib
from uuid import UUID

from attrs import frozen

from application.log import MailHostLog
from application.ports import Clock, CredentialStore, Sealer
from application.twostepports import TwoStepAdapters
from domain.errors import AlreadyExists, InvalidInput, NotPermitted
from domain.ids import two_step_id
from domain.twostep import TwoStep
from domain.twostepfacts import FactorKind

TOTP_DIGITS = 6
MAX_CODE = 64  # longer than any code typed with spaces: refused unread


class SecondFactorRefused(NotPermitted):
    """A wrong, replayed or late second factor; the password was right."""


class SecondFactorLocked(NotPermitted):
    """Too many wrong second factors in a row: locked for a while (no code is checked)."""

    def __init__(self) -> None:
        super().__init__(
            "too many wrong codes: two-step verification is locked for a while; "
            "try again later"
        )


def seed_context(factor_id: UUID) -> str:
    """The sealing context of a TOTP seed: a row moved to another factor does not open."""
    return f"mailhost/totp-seed:{factor_id}"


def is_totp_code(code: str) -> bool:
    return len(code) == TOTP_DIGITS and code.isascii() and code.isdigit()


@frozen
class SecondFactor:
    log: MailHostLog
    credentials: CredentialStore
    sealer: Sealer
    adapters: TwoStepAdapters
    clock: Clock

    def find(self, account_id: UUID) -> TwoStep | None:
        return self.log.find(two_step_id(account_id), TwoStep)

    def enabled(self, account_id: UUID) -> bool:
        two_step = self.find(account_id)
        return two_step is not None and two_step.enabled

    def check_code(self, account_id: UUID, code: str) -> str:
        """Accept ``code`` (TOTP or backup) once, or count a failure and refuse it.

        Returns which kind matched (``"totp"`` or ``"backup"``). A malformed code is
        ``InvalidInput`` and counts nothing: it could be no one's code.
        """
        code = _typed(code)
        totp = is_totp_code(code)
        digest = None if totp else self.adapters.backup_codes.digest(code)
        del digest  # only its refusal of a malformed code mattered
        used: list[UUID] = []

        def attempt() -> str | None:
            used.clear()
            at = self.clock.now()
            two_step = self.log.load(two_step_id(account_id), TwoStep, "two-step")
            if two_step.is_locked(at):
                raise SecondFactorLocked
            matched = (
                self._totp(two_step, code)
                if totp
                else self._backup(two_step, code, used)
            )
            if matched is None:
                two_step.fail(at=at, policy=self.adapters.policy)
            self.log.save(two_step)
            return matched

        matched = self.log.retrying(attempt)
        if matched is None:
            raise SecondFactorRefused("the code is wrong, expired or was already used")
        for credential_id in used:
            # The used code's digest is of no further use: the aggregate refuses it.
            self.credentials.forget_secret(credential_id)
        return matched

    def _totp(self, two_step: TwoStep, code: str) -> str | None:
        at = self.clock.now()
        policy = self.adapters.policy
        for factor in two_step.confirmed_factors:
            if factor.kind is not FactorKind.TOTP:
                continue
            seed = self.seed(factor.factor_id, factor.credential_id)
            step = self.adapters.totp.matching_step(
                seed, code, at, policy.totp_drift_steps
            )
            if step is None:
                continue
            try:
                two_step.accept_totp(factor.factor_id, step, at=at)  # rule MFA-3
            except NotPermitted:
                return None  # a replay: refused, and counted as a failure
            return "totp"
        return None

    def _backup(self, two_step: TwoStep, code: str, used: list[UUID]) -> str | None:
        at = self.clock.now()
        for index, credential_id in two_step.unused_backup_codes:
            digest = self.credentials.secret(credential_id)
            if digest is not None and self.adapters.backup_codes.matches(code, digest):
                two_step.use_backup_code(index, at=at)  # rule MFA-2: once
                used.append(credential_id)
                return "backup"
        return None

    def seed(self, factor_id: UUID, credential_id: UUID) -> str:
        sealed = self.credentials.secret(credential_id)
        if sealed is None:
            raise NotPermitted("this authenticator app's secret is missing")
        return self.sealer.unseal(sealed, context=seed_context(factor_id)).decode()


def _typed(code: str) -> str:
    """The code as typed, blanks dropped; anything no code could be is refused."""
    if not isinstance(code, str) or len(code) > MAX_CODE or not code.isprintable():
        raise InvalidInput("the code is malformed")
    stripped = "".join(code.split())
    if not stripped:
        raise InvalidInput("the code is empty")
    return stripped


def opened(log: MailHostLog, account_id: UUID, clock: Clock) -> UUID:
    """The account's TwoStep aggregate, opened on first use; its id."""
    key = two_step_id(account_id)
    if not log.exists(key):
        with contextlib.suppress(AlreadyExists):
            log.create(TwoStep.open(account_id, at=clock.now()), what="two-step")
    return key
