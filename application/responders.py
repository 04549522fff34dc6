"""Use cases of auto-responders (RSP-1..RSP-9, ADR-12): one entry point for each.

Messages, templates and the history are here; the delivery decision is
:class:`application.replydelivery.ReplyDelivery` and the alternative sender's code
:class:`application.senderverification.SenderVerification`, reached through
:class:`Responders` so that an embedder has one object for everything a responder does.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from datetime import date, datetime
from typing import Required, TypedDict, Unpack
from uuid import UUID

from attrs import Factory, field, frozen

from application.authorization import require_admin
from application.context import command
from application.delegation import Delegated
from application.log import MailHostLog
from application.mailservices import MailServices
from application.ports import (
    Clock,
    CredentialStore,
    EngineMail,
    Fingerprints,
    ReplyHistoryEntry,
    ResponderQueries,
    ResponderStatus,
)
from application.replydelivery import ReplyDelivery
from application.responderlog import ResponderLog
from application.senderverification import SenderVerification
from domain.address import EmailAddress
from domain.errors import InvalidInput
from domain.hosted import AddressKind
from domain.mailservice import MailService
from domain.responder import AutoResponder
from domain.respondermessage import MessageDraft, ResponderMessage
from domain.responderpolicy import ResponderPolicy, responder_id
from domain.templates import ResponderTemplate


class DraftFields(TypedDict, total=False):
    """The fields of a :class:`MessageDraft` but its name, as keywords of add and edit."""

    body: Required[str]
    subject: str | None
    weekdays: Iterable[str]
    start: date | datetime | None
    end: date | datetime | None
    sender: str | None
    exclusions: Iterable[str]


# The history is read for a screen or a script: more rows than this in one answer are
# a mistake (and a number past SQLite's 64-bit integers fails in the driver).
MAX_HISTORY = 10_000


@frozen
class Responders:
    log: MailHostLog
    services: MailServices
    fingerprints: Fingerprints
    credentials: CredentialStore
    mail: EngineMail
    clock: Clock
    views: ResponderQueries
    policy: ResponderPolicy = field(factory=ResponderPolicy)
    responders: ResponderLog = field(
        init=False,
        default=Factory(
            lambda self: ResponderLog(self.log, self.services, self.clock),
            takes_self=True,
        ),
    )
    delivery: ReplyDelivery = field(
        init=False,
        default=Factory(
            lambda self: ReplyDelivery(
                self.log, self.services, self.mail.port, self.clock, self.policy
            ),
            takes_self=True,
        ),
    )
    verification: SenderVerification = field(
        init=False,
        default=Factory(
            lambda self: SenderVerification(
                self.responders,
                self.fingerprints,
                self.credentials,
                self.mail,
                self.clock,
                self.policy,
            ),
            takes_self=True,
        ),
    )

    @command
    def save_message(
        self,
        address: str,
        draft: MessageDraft,
        *,
        time_zone: str | None = None,
        by: UUID | None,
    ) -> ResponderMessage:
        """Save a message (not active until activated); the first one sets the zone."""

        def change(responder: AutoResponder) -> ResponderMessage:
            if time_zone and time_zone != responder.time_zone:
                responder.change_time_zone(time_zone, at=self.clock.now())
            return responder.save_message(draft, at=self.clock.now())

        return self.responders.change(address, by, change, time_zone=time_zone)

    @command
    def edit_message(
        self,
        address: str,
        draft: MessageDraft,
        *,
        reset_memory: bool = False,
        by: UUID | None,
    ) -> ResponderMessage:
        """Replace a message's fields; its 7-day memory stays unless ``reset_memory``."""
        return self.responders.change(
            address,
            by,
            lambda r: r.edit_message(
                draft, reset_memory=reset_memory, at=self.clock.now()
            ),
        )

    @command
    def add(
        self,
        address: str,
        name: str,
        *,
        time_zone: str | None = None,
        by: UUID | None,
        **fields: Unpack[DraftFields],
    ) -> ResponderMessage:
        """:meth:`save_message` with the draft's fields as keywords (the embedding API)."""
        draft = MessageDraft(name=name, **fields)
        return self.save_message(address, draft, time_zone=time_zone, by=by)

    @command
    def edit(
        self,
        address: str,
        name: str,
        *,
        reset_memory: bool = False,
        by: UUID | None,
        **fields: Unpack[DraftFields],
    ) -> ResponderMessage:
        """:meth:`edit_message` with the draft's fields as keywords (the embedding API)."""
        draft = MessageDraft(name=name, **fields)
        return self.edit_message(address, draft, reset_memory=reset_memory, by=by)

    @command
    def delete(self, address: str, name: str, *, by: UUID | None) -> None:
        self.responders.change(
            address, by, lambda r: r.delete_message(name, at=self.clock.now())
        )

    @command
    def activate(self, address: str, name: str, *, by: UUID | None) -> None:
        """RSP-1: at most one active message; activating one deactivates the other."""
        self.responders.change(
            address, by, lambda r: r.activate(name, at=self.clock.now())
        )

    @command
    def deactivate(self, address: str, *, by: UUID | None) -> None:
        self.responders.change(address, by, lambda r: r.deactivate(at=self.clock.now()))

    @command
    def reset(self, address: str, name: str, *, by: UUID | None) -> int:
        """RSP-5: forget who got this message; the next mail from anyone gets it again."""
        return self.responders.change(
            address, by, lambda r: r.reset_memory(name, at=self.clock.now())
        )

    @command
    def set_time_zone(self, address: str, time_zone: str, *, by: UUID | None) -> None:
        self.responders.change(
            address,
            by,
            lambda r: r.change_time_zone(time_zone, at=self.clock.now()),
            time_zone=time_zone,
        )

    def status(self, address: str) -> ResponderStatus | None:
        _, mailbox = self.services.mailbox(address)
        return self.views.status(mailbox.address, self.clock.now())

    def history(self, address: str, limit: int = 100) -> list[ReplyHistoryEntry]:
        """The newest ``limit`` replies (1..:data:`MAX_HISTORY`)."""
        count = _history_limit(limit)
        _, mailbox = self.services.mailbox(address)
        return self.views.history(mailbox.address, count)

    def get(self, address: str) -> AutoResponder | None:
        _, mailbox = self.services.mailbox(address)
        return self.log.find(responder_id(mailbox.address), AutoResponder)

    request_sender_verification = Delegated("verification", SenderVerification.request)
    confirm_sender = Delegated("verification", SenderVerification.confirm)

    @command
    def save_template(
        self,
        domain: str,
        name: str,
        *,
        body: str,
        subject: str | None = None,
        by: UUID | None,
    ) -> None:
        def decide_(service: MailService) -> None:
            require_admin(self.log, service, by)
            service.save_responder_template(
                name, subject=subject, body=body, at=self.clock.now()
            )

        self.services.update(domain, decide_)

    @command
    def apply_template(
        self,
        domain: str,
        name: str,
        *,
        activate: bool = False,
        by: UUID | None,
    ) -> int:
        """Save the template as a message of every mailbox of the domain (ADR-12).

        All the mailboxes change in one transaction, so a failure changes none; running
        it again updates the text and leaves an already active message active.
        """

        def attempt() -> int:
            service = self.services.get(domain)
            require_admin(self.log, service, by)
            draft = _draft_of(service.responder_template(name))
            at = self.clock.now()
            changed = []
            for entry in service.addresses.values():
                if entry.kind is not AddressKind.MAILBOX:
                    continue
                address = EmailAddress.parse(service.address_of(entry))
                responder = self.log.find(responder_id(address), AutoResponder)
                if responder is None:
                    responder = AutoResponder.provision(address, time_zone="UTC", at=at)
                _put_template(responder, draft, activate=activate, at=at)
                changed.append(responder)
            if changed:
                self.log.save(*changed)
            return len(changed)

        return self.log.retrying(attempt)

    deliver = Delegated("delivery", ReplyDelivery.deliver)
    reply_sent = Delegated("delivery", ReplyDelivery.reply_sent)
    send_reply = Delegated("delivery", ReplyDelivery.send_reply)


def _history_limit(limit: object) -> int:
    """``limit`` as a row count, or InvalidInput naming it (nan, inf, 10**100, 0)."""
    if isinstance(limit, float) and not math.isfinite(limit):
        raise InvalidInput(f"limit must be a whole number, not {limit}")
    if isinstance(limit, bool) or not isinstance(limit, int):
        kind = type(limit).__name__
        raise InvalidInput(f"limit must be a whole number, not a {kind}")
    if not 1 <= limit <= MAX_HISTORY:
        # Not echoed: str() of a 5,000-digit int raises (sys.int_info's digit limit).
        raise InvalidInput(f"limit must be a whole number from 1 to {MAX_HISTORY}")
    return limit


def _draft_of(template: ResponderTemplate) -> MessageDraft:
    """A template becomes a message by the rules of a message (ADR-12)."""
    return MessageDraft(
        name=template.name, body=template.body, subject=template.subject
    )


def _put_template(
    responder: AutoResponder,
    draft: MessageDraft,
    *,
    activate: bool,
    at: datetime,
) -> None:
    if draft.key in responder.messages:
        responder.edit_message(draft, at=at)
    else:
        responder.save_message(draft, at=at)
    if activate and responder.active != draft.key:
        responder.activate(draft.name, at=at)
