"""Use cases of user accounts: register, log in, change password and recovery phone.

Every method is load, decide, save. Passwords are checked here against the credential
store; the aggregate only learns the outcome.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import TypeVar
from uuid import UUID, uuid4

from attrs import frozen

from application.authorization import OPERATOR, require_self_or_admin
from application.context import command, identified, self_service
from application.credentials import staged_secret
from application.logincontext import (
    MAX_TOKEN,
    LoginRefused,
    LoginResult,
    Outcome,
    account_key,
    network_of,
)
from application.ports import SessionRecord
from application.signin import SignIn
from domain import ids
from domain.account import UserAccount
from domain.address import EmailAddress
from domain.errors import AlreadyExists, InvalidInput, NotPermitted
from domain.organisation import Organisation, Role
from domain.phone import PhoneNumber
from domain.security import (
    LoginContext,
    NotificationPreferences,
)
from domain.twostep import TwoStep

# Embedders import these from here; they live with the sign-in.
__all__ = [
    "Accounts",
    "LoginRefused",
    "LoginResult",
    "Outcome",
    "account_key",
    "enrol",
    "network_of",
]
# Where a re-entered password was checked: the account settings, not a login page.
SETTINGS_CONTEXT = LoginContext(
    device="account-settings",
    network="account settings",
    user_agent="password re-entry",
)
T = TypeVar("T")


def enrol(
    org: Organisation,
    login: EmailAddress,
    *,
    credential_id: UUID,
    display_name: str,
    role: Role,
    at: datetime,
) -> UserAccount:
    """A new account admitted to ``org``: the caller saves both, or neither."""
    account = UserAccount.register(
        org.id, login, credential_id=credential_id, display_name=display_name, at=at
    )
    org.admit(account.id, role=role, at=at)
    return account


@frozen
class Accounts(SignIn):
    """The sign-in (login, second step, sync tools) and the account's own settings.

    The adapters are the sign-in's; an engine assembled without two-step
    verification leaves ``second``, ``challenges``, ``apps`` and ``pending`` None.
    """

    @command
    def register(
        self,
        organisation: str | UUID,
        login: str,
        password: str,
        *,
        display_name: str = "",
        admin: bool = False,
        by: UUID | None,
    ) -> UUID:
        """Register a user in an organisation; the organisation's first user is its admin.

        ``by``: the operator, or an admin of the organisation (ORG-1: users are managed
        inside it).
        """
        address = EmailAddress.parse(login, what="login")
        self.passwords.check(password, login=str(address))
        org_id = ids.organisation_key(organisation)
        org = self.log.load(org_id, Organisation, f"organisation {organisation!s}")
        if by is not OPERATOR and not org.is_admin(by):
            raise NotPermitted("only an admin of the organisation may register users")
        if self.log.exists(ids.account_id(str(address))):
            raise AlreadyExists(f"account {address} exists already")
        credential_id = uuid4()
        encoded = self.hasher.hash(password)

        def attempt() -> UserAccount:
            # Another member joining the organisation at the same moment conflicts on
            # the organisation: decided again; only the account's own id means taken.
            if self.log.exists(ids.account_id(str(address))):
                raise AlreadyExists(f"account {address} exists already")
            org = self.log.load(org_id, Organisation, "organisation")
            role = Role.ADMIN if admin or not org.members else Role.MEMBER
            account = enrol(
                org,
                address,
                credential_id=credential_id,
                display_name=display_name,
                role=role,
                at=self.clock.now(),
            )
            self.log.save(account, org)
            return account

        # The hash is stored for the save and taken back when the save does not happen
        # (a refusal, a lost race): no orphan row is left in the credential store.
        owner = ids.account_id(str(address))
        with staged_secret(self.credentials, credential_id, encoded, owner=owner):
            account = self.log.retrying(attempt)
        return account.id

    def get(self, login_or_id: str | UUID) -> UserAccount:
        key = login_or_id if isinstance(login_or_id, UUID) else account_key(login_or_id)
        return self.log.load(key, UserAccount, f"account {login_or_id!s}")

    def session(self, session_token: str) -> SessionRecord:
        """The session a token opens; the log, not the token store, decides if it is live."""
        if not (session_token.isascii() and len(session_token) <= MAX_TOKEN):
            raise NotPermitted("session is not valid")
        record = self.credentials.session(self.fingerprints.digest(session_token))
        if record is None:
            raise NotPermitted("session is not valid")
        account = self.log.load(record.account_id, UserAccount, "account")
        if record.session_id not in account.active_sessions:
            raise NotPermitted("session has ended")
        return record

    @self_service
    def log_out(self, session_token: str) -> None:
        """No ``by``: the session token proves who is leaving."""
        record = self.session(session_token)
        identified(record.account_id)
        self._update(
            record.account_id,
            lambda a: a.log_out(record.session_id, at=self.clock.now()),
        )
        self.credentials.forget_sessions((record.session_id,))

    @self_service
    def change_password(
        self,
        login: str | UUID,
        current_password: str,
        new_password: str,
        *,
        keep_session_token: str | None = None,
    ) -> tuple[UUID, ...]:
        """Change the password (needs the current one) and end the other sessions (SEC-4).

        No ``by``: the current password proves who asks; a wrong one is counted against
        that account.
        """
        account = self.get(login)
        identified(account.id)
        self._require_password(account, current_password)
        self.passwords.check(new_password, login=account.login)
        if new_password == current_password:
            raise InvalidInput("the new password is the current password")
        keep = (
            self.session(keep_session_token).session_id if keep_session_token else None
        )
        old_credential = account.credential_id
        credential_id = uuid4()
        encoded = self.hasher.hash(new_password)
        revoked: list[UUID] = []

        def attempt() -> tuple[UUID, ...]:
            at = self.clock.now()
            changed = self.log.load(account.id, UserAccount, "account")
            ended = changed.change_password(credential_id, keep_session=keep, at=at)
            # SEC-4: every app password goes with the old password, in the same save.
            two_step = self.log.find(ids.two_step_id(account.id), TwoStep)
            revoked.clear()
            if two_step is not None and two_step.app_passwords:
                revoked.extend(a.credential_id for a in two_step.app_passwords)
                two_step.revoke_all_app_passwords("password changed", at=at)
                self.log.save(changed, two_step)
            else:
                self.log.save(changed)
            return ended

        with staged_secret(self.credentials, credential_id, encoded, owner=account.id):
            ended = self.log.retrying(attempt)
        self.credentials.forget_secret(old_credential)
        for row in revoked:
            self.credentials.forget_secret(row)
        self.credentials.forget_sessions(ended)
        return ended

    @self_service
    def change_recovery_phone(
        self,
        login: str | UUID,
        country_code: str,
        number: str,
        *,
        password: str,
        code: str | None = None,
    ) -> str:
        """SEC-5: country calling code + number, the account password re-entered.

        With two-step verification on, a second-factor ``code`` too (a fresh
        re-authentication, as every sensitive change needs). No ``by``: the password
        proves who asks.
        """
        account = self.get(login)
        identified(account.id)
        phone = PhoneNumber.parse(country_code, number)
        self._require_password(account, password)
        self.require_second_factor(account.id, code)
        self._update(
            account.id, lambda a: a.change_recovery_phone(phone, at=self.clock.now())
        )
        return phone.e164

    @command
    def choose_notifications(
        self,
        login: str | UUID,
        preferences: NotificationPreferences,
        *,
        by: UUID | None,
    ) -> None:
        """Nothing to re-enter, so ``by`` says who: the user, their admin, the operator."""
        account = self.get(login)
        require_self_or_admin(self.log, account, by)
        self._update(
            account.id,
            lambda a: a.choose_notifications(preferences, at=self.clock.now()),
        )

    def _update(self, account_id: UUID, decide: Callable[[UserAccount], T]) -> T:
        return self.log.update(account_id, UserAccount, "account", decide)

    @self_service
    def require_password(self, account_id: UUID, password: str) -> None:
        """Check a re-entered account password under the login throttle (SEC-2).

        A wrong one counts as a failed check, like a wrong login, and the throttle
        refuses further checks: a stolen session cannot guess the password here. No
        ``by``: the password is the proof, and a failure is that account's.
        """
        identified(account_id)
        account = self.log.load(account_id, UserAccount, "account")
        self._require_password(account, password)

    def _require_password(self, account: UserAccount, password: str) -> None:
        if account.is_throttled(self.clock.now(), self.policy, SETTINGS_CONTEXT):
            raise NotPermitted(
                "too many wrong passwords for this account; try again later"
            )
        if password and self.checkable(password) and self.verify(account, password):
            return

        def record(a: UserAccount) -> None:
            if not a.is_throttled(self.clock.now(), self.policy, SETTINGS_CONTEXT):
                a.fail_login(SETTINGS_CONTEXT, at=self.clock.now(), policy=self.policy)

        self._update(account.id, record)
        raise NotPermitted("the account password is wrong")

    @self_service
    def require_second_factor(self, account_id: UUID, code: str | None) -> None:
        """With two-step verification on, a fresh second factor; without it, nothing.

        No ``by``: the code is the proof, and a wrong one counts against that account.
        """
        identified(account_id)
        if self.second is None or not self.second.enabled(account_id):
            return
        if code is None:
            raise NotPermitted(
                "two-step verification is on: this change needs a code as well"
            )
        self.second.check_code(account_id, code)
