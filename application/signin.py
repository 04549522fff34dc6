"""Signing in: the password, then the second factor or an enrol-only session.

A login checks the password under the throttle (SEC-2, ASVS 6.3), then asks what the
account's two-step verification and organisation require: a session at once, a pending
second step (``second-factor-required``), or a session restricted to enrolling a factor
(``enrol-required``, MFA-7). Sync tools sign in with ``protocol_login`` (MFA-4).
"""

from __future__ import annotations

from uuid import UUID, uuid4

from attrs import field, frozen

from application.apppasswords import AppPasswords
from application.challenges import Challenges
from application.context import identified, self_service
from application.log import MailHostLog
from application.logincontext import (
    LoginRefused,
    LoginResult,
    Outcome,
    account_key,
    login_context,
)
from application.loginflow import PendingLogin, PendingLogins
from application.ports import (
    Clock,
    CredentialStore,
    Fingerprints,
    Geolocator,
    PasswordHasher,
    SessionRecord,
)
from application.secondfactor import SecondFactor, SecondFactorRefused, is_totp_code
from domain.account import UserAccount
from domain.errors import InvalidInput, NotFound, NotPermitted
from domain.organisation import Organisation
from domain.security import (
    LoginContext,
    PasswordPolicy,
    SecurityPolicy,
    is_unicode_text,
)
from domain.twostepchecks import protocol_name


