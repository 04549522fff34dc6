"""The provider's Dovecot as the mail store: passwords through its passwd-file, content over IMAP.

What the Dovecot side must be configured with is listed in ``DOVECOT_REQUIREMENTS``.
"""

from __future__ import annotations

import contextlib
import logging
import shutil
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from imapclient.exceptions import IMAPClientError, LoginError

from infrastructure.imap import (
    DEFAULT_TIMEOUT,
    ENV_MASTER_PASSWORD,
    ENV_MASTER_USER,
    ImapEndpoint,
    MailStoreError,
    as_text,
    close_connection,
)
from infrastructure.passwdfile import (
    PRINTABLE_ASCII,
    PasswdFile,
    normalise_address,
    sleep_until_second_after,
)

__all__ = [
    "DOVECOT_REQUIREMENTS",
    "MASTER_SEPARATOR",
    "DovecotAccess",
    "DovecotMailStore",
    "check_master_user",
]

log = logging.getLogger(__name__)

DOVECOT_REQUIREMENTS: Final = """\
# What DovecotMailStore relies on (Dovecot 2.3):
auth_username_format = %Lu          # the default; passwd-file keys are lower case
auth_username_chars =               # empty = any; the default refuses + ' / & = ...
auth_master_user_separator = *      # MAILHOST_IMAP_MASTER_USER logs in as addr*master
auth_cache_size = 0                 # the default; a cache keeps old passwords valid
passdb {
  driver = passwd-file
  args = /path/to/master-users      # MAILHOST_IMAP_MASTER_USER's entry
  master = yes
  pass = yes                        # the target address must exist as well
}
passdb {
  driver = passwd-file
  args = /path/to/users             # = MAILHOST_IMAP_PASSWD_FILE
}
userdb {
  driver = passwd-file
  args = /path/to/users
  default_fields = home=/var/vmail/%d/%n   # lines carry no home, uid or gid
}
# No lazy_expunge or trash plugin: they keep what destroy() deletes.
"""

# Dovecot's auth_master_user_separator: the master logs in as "address*master".
MASTER_SEPARATOR: Final = "*"
_INBOX: Final = "INBOX"
_DELETE_PASSES: Final = 4
_EXPUNGE_PASSES: Final = 3
_LOGIN_ATTEMPTS: Final = 2


@dataclass(frozen=True)
class DovecotAccess:
    """What the engine needs to run a Dovecot's mailboxes (``MAILHOST_IMAP_*``)."""

    imap_url: str
    master_user: str
    master_password: str = field(repr=False)
    passwd_file: Path


def check_master_user(master_user: str, master_password: str, separator: str) -> None:
    """Refuse a master login Dovecot could never accept, before any connection."""
    if not separator or len(separator) != 1:
        raise ValueError("the master separator must be one character")
    if (
        not master_user
        or not PRINTABLE_ASCII.fullmatch(master_user)
        or separator in master_user
        or ":" in master_user
    ):
        raise ValueError(
            "the master user must be printable ASCII without ':', spaces or "
            f"{separator!r}"
        )
    if not master_password:
        raise ValueError("the master password is empty")


class MasterLogin:
    """Dovecot's master user, which logs in as any address (``address*master``).

    Checked before any connection; its password is never in a repr or an error.
    """

    def __init__(
        self,
        access: DovecotAccess,
        *,
        separator: str = MASTER_SEPARATOR,
        timeout: float = DEFAULT_TIMEOUT,
    ) -> None:
        self.endpoint = ImapEndpoint.parse(access.imap_url)
        check_master_user(access.master_user, access.master_password, separator)
        self.master_user = access.master_user
        self._password = access.master_password
        self.separator = separator
        self.timeout = timeout

    def __repr__(self) -> str:
        return (
            f"host={self.endpoint.host!r}, port={self.endpoint.port}, "
            f"master_user={self.master_user!r}"
        )

    def connect(self) -> Any:  # noqa: ANN401 - imapclient is untyped
        return self.endpoint.connect(self.timeout)

    def log_in(self, client: Any, user: str) -> None:  # noqa: ANN401 - imapclient is untyped
        client.login(f"{user}{self.separator}{self.master_user}", self._password)


class _AlreadyDestroyedError(Exception):
    pass


