"""One address of a mail service: its users, permissions, password reference, usage.

Created for yourself (ADR-3), for other users of the organisation (ADR-4), by
invitation (ADR-5) or unassigned (ADR-6). Redirections (ADR-10) and generic no-reply
addresses (ADR-8) are mailboxes of their own kind; aliases are names of a mailbox.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta
from uuid import UUID

from eventsourcing.domain import Aggregate

from domain.creation import CreationMode, first_users
from domain.errors import AlreadyExists, InvalidInput, NotFound, NotPermitted
from domain.hosted import AddressKind
from domain.mailboxfacts import allow_list, megabytes
from domain.permissions import Permission
from domain.redirect import targets_of
from domain.signature import clean_signature
from domain.time import utc

# Imported from here by the read models, the use cases and the tests; it lives in
# domain/creation.py.

SEND_WINDOW = timedelta(days=1)


class Mailbox(Aggregate):
    service_id: UUID
    address: str
    kind: AddressKind
    mode: CreationMode
    creator_id: UUID | None
    credential_id: UUID | None
    users: dict[UUID, dict[Permission, bool]]
    linked: set[UUID]
    signature: str
    aliases: tuple[str, ...]
    targets: tuple[str, ...]
    deleted: bool
    allow_list: tuple[str, ...]
    protocols: dict[str, bool]
    usage: tuple[int, int] | None
    sent: tuple[tuple[datetime, int], ...]

    class Created(Aggregate.Created):
        service_id: UUID
        address: str
        kind: AddressKind
        mode: CreationMode
        creator_id: UUID | None
        credential_id: UUID | None
        users: tuple[UUID, ...]
        linked: tuple[UUID, ...]
        signature: str
        targets: tuple[str, ...]

    def __init__(
        self,
        *,
        service_id: UUID,
        address: str,
        kind: AddressKind,
        mode: CreationMode,
        creator_id: UUID | None,
        credential_id: UUID | None,
        users: tuple[UUID, ...],
        linked: tuple[UUID, ...],
        signature: str,
        targets: tuple[str, ...],
    ) -> None:
        self.service_id = service_id
        self.address = address
        self.kind = kind
        self.mode = mode
        self.creator_id = creator_id
        # A reference into the credential store: the IMAP/SMTP password's hash.
        self.credential_id = credential_id
        self.users = {user: {} for user in users}
        self.linked = set(linked)
        self.signature = signature
        self.aliases = ()
        self.targets = targets
        self.deleted = False
        self.allow_list = ()
        self.protocols = {}
        self.usage = None
        self.sent = ()

    @classmethod
    def create(
        cls,
        mailbox_id: UUID,
        service_id: UUID,
        address: str,
        *,
        kind: AddressKind,
        mode: CreationMode,
        creator_id: UUID | None,
        credential_id: UUID | None,
        users: Iterable[UUID] = (),
        signature: str = "",
        targets: Iterable[str] = (),
        at: datetime,
    ) -> Mailbox:
        """Decide who sees the address in their mail app and how it is reached."""
        assigned = first_users(mode, creator_id, users)
        return cls._create(
            cls.Created,
            id=mailbox_id,
            timestamp=utc(at),
            service_id=service_id,
            address=address,
            kind=kind,
            mode=mode,
            creator_id=creator_id,
            credential_id=credential_id,
            users=assigned,
            linked=assigned,
            signature=clean_signature(signature),
            targets=targets_of(kind, targets, address),
        )

    def _require_live(self) -> None:
        if self.deleted:
            raise NotFound(f"address {self.address} was deleted")

    # -- users, links and permissions (ORG-3) -----------------------------------------

    def allows(
        self, user_id: UUID, permission: Permission, defaults: Iterable[Permission]
    ) -> bool:
        """A user of the address may, by their own override or else by the service default."""
        if self.deleted or user_id not in self.users:
            return False
        override = self.users[user_id].get(permission)
        return permission in set(defaults) if override is None else override

    class UserAssigned(Aggregate.Event):
        user_id: UUID
        link: bool

        def apply(self, aggregate: Mailbox) -> None:
            aggregate.users.setdefault(self.user_id, {})
            if self.link:
                aggregate.linked.add(self.user_id)

    def assign(self, user_id: UUID, *, link: bool = True, at: datetime) -> None:
        self._require_live()
        if user_id in self.users and (not link or user_id in self.linked):
            raise AlreadyExists(f"the user is already assigned to {self.address}")
        self.trigger_event(
            self.UserAssigned, timestamp=utc(at), user_id=user_id, link=link
        )

    class UserUnassigned(Aggregate.Event):
        user_id: UUID

        def apply(self, aggregate: Mailbox) -> None:
            aggregate.users.pop(self.user_id, None)
            aggregate.linked.discard(self.user_id)

    def unassign(self, user_id: UUID, *, at: datetime) -> None:
        self._require_live()
        if user_id not in self.users:
            raise NotFound(f"the user is not assigned to {self.address}")
        self.trigger_event(self.UserUnassigned, timestamp=utc(at), user_id=user_id)

    class PermissionChanged(Aggregate.Event):
        user_id: UUID
        permission: Permission
        allowed: bool | None

        def apply(self, aggregate: Mailbox) -> None:
            overrides = aggregate.users[self.user_id]
            if self.allowed is None:
                overrides.pop(self.permission, None)
            else:
                overrides[self.permission] = self.allowed

    def set_permission(
        self,
        user_id: UUID,
        permission: Permission,
        allowed: bool | None,
        *,
        at: datetime,
    ) -> None:
        """Grant, withdraw, or (None) return to the service default, at any time."""
        self._require_live()
        if user_id not in self.users:
            raise NotFound(f"the user is not assigned to {self.address}")
        self.trigger_event(
            self.PermissionChanged,
            timestamp=utc(at),
            user_id=user_id,
            permission=permission,
            allowed=allowed,
        )

    # -- password (PWD-1, PWD-2, ADR-7) ----------------------------------------------------

    class PasswordChanged(Aggregate.Event):
        credential_id: UUID
        by: UUID | None
        kept_links: tuple[UUID, ...]

        def apply(self, aggregate: Mailbox) -> None:
            aggregate.credential_id = self.credential_id

    def change_password(
        self, credential_id: UUID, *, by: UUID | None, at: datetime
    ) -> tuple[UUID, ...]:
        """Point at a new IMAP/SMTP credential; return the links that keep working.

        ADR-7: every client that used the old password loses access; mail apps linked by
        account (not by password) keep theirs.
        """
        self._require_live()
        if self.kind not in {AddressKind.MAILBOX, AddressKind.NO_REPLY}:
            raise InvalidInput(
                f"{self.address} is a {self.kind.value}: it has no password"
            )
        kept = tuple(sorted(self.linked))
        self.trigger_event(
            self.PasswordChanged,
            timestamp=utc(at),
            credential_id=credential_id,
            by=by,
            kept_links=kept,
        )
        return kept

    # -- aliases, signature ---------------------------------------------------------------

    class AliasAdded(Aggregate.Event):
        alias: str

        def apply(self, aggregate: Mailbox) -> None:
            aggregate.aliases = (*aggregate.aliases, self.alias)

    def add_alias(self, alias: str, *, at: datetime) -> None:
        self._require_live()
        if self.kind is not AddressKind.MAILBOX:
            raise InvalidInput(
                f"{self.address} is a {self.kind.value}: only mailboxes have aliases"
            )
        self.trigger_event(self.AliasAdded, timestamp=utc(at), alias=alias)

    class AliasesRemoved(Aggregate.Event):
        aliases: tuple[str, ...]

        def apply(self, aggregate: Mailbox) -> None:
            gone = {a.casefold() for a in self.aliases}
            aggregate.aliases = tuple(
                a for a in aggregate.aliases if a.casefold() not in gone
            )

    def remove_aliases(self, aliases: Iterable[str], *, at: datetime) -> None:
        self._require_live()
        self.trigger_event(
            self.AliasesRemoved, timestamp=utc(at), aliases=tuple(aliases)
        )

    class SignatureChanged(Aggregate.Event):
        signature: str

        def apply(self, aggregate: Mailbox) -> None:
            aggregate.signature = self.signature

    def set_signature(self, signature: str, *, at: datetime) -> None:
        self._require_live()
        self.trigger_event(
            self.SignatureChanged,
            timestamp=utc(at),
            signature=clean_signature(signature),
        )

    # -- deletion (ADR-11) ------------------------------------------------------------------

    class Deleted(Aggregate.Event):
        def apply(self, aggregate: Mailbox) -> None:
            aggregate.deleted = True
            aggregate.linked.clear()

    def delete(self, *, at: datetime) -> None:
        self._require_live()
        self.trigger_event(self.Deleted, timestamp=utc(at))

    # -- facts the advisories read (ADV-1..3) --------------------------------------------

    class AllowListChanged(Aggregate.Event):
        entries: tuple[str, ...]

        def apply(self, aggregate: Mailbox) -> None:
            aggregate.allow_list = self.entries

    def set_allow_list(self, entries: Iterable[str], *, at: datetime) -> None:
        """The antispam allow-list: addresses or @domains that are never filtered."""
        self._require_live()
        clean = allow_list(entries)
        self.trigger_event(self.AllowListChanged, timestamp=utc(at), entries=clean)

    class ClientAccessRecorded(Aggregate.Event):
        protocol: str
        keeps_copy: bool

        def apply(self, aggregate: Mailbox) -> None:
            aggregate.protocols[self.protocol] = self.keeps_copy

    def record_client_access(
        self, protocol: str, *, keeps_copy: bool, at: datetime
    ) -> None:
        """A client fetched mail by POP3 or IMAP (and, for POP3, kept a copy or not)."""
        self._require_live()
        name = protocol.strip().lower()
        if name not in {"pop3", "imap"}:
            raise InvalidInput(f"protocol {protocol!r} is not pop3 or imap")
        if self.protocols.get(name) == keeps_copy:
            return
        self.trigger_event(
            self.ClientAccessRecorded,
            timestamp=utc(at),
            protocol=name,
            keeps_copy=keeps_copy,
        )

    class UsageRecorded(Aggregate.Event):
        used_mb: int
        limit_mb: int

        def apply(self, aggregate: Mailbox) -> None:
            aggregate.usage = (self.used_mb, self.limit_mb)

    def record_usage(self, used_mb: int, limit_mb: int, *, at: datetime) -> None:
        self._require_live()
        used = megabytes(used_mb, field="usage used_mb", least=0)
        limit = megabytes(limit_mb, field="limit_mb", least=1)
        self.trigger_event(
            self.UsageRecorded, timestamp=utc(at), used_mb=used, limit_mb=limit
        )

    # -- sending limits (SND-3) ---------------------------------------------------------

    def sent_in_window(self, at: datetime) -> int:
        since = utc(at) - SEND_WINDOW
        return sum(1 for when, _ in self.sent if when > since)

    class MessageSent(Aggregate.Event):
        recipients: int
        message_id: str

        def apply(self, aggregate: Mailbox) -> None:
            since = self.timestamp - SEND_WINDOW
            aggregate.sent = (
                *((w, n) for w, n in aggregate.sent if w > since),
                (self.timestamp, self.recipients),
            )

    def record_sent(
        self,
        recipients: int,
        message_id: str,
        *,
        max_recipients: int,
        max_per_day: int,
        at: datetime,
    ) -> None:
        """Count a message against the limits; refused past them with the reason (SND-3)."""
        self._require_live()
        if recipients < 1:
            raise InvalidInput("a message needs at least one recipient")
        if recipients > max_recipients:
            raise NotPermitted(
                f"{recipients} recipients is over the limit of {max_recipients} per message; "
                "for mass mailings use a newsletter or mass-mailing tool"
            )
        if self.sent_in_window(at) >= max_per_day:
            raise NotPermitted(
                f"{self.address} has sent {max_per_day} messages in the last 24 hours, the "
                "limit; try later, or use a mass-mailing tool for large sends"
            )
        self.trigger_event(
            self.MessageSent,
            timestamp=utc(at),
            recipients=recipients,
            message_id=message_id,
        )