@frozen
class SignIn:
    log: MailHostLog
    credentials: CredentialStore
    hasher: PasswordHasher
    fingerprints: Fingerprints
    geolocator: Geolocator
    clock: Clock
    policy: SecurityPolicy = field(factory=SecurityPolicy)
    passwords: PasswordPolicy = field(factory=PasswordPolicy)
    second: SecondFactor | None = None
    challenges: Challenges | None = None
    apps: AppPasswords | None = None
    pending: PendingLogins | None = None

    @self_service
    def login(
        self,
        login: str,
        password: str,
        *,
        ip: str,
        user_agent: str = "",
        device_token: str | None = None,
        code: str | None = None,
        persistent: bool = True,
    ) -> LoginResult:
        """Check a password and open a session, or raise LoginRefused.

        A client without a device token (a new browser, private browsing) gets a new one,
        which is what makes the device "new" for SEC-1. With two-step verification on,
        ``code`` (a TOTP or a backup code) completes the login at once; without it the
        result is ``second-factor-required`` with a pending token. ``persistent`` false
        asks for a session that ends with the browser (MFA-6). No ``by``: the password
        proves who signs in, and a failure is recorded as that account's.
        """
        context, device_token = login_context(
            self.fingerprints, self.geolocator, ip, user_agent, device_token
        )
        try:
            key = account_key(login)
        except InvalidInput:
            key = None
        if key is None or not self.checkable(password):
            self.spend_one_check(password)
            raise LoginRefused
        identified(key)
        account = self._check_login(key, password, context)
        return self._second_step(account, context, device_token, code, persistent)

    def _second_step(
        self,
        account: UserAccount,
        context: LoginContext,
        device_token: str,
        code: str | None,
        persistent: bool,
    ) -> LoginResult:
        """After the right password: a session, a pending second step, or enrol-only."""
        second = self.second
        two_step = None if second is None else second.find(account.id)
        if second is not None and two_step is not None and two_step.enabled:
            if code is None:
                return self._pending(account.id, context, device_token, persistent)
            second.check_code(account.id, code)
            return self._open(account.id, context, device_token, persistent=persistent)
        org = self.log.find(account.organisation_id, Organisation)
        if org is not None and org.enforces_two_step:  # rule MFA-7
            return self._open(
                account.id,
                context,
                device_token,
                persistent=persistent,
                restricted=True,
            )
        return self._open(account.id, context, device_token, persistent=persistent)

    def _pending(
        self,
        account_id: UUID,
        context: LoginContext,
        device_token: str,
        persistent: bool,
    ) -> LoginResult:
        if self.pending is None or self.second is None:  # pragma: no cover - assembled
            raise NotPermitted("two-step verification is not configured")
        policy = self.second.adapters.policy
        pending = self.pending.start(
            account_id,
            context,
            persistent=persistent,
            at=self.clock.now(),
            expiry=policy.challenge_expiry,
        )
        two_step = self.second.find(account_id)
        methods = sorted(
            {f.kind.value for f in two_step.confirmed_factors}
            if two_step is not None
            else set()
        )
        if two_step is not None and two_step.backup_remaining > 0:
            methods.append("backup_code")
        return LoginResult(
            account_id,
            None,
            "",
            device_token,
            alerted=False,
            outcome=Outcome.SECOND_FACTOR_REQUIRED,
            pending_token=pending.token,
            methods=tuple(methods),
            persistent=persistent,
        )

    @self_service
    def complete_login(
        self,
        pending_token: str,
        *,
        code: str | None = None,
        push: UUID | None = None,
        key_response: str | None = None,
    ) -> LoginResult:
        """The second step: a TOTP, backup or SMS code, an approved push or a key.

        The pending token is taken (single use) for the check; a wrong answer puts it
        back, so the user may try again until it expires or the factor locks. No
        ``by``: the pending token names the account, the answer proves it.
        """
        if [code, push, key_response].count(None) != 2:  # noqa: PLR2004 - one of three
            raise InvalidInput("give exactly one of code, push or key_response")
        if self.pending is None or self.second is None:  # pragma: no cover - assembled
            raise NotPermitted("two-step verification is not configured")
        pending = self.pending.take(pending_token, self.clock.now())
        identified(pending.account_id)
        try:
            self._answer(pending, code, push, key_response)
        except SecondFactorRefused:
            self.pending.put_back(pending)
            raise
        except InvalidInput:
            self.pending.put_back(pending)  # bad input changes nothing
            raise
        return self._open(
            pending.account_id, pending.context, "", persistent=pending.persistent
        )

    def _answer(
        self,
        pending: PendingLogin,
        code: str | None,
        push: UUID | None,
        key_response: str | None,
    ) -> None:
        second, challenges = self.second, self.challenges
        if second is None or challenges is None:  # pragma: no cover - assembled
            raise NotPermitted("two-step verification is not configured")
        account_id = pending.account_id
        if code is not None:
            sms = pending.challenge_id
            if (
                sms is not None
                and is_totp_code(code.strip())
                and challenges.check_sms(account_id, sms, code.strip())
            ):
                return
            second.check_code(account_id, code)
            return
        if pending.challenge_id is None or (
            push is not None and push != pending.challenge_id
        ):
            raise InvalidInput("no push or security-key challenge for this sign-in")
        if push is not None:
            challenges.push_approved(account_id, pending.challenge_id)
            return
        challenges.verify_key(account_id, pending.challenge_id, str(key_response))

    @self_service
    def protocol_login(self, login: str, password: str, protocol: str) -> UUID:
        """A sync tool's login (IMAP, SMTP, CalDAV); the account id, or LoginRefused.

        MFA-4: once two-step verification is on, only an app password opens it: the
        account password alone is refused, since a sync tool cannot ask for a code.
        No ``by``: the password (or the app password) proves who signs in.
        """
        proto = protocol_name(protocol)
        try:
            key = account_key(login)
        except InvalidInput:
            key = None
        account = None if key is None else self.log.find(key, UserAccount)
        if account is None or not self.checkable(password):
            self.spend_one_check(password)
            raise LoginRefused
        identified(account.id)
        two_step_on = self.second is not None and self.second.enabled(account.id)
        if self.apps is not None and self.apps.check(account.id, password, proto):
            return account.id
        if two_step_on:
            self.spend_one_check(password)
            raise LoginRefused
        context = LoginContext(
            device=f"protocol:{proto}", network="sync client", user_agent=proto
        )
        self._check_login(account.id, password, context)
        return account.id

    def _check_login(
        self, key: UUID, password: str, context: LoginContext
    ) -> UserAccount:
        """The account whose password ``password`` is, or LoginRefused (counted)."""
        checked: dict[UUID, bool] = {}
        spent: list[bool] = []

        def spend() -> None:
            if not spent:
                spent.append(True)
                self.spend_one_check(password)

        def attempt() -> UserAccount:
            at = self.clock.now()
            try:
                account = self.log.load(key, UserAccount, "account")
            except NotFound:
                spend()
                raise LoginRefused from None
            if account.is_throttled(at, self.policy, context):
                # Refused without a check, but at the cost of one: a throttled account
                # must not answer faster than an unknown login (a timing oracle).
                spend()
                if account.record_throttled(context, at=at, policy=self.policy):
                    self.log.save(account)
                raise LoginRefused
            # One slow hash per attempt, not per conflict retry; checked again only if
            # the password changed meanwhile.
            if account.credential_id not in checked:
                checked[account.credential_id] = self.verify(account, password)
            if not checked[account.credential_id]:
                account.fail_login(context, at=at, policy=self.policy)
                self.log.save(account)
                raise LoginRefused
            return account

        return self.log.retrying(attempt)

    def _open(
        self,
        account_id: UUID,
        context: LoginContext,
        device_token: str,
        *,
        persistent: bool,
        restricted: bool = False,
    ) -> LoginResult:
        """Open a session: the token's digest stored, then the login saved."""

        def attempt() -> LoginResult:
            at = self.clock.now()
            account = self.log.load(account_id, UserAccount, "account")
            session_id = uuid4()
            session_token = self.fingerprints.new_token()
            alerted = account.log_in(
                session_id,
                context,
                at=at,
                policy=self.policy,
                persistent=persistent,
                restricted=restricted,
            )
            self.credentials.put_session(
                self.fingerprints.digest(session_token),
                SessionRecord(account.id, session_id, persistent, restricted),
            )
            self.log.save(account)
            outcome = Outcome.ENROL_REQUIRED if restricted else Outcome.SIGNED_IN
            return LoginResult(
                account.id,
                session_id,
                session_token,
                device_token,
                alerted,
                outcome=outcome,
                persistent=persistent,
            )

        return self.log.retrying(attempt)

    def checkable(self, password: str) -> bool:
        """Whether ``password`` could be anyone's: not over-long, encodable."""
        return len(password) <= self.passwords.max_length and is_unicode_text(password)

    def spend_one_check(self, password: str) -> None:
        """One dummy verification, whatever the password holds.

        An unknown login, a throttled source and a wrong password all cost one hash,
        so the time of a refusal does not tell them apart (ASVS 6.3.8).
        """
        dummy = password[: self.passwords.max_length]
        if not is_unicode_text(dummy):
            dummy = dummy.encode("utf-8", "surrogatepass").decode("utf-8", "replace")
        self.hasher.verify_dummy(dummy)

    def verify(self, account: UserAccount, password: str) -> bool:
        encoded = self.credentials.secret(account.credential_id)
        return encoded is not None and self.hasher.verify(encoded, password)