class DovecotMailStore:
    """The provider's Dovecot: passwords through its passwd-file, content over IMAP.

    ``destroy`` logs in as ``address*master`` and deletes every folder but INBOX
    (children first, ``\\Noselect`` containers too), unsubscribes everything,
    expunges INBOX, checks that nothing is left, and only then removes the
    passwd line.  The line going last makes a retry after a crash redo the
    purge, and an address without a line counts as already destroyed (no
    pointless failed master logins, which Dovecot penalises and fail2ban bans).

    Dovecot keeps headers (Subject, From, Message-ID) of expunged INBOX mail in
    INBOX's ``dovecot.index.cache`` until it purges that file, which IMAP cannot
    ask for and which small mailboxes may never reach.  Where the engine shares
    Dovecot's file system, ``home_of`` (address -> home directory) makes destroy
    remove the home as well.
    """

    def __init__(
        self,
        access: DovecotAccess,
        *,
        master_separator: str = MASTER_SEPARATOR,
        timeout: float = DEFAULT_TIMEOUT,
        home_of: Callable[[str], Path] | None = None,
        passwd_owner: tuple[int, int] | None = None,
    ) -> None:
        self.master = MasterLogin(access, separator=master_separator, timeout=timeout)
        self.passwd = PasswdFile(access.passwd_file, owner=passwd_owner)
        self._home_of = home_of

    def __repr__(self) -> str:  # no password, even by accident
        return (
            f"DovecotMailStore({self.master!r}, passwd_file={str(self.passwd.path)!r})"
        )

    def login_name(self, address: str) -> str:
        key = normalise_address(address)
        if self.master.separator in key:
            raise ValueError(
                f"the address {address!r} contains {self.master.separator!r}, Dovecot's "
                "master "
                "user separator: it could never log in"
            )
        return key

    def set_password(self, address: str, encoded: str) -> None:
        self.set_passwords({address: encoded})

    def set_passwords(self, entries: Mapping[str, str]) -> None:
        """Many addresses in one passwd-file rewrite (bulk creation)."""
        for address in entries:
            self.login_name(address)
        try:
            self.passwd.update(set_entries=entries)
        except OSError as exc:
            names = _some(sorted(entries))
            msg = f"cannot write the password of {names} to {self.passwd.path}: {exc}"
            raise MailStoreError(msg) from exc

    def wait_until_visible(self) -> None:
        """Sleep until Dovecot is certain to see the last password change (<= 1 s)."""
        self.passwd.wait_until_visible()

    def destroy(self, address: str) -> None:
        user = self.login_name(address)
        try:
            if self.passwd.contains(user):
                self._purge(user)
        except _AlreadyDestroyedError:
            pass
        except (IMAPClientError, OSError) as exc:
            msg = f"destroying the mailbox of {user} failed: {exc}"
            raise MailStoreError(msg) from exc
        if self._home_of is not None:
            self._remove_home(self._home_of, user)
        try:
            self.passwd.remove(user)
        except OSError as exc:
            msg = f"cannot remove {user} from {self.passwd.path}: {exc}"
            raise MailStoreError(msg) from exc

    @staticmethod
    def _remove_home(home_of: Callable[[str], Path], user: str) -> None:
        home = home_of(user)
        try:
            shutil.rmtree(home)
        except FileNotFoundError:
            pass
        except OSError as exc:
            msg = f"cannot remove the home of {user} ({home}): {exc}"
            raise MailStoreError(msg) from exc

    def _master_login(self, user: str) -> Any:  # noqa: ANN401 - imapclient is untyped
        for attempt in range(1, _LOGIN_ATTEMPTS + 1):
            client = self.master.connect()
            try:
                self.master.log_in(client, user)
            except LoginError as exc:
                close_connection(client)
                if not self.passwd.contains(user):
                    raise _AlreadyDestroyedError from None
                if attempt < _LOGIN_ATTEMPTS:
                    # The line may be newer than Dovecot's copy of the file.
                    sleep_until_second_after(time.time())
                    continue
                msg = (
                    f"Dovecot refused the master login for {user} ({as_text(exc)}); check "
                    f"{ENV_MASTER_USER}, {ENV_MASTER_PASSWORD} and that Dovecot reads "
                    f"{self.passwd.path}"
                )
                raise MailStoreError(msg) from None
            except BaseException:
                close_connection(client)
                raise
            return client
        raise AssertionError("unreachable")  # pragma: no cover

    def _purge(self, user: str) -> None:
        client = self._master_login(user)
        try:
            foreign = _foreign_prefixes(client)
            folders = _delete_folders(client, user, foreign)
            _unsubscribe_all(client, foreign)
            messages = _empty_inbox(client, user)
            _check_empty(client, user, foreign)
            client.logout()
        except BaseException:
            with contextlib.suppress(OSError):
                client.shutdown()
            raise
        log.info(
            "destroyed the mailbox of %s: %d folder(s), %d INBOX message(s)",
            user,
            folders,
            messages,
        )


