"""An address hosted here, read as an import source (IMP-5), through the provider's store.

The application has checked the address's own password when the import was requested;
reading it needs no password of the user's: the embedded maildirs are read directly,
and the provider's Dovecot is read with its master login (``address*master``), as the
import destination writes it.
"""

from __future__ import annotations

from application.importports import HostedSource, SourceMailbox
from domain.importsource import ImportSource, Security
from infrastructure.dovecot import MASTER_SEPARATOR, DovecotAccess
from infrastructure.imap import ImapEndpoint
from infrastructure.imapsource import ImapMailSource
from infrastructure.maildir import MaildirMailStore
from infrastructure.maildirsource import MaildirMailSource
from infrastructure.passwdfile import normalise_address

_SECURITY = {
    "implicit": Security.TLS,
    "starttls": Security.STARTTLS,
    "none": Security.NONE,
}


class MaildirHostedSource:
    def __init__(self, store: MaildirMailStore) -> None:
        self.source = MaildirMailSource(store)

    def __repr__(self) -> str:
        return f"MaildirHostedSource({str(self.source.store.root)!r})"

    def open(self, address: str) -> SourceMailbox:
        return self.source.open_address(address)


class DovecotHostedSource:
    def __init__(self, access: DovecotAccess, source: ImapMailSource) -> None:
        self._access = access
        self.source = source
        self.endpoint = ImapEndpoint.parse(access.imap_url)

    def __repr__(self) -> str:  # no password, even by accident
        return (
            f"DovecotHostedSource(host={self.endpoint.host!r},"
            f" port={self.endpoint.port})"
        )

    def open(self, address: str) -> SourceMailbox:
        login = (
            f"{normalise_address(address)}{MASTER_SEPARATOR}{self._access.master_user}"
        )
        source = ImportSource(
            self.endpoint.host,
            self.endpoint.port,
            _SECURITY[self.endpoint.tls],
            login,
        )
        return self.source.open(source, self._access.master_password)


def hosted_source(
    store: MaildirMailStore, dovecot: DovecotAccess | None, source: ImapMailSource
) -> HostedSource:
    """The reader matching the configured mail store."""
    if dovecot is None:
        return MaildirHostedSource(store)
    return DovecotHostedSource(dovecot, source)
