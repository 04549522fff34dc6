"""Where an import writes: the address's mailbox in the provider's store.

Two stores, as for ``infrastructure.mailstore``: the embedded maildirs under
``$MAILHOST_HOME/mail`` (written as files, laid out so a Dovecot with ``LAYOUT=fs``
pointed at them sees the same folders, flags, keywords and dates), or the provider's
Dovecot over IMAP with the master login ``address*master``, MULTIAPPEND in batches
where the server advertises it. Both give keys by ``domain.importplan.message_key``
computed from what they hold, so a re-run compares like with like.
"""

from __future__ import annotations

import errno
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import MappingProxyType
from typing import Final

from imapclient.exceptions import IMAPClientError, LoginError

from application.importports import (
    DestinationError,
    FolderRefused,
    SourceMessage,
)
from domain.importplan import MessageKey, SpecialUse
from domain.text import neutralise
from infrastructure.dovecot import DovecotAccess, MasterLogin
from infrastructure.imap import (
    DEFAULT_TIMEOUT,
    ENV_MASTER_PASSWORD,
    ENV_MASTER_USER,
    as_text,
    close_connection,
)
from infrastructure.imapdestination import ImapDestinationMailbox, destination_error
from infrastructure.imapsource import BATCH_BYTES
from infrastructure.importnames import folder_part, store_path
from infrastructure.maildir import MaildirMailStore
from infrastructure.maildirfiles import (
    MaildirFolder,
    folder_directory,
    make_folder,
    subscribe,
)
from infrastructure.passwdfile import normalise_address, sleep_until_second_after

__all__ = [
    "DEFAULT_SPECIAL",
    "ImapImportDestination",
    "MaildirImportDestination",
    "folder_part",
    "import_destination",
]

# What the embedded store calls its special folders: Debian's 15-mailboxes.conf names.
DEFAULT_SPECIAL: Final[Mapping[SpecialUse, tuple[str, ...]]] = MappingProxyType(
    {
        SpecialUse.DRAFTS: ("Drafts",),
        SpecialUse.JUNK: ("Junk",),
        SpecialUse.SENT: ("Sent",),
        SpecialUse.TRASH: ("Trash",),
        SpecialUse.ARCHIVE: ("Archive",),
    }
)
APPEND_BATCH: Final = 100
_LOGIN_ATTEMPTS: Final = 2


class MaildirImportDestination:
    """``ImportDestination`` over the embedded maildir store (``MaildirMailStore``)."""

    def __init__(
        self,
        store: MaildirMailStore,
        *,
        special: Mapping[SpecialUse, tuple[str, ...]] = DEFAULT_SPECIAL,
    ) -> None:
        self.store = store
        self.special = dict(special)

    def __repr__(self) -> str:
        return f"MaildirImportDestination({str(self.store.root)!r})"

    def open(self, address: str) -> MaildirDestinationMailbox:
        maildir = self.store.maildir(address)
        make_folder(maildir, ("INBOX",), container=False)
        return MaildirDestinationMailbox(maildir, self.special)


class MaildirDestinationMailbox:
    def __init__(
        self, maildir: Path, special: Mapping[SpecialUse, tuple[str, ...]]
    ) -> None:
        self.maildir = maildir
        self.special = dict(special)
        self._folders: dict[tuple[str, ...], MaildirFolder] = {}

    def __repr__(self) -> str:
        return f"MaildirDestinationMailbox({str(self.maildir)!r})"

    def _folder(self, path: Sequence[str]) -> MaildirFolder:
        stored = store_path(path, "/")
        if stored not in self._folders:
            self._folders[stored] = MaildirFolder(
                folder_directory(self.maildir, stored)
            )
        return self._folders[stored]

    def special_folders(self) -> Mapping[SpecialUse, tuple[str, ...]]:
        return dict(self.special)

    def ensure_folder(self, path: tuple[str, ...], *, container: bool = False) -> None:
        stored = store_path(path, "/")
        try:
            created = make_folder(self.maildir, stored, container=container)
            if created and not container and stored != ("INBOX",):
                subscribe(self.maildir, stored)
        except OSError as exc:
            raise _file_error(exc, stored) from None

    def keys(self, path: tuple[str, ...]) -> list[MessageKey]:
        folder = self._folder(path)
        if not folder.exists:
            return []
        try:
            return folder.keys()
        except OSError as exc:
            raise _file_error(exc, path) from None

    def state(self, path: tuple[str, ...]) -> str:
        folder = self._folder(path)
        if not folder.exists:
            return ""
        try:
            return folder.state()
        except OSError as exc:
            raise _file_error(exc, path) from None

    def append(
        self, path: tuple[str, ...], messages: Sequence[SourceMessage]
    ) -> list[str | None]:
        folder = self._folder(path)
        if not folder.exists:
            self.ensure_folder(path)
        results: list[str | None] = []
        for message in messages:
            try:
                folder.store(message.raw, message.flags, message.internal_date)
            except OSError as exc:
                raise _file_error(exc, path) from None
            results.append(None)
        return results

    def close(self) -> None:
        self._folders.clear()


