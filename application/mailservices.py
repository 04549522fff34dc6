"""Use cases of mail services: create, quota, catch-all, defaults, templates, DNS facts."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import TypeVar
from uuid import UUID

from attrs import frozen

from application.authorization import require_admin
from application.context import command
from application.log import MailHostLog
from application.ports import Clock
from domain import ids
from domain.address import shown
from domain.errors import InvalidInput
from domain.hosted import parse_domain, parse_local_part
from domain.mailbox import Mailbox
from domain.mailservice import MailService, service_id
from domain.organisation import Organisation
from domain.permissions import Permission
from domain.text import forbidden_character

T = TypeVar("T")


def split_address(address: str) -> tuple[str, str]:
    """(local part, domain) as typed; validated later against the domain's service.

    Control characters are refused first: split on its last "@",
    ``carol@example.org\r\nBcc: evil@example.net`` would name a mailbox of
    example.net with a header in its local part.
    """
    bad = forbidden_character(address)
    if bad is not None:
        raise InvalidInput(
            f"address {shown(address)} contains a control character ({bad})"
        )
    local, _, domain = address.strip().rpartition("@")
    if not local:
        raise InvalidInput(f"address {shown(address)} has no @domain")
    return local, domain


@frozen
class MailServices:
    log: MailHostLog
    clock: Clock

    @command
    def create(
        self,
        organisation: str | UUID,
        domain: str,
        *,
        quota: int,
        by: UUID | None,
    ) -> UUID:
        org_id = ids.organisation_key(organisation)
        org = self.log.load(org_id, Organisation, f"organisation {organisation!s}")
        service = MailService.create(org.id, domain, quota=quota, at=self.clock.now())
        require_admin(self.log, service, by)
        self.log.create(service, what=f"mail service {service.domain}")
        return service.id

    def get(self, domain: str) -> MailService:
        ascii_domain, _ = parse_domain(domain)
        return self.log.load(
            service_id(ascii_domain), MailService, f"mail service {domain}"
        )

    def read(self, domain: str) -> MailService:
        """The domain's service to read only (``MailHostLog.read``): never mutate it."""
        ascii_domain, _ = parse_domain(domain)
        return self.log.read(
            service_id(ascii_domain), MailService, f"mail service {domain}"
        )

    def mailbox(self, address: str) -> tuple[MailService, Mailbox]:
        """The service and the mailbox an address (or an alias of it) names."""
        return self._mailbox(address, self.get, self.log.load)

    def read_mailbox(self, address: str) -> tuple[MailService, Mailbox]:
        """``mailbox`` to read only (``MailHostLog.read``): never mutate either.

        The delivery decision looks both up for every message; the copies ``mailbox``
        makes are for commands that change them.
        """
        return self._mailbox(address, self.read, self.log.read)

    @staticmethod
    def _mailbox(
        address: str,
        service_of: Callable[[str], MailService],
        get: Callable[[UUID, type[Mailbox], str], Mailbox],
    ) -> tuple[MailService, Mailbox]:
        local, domain = split_address(address)
        service = service_of(domain)
        entry = service.entry(parse_local_part(local, service.domain))
        return service, get(entry.mailbox_id, Mailbox, f"address {address}")

    @command
    def increase_quota(self, domain: str, added: int, *, by: UUID | None) -> int:
        def decide(service: MailService) -> int:
            require_admin(self.log, service, by)
            service.increase_quota(added, at=self.clock.now())
            return service.quota

        return self.update(domain, decide)

    @command
    def set_default_permissions(
        self,
        domain: str,
        permissions: Iterable[Permission],
        *,
        by: UUID | None,
    ) -> None:
        def decide(service: MailService) -> None:
            require_admin(self.log, service, by)
            service.set_default_permissions(permissions, at=self.clock.now())

        self.update(domain, decide)

    @command
    def save_signature_template(
        self, domain: str, name: str, text: str, *, by: UUID | None
    ) -> None:
        def decide(service: MailService) -> None:
            require_admin(self.log, service, by)
            service.save_signature_template(name, text, at=self.clock.now())

        self.update(domain, decide)

    @command
    def set_catch_all(
        self, domain: str, address: str | None, *, by: UUID | None
    ) -> None:
        """Deliver unknown local parts to ``address`` (ADR-8), or stop (None)."""
        target = self.mailbox(address)[1].id if address else None

        def decide(service: MailService) -> None:
            require_admin(self.log, service, by)
            service.set_catch_all(target, at=self.clock.now())

        self.update(domain, decide)

    @command
    def record_dmarc(self, domain: str, record: str | None, *, by: UUID | None) -> None:
        """The operator's DNS check found this ``_dmarc`` TXT record (or none)."""

        def decide(service: MailService) -> None:
            require_admin(self.log, service, by)
            service.record_dmarc(record, at=self.clock.now())

        self.update(domain, decide)

    def update(self, domain: str, decide: Callable[[MailService], T]) -> T:
        ascii_domain, _ = parse_domain(domain)
        return self.log.update(
            service_id(ascii_domain), MailService, f"mail service {domain}", decide
        )