# The purge, on a master login's IMAPClient (imapclient is untyped, hence Any).


def _delete_folders(client: Any, user: str, foreign: tuple[str, ...]) -> int:  # noqa: ANN401 - imapclient is untyped
    deleted = 0
    last_error = ""
    for _ in range(_DELETE_PASSES):
        folders = _own_folders(client, foreign)
        if not folders:
            return deleted
        # A child's name is longer than its parent's: deepest first.
        for name in sorted(folders, key=lambda name: (-len(name), name)):
            try:
                client.delete_folder(name)
                deleted += 1
            except IMAPClientError as exc:
                last_error = as_text(exc)
    left = len(_own_folders(client, foreign))
    if left:
        msg = f"cannot delete {left} folder(s) of {user}: {last_error}"
        raise MailStoreError(msg)
    return deleted


def _unsubscribe_all(client: Any, foreign: tuple[str, ...]) -> None:  # noqa: ANN401 - imapclient is untyped
    # DELETE leaves the name subscribed; subscriptions name the old folders.
    for _flags, _delimiter, name in client.list_sub_folders():
        shown = as_text(name)
        if shown.upper() != _INBOX and not shown.startswith(foreign):
            with contextlib.suppress(IMAPClientError):
                client.unsubscribe_folder(name)


def _empty_inbox(client: Any, user: str) -> int:  # noqa: ANN401 - imapclient is untyped
    expunged = 0
    for _ in range(_EXPUNGE_PASSES):  # mail may arrive meanwhile
        count = _select_count(client, _INBOX)
        if not count:
            return expunged
        client.add_flags("1:*", [b"\\Deleted"], silent=True)  # UID STORE 1:*
        client.expunge()
        expunged += count
    if _select_count(client, _INBOX):
        msg = f"INBOX of {user} keeps receiving mail; expunge did not empty it"
        raise MailStoreError(msg)
    return expunged


def _foreign_prefixes(client: Any) -> tuple[str, ...]:  # noqa: ANN401 - imapclient is untyped
    """Prefixes of the other users' and shared namespaces: never ours to delete."""
    if not client.has_capability("NAMESPACE"):
        return ()
    namespaces = client.namespace()
    prefixes = [
        as_text(prefix)
        for group in (namespaces.other, namespaces.shared)
        for prefix, _delimiter in group or ()
    ]
    return tuple(prefix for prefix in prefixes if prefix)


def _own_folders(client: Any, foreign: tuple[str, ...]) -> list[Any]:  # noqa: ANN401 - imapclient is untyped
    names = []
    for flags, delimiter, name in client.list_folders():
        shown = as_text(name)
        lowered = {flag.lower() for flag in flags}
        if shown.upper() == _INBOX or b"\\nonexistent" in lowered:
            continue
        # A namespace's root ("shared") is listed without its trailing delimiter.
        if (shown + as_text(delimiter or "")).startswith(foreign):
            continue
        names.append(name)
    return names


def _check_empty(client: Any, user: str, foreign: tuple[str, ...]) -> None:  # noqa: ANN401 - imapclient is untyped
    left = _own_folders(client, foreign)
    remaining = _select_count(client, _INBOX)
    if left or remaining:
        msg = (
            f"destroying the mailbox of {user} left {len(left)} folder(s) and "
            f"{remaining} INBOX message(s)"
        )
        raise MailStoreError(msg)


def _select_count(client: Any, folder: str) -> int:  # noqa: ANN401 - imapclient is untyped
    return int(client.select_folder(folder)[b"EXISTS"])


def _some(names: list[str], shown: int = 3) -> str:
    return ", ".join(names[:shown]) + (", ..." if len(names) > shown else "")
