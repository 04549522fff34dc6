"""``MailHost.twostep``: two-step verification as a user and a support desk use it.

Every change (a factor enrolled or removed, two-step disabled, backup codes renewed, an
app password created or revoked) needs a fresh re-authentication: the account password
and, once two-step verification is on, a second factor; or a session that did so within
``reauth_window``. Each change is an event, and each such event mails a notice (a job,
``application.twostepnotices``) and shows in recent activity (SEC-3).
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

from attrs import frozen

from application.accounts import Accounts
from application.apppasswords import AppPasswords, AppPasswordView, CreatedAppPassword
from application.challenges import Challenges
from application.context import identified, self_service
from application.logincontext import account_key
from application.loginflow import PendingLogins
from application.secondfactor import SecondFactor
from application.twostepenrol import Enrolling, Enrolment, FactorProof, parse_kind
from domain.account import UserAccount
from domain.errors import NotPermitted
from domain.ids import two_step_id
from domain.organisation import Organisation
from domain.twostep import TwoStep
from domain.twostepfacts import Factor, FactorKind, KeyPurpose, sms_number


@frozen
class Reauth:
    """How a change proves the user is present: a password (and code), or a session
    that re-authenticated within the window."""

    password: str | None = None
    code: str | None = None
    session_token: str | None = None


@frozen
class TwoStepStatus:
    enabled: bool
    enforced: bool
    factors: tuple[Factor, ...]
    backup_codes_left: int
    locked: bool


@frozen
class TwoStepVerification:
    """The user's own two-step settings and the second step of their sign-in.

    No use case here takes a ``by``: each is proven by the user (a re-authentication,
    a pending sign-in's token, the new factor's or the device's answer), and the
    account proven is the actor its events record (``application.context``).
    """

    accounts: Accounts
    second: SecondFactor
    challenges: Challenges
    enrolling: Enrolling
    apps: AppPasswords
    pending: PendingLogins

    # -- re-authentication ------------------------------------------------------------

    @self_service
    def reauthenticate(
        self, session_token: str, password: str, code: str | None = None
    ) -> None:
        """Mark the session fresh: later changes within the window need nothing more."""
        record = self.accounts.session(session_token)
        identified(record.account_id)
        self._fresh(record.account_id, password, code)
        self.accounts.log.update(
            record.account_id,
            UserAccount,
            "account",
            lambda a: a.reauthenticate(record.session_id, at=self.accounts.clock.now()),
        )

    @self_service
    def require(self, login: str | UUID, auth: Reauth) -> UUID:
        """The account id once the user proved presence for a change, or NotPermitted."""
        account = self.accounts.get(login)
        identified(account.id)
        if auth.session_token is not None and auth.password is None:
            record = self.accounts.session(auth.session_token)
            window = self.second.adapters.policy.reauth_window
            now = self.accounts.clock.now()
            if record.account_id == account.id and account.recently_reauthenticated(
                record.session_id, now, window
            ):
                return account.id
            raise NotPermitted(
                "re-enter your password (and a code) for this change: the last "
                "confirmation is too old"
            )
        if auth.password is None:
            raise NotPermitted("this change needs the account password re-entered")
        self._fresh(account.id, auth.password, auth.code)
        return account.id

    def _fresh(self, account_id: UUID, password: str, code: str | None) -> None:
        self.accounts.require_password(account_id, password)
        self.accounts.require_second_factor(account_id, code)

    # -- status -----------------------------------------------------------------------

    def status(self, login: str | UUID) -> TwoStepStatus:
        account = self.accounts.get(login)
        two_step = self.second.find(account.id)
        org = self.accounts.log.find(account.organisation_id, Organisation)
        enforced = org is not None and org.enforces_two_step
        if two_step is None:
            return TwoStepStatus(False, enforced, (), 0, False)  # noqa: FBT003 - values
        return TwoStepStatus(
            two_step.enabled,
            enforced,
            two_step.factors,
            two_step.backup_remaining,
            two_step.is_locked(self.accounts.clock.now()),
        )

    # -- factors ----------------------------------------------------------------------

    @self_service
    def enrol(
        self,
        login: str | UUID,
        method: str,
        auth: Reauth,
        *,
        label: str = "",
        phone: str | None = None,
    ) -> Enrolment:
        """Start enrolling ``method`` (totp, push, security_key, sms); see ``Enrolment``.

        The first factor comes with the backup codes (shown this once, MFA-2).
        """
        kind = parse_kind(method)
        if kind is FactorKind.SMS and phone is not None:
            sms_number(phone)  # bad input refused before any code is spent (MFA-1)
        identified(_account_id(login))
        account_id = self.require(login, auth)
        account = self.accounts.get(account_id)
        return self.enrolling.start(
            account_id, account.login, kind, label=label, phone=phone
        )

    @self_service
    def confirm(
        self,
        login: str | UUID,
        factor_id: UUID,
        *,
        code: str | None = None,
        key_response: str | None = None,
        push: UUID | None = None,
        challenge_id: UUID | None = None,
    ) -> None:
        """Prove the new factor works; two-step verification is on from then."""
        account_id = self.accounts.get(login).id
        identified(account_id)
        proof = FactorProof(code, key_response, push, challenge_id)
        self.enrolling.confirm(account_id, factor_id, proof)

    @self_service
    def remove(self, login: str | UUID, factor_id: UUID, auth: Reauth) -> None:
        identified(_account_id(login))
        key = two_step_id(self.accounts.get(login).id)
        two_step = self.accounts.log.load(key, TwoStep, "two-step")
        others = [f for f in two_step.confirmed_factors if f.factor_id != factor_id]
        if not others:  # refused before the re-authentication records anything
            self._refuse_if_enforced(two_step.account_id)
        self.require(login, auth)
        factor = self.accounts.log.load(key, TwoStep, "two-step").factor(factor_id)
        self.accounts.log.update(
            key,
            TwoStep,
            "two-step",
            lambda t: t.remove(factor_id, at=self.accounts.clock.now()),
        )
        self.accounts.credentials.forget_secret(factor.credential_id)

    @self_service
    def disable(self, login: str | UUID, auth: Reauth) -> None:
        """Every factor, the backup codes and the app passwords gone."""
        identified(_account_id(login))
        self._refuse_if_enforced(self.accounts.get(login).id)
        account_id = self.require(login, auth)
        key = two_step_id(account_id)
        two_step = self.accounts.log.load(key, TwoStep, "two-step")
        rows = [f.credential_id for f in two_step.factors]
        rows += [a.credential_id for a in two_step.app_passwords]
        rows += list(two_step.backup_codes)
        self.accounts.log.update(
            key,
            TwoStep,
            "two-step",
            lambda t: t.disable(at=self.accounts.clock.now()),
        )
        for row in rows:
            self.accounts.credentials.forget_secret(row)

    def _refuse_if_enforced(self, account_id: UUID) -> None:
        """ORG-2: where the organisation enforces it, the last factor cannot go."""
        account = self.accounts.log.load(account_id, UserAccount, "account")
        org = self.accounts.log.find(account.organisation_id, Organisation)
        if org is not None and org.enforces_two_step:
            raise NotPermitted(
                "your organisation requires two-step verification (ORG-2): "
                "add another method before removing this one"
            )

    @self_service
    def regenerate_backup_codes(self, login: str | UUID, auth: Reauth) -> list[str]:
        """A new set of backup codes (shown once); the old set stops working."""
        identified(_account_id(login))
        return self.enrolling.issue_backup_codes(self.require(login, auth))

    # -- application passwords (MFA-4) ---------------------------------------------------

    @self_service
    def create_app_password(
        self, login: str | UUID, name: str, auth: Reauth
    ) -> CreatedAppPassword:
        identified(_account_id(login))
        return self.apps.create(self.require(login, auth), name)

    def app_passwords(self, login: str | UUID) -> list[AppPasswordView]:
        return self.apps.list(self.accounts.get(login).id)

    @self_service
    def revoke_app_password(
        self, login: str | UUID, app_id: UUID, auth: Reauth
    ) -> None:
        identified(_account_id(login))
        self.apps.revoke(self.require(login, auth), app_id)

    # -- the second step of a login: push, SMS, security key ------------------------------

    @self_service
    def start_push(self, pending_token: str) -> int:
        """Send a push for a pending sign-in; the number to show beside the login."""
        pending = self.pending.peek(pending_token, self.accounts.clock.now())
        identified(pending.account_id)
        challenge_id, number = self.challenges.issue_push(pending.account_id)
        self.pending.attach(pending, challenge_id)
        return number

    def push_challenge(self, pending_token: str) -> UUID | None:
        """The push started for a pending sign-in (what ``complete_login`` takes)."""
        return self.pending.peek(pending_token, self.accounts.clock.now()).challenge_id

    @self_service
    def answer_push(
        self, login: str | UUID, challenge_id: UUID, *, approved: bool, number: int
    ) -> None:
        """The user's device answers (number matching against push-bombing)."""
        account_id = self.accounts.get(login).id
        identified(account_id)
        self.challenges.answer_push(
            account_id, challenge_id, approved=approved, number=number
        )

    @self_service
    def start_sms(self, pending_token: str) -> None:
        """Send an SMS code for a pending sign-in (a job sends it, rate limited)."""
        pending = self.pending.peek(pending_token, self.accounts.clock.now())
        identified(pending.account_id)
        challenge_id = self.challenges.issue_sms(pending.account_id)
        self.pending.attach(pending, challenge_id)

    @self_service
    def key_options(self, pending_token: str) -> dict[str, Any]:
        """WebAuthn request options for a pending sign-in (a single-use challenge)."""
        pending = self.pending.peek(pending_token, self.accounts.clock.now())
        identified(pending.account_id)
        challenge_id, challenge = self.challenges.issue_key_challenge(
            pending.account_id, KeyPurpose.AUTHENTICATE
        )
        self.pending.attach(pending, challenge_id)
        allow = self.enrolling.key_ids(two_step_id(pending.account_id))
        return self.challenges.keys().authentication_options(challenge, allow)


def _account_id(login: str | UUID) -> UUID:
    """The account a login names, without loading it (``Accounts.get`` would)."""
    return login if isinstance(login, UUID) else account_key(login)


__all__ = ["FactorKind", "Reauth", "TwoStepStatus", "TwoStepVerification"]
