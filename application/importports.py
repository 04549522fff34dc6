"""The ports a mailbox import speaks through: a source to read, a destination to fill.

Kept beside ``application.ports`` rather than in it because only the import use cases
need them. The adapters are ``infrastructure.imapsource`` (any IMAP server) and
``infrastructure.importdestination`` (the provider's own store: maildirs or Dovecot).
Both sides give keys computed by ``domain.importplan.message_key``, so the multiset
rule compares like with like.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Final, Protocol
from uuid import UUID

from attrs import frozen

from domain.importplan import MessageKey, SourceFolder, SpecialUse
from domain.importsource import ImportSource

# No message above this is read from a source: a server announcing a larger literal is
# refused unread (memory stays bounded whatever it claims), and a message whose
# RFC822.SIZE is above it is counted ``too_large`` without being fetched.
MAX_MESSAGE_BYTES: Final = 256 * 1024 * 1024


@frozen
class SourceMessage:
    """One message as read from the source, ready to be stored unchanged."""

    uid: int
    raw: bytes
    # IMAP flags as the server names them: system flags with their backslash
    # (``\\Seen``), keywords as they are (``$Forwarded``, ``Work``). ``\\Recent`` never.
    flags: tuple[str, ...]
    internal_date: datetime  # aware
    key: MessageKey


@frozen
class FolderTotal:
    messages: int
    size: int


class ImportSourceError(Exception):
    """The source cannot be read as asked.

    ``reason`` is a ``domain.importjob.FailureReason`` value; ``transient`` says whether a
    later attempt may succeed (a dropped connection) or not (a refused password). The
    text names the server and what failed, never a password.
    """

    def __init__(self, reason: str, detail: str, *, transient: bool) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail
        self.transient = transient


class DestinationError(ImportSourceError):
    """The destination, not the source, failed: never counted as a source ``unreachable``.

    ``reason`` is ``destination_failed`` unless a narrower one applies.
    """


class FolderRefused(DestinationError):  # noqa: N818 - reads as what happened
    """The destination cannot hold this folder (its name is too long for the store, or
    not a name it accepts): that folder fails for good, the others are still copied."""

    def __init__(self, detail: str) -> None:
        super().__init__("destination_failed", detail, transient=False)


class SourceMailbox(Protocol):
    def folders(self) -> list[SourceFolder]:
        """Every folder, parents before children; ``\\Noselect`` ones unselectable."""
        ...

    def total(self, folder: SourceFolder) -> FolderTotal:
        """Messages and bytes in the folder, for progress; cheap (no message bodies)."""
        ...

    def keys(self, folder: SourceFolder) -> list[tuple[int, MessageKey]]:
        """(UID, key) of every message, in UID order; headers only, never bodies.

        Raises ``ImportSourceError`` with reason ``folder_vanished`` when the folder is
        gone (deleted between LIST and SELECT).
        """
        ...

    def fetch(
        self, folder: SourceFolder, uids: Sequence[int]
    ) -> Iterator[SourceMessage]:
        """The messages of ``uids`` in that order, streamed in batches bounded in bytes.

        A UID expunged meanwhile is skipped, not an error.
        """
        ...

    def state(self, folder: SourceFolder) -> str:
        """What changes whenever a message is added to or removed from the folder (for
        IMAP: UIDVALIDITY, UIDNEXT and MESSAGES); "" when the server cannot say."""
        ...

    def close(self) -> None: ...


class MailSource(Protocol):
    def open(self, source: ImportSource, password: str) -> SourceMailbox:
        """Connect and log in, or raise ``ImportSourceError`` (never echoing the password)."""
        ...


class DestinationMailbox(Protocol):
    def special_folders(self) -> Mapping[SpecialUse, tuple[str, ...]]:
        """The destination's own Sent, Trash, Drafts, Junk, Archive... as path parts."""
        ...

    def ensure_folder(self, path: tuple[str, ...], *, container: bool = False) -> None:
        """Create the folder and its parents if missing; a container holds no messages."""
        ...

    def keys(self, path: tuple[str, ...]) -> list[MessageKey]:
        """The key of every message already in the folder (empty for a new folder)."""
        ...

    def append(
        self, path: tuple[str, ...], messages: Sequence[SourceMessage]
    ) -> list[str | None]:
        """Store the messages with their flags and internal dates, in order.

        One result per message: None when stored, else the ``FailureReason`` value why
        the destination refused it (``too_large``, ``message_refused``): one bad message
        does not fail the others. A lost connection raises ``ImportSourceError``
        (transient), and the caller recomputes what is missing from ``keys``.
        """
        ...

    def state(self, path: tuple[str, ...]) -> str:
        """What changes whenever a message is added to or removed from the folder
        (Dovecot: UIDVALIDITY, UIDNEXT, MESSAGES; maildir: the count and a digest of
        the message files' unique names); "" for a missing folder or when unknown."""
        ...

    def close(self) -> None: ...


