"""Mail services (ADR-1, ADR-2, ADR-8, ADR-10, ADR-12): one domain, a quota of addresses.

The service is the boundary of the address rules: every local part of its domain
(mailboxes, aliases, redirections, generic addresses) is unique case-insensitively, and
addresses that take a slot never exceed the quota. Each address also has its own
``Mailbox`` aggregate; both are saved in one transaction.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable, Sequence
from datetime import datetime
from enum import StrEnum
from uuid import UUID, uuid5

import email_validator
from attrs import frozen
from eventsourcing.domain import Aggregate

from domain import ids
from domain.address import EmailAddress, shown
from domain.errors import AlreadyExists, DomainError, InvalidInput, NotFound
from domain.permissions import ALL_PERMISSIONS, Permission
from domain.responder import MAX_NAME_LENGTH, MAX_SUBJECT_LENGTH
from domain.text import clean_block, clean_line
from domain.time import utc

MAX_QUOTA = 1_000_000
MAX_TEMPLATE = 20_000
# A DMARC record is a TXT record of a few tags, rarely over 300 characters; one longer
# than several 255-octet TXT strings is no record a DNS check would hand over.
MAX_DMARC_RECORD = 2048


class QuotaExceeded(DomainError):  # noqa: N818 - reads as what happened
    """No free address slot: the admin orders more (ADR-1)."""


class AddressKind(StrEnum):
    MAILBOX = "mailbox"
    ALIAS = "alias"
    REDIRECT = "redirect"
    NO_REPLY = "no_reply"


# Aliases belong to a mailbox and take no slot of their own.
TAKES_SLOT = frozenset(
    {AddressKind.MAILBOX, AddressKind.REDIRECT, AddressKind.NO_REPLY}
)


@frozen
class AddressEntry:
    local_part: str
    kind: AddressKind
    mailbox_id: UUID

    @property
    def key(self) -> str:
        return local_key(self.local_part)


@frozen
class ResponderTemplate:
    name: str
    subject: str | None
    body: str


@frozen
class ClaimProblem:
    index: int
    reason: str
    error: type[DomainError]


def local_key(local_part: str) -> str:
    """The key a local part is unique under in its domain (ADR-2): NFC, lower-cased.

    Never case-folded: folding merges distinct Unicode local parts (``straße`` and
    ``strasse``, long s and s), as domain.address.identity explains. Hosted local parts
    are ASCII (parse_local_part), where ``lower()`` equals ``casefold()`` and NFC changes
    nothing, so the keys stored in the log and the mailbox ids derived from them
    (new_mailbox_id) are the same as when they were case-folded.
    """
    return unicodedata.normalize("NFC", local_part).lower()


def service_id(domain: str) -> UUID:
    return uuid5(ids.NAMESPACE, f"service:{domain.lower()}")


def parse_domain(text: str) -> tuple[str, str]:
    """(ASCII domain, display domain): IDNs are stored in their A-label form (IDNA 2008)."""
    try:
        valid = email_validator.validate_email(
            f"postmaster@{text.strip()}", check_deliverability=False, strict=True
        )
    except email_validator.EmailNotValidError as e:
        raise InvalidInput(f"domain {text!r} is not a valid domain name: {e}") from None
    return valid.ascii_domain.lower(), valid.domain


def parse_local_part(text: str, domain: str) -> str:
    """The part before the @, validated as a hosted address (RFC 5321 4.5.3.1.1, ASCII).

    "*" is refused too: a hosted address logs in to IMAP, where "*" separates a master
    login from the user it acts for; so are "/" and a leading "#", which the mail store
    cannot keep as a folder name and a credential line.
    """
    local = text.strip()
    if not local:
        raise InvalidInput("the local part (before the @) is empty")
    given = EmailAddress.parse(
        local if "@" in local else f"{local}@{domain}", what="address", smtputf8=False
    )
    if given.domain != domain:
        raise InvalidInput(f"address {text!r} is not in the domain {domain}")
    if "*" in given.local_part:
        raise InvalidInput(
            f"address {given} may not contain '*' (reserved for master logins)"
        )
    if "/" in given.local_part or given.local_part.startswith("#"):
        raise InvalidInput(
            f"address {given} may not contain '/' nor start with '#' (the mail store "
            "keeps one folder and one credential line per address)"
        )
    return given.local_part


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
        """Each entry that cannot be claimed, and why; [] when all can."""
        found: list[ClaimProblem] = []
        seen: dict[str, int] = {}
        for i, entry in enumerate(entries):
            address = f"{entry.local_part}@{self.domain}"
            if entry.key in self.addresses:
                found.append(
                    ClaimProblem(i, f"address {address} exists already", AlreadyExists)
                )
            elif entry.key in seen:
                found.append(
                    ClaimProblem(
                        i,
                        f"address {address} is listed twice (first as entry {seen[entry.key] + 1})",
                        InvalidInput,
                    )
                )
            elif entry.kind is AddressKind.ALIAS and not self._is_mailbox(
                entry.mailbox_id, entries
            ):
                found.append(
                    ClaimProblem(
                        i,
                        f"alias {address} must point at a mailbox of {self.domain}",
                        InvalidInput,
                    )
                )
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
        clean = _template_name(name)
        signature = clean_block(
            text, field=f"signature template {clean!r}", max_length=MAX_TEMPLATE
        )
        self.trigger_event(
            self.SignatureTemplateSaved, timestamp=utc(at), name=clean, text=signature
        )

    def signature(self, name: str | None) -> str:
        if not name:
            return ""
        if name not in self.signature_templates:
            raise NotFound(
                f"signature template {name!r} does not exist in {self.domain}"
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
        clean = _template_name(name)
        field = f"responder template {clean!r}"
        text = clean_block(body, field=f"{field} body", max_length=MAX_TEMPLATE)
        if not text.strip():
            raise InvalidInput(f"{field} body is empty")
        line = (
            None
            if subject is None
            else clean_line(
                subject, field=f"{field} subject", max_length=MAX_SUBJECT_LENGTH
            )
        )
        self.trigger_event(
            self.ResponderTemplateSaved,
            timestamp=utc(at),
            template=ResponderTemplate(clean, line or None, text),
        )

    def responder_template(self, name: str) -> ResponderTemplate:
        found = self.responder_templates.get(" ".join(name.split()))
        if found is None:
            raise NotFound(
                f"responder template {name!r} does not exist in {self.domain}"
            )
        return found

    class DmarcRecorded(Aggregate.Event):
        policy: str | None

        def apply(self, aggregate: MailService) -> None:
            aggregate.dmarc_policy = self.policy

    def record_dmarc(self, record: str | None, *, at: datetime) -> None:
        """What DNS says of ``_dmarc.<domain>`` (ADV-4), as the operator's check found it."""
        policy = None if not record else _dmarc_policy(_dmarc_text(record))
        self.trigger_event(self.DmarcRecorded, timestamp=utc(at), policy=policy)


