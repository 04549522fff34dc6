"""Deleting addresses (ADR-11): the slots freed at once, the content destroyed by a job.

A mailbox's aliases go with it, and its auto-responder is retired (kept, so that an
address created again with the name reuses it without its old memory of senders).
"""

from __future__ import annotations

from collections.abc import Sequence
from uuid import UUID

from attrs import frozen

from application.authorization import require_admin
from application.context import command
from application.creation import responder_of
from application.log import MailHostLog
from application.mailservices import MailServices, split_address
from application.ports import Clock
from domain.errors import InvalidInput
from domain.hosted import AddressKind, parse_domain, parse_local_part
from domain.mailbox import Mailbox


@frozen
class AddressDeletion:
    log: MailHostLog
    services: MailServices
    clock: Clock

    @command
    def delete(self, addresses: Sequence[str], *, by: UUID | None) -> tuple[str, ...]:
        """Delete one or several addresses of one domain; their content is destroyed.

        All are checked, then the log records the deletions in one transaction: that
        frees the slots at once. The content and the login go by ``sync_store`` (storesync), the job
        the deletions start (retried until the store has done it), so nothing is
        destroyed for a deletion that was not recorded, and no recorded deletion keeps
        its content for good.
        """
        if not addresses:
            raise InvalidInput("name at least one address to delete")
        domains = {parse_domain(split_address(a)[1])[0] for a in addresses}
        if len(domains) != 1:
            raise InvalidInput("delete the addresses of one domain at a time")
        service = self.services.get(domains.pop())
        require_admin(self.log, service, by)
        locals_ = [parse_local_part(a, service.domain) for a in addresses]
        return self.log.retrying(lambda: self._release(service.domain, locals_))

    def _release(self, domain: str, locals_: Sequence[str]) -> tuple[str, ...]:
        """Free the local parts and delete their mailboxes (with their aliases)."""
        service = self.services.get(domain)
        at = self.clock.now()
        before = dict(service.addresses)
        doomed = {
            service.entry(lp).mailbox_id
            for lp in locals_
            if service.entry(lp).kind is not AddressKind.ALIAS
        }
        service.release(locals_, at=at)
        released = [e for key, e in before.items() if key not in service.addresses]
        boxes = {m: self.log.load(m, Mailbox, "address") for m in doomed}
        responders = []
        for box in boxes.values():
            box.delete(at=at)
            responder = responder_of(self.log, box)
            if responder is not None:
                responder.retire(at=at)
                responders.append(responder)
        for entry in released:
            if entry.kind is AddressKind.ALIAS and entry.mailbox_id not in doomed:
                if entry.mailbox_id not in boxes:
                    boxes[entry.mailbox_id] = self.log.load(
                        entry.mailbox_id, Mailbox, "address"
                    )
                boxes[entry.mailbox_id].remove_aliases(
                    [service.address_of(entry)], at=at
                )
        self.log.save(service, *boxes.values(), *responders)
        return tuple(service.address_of(e) for e in released)
