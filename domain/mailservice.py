"""Mail services (ADR-1, ADR-2, ADR-8, ADR-10, ADR-12): one domain, a quota of addresses.

The service is the boundary of the address rules: every local part of its domain
(mailboxes, aliases, redirections, generic addresses) is unique case-insensitively, and
addresses that take a slot never exceed the quota. Each address also has its own
``Mailbox`` aggregate; both are saved in one transaction.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from uuid import UUID, uuid5

from eventsourcing.domain import Aggregate

from domain import ids, templates
from domain.address import shown
from domain.dmarc import dmarc_policy
from domain.errors import AlreadyExists, DomainError, InvalidInput, NotFound
from domain.hosted import (
    TAKES_SLOT,
    AddressEntry,
    AddressKind,
    ClaimProblem,
    local_key,
    parse_domain,
)
from domain.permissions import ALL_PERMISSIONS, Permission
from domain.templates import ResponderTemplate
from domain.time import utc

# Imported from here by the read models and the responder use cases; they live in
# domain/hosted.py and domain/templates.py.
__all__ = [
    "MailService",
    "QuotaExceeded",
    "service_id",
]

MAX_QUOTA = 1_000_000


class QuotaExceeded(DomainError):  # noqa: N818 - reads as what happened
    """No free address slot: the admin orders more (ADR-1)."""


def service_id(domain: str) -> UUID:
    return uuid5(ids.NAMESPACE, f"service:{domain.lower()}")


class MailService(Aggregate):
    organisation_id: UUID
    domain: str
    display_domain: str
    quota: int
    addresses: dict[str, AddressEntry]
    generations: dict[str, int]
    catch_all: UUID | None
    default_permissions: tuple[Permission, ...]
    signature_templates: dict[str, str]
    responder_templates: dict[str, ResponderTemplate]
    dmarc_policy: str | None

    class Created(Aggregate.Created):
        organisation_id: UUID
        domain: str
        display_domain: str
        quota: int

    def __init__(
        self, organisation_id: UUID, domain: str, display_domain: str, quota: int
    ) -> None:
        self.organisation_id = organisation_id
        self.domain = domain
        self.display_domain = display_domain
        self.quota = quota
        self.addresses = {}
        self.generations = {}
        self.catch_all = None
        self.default_permissions = ALL_PERMISSIONS
        self.signature_templates = {}
        self.responder_templates = {}
        self.dmarc_policy = None

    @classmethod
    def create(
        cls, organisation_id: UUID, domain: str, *, quota: int, at: datetime
    ) -> MailService:
        ascii_domain, display = parse_domain(domain)
        _check_quota(quota)
        return cls._create(
            cls.Created,
            id=service_id(ascii_domain),
            timestamp=utc(at),
            organisation_id=organisation_id,
            domain=ascii_domain,
            display_domain=display,
            quota=quota,
        )

    @property
    def used(self) -> int:
        return sum(entry.kind in TAKES_SLOT for entry in self.addresses.values())

    @property
    def free(self) -> int:
        return self.quota - self.used

    def entry(self, local_part: str) -> AddressEntry:
        found = self.addresses.get(local_key(local_part))
        if found is None:
            raise NotFound(f"address {local_part}@{self.domain} does not exist")
        return found

    def address_of(self, entry: AddressEntry) -> str:
        return f"{entry.local_part}@{self.domain}"

    # -- quota ---------------------------------------------------------------------

    class QuotaIncreased(Aggregate.Event):
        added: int

        def apply(self, aggregate: MailService) -> None:
            aggregate.quota += self.added

    def increase_quota(self, added: int, *, at: datetime) -> None:
        if added < 1:
            raise InvalidInput("a quota increase adds at least one address")
        _check_quota(self.quota + added)
        self.trigger_event(self.QuotaIncreased, timestamp=utc(at), added=added)

    # -- addresses -------------------------------------------------------------------

    def new_mailbox_id(self, local_part: str) -> UUID:
        """The id the next address with this local part gets (derived, never reused)."""
        key = local_key(local_part)
        generation = self.generations.get(key, 0) + 1
        return uuid5(self.id, f"address:{key}:{generation}")

    class AddressesClaimed(Aggregate.Event):
        entries: tuple[AddressEntry, ...]

        def apply(self, aggregate: MailService) -> None:
            for entry in self.entries:
                aggregate.addresses[entry.key] = entry
                aggregate.generations[entry.key] = (
                    aggregate.generations.get(entry.key, 0) + 1
                )

    def claim(self, entries: Sequence[AddressEntry], *, at: datetime) -> None:
        """Take local parts (one, or a whole file's worth, all or nothing)."""
        if not entries:
            raise InvalidInput("no address to create")
        problems = self.problems(entries)
        if problems:
            first = problems[0]
            more = (
                f" (and {len(problems) - 1} more problem(s))"
                if len(problems) > 1
                else ""
            )
            raise first.error(first.reason + more)
        self.trigger_event(
            self.AddressesClaimed, timestamp=utc(at), entries=tuple(entries)
        )

    def problems(self, entries: Sequence[AddressEntry]) -> list[ClaimProblem]:
        """Each entry that cannot be claimed, and why; [] when all can.

        The one place these rules are worded: a CSV file's report adds only the line and
        the column (application/bulk.py).
        """
        found: list[ClaimProblem] = []
        seen: dict[str, int] = {}
        for i, entry in enumerate(entries):
            problem = self._entry_problem(entry, entries, seen)
            if problem is not None:
                found.append(ClaimProblem(i, *problem))
            seen.setdefault(entry.key, i)
        needed = sum(e.kind in TAKES_SLOT for e in entries)
        if needed > self.free:
            found.append(
                ClaimProblem(
                    len(entries) - 1,
                    f"no free address slot: {self.used} of {self.quota} used, {needed} more "
                    f"needed; increase the quota of {self.domain}",
                    QuotaExceeded,
                )
            )
        return found

    def _entry_problem(
        self,
        entry: AddressEntry,
        entries: Sequence[AddressEntry],
        seen: dict[str, int],
    ) -> tuple[str, type[DomainError]] | None:
        address = f"{entry.local_part}@{self.domain}"
        existing = self.addresses.get(entry.key)
        if existing is not None:
            there = self.address_of(existing)
            kind = existing.kind.value
            if there == address:
                return f"address {address} exists already ({kind})", AlreadyExists
            # Named as asked and as it exists: the two differ only in case (ADR-2).
            reason = (
                f"address {address} exists already: {there} exists already ({kind}) "
                "and case does not tell addresses apart"
            )
            return reason, AlreadyExists
        if entry.key in seen:
            first = seen[entry.key] + 1
            return (
                f"address {address} is listed twice (first as entry {first})",
                InvalidInput,
            )
        if entry.kind is AddressKind.ALIAS and not self._is_mailbox(
            entry.mailbox_id, entries
        ):
            return (
                f"alias {address} must point at a mailbox of {self.domain}",
                InvalidInput,
            )
        return None

    def _is_mailbox(self, mailbox_id: UUID, pending: Iterable[AddressEntry]) -> bool:
        candidates = [*self.addresses.values(), *pending]
        return any(
            e.mailbox_id == mailbox_id and e.kind is AddressKind.MAILBOX
            for e in candidates
        )

    class AddressesReleased(Aggregate.Event):
        keys: tuple[str, ...]

        def apply(self, aggregate: MailService) -> None:
            for key in self.keys:
                entry = aggregate.addresses.pop(key)
                if (
                    entry.kind is not AddressKind.ALIAS
                    and aggregate.catch_all == entry.mailbox_id
                ):
                    aggregate.catch_all = None

    def release(
        self, local_parts: Sequence[str], *, at: datetime
    ) -> tuple[AddressEntry, ...]:
        """Free the local parts (ADR-11); a mailbox's aliases go with it."""
        if not local_parts:
            raise InvalidInput("no address to delete")
        entries = [self.entry(lp) for lp in local_parts]
        doomed = {e.mailbox_id for e in entries if e.kind is not AddressKind.ALIAS}
        keys = {e.key for e in entries}
        keys |= {k for k, e in self.addresses.items() if e.mailbox_id in doomed}
        released = tuple(sorted(keys))
        self.trigger_event(self.AddressesReleased, timestamp=utc(at), keys=released)
        return tuple(entries)

    # -- catch-all, permissions, templates, DNS ---------------------------------------

    class CatchAllChanged(Aggregate.Event):
        mailbox_id: UUID | None

        def apply(self, aggregate: MailService) -> None:
            aggregate.catch_all = self.mailbox_id

    def set_catch_all(self, mailbox_id: UUID | None, *, at: datetime) -> None:
        """At most one catch-all per domain (ADR-8): setting one replaces the other."""
        if mailbox_id is not None and not self._is_mailbox(mailbox_id, ()):
            raise InvalidInput(
                "the catch-all must deliver into a mailbox of this domain"
            )
        if mailbox_id == self.catch_all:
            raise InvalidInput("that is the catch-all already")
        self.trigger_event(
            self.CatchAllChanged, timestamp=utc(at), mailbox_id=mailbox_id
        )

    class DefaultPermissionsChanged(Aggregate.Event):
        permissions: tuple[Permission, ...]

        def apply(self, aggregate: MailService) -> None:
            aggregate.default_permissions = self.permissions

    def set_default_permissions(
        self, permissions: Iterable[Permission], *, at: datetime
    ) -> None:
        chosen = tuple(sorted(set(permissions)))
        self.trigger_event(
            self.DefaultPermissionsChanged, timestamp=utc(at), permissions=chosen
        )

    class SignatureTemplateSaved(Aggregate.Event):
        name: str
        text: str

        def apply(self, aggregate: MailService) -> None:
            aggregate.signature_templates[self.name] = self.text

    def save_signature_template(self, name: str, text: str, *, at: datetime) -> None:
        """A signature the admin applies to mailboxes (ADR-12), checked as a signature.

        A template that a mailbox's signature would refuse could be saved but never
        applied, so it is refused here, by the same rule.
        """
        clean, signature = templates.signature_template(name, text)
        self.trigger_event(
            self.SignatureTemplateSaved, timestamp=utc(at), name=clean, text=signature
        )

    def signature(self, name: str | None) -> str:
        if not name:
            return ""
        if name not in self.signature_templates:
            raise NotFound(
                f"signature template {shown(name)} does not exist in {self.domain}"
            )
        return self.signature_templates[name]

    class ResponderTemplateSaved(Aggregate.Event):
        template: ResponderTemplate

        def apply(self, aggregate: MailService) -> None:
            aggregate.responder_templates[self.template.name] = self.template

    def save_responder_template(
        self, name: str, *, subject: str | None, body: str, at: datetime
    ) -> None:
        """An auto-responder text the admin applies to addresses (ADR-12).

        Checked with the limits of the responder message it becomes (its name, subject
        and body), so a saved template can always be applied.
        """
        template = templates.responder_template(name, subject=subject, body=body)
        self.trigger_event(
            self.ResponderTemplateSaved, timestamp=utc(at), template=template
        )

    def responder_template(self, name: str) -> ResponderTemplate:
        key = templates.template_name(name, field="responder template")
        found = self.responder_templates.get(key)
        if found is None:
            raise NotFound(
                f"responder template {shown(name)} does not exist in {self.domain}"
            )
        return found

    class DmarcRecorded(Aggregate.Event):
        policy: str | None

        def apply(self, aggregate: MailService) -> None:
            aggregate.dmarc_policy = self.policy

    def record_dmarc(self, record: str | None, *, at: datetime) -> None:
        """What DNS says of ``_dmarc.<domain>`` (ADV-4), as the operator's check found it."""
        policy = None if not record else dmarc_policy(record)
        self.trigger_event(self.DmarcRecorded, timestamp=utc(at), policy=policy)


def _check_quota(quota: int) -> None:
    if not 1 <= quota <= MAX_QUOTA:
        raise InvalidInput(f"the quota must be between 1 and {MAX_QUOTA} addresses")