def _dmarc_text(record: str) -> str:
    """The record as one clean line; tabs are blanks of its grammar (RFC 7489 6.4, WSP)."""
    return clean_line(
        record.replace("\t", " "), field="DMARC record", max_length=MAX_DMARC_RECORD
    )


def _dmarc_policy(record: str) -> str:
    """The ``p`` tag of a DMARC record (RFC 7489 6.3, 6.4): ``v=DMARC1`` first, blanks allowed."""
    tags = [part.split("=", 1) for part in record.split(";") if part.strip()]
    if not tags or any(len(tag) != 2 for tag in tags):  # noqa: PLR2004 - name=value
        raise InvalidInput(f"{shown(record)} is not a DMARC record (v=DMARC1; p=...)")
    pairs = [(name.strip().lower(), value.strip()) for name, value in tags]
    if pairs[0] != ("v", "DMARC1"):
        raise InvalidInput(
            f"{shown(record)} is not a DMARC record: it must start with v=DMARC1"
        )
    values = dict(pairs)
    if "p" not in values:
        raise InvalidInput(f"{shown(record)} is not a DMARC record (v=DMARC1; p=...)")
    policy = values["p"].lower()
    if policy not in {"none", "quarantine", "reject"}:
        raise InvalidInput(
            f"DMARC policy {shown(policy)} is not none/quarantine/reject"
        )
    return policy


def _template_name(name: str) -> str:
    """A template's name is also the name of the responder message it becomes."""
    clean = clean_line(name, field="a template name", max_length=MAX_NAME_LENGTH)
    if not clean:
        raise InvalidInput(
            f"a template name has 1 to {MAX_NAME_LENGTH} printable characters"
        )
    return clean


def _check_quota(quota: int) -> None:
    if not 1 <= quota <= MAX_QUOTA:
        raise InvalidInput(f"the quota must be between 1 and {MAX_QUOTA} addresses")
