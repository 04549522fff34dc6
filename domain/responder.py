"""The auto-responder of an address (RSP-1..RSP-6).

:class:`AutoResponder`, one per address: the saved messages, which one is active, the
mailbox time zone and the verified alternative senders. It never holds per-sender data:
the memory of its replies (RSP-4) is in :mod:`domain.replywindow`, so that deciding stays
as fast for the 100,000th sender as for the first.

The values they are made of live beside them: ids and policy in
:mod:`domain.responderpolicy`, schedules in :mod:`domain.schedule`, messages in
:mod:`domain.respondermessage`, pending senders in :mod:`domain.senderverification`.
"""

from __future__ import annotations

from datetime import datetime
from uuid import UUID
from zoneinfo import ZoneInfo

from attrs import evolve
from eventsourcing.domain import Aggregate

from domain.address import EmailAddress
from domain.errors import AlreadyExists, InvalidInput, NotFound, NotPermitted
from domain.respondermessage import (
    MessageDraft,
    ResponderConfig,
    ResponderMessage,
)
from domain.responderpolicy import (
    ResponderPolicy,
    address_key,
    name_key,
    responder_id,
)
from domain.schedule import parse_time_zone
from domain.senderverification import (
    DAY,
    PendingSender,
    check_mail_budget,
    mails_since,
)
from domain.text import forbidden_character
from domain.time import utc


