"""Use cases of user accounts: register, log in, change password and recovery phone.

Every method is load, decide, save. Passwords are checked here against the credential
store; the aggregate only learns the outcome.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from ipaddress import IPv4Address, IPv6Address, ip_address, ip_network
from typing import TypeVar
from uuid import UUID, uuid4

from attrs import field, frozen

from application.credentials import staged_secret
from application.log import MailHostLog
from application.ports import (
    Clock,
    CredentialStore,
    Fingerprints,
    Geolocator,
    PasswordHasher,
    SessionRecord,
)
from domain import ids
from domain.account import UserAccount
from domain.address import EmailAddress, shown
from domain.errors import AlreadyExists, InvalidInput, NotFound, NotPermitted
from domain.organisation import Organisation, Role
from domain.phone import PhoneNumber
from domain.security import (
    LoginContext,
    NotificationPreferences,
    PasswordPolicy,
    SecurityPolicy,
    is_unicode_text,
)
from domain.text import forbidden_character

MAX_USER_AGENT = 512
# Tokens this service issues are far shorter; anything longer was not issued here.
MAX_TOKEN = 256
# Where a re-entered password was checked: the account settings, not a login page.
SETTINGS_CONTEXT = LoginContext(
    device="account-settings",
    network="account settings",
    user_agent="password re-entry",
)
T = TypeVar("T")


class LoginRefused(NotPermitted):
    """One answer for an unknown login, a wrong password and a throttled account.

    Telling them apart would let anyone enumerate accounts (ASVS 6.3.8).
    """

    def __init__(self) -> None:
        super().__init__(
            "login refused: unknown login or wrong password, or too many attempts "
            "(try again later)"
        )


@frozen
class LoginResult:
    """What the client keeps: the session token, and the device token to send next time."""

    account_id: UUID
    session_id: UUID
    session_token: str = field(repr=False)
    device_token: str = field(repr=False)
    alerted: bool


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
class Accounts:
    log: MailHostLog
    credentials: CredentialStore
    hasher: PasswordHasher
    fingerprints: Fingerprints
    geolocator: Geolocator
    clock: Clock
    policy: SecurityPolicy = field(factory=SecurityPolicy)
    passwords: PasswordPolicy = field(factory=PasswordPolicy)

    def register(
        self,
        organisation: str | UUID,
        login: str,
        password: str,
        *,
        display_name: str = "",
        admin: bool = False,
    ) -> UUID:
        """Register a user in an organisation; the organisation's first user is its admin."""
        address = EmailAddress.parse(login, what="login")
        self.passwords.check(password, login=str(address))
        org_id = ids.organisation_key(organisation)
        self.log.load(org_id, Organisation, f"organisation {organisation!s}")
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

    def login(
        self,
        login: str,
        password: str,
        *,
        ip: str,
        user_agent: str = "",
        device_token: str | None = None,
    ) -> LoginResult:
        """Check a password and open a session, or raise LoginRefused.

        A client without a device token (a new browser, private browsing) gets a new one,
        which is what makes the device "new" for SEC-1.
        """
        context, device_token = self._context(ip, user_agent, device_token)
        try:
            key = account_key(login)
        except InvalidInput:
            key = None
        if key is None or not self._checkable(password):
            self._spend_one_check(password)
            raise LoginRefused
        return self._login(key, password, context, device_token)

    def _checkable(self, password: str) -> bool:
        """Whether ``password`` could be anyone's: not over-long, encodable."""
        return len(password) <= self.passwords.max_length and is_unicode_text(password)

    def _spend_one_check(self, password: str) -> None:
        """One dummy verification, whatever the password holds.

        An unknown login, a throttled source and a wrong password all cost one hash,
        so the time of a refusal does not tell them apart (ASVS 6.3.8).
        """
        dummy = password[: self.passwords.max_length]
        if not is_unicode_text(dummy):
            dummy = dummy.encode("utf-8", "surrogatepass").decode("utf-8", "replace")
        self.hasher.verify_dummy(dummy)

    def _login(
        self, key: UUID, password: str, context: LoginContext, device_token: str
    ) -> LoginResult:
        checked: dict[UUID, bool] = {}
        spent: list[bool] = []

        def spend() -> None:
            if not spent:
                spent.append(True)
                self._spend_one_check(password)

        def attempt() -> LoginResult:
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
                checked[account.credential_id] = self._verify(account, password)
            if not checked[account.credential_id]:
                account.fail_login(context, at=at, policy=self.policy)
                self.log.save(account)
                raise LoginRefused
            session_id = uuid4()
            session_token = self.fingerprints.new_token()
            alerted = account.log_in(session_id, context, at=at, policy=self.policy)
            self.credentials.put_session(
                self.fingerprints.digest(session_token),
                SessionRecord(account.id, session_id),
            )
            self.log.save(account)
            return LoginResult(
                account.id, session_id, session_token, device_token, alerted
            )

        return self.log.retrying(attempt)

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

    def log_out(self, session_token: str) -> None:
        record = self.session(session_token)
        self._update(
            record.account_id,
            lambda a: a.log_out(record.session_id, at=self.clock.now()),
        )
        self.credentials.forget_sessions((record.session_id,))

    def change_password(
        self,
        login: str | UUID,
        current_password: str,
        new_password: str,
        *,
        keep_session_token: str | None = None,
    ) -> tuple[UUID, ...]:
        """Change the password (needs the current one) and end the other sessions (SEC-4)."""
        account = self.get(login)
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
        with staged_secret(self.credentials, credential_id, encoded, owner=account.id):
            ended = self._update(
                account.id,
                lambda a: a.change_password(
                    credential_id, keep_session=keep, at=self.clock.now()
                ),
            )
        self.credentials.forget_secret(old_credential)
        self.credentials.forget_sessions(ended)
        return ended

    def change_recovery_phone(
        self, login: str | UUID, country_code: str, number: str, *, password: str
    ) -> str:
        """SEC-5: country calling code + number, the account password re-entered."""
        account = self.get(login)
        phone = PhoneNumber.parse(country_code, number)
        self._require_password(account, password)
        self._update(
            account.id, lambda a: a.change_recovery_phone(phone, at=self.clock.now())
        )
        return phone.e164

    def choose_notifications(
        self, login: str | UUID, preferences: NotificationPreferences
    ) -> None:
        self._update(
            self.get(login).id,
            lambda a: a.choose_notifications(preferences, at=self.clock.now()),
        )

    def _update(self, account_id: UUID, decide: Callable[[UserAccount], T]) -> T:
        return self.log.update(account_id, UserAccount, "account", decide)

    def require_password(self, account_id: UUID, password: str) -> None:
        """Check a re-entered account password under the login throttle (SEC-2).

        A wrong one counts as a failed check, like a wrong login, and the throttle
        refuses further checks: a stolen session cannot guess the password here.
        """
        account = self.log.load(account_id, UserAccount, "account")
        self._require_password(account, password)

    def _require_password(self, account: UserAccount, password: str) -> None:
        if account.is_throttled(self.clock.now(), self.policy, SETTINGS_CONTEXT):
            raise NotPermitted(
                "too many wrong passwords for this account; try again later"
            )
        if password and self._checkable(password) and self._verify(account, password):
            return

        def record(a: UserAccount) -> None:
            if not a.is_throttled(self.clock.now(), self.policy, SETTINGS_CONTEXT):
                a.fail_login(SETTINGS_CONTEXT, at=self.clock.now(), policy=self.policy)

        self._update(account.id, record)
        raise NotPermitted("the account password is wrong")

    def _verify(self, account: UserAccount, password: str) -> bool:
        encoded = self.credentials.secret(account.credential_id)
        return encoded is not None and self.hasher.verify(encoded, password)

    def _context(
        self, ip: str, user_agent: str, device_token: str | None
    ) -> tuple[LoginContext, str]:
        address = _client_address(ip)
        # A token this service did not issue (non-ASCII, over-long) is no device it
        # knows: the client gets a new one, as one without a token would.
        issued = (
            device_token
            if device_token
            and device_token.isascii()
            and device_token.isprintable()
            and len(device_token) <= MAX_TOKEN
            else None
        )
        token = issued or self.fingerprints.new_token()
        context = LoginContext(
            device=self.fingerprints.digest(f"device:{token}"),
            network=network_of(address),
            place=self.geolocator.locate(address),
            user_agent=" ".join(user_agent.split())[:MAX_USER_AGENT],
        )
        return context, token


def _client_address(ip: str) -> IPv4Address | IPv6Address:
    """The client's address, or ``InvalidInput`` naming the IP address.

    ``ip_address`` accepts an IPv6 zone id (``fe80::1%eth0``) of any characters, escape
    sequences included; a zone names an interface of the host that saw the address, so
    it is no part of where a remote client is, and it would be stored and shown.
    """
    bad = forbidden_character(ip)
    if bad is not None:
        raise InvalidInput(
            f"IP address {shown(ip)} contains a control character ({bad})"
        )
    try:
        address = ip_address(ip.strip())
    except ValueError:
        raise InvalidInput(f"IP address {shown(ip)} is not valid") from None
    if isinstance(address, IPv6Address) and address.scope_id is not None:
        raise InvalidInput(f"IP address {shown(ip)} has a zone id (%...)")
    return address


def network_of(address: IPv4Address | IPv6Address) -> str:
    """The /24 or /48 around an address: a location, without the host part."""
    prefix = 24 if address.version == 4 else 48  # noqa: PLR2004 - IP versions
    return str(ip_network(f"{address}/{prefix}", strict=False))


def account_key(login: str, *, what: str = "login") -> UUID:
    return ids.account_id(str(EmailAddress.parse(login, what=what)))
