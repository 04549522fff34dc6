"""The values of a mailbox import: its sources, folder counts, states and failure reasons.

Kept apart from the aggregate (:mod:`domain.importjob`, which re-exports them) so the
read models and the copy loop can use them without the aggregate.
"""

from __future__ import annotations

from collections.abc import Iterable
from enum import StrEnum
from uuid import UUID

import attrs
from attrs import frozen

from domain.address import identity
from domain.errors import InvalidInput
from domain.importsource import ImportSource, Security

MAX_SOURCES = 2


class FailureReason(StrEnum):
    """Why a source, a message or a whole job failed; each has a sentence for users."""

    AUTHENTICATION_FAILED = "authentication_failed"
    UNREACHABLE = "unreachable"
    TLS_FAILED = "tls_failed"
    FOLDER_VANISHED = "folder_vanished"
    MESSAGE_REFUSED = "message_refused"
    TOO_LARGE = "too_large"
    SOURCE_REFUSED = "source_refused"
    OAUTH_REQUIRED = "oauth_required"
    CANCELLED = "cancelled"
    DESTINATION_FAILED = "destination_failed"
    CREDENTIALS_MISSING = "credentials_missing"
    ALL_SOURCES_FAILED = "all_sources_failed"

    @property
    def text(self) -> str:
        return _REASON_TEXT[self]


_REASON_TEXT = {
    FailureReason.AUTHENTICATION_FAILED: "the source refused the user name or password",
    FailureReason.UNREACHABLE: "the source server could not be reached",
    FailureReason.TLS_FAILED: "the secure connection to the source failed",
    FailureReason.FOLDER_VANISHED: "a folder disappeared from the source while copying",
    FailureReason.MESSAGE_REFUSED: "the destination refused a message",
    FailureReason.TOO_LARGE: "a message is larger than the destination accepts",
    FailureReason.SOURCE_REFUSED: "the source server refused a request",
    FailureReason.OAUTH_REQUIRED: "the provider accepts only OAuth2 (XOAUTH2) logins",
    FailureReason.CANCELLED: "the import was cancelled before it started",
    FailureReason.DESTINATION_FAILED: "the destination mailbox could not be written",
    FailureReason.CREDENTIALS_MISSING: "the source password is no longer available",
    FailureReason.ALL_SOURCES_FAILED: "no source could be imported",
}


class JobState(StrEnum):
    REQUESTED = "requested"
    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"


OVER = frozenset({JobState.COMPLETED, JobState.FAILED, JobState.CANCELLED})


@frozen
class SourceRef:
    """A source as the job keeps it: how to reach it and which sealed password opens it.

    ``hosted``: an address of this provider (IMP-5), read through its own store; its
    ``user`` is the address and ``host``/``port`` are not used.
    """

    host: str
    port: int
    security: Security
    user: str
    credential_id: UUID
    ca_file: str | None = None
    insecure: bool = False
    hosted: bool = False

    @classmethod
    def of(cls, source: ImportSource, credential_id: UUID) -> SourceRef:
        """The checked source, every field of it, with the sealed password that opens it."""
        return cls(credential_id=credential_id, **attrs.asdict(source, recurse=False))

    @classmethod
    def hosted_address(cls, address: str, credential_id: UUID) -> SourceRef:
        return cls(
            host="",
            port=0,
            security=Security.NONE,
            user=address,
            credential_id=credential_id,
            hosted=True,
        )

    @property
    def source(self) -> ImportSource:
        """How the adapter connects (an external source only)."""
        return ImportSource(
            self.host, self.port, self.security, self.user, self.ca_file, self.insecure
        )

    @property
    def identity(self) -> tuple[str, int, str]:
        """Two refs with one identity are the same mailbox read twice."""
        if self.hosted:
            return ("", 0, identity(self.user))
        return (self.host.lower(), self.port, self.user.casefold())

    @property
    def label(self) -> str:
        """How a confirmation or status names the source: ``user`` or ``user at host``."""
        return self.user if self.hosted else f"{self.user} at {self.host}"


@frozen
class FolderTotal:
    """A source folder's size before copying, for progress totals."""

    name: str
    messages: int
    size: int


@frozen
class FolderCounts:
    """What happened to a folder's messages so far (cumulative)."""

    copied: int = 0
    skipped: int = 0
    failed: int = 0
    size: int = 0

    def __add__(self, other: FolderCounts) -> FolderCounts:
        return FolderCounts(
            self.copied + other.copied,
            self.skipped + other.skipped,
            self.failed + other.failed,
            self.size + other.size,
        )


@frozen
class FolderResult:
    """The checkpoint of a finished folder; ``failures``: (reason value, messages)."""

    destination_folder: str
    copied: int
    skipped: int
    failures: tuple[tuple[str, int], ...]
    size: int

    @property
    def counts(self) -> FolderCounts:
        return FolderCounts(
            self.copied, self.skipped, sum(n for _, n in self.failures), self.size
        )


def count_of(value: int, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise InvalidInput(
            f"{what} must be a whole number of at least 0, not {value!r}"
        )
    return value


def merge_failures(failures: Iterable[tuple[str, int]]) -> tuple[tuple[str, int], ...]:
    """(reason, count) pairs merged per reason, in reason order; zero counts dropped."""
    merged: dict[FailureReason, int] = {}
    for reason, count in failures:
        try:
            known = FailureReason(reason)
        except ValueError:
            raise InvalidInput(f"{reason!r} is not a failure reason") from None
        merged[known] = merged.get(known, 0) + count_of(count, "a failure count")
    return tuple((r.value, n) for r, n in sorted(merged.items()) if n)
