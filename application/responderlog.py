"""Every change of an auto-responder goes the same way: load or provision, authorise, save.

The use cases of messages, templates and alternative senders all change one
:class:`AutoResponder` of one mailbox; this is where they load it, check RSP-3 and save
it, retried on a conflict with another worker.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar
from uuid import UUID

from attrs import frozen

from application.authorization import require_permission
from application.log import MailHostLog
from application.mailservices import MailServices
from application.ports import Clock
from domain.address import EmailAddress
from domain.errors import InvalidInput
from domain.hosted import AddressKind
from domain.permissions import Permission
from domain.responder import AutoResponder
from domain.responderpolicy import responder_id

T = TypeVar("T")


@frozen
class ResponderLog:
    log: MailHostLog
    services: MailServices
    clock: Clock

    def change(
        self,
        address: str,
        by: UUID | None,
        change: Callable[[AutoResponder], T],
        *,
        time_zone: str | None = None,
    ) -> T:
        """Load (or provision) the address's responder, check RSP-3, change, save."""

        def attempt() -> T:
            service, mailbox = self.services.mailbox(address)
            if mailbox.kind is not AddressKind.MAILBOX:
                raise InvalidInput(
                    f"{mailbox.address} is a {mailbox.kind.value}: no responder"
                )
            require_permission(
                self.log, service, mailbox, by, Permission.MANAGE_RESPONDER
            )
            responder = self.log.find(responder_id(mailbox.address), AutoResponder)
            if responder is None:
                responder = AutoResponder.provision(
                    EmailAddress.parse(mailbox.address),
                    time_zone=time_zone or "UTC",
                    at=self.clock.now(),
                )
            result = change(responder)
            self.log.save(responder)
            return result

        return self.log.retrying(attempt)