class ImportDestination(Protocol):
    def open(self, address: str) -> DestinationMailbox:
        """The address's mailbox in the provider's store, created if it has none yet."""
        ...


class HostedSource(Protocol):
    """An address of this provider read as a source (IMP-5), through its own store.

    No password travels: the address's password was checked when the import was
    requested, and the store is read as the provider (maildirs, or the master login).
    """

    def open(self, address: str) -> SourceMailbox: ...


# -- the read model of imports (projections.imports) -------------------------------------


@frozen
class SourceProgress:
    """One source of an import: who, and what became of its messages."""

    label: str  # "user at host", or the hosted address
    copied: int = 0
    skipped: int = 0
    failed: int = 0
    reason: str | None = None  # a FailureReason value when this source failed


@frozen
class ImportProgress:
    """One import as its users see it; ``rate`` and ``eta`` are derived, never stored."""

    job_id: UUID
    destination: str
    state: str  # requested | running | completed | failed | cancelled
    requested_at: datetime
    messages_done: int = 0
    messages_total: int = 0
    bytes_done: int = 0
    bytes_total: int = 0
    copied: int = 0
    skipped: int = 0
    failed: int = 0
    current_folder: str | None = None
    started_at: datetime | None = None
    updated_at: datetime | None = None
    finished_at: datetime | None = None
    reason: str | None = None
    sources: tuple[SourceProgress, ...] = ()

    @property
    def rate(self) -> float | None:
        """Messages per second since the start, or None before anything was timed."""
        if self.started_at is None or self.updated_at is None:
            return None
        seconds = (self.updated_at - self.started_at).total_seconds()
        if seconds <= 0 or self.messages_done == 0:
            return None
        return self.messages_done / seconds

    def eta(self, now: datetime) -> datetime | None:
        """When the copy should end at the rate so far; None when not running or unknown."""
        rate = self.rate
        if self.state != "running" or rate is None or self.updated_at is None:
            return None
        left = max(self.messages_total - self.messages_done, 0)
        return max(now, self.updated_at + timedelta(seconds=left / rate))


@frozen
class FolderState:
    """A source folder as the last import that finished it left both sides.

    The states are the adapters' ``state`` strings; equal states on both sides now mean
    the folder needs nothing copied (RFC 3501: an append raises UIDNEXT, an expunge
    lowers MESSAGES or comes with an append).
    """

    source_state: str
    destination_folder: str  # "/"-joined path parts, as in ``FolderResult``
    destination_state: str


class ImportQueries(Protocol):
    def progress(self, job_id: UUID) -> ImportProgress | None: ...

    def for_user(self, user_id: UUID) -> list[ImportProgress]:
        """The imports a user requested or whose destination they use, newest first."""
        ...

    def for_destination(self, address: str) -> list[ImportProgress]:
        """The imports into an address, newest first."""
        ...

    def recent(self, limit: int) -> list[ImportProgress]:
        """Every import, newest first, at most ``limit`` (``mailhost import status``)."""
        ...

    def folder_states(
        self, destination: str, source: tuple[str, int, str]
    ) -> Mapping[str, FolderState]:
        """Per source folder, the states the last finished copy of this source
        (``SourceRef.identity``) into this address left; a lagging read model only
        offers fewer."""
        ...


__all__ = [
    "MAX_MESSAGE_BYTES",
    "DestinationError",
    "DestinationMailbox",
    "FolderRefused",
    "FolderState",
    "FolderTotal",
    "HostedSource",
    "ImportDestination",
    "ImportProgress",
    "ImportQueries",
    "ImportSourceError",
    "MailSource",
    "SourceMailbox",
    "SourceMessage",
    "SourceProgress",
]