class AutoResponder(Aggregate):
    """The auto-responder of one address: saved messages, at most one active (RSP-1)."""

    # Declared for snapshots: the mapper restores each attribute to this type.
    address: str
    time_zone: str
    messages: dict[str, ResponderMessage]
    active: str | None
    generations: int
    verified_senders: set[str]
    pending_senders: dict[str, PendingSender]
    verification_mails: dict[str, list[datetime]]

    class Provisioned(Aggregate.Created):
        address: str
        time_zone: str

    def __init__(self, address: str, time_zone: str) -> None:
        self.address = address
        self.time_zone = time_zone
        self.messages: dict[str, ResponderMessage] = {}
        self.active: str | None = None
        # The last generation handed out; each save and reset takes the next one.
        self.generations = 0
        self.verified_senders: set[str] = set()
        self.pending_senders: dict[str, PendingSender] = {}
        # When codes were mailed, per alternative address, over the last day.
        self.verification_mails: dict[str, list[datetime]] = {}

    @classmethod
    def provision(
        cls, address: EmailAddress, *, time_zone: str, at: datetime
    ) -> AutoResponder:
        zone = parse_time_zone(time_zone)
        return cls._create(
            cls.Provisioned,
            id=responder_id(address),
            timestamp=utc(at),
            address=str(address),
            time_zone=zone.key,
        )

    @property
    def zone(self) -> ZoneInfo:
        return parse_time_zone(self.time_zone)

    def message(self, name: str) -> ResponderMessage:
        bad = forbidden_character(name)
        if bad is not None:
            # No saved name holds one (clean_line): refused as such, not as unknown.
            raise InvalidInput(f"message name contains a control character ({bad})")
        found = self.messages.get(name_key(name))
        if found is None:
            raise NotFound(f"no auto-responder message named {name!r}")
        return found

    @property
    def active_message(self) -> ResponderMessage | None:
        return None if self.active is None else self.messages[self.active]

    def config(self) -> ResponderConfig:
        return ResponderConfig(
            address=self.address,
            time_zone=self.time_zone,
            active=self.active_message,
        )

    class TimeZoneChanged(Aggregate.Event):
        time_zone: str

        def apply(self, aggregate: AutoResponder) -> None:
            aggregate.time_zone = self.time_zone

    def change_time_zone(self, time_zone: str, *, at: datetime) -> None:
        """Schedules keep their wall-clock times and are read in the new zone."""
        zone = parse_time_zone(time_zone)
        if zone.key == self.time_zone:
            raise InvalidInput(f"the time zone is already {zone.key}")
        self.trigger_event(self.TimeZoneChanged, timestamp=utc(at), time_zone=zone.key)

    def _saved(
        self, draft: MessageDraft, *, name: str, generation: int
    ) -> ResponderMessage:
        """The draft as this responder keeps it: its zone, a verified sender (RSP-2)."""
        alternative: str | None = None
        sender = draft.sender
        if sender is not None and sender.identity != address_key(self.address):
            if sender.identity not in self.verified_senders:
                raise NotPermitted(
                    f"alternative sender {sender} has not been verified (RSP-2)"
                )
            alternative = str(sender)
        return ResponderMessage(
            name=name,
            body=draft.body,
            subject=draft.subject,
            schedule=draft.schedule(self.zone),
            sender=alternative,
            exclusions=draft.exclusions,
            generation=generation,
        )

    class MessageSaved(Aggregate.Event):
        message: ResponderMessage

        def apply(self, aggregate: AutoResponder) -> None:
            aggregate.messages[self.message.key] = self.message
            aggregate.generations = self.message.generation

    def save_message(self, draft: MessageDraft, *, at: datetime) -> ResponderMessage:
        """Save a new, inactive message; its name must be new (case-insensitively)."""
        if draft.key in self.messages:
            raise AlreadyExists(f"a message named {draft.name!r} exists already")
        message = self._saved(draft, name=draft.name, generation=self.generations + 1)
        self.trigger_event(self.MessageSaved, timestamp=utc(at), message=message)
        return message

    class MessageEdited(Aggregate.Event):
        message: ResponderMessage
        memory_reset: bool

        def apply(self, aggregate: AutoResponder) -> None:
            aggregate.messages[self.message.key] = self.message
            aggregate.generations = max(aggregate.generations, self.message.generation)

    def edit_message(
        self, draft: MessageDraft, *, reset_memory: bool = False, at: datetime
    ) -> ResponderMessage:
        """Replace every setting of the message named ``draft.name`` but its name
        (renaming is delete + save).

        The 7-day memory survives unless ``reset_memory`` (RSP-5); an active message stays
        active.
        """
        current = self.message(draft.name)
        generation = self.generations + 1 if reset_memory else current.generation
        message = self._saved(draft, name=current.name, generation=generation)
        self.trigger_event(
            self.MessageEdited,
            timestamp=utc(at),
            message=message,
            memory_reset=reset_memory,
        )
        return message

    class MessageDeleted(Aggregate.Event):
        name_key: str

        def apply(self, aggregate: AutoResponder) -> None:
            del aggregate.messages[self.name_key]
            if aggregate.active == self.name_key:
                aggregate.active = None

    def delete_message(self, name: str, *, at: datetime) -> None:
        """Delete a message; deleting the active one leaves none active."""
        key = self.message(name).key
        self.trigger_event(self.MessageDeleted, timestamp=utc(at), name_key=key)

    class MessageActivated(Aggregate.Event):
        name_key: str
        deactivated: str | None

        def apply(self, aggregate: AutoResponder) -> None:
            aggregate.active = self.name_key

    def activate(self, name: str, *, at: datetime) -> None:
        """Make ``name`` the active message; the one active before stops (RSP-1)."""
        key = self.message(name).key
        if self.active == key:
            raise InvalidInput(f"message {name!r} is already active")
        self.trigger_event(
            self.MessageActivated,
            timestamp=utc(at),
            name_key=key,
            deactivated=self.active,
        )

    class MessageDeactivated(Aggregate.Event):
        name_key: str

        def apply(self, aggregate: AutoResponder) -> None:
            aggregate.active = None

    def deactivate(self, *, at: datetime) -> None:
        if self.active is None:
            raise InvalidInput("no auto-responder message is active")
        self.trigger_event(
            self.MessageDeactivated, timestamp=utc(at), name_key=self.active
        )

    class MemoryReset(Aggregate.Event):
        name_key: str
        generation: int

        def apply(self, aggregate: AutoResponder) -> None:
            current = aggregate.messages[self.name_key]
            aggregate.messages[self.name_key] = evolve(
                current, generation=self.generation
            )
            aggregate.generations = self.generation

    def reset_memory(self, name: str, *, at: datetime) -> int:
        """Forget every reply sent with this message (RSP-5); returns the new generation."""
        key = self.message(name).key
        generation = self.generations + 1
        self.trigger_event(
            self.MemoryReset, timestamp=utc(at), name_key=key, generation=generation
        )
        return generation

    class Retired(Aggregate.Event):
        def apply(self, aggregate: AutoResponder) -> None:
            aggregate.messages = {}
            aggregate.active = None
            aggregate.verified_senders = set()
            aggregate.pending_senders = {}

    def retire(self, *, at: datetime) -> None:
        """The address was deleted: whoever gets it next starts with nothing (ADR-11).

        Generations keep counting, so the old senders' windows never match a message
        saved later.
        """
        self.trigger_event(self.Retired, timestamp=utc(at))

    class SenderVerificationRequested(Aggregate.Event):
        sender: str
        code_id: UUID
        expires_at: datetime
        attempts: int

        def apply(self, aggregate: AutoResponder) -> None:
            key = address_key(self.sender)
            aggregate.pending_senders[key] = PendingSender(
                address=self.sender,
                code_id=self.code_id,
                expires_at=self.expires_at,
                attempts_left=self.attempts,
            )
            recent = aggregate.mails_since(self.timestamp - DAY)
            recent.setdefault(key, []).append(self.timestamp)
            aggregate.verification_mails = recent

    def mails_since(self, since: datetime) -> dict[str, list[datetime]]:
        """The verification mails sent after ``since``, per alternative address."""
        # A snapshot taken before this attribute existed restores without it.
        return mails_since(getattr(self, "verification_mails", {}), since)

    def request_sender_verification(
        self,
        address: EmailAddress,
        code_id: UUID,
        *,
        at: datetime,
        policy: ResponderPolicy,
    ) -> datetime:
        """Remember which stored code the application mailed to ``address``.

        A new request replaces an earlier pending one. Returns when the code expires.
        """
        at = utc(at)
        if address.identity == address_key(self.address):
            raise InvalidInput(f"{address} is the address itself, not an alternative")
        if address.identity in self.verified_senders:
            raise InvalidInput(f"{address} is verified already")
        check_mail_budget(
            self.mails_since(at - DAY),
            address,
            address=self.address,
            at=at,
            policy=policy,
        )
        expires_at = at + policy.verification_validity
        self.trigger_event(
            self.SenderVerificationRequested,
            timestamp=at,
            sender=str(address),
            code_id=code_id,
            expires_at=expires_at,
            attempts=policy.verification_attempts,
        )
        return expires_at

    class SenderVerificationFailed(Aggregate.Event):
        sender: str
        attempts_left: int

        def apply(self, aggregate: AutoResponder) -> None:
            key = address_key(self.sender)
            if self.attempts_left <= 0:
                del aggregate.pending_senders[key]
            else:
                pending = aggregate.pending_senders[key]
                aggregate.pending_senders[key] = evolve(
                    pending, attempts_left=self.attempts_left
                )

    class SenderConfirmed(Aggregate.Event):
        sender: str

        def apply(self, aggregate: AutoResponder) -> None:
            key = address_key(self.sender)
            aggregate.pending_senders.pop(key, None)
            aggregate.verified_senders.add(key)

    def confirm_sender(
        self, address: EmailAddress, *, code_matches: bool, at: datetime
    ) -> bool:
        """Record the outcome of the code check; True once ``address`` is verified.

        The application compares the typed code with the stored one (``code_id``).

        A wrong code is recorded (so the attempts are bounded across workers) and returns
        False; the last allowed wrong code drops the request. An expired or unknown
        request raises, and stores nothing.
        """
        at = utc(at)
        pending = self.pending_senders.get(address.identity)
        if pending is None:
            raise NotFound(f"no verification is pending for {address}")
        if at >= pending.expires_at:
            raise NotPermitted(
                f"the code sent to {address} has expired; ask for a new one"
            )
        if code_matches:
            self.trigger_event(
                self.SenderConfirmed, timestamp=at, sender=pending.address
            )
            return True
        self.trigger_event(
            self.SenderVerificationFailed,
            timestamp=at,
            sender=pending.address,
            attempts_left=pending.attempts_left - 1,
        )
        return False
