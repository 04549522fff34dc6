"""The embedding contract: every port the engine's use cases speak through, in one place.

``MailHost.assemble`` takes an object for each of these (any object with the methods;
they are Protocols, not base classes). The adapters in ``infrastructure/`` implement the
outward ports (clock, hashing, secrets, mail, mail store, geolocation, sealing); the
read models in ``projections/`` implement the query ports, whose rows are the frozen
values below.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from email.message import EmailMessage
from hashlib import sha256
from ipaddress import IPv4Address, IPv6Address
from typing import Protocol, runtime_checkable
from uuid import UUID

from attrs import frozen

from domain.advice import Advice
from domain.schedule import Schedule


class Clock(Protocol):
    def now(self) -> datetime:
        """The current time as an aware UTC datetime."""
        ...


class Geolocator(Protocol):
    def locate(self, ip: IPv4Address | IPv6Address) -> str:
        """A place such as "Geneva, CH", or "" when unknown."""
        ...


class Background(Protocol):
    def settle(self, timeout: float = 30.0) -> None:
        """Block until every event so far is projected and every due job has run.

        Embedded callers (the demo, tests, a request handler that reads its own
        writes) use it; with Redis workers it waits for the queue to drain.
        """
        ...

    def close(self) -> None: ...


class MailStore(Protocol):
    def set_password(self, address: str, encoded: str) -> None:
        """Make ``encoded`` (a password hash) the address's login credential."""
        ...

    def set_passwords(self, entries: Mapping[str, str]) -> None:
        """Many addresses at once (bulk creation): one write, not one per address."""
        ...

    def destroy(self, address: str) -> None:
        """Delete every folder and message of the address and its login (ADR-11).

        Idempotent: destroying an address that has nothing left succeeds.
        """
        ...


@frozen
class OutgoingMail:
    """A message and its envelope; the envelope, not the headers, decides delivery."""

    envelope_from: str
    recipients: tuple[str, ...]
    message: EmailMessage


class MailSender(Protocol):
    def send(self, mail: OutgoingMail) -> None:
        """Hand the mail over, or raise; returning means the server accepted it."""
        ...


@frozen
class EngineMail:
    """The engine's own mail to people (alerts, notices, codes, invitations): the port
    it goes out through and the From address it bears, which always travel together."""

    port: MailSender
    sender: str

    def send(self, mail: OutgoingMail) -> None:
        self.port.send(mail)

    def message_id(self, kind: str, about: str) -> str:
        """A Message-ID derived from what the mail is about: a job that sends again
        (it crashed before recording the send) sends recognisably the same mail."""
        digest = sha256(about.encode()).hexdigest()[:32]
        return f"<{kind}.{digest}@{self.sender.rpartition('@')[2] or 'localhost'}>"


class PasswordHasher(Protocol):
    def hash(self, password: str) -> str:
        """A slow salted hash for a password a person chose."""
        ...

    def hash_generated(self, password: str) -> str:
        """A salted hash for a high-entropy password the engine generated."""
        ...

    def verify(self, encoded: str, password: str) -> bool:
        """Constant-time check; False for a wrong password, never an exception."""
        ...

    def verify_dummy(self, password: str) -> None:
        """Spend the time of one verification, so unknown logins answer as slowly."""
        ...


@frozen
class SessionRecord:
    """What a session token opens; the log decides whether the session is still live.

    ``persistent`` false: the embedding service keeps the cookie for the browser session
    only, so every browser start asks for a login (MFA-6). ``restricted``: a session that
    may only enrol a second factor, opened where the organisation enforces two-step
    verification and the user has none yet (MFA-7).
    """

    account_id: UUID
    session_id: UUID
    persistent: bool = True
    restricted: bool = False