# The store cannot hold this name, whatever an operator does: that folder fails alone.
_NAME_ERRORS: Final = frozenset({errno.ENAMETOOLONG, errno.EILSEQ, errno.EINVAL})


def _file_error(exc: OSError, path: Sequence[str]) -> DestinationError:
    shown = neutralise("/".join(path), max_length=80)
    detail = f"the mail store cannot write {shown!r}: {exc.strerror or exc}"
    if exc.errno in _NAME_ERRORS:
        return FolderRefused(detail)
    # A full disk or a permission problem: worth retrying once an operator acted.
    return DestinationError("destination_failed", detail, transient=True)


class ImapImportDestination:
    """``ImportDestination`` over the provider's Dovecot, as ``address*master``."""

    def __init__(
        self,
        master: MasterLogin,
        *,
        batch_messages: int = APPEND_BATCH,
        batch_bytes: int = BATCH_BYTES,
        multiappend: bool | None = None,
    ) -> None:
        self.master = master
        self.batch_messages = batch_messages
        self.batch_bytes = batch_bytes
        # None: MULTIAPPEND when the server advertises it; False: one APPEND each.
        self.multiappend = multiappend

    @classmethod
    def from_access(
        cls, access: DovecotAccess, *, timeout: float = DEFAULT_TIMEOUT
    ) -> ImapImportDestination:
        return cls(MasterLogin(access, timeout=timeout))

    def __repr__(self) -> str:  # no password, even by accident
        return f"ImapImportDestination({self.master!r})"

    def open(self, address: str) -> ImapDestinationMailbox:
        user = normalise_address(address)
        endpoint = self.master.endpoint
        where = f"{endpoint.host}:{endpoint.port}"
        for attempt in range(1, _LOGIN_ATTEMPTS + 1):
            try:
                client = self.master.connect()
            except (IMAPClientError, OSError, EOFError) as exc:
                raise destination_error(exc, where) from None
            try:
                self.master.log_in(client, user)
            except LoginError as exc:
                close_connection(client)
                if attempt < _LOGIN_ATTEMPTS:
                    # The address's passwd line may be newer than Dovecot's copy.
                    sleep_until_second_after(time.time())
                    continue
                said = neutralise(as_text(exc), max_length=120)
                detail = (
                    f"{where}: the master login for {user} was refused ({said}); check "
                    f"{ENV_MASTER_USER} and {ENV_MASTER_PASSWORD}"
                )
                raise DestinationError(
                    "destination_failed", detail, transient=True
                ) from None
            except (IMAPClientError, OSError, EOFError) as exc:
                close_connection(client)
                raise destination_error(exc, where, login=True) from None
            client.normalise_times = False
            use_multi = (
                client.has_capability("MULTIAPPEND")
                if self.multiappend is None
                else self.multiappend
            )
            return ImapDestinationMailbox(
                client,
                where,
                multiappend=use_multi,
                batch_messages=self.batch_messages,
                batch_bytes=self.batch_bytes,
            )
        raise AssertionError("unreachable")  # pragma: no cover


def import_destination(
    home: Path, dovecot: DovecotAccess | None
) -> MaildirImportDestination | ImapImportDestination:
    """The destination matching ``infrastructure.mailstore.mail_store(home, dovecot)``."""
    if dovecot is None:
        return MaildirImportDestination(MaildirMailStore(home / "mail"))
    return ImapImportDestination.from_access(dovecot)