class CredentialStore(Protocol):
    def put_secret(
        self, credential_id: UUID, encoded: str, *, owner: UUID | None = None
    ) -> None:
        """Store a secret; ``owner`` is the aggregate whose events will name it.

        A row whose owner never came to name it (a crash between this write and the
        save) is an orphan that a sweep removes.
        """
        ...

    def secret(self, credential_id: UUID) -> str | None: ...

    def forget_secret(self, credential_id: UUID) -> None: ...

    def take_secret(self, credential_id: UUID) -> str | None:
        """Read and delete in one step: of concurrent takers exactly one gets the row.

        What makes a one-time secret (a pending login, an SMS code) single use.
        """
        ...

    def swap_secret(self, credential_id: UUID, expected: str, new: str) -> bool:
        """Replace the row's value only if it still is ``expected`` (compare-and-set).

        False when another writer changed (or deleted) it first: a WebAuthn signature
        counter moves forward once per assertion, never back.
        """
        ...

    def put_session(self, token_digest: str, record: SessionRecord) -> None: ...

    def session(self, token_digest: str) -> SessionRecord | None: ...

    def forget_sessions(self, session_ids: tuple[UUID, ...]) -> None: ...


class Fingerprints(Protocol):
    """Keyed one-way digests of bearer tokens (device and session tokens).

    A keyed digest (HMAC) rather than a plain hash: a stolen copy of the log or the
    store cannot be matched against tokens without the key.
    """

    def digest(self, token: str) -> str: ...

    def new_token(self) -> str:
        """A fresh unguessable token of at least 128 bits."""
        ...


@runtime_checkable
class OwnedSecrets(Protocol):
    """What the orphan sweep needs of a credential store that records owners.

    A row is *unconfirmed* until the sweep has seen its owner's events name it; a
    confirmed row (or one stored before owners were recorded) is never swept.
    """

    def unconfirmed_secrets(
        self, stored_before: datetime, *, after: UUID | None = None, limit: int = ...
    ) -> Sequence[tuple[UUID, UUID]]:
        """(credential id, owner) pairs in credential id order, after ``after``."""
        ...

    def confirm_secrets(self, credential_ids: Iterable[UUID]) -> None: ...

    def forget_unconfirmed(self, credential_ids: Iterable[UUID]) -> int:
        """Delete those rows unless confirmed meanwhile; how many went."""
        ...


class SealBroken(ValueError):  # noqa: N818 - reads as what happened
    """The sealed text was altered, belongs to another context, or another key sealed it."""


class Sealer(Protocol):
    def seal(self, plaintext: bytes, *, context: str) -> str:
        """Encrypt and authenticate; ``context`` (e.g. the run id) is bound, not hidden."""
        ...

    def unseal(self, sealed: str, *, context: str) -> bytes:
        """The plaintext, or ``SealBroken`` (never a partial or unauthenticated result)."""
        ...


@frozen
class ActivityEntry:
    at: datetime
    kind: str
    outcome: str
    place: str = ""
    network: str = ""
    device: str = ""
    detail: str = ""
    # Repeats of the same failure from the same network and client are one line.
    count: int = 1


class ActivityQueries(Protocol):
    def recent(self, account_id: UUID, limit: int = 50) -> list[ActivityEntry]:
        """Newest first."""
        ...


@frozen
class DirectoryEntry:
    address: str
    kind: str
    users: tuple[str, ...]
    linked: tuple[str, ...]
    permissions: dict[str, dict[str, bool]]
    catch_all: bool = False


@frozen
class Directory:
    domain: str
    display_domain: str
    quota: int
    used: int
    entries: tuple[DirectoryEntry, ...]


class AdvisoryQueries(Protocol):
    def advice(self, domain: str) -> list[Advice] | None:
        """The advisories of a domain (ADV-1..4), or None when it has no mail service."""
        ...


class DirectoryQueries(Protocol):
    def directory(self, domain: str) -> Directory | None: ...

    def mail_app(self, account_id: UUID) -> list[str]:
        """The addresses linked to the user's mail app, sorted."""
        ...


@frozen
class ReplyHistoryEntry:
    sender: str
    message: str
    at: datetime
    message_id: str
    sent: bool


@frozen
class MessageStatus:
    name: str
    subject: str | None
    active: bool
    schedule: Schedule
    generation: int


@frozen
class ResponderStatus:
    address: str
    time_zone: str
    active: str | None
    next_change: datetime | None
    messages: tuple[MessageStatus, ...]


class ResponderQueries(Protocol):
    def history(self, address: str, limit: int = 100) -> list[ReplyHistoryEntry]:
        """The replies sent from the address, newest first, with their senders."""
        ...

    def status(self, address: str, now: datetime) -> ResponderStatus | None:
        """Active message, schedules and the next change; None without a responder."""
        ...
