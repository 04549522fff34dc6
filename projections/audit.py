"""The auditor's index of the log: who caused each event, counted per actor, day and kind.

An auditor asks the same few questions of a log of millions of events: what did this
command cause (a correlation id), who did how much of what and when, what did the
admins of one organisation change lately. A scan of the log decodes every event for
each answer; this read model keeps one row per event with its recorded context (see
``application.context``) and the organisation it concerns, so each answer is an
indexed read. Every row follows from the log alone: ``mailhost audit rebuild``
replays it into a fresh store and finds it identical.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from uuid import UUID

from domain.account import UserAccount
from domain.autoreply import AutoReply
from domain.importjob import ImportJob
from domain.importlane import ImportLane
from domain.invitation import Invitation
from domain.mailbox import Mailbox
from domain.mailservice import MailService, service_id
from domain.organisation import Organisation, Role
from domain.replywindow import ReplyBudget, ReplyWindow
from domain.responder import AutoResponder
from domain.twostep import TwoStep
from projections.envelope import Envelope, EnvelopeItems
from projections.storage import Cursor, insert_flat, insert_rows

# Shown for events stored before contexts were recorded.
UNRECORDED = "-"
# The values of an event's row.
ROW_WIDTH = 10
# Immutable facts kept in memory (an aggregate's organisation, an admin's role) are
# dropped past this many, so a long-running process stays bounded.
CACHE_LIMIT = 100_000


def kind_of(event: object) -> str:
    """The event's class as the auditor reads it: ``UserAccount.LoggedIn``."""
    return type(event).__qualname__


# The events whose fields the trail reads (see ``_created_in``): every other event is
# read as its envelope only.
CREATIONS: tuple[type[Any], ...] = (
    Organisation.Founded,
    UserAccount.Registered,
    MailService.Created,
    Invitation.Sent,
    Mailbox.Created,
    TwoStep.Opened,
    ImportJob.Requested,
    AutoResponder.Provisioned,
    ReplyWindow.Opened,
    ReplyBudget.Opened,
    ImportLane.Opened,
    AutoReply.Decided,
)


class AuditTrail:
    name = "audit_trail"
    tables: tuple[str, ...] = (
        "mh_audit_events",
        "mh_audit_counts",
        "mh_audit_owners",
        "mh_audit_admins",
    )
    # Every event: the trail is the log's index.
    topics: tuple[str, ...] = ()
    decoded: tuple[type[Any], ...] = (*CREATIONS, Organisation.MemberJoined)
    schema: tuple[str, ...] = (
        (
            "CREATE TABLE IF NOT EXISTS mh_audit_events (position BIGINT PRIMARY KEY,"
            " aggregate_id TEXT NOT NULL, version BIGINT NOT NULL, kind TEXT NOT NULL,"
            " at TEXT NOT NULL, actor TEXT NOT NULL, correlation TEXT,"
            " causation BIGINT, organisation_id TEXT, admin INTEGER NOT NULL)"
        ),
        (
            "CREATE INDEX IF NOT EXISTS mh_audit_events_aggregate"
            " ON mh_audit_events (aggregate_id, version)"
        ),
        (
            "CREATE INDEX IF NOT EXISTS mh_audit_events_correlation"
            " ON mh_audit_events (correlation)"
        ),
        (
            "CREATE INDEX IF NOT EXISTS mh_audit_events_actor"
            " ON mh_audit_events (actor, position)"
        ),
        (
            "CREATE INDEX IF NOT EXISTS mh_audit_events_admin"
            " ON mh_audit_events (organisation_id, admin, position)"
        ),
        (
            "CREATE TABLE IF NOT EXISTS mh_audit_counts (day TEXT NOT NULL,"
            " actor TEXT NOT NULL, kind TEXT NOT NULL, events BIGINT NOT NULL,"
            " PRIMARY KEY (day, actor, kind))"
        ),
        (
            "CREATE TABLE IF NOT EXISTS mh_audit_owners (aggregate_id TEXT PRIMARY KEY,"
            " organisation_id TEXT NOT NULL)"
        ),
        (
            "CREATE TABLE IF NOT EXISTS mh_audit_admins (organisation_id TEXT NOT NULL,"
            " account_id TEXT NOT NULL, PRIMARY KEY (organisation_id, account_id))"
        ),
    )

    # Never read while events are applied: a rebuild makes them after its rows.
    indexes_after_load: tuple[str, ...] = schema[1:5]

    def __init__(self) -> None:
        # Which organisation an aggregate belongs to never changes once created, and
        # an admin stays one (members only join), so both are safe to remember.
        self._owners: dict[str, str] = {}
        self._admins: set[tuple[str, str]] = set()

    def process(self, event: Any, position: int, cursor: Cursor) -> None:  # noqa: ANN401 - any event class
        self.process_envelopes([(Envelope.of(event), position)], cursor)

    def process_many(self, items: Sequence[tuple[Any, int]], cursor: Cursor) -> None:
        self.process_envelopes([(Envelope.of(e), p) for e, p in items], cursor)

    def process_envelopes(self, items: EnvelopeItems, cursor: Cursor) -> None:
        """A row per event in multi-row INSERTs; the page's counts summed, then added.

        Owners and admins are written as they are met: a later event of the same page
        may need them, and they are few (one per aggregate, one per admin).
        """
        values, counts = self._values(items, cursor)
        insert_flat(
            cursor,
            "INSERT INTO mh_audit_events (position, aggregate_id, version, kind, at,"
            " actor, correlation, causation, organisation_id, admin)",
            ROW_WIDTH,
            values,
        )
        insert_rows(
            cursor,
            "INSERT INTO mh_audit_counts (day, actor, kind, events)",
            [(*key, events) for key, events in counts.items()],
            " ON CONFLICT (day, actor, kind)"
            " DO UPDATE SET events = mh_audit_counts.events + excluded.events",
        )

    def _values(
        self, items: EnvelopeItems, cursor: Cursor
    ) -> tuple[list[Any], dict[tuple[str, str, str], int]]:
        """The events' rows end to end (``ROW_WIDTH`` values each, as the INSERT binds
        them), and their counts per day, actor and kind.

        Whether an actor is an admin of an organisation changes only when an admin
        joins: until then the page keeps each answer (a page has a few actors).
        """
        values: list[Any] = []
        counts: dict[tuple[str, str, str], int] = {}
        admins: dict[tuple[str | None, str], int] = {}
        owners = self._owners
        for envelope, position in items:
            aggregate = envelope.aggregate_id
            actor = envelope.actor or UNRECORDED
            kind, creation, joined = _READINGS.get(envelope.cls) or _reading(
                envelope.cls
            )
            if creation:
                organisation = self._organisation(envelope.event, aggregate, cursor)
            else:
                organisation = owners.get(aggregate) or self._owner(cursor, aggregate)
            if joined:
                event: Any = envelope.event
                if event.role is Role.ADMIN:
                    self._admit(cursor, aggregate, str(event.account_id))
                    admins.clear()
            admin = admins.get((organisation, actor))
            if admin is None:
                admin = admins[organisation, actor] = int(
                    self._by_admin(cursor, organisation, actor)
                )
            at = envelope.at
            values.extend(
                (
                    position,
                    aggregate,
                    envelope.version,
                    kind,
                    at,
                    actor,
                    envelope.correlation,
                    envelope.causation,
                    organisation,
                    admin,
                )
            )
            key = (at[:10], actor, kind)
            counts[key] = counts.get(key, 0) + 1
        return values, counts

    def _organisation(
        self, event: object, aggregate: str, cursor: Cursor
    ) -> str | None:
        """The organisation the event's aggregate belongs to, recorded at its creation."""
        created = _created_in(event)
        if created is None:
            return self._owner(cursor, aggregate)
        organisation = (
            str(created) if isinstance(created, UUID) else self._owner(cursor, created)
        )
        if organisation is not None:
            cursor.execute(
                "INSERT INTO mh_audit_owners (aggregate_id, organisation_id)"
                " VALUES (?, ?) ON CONFLICT (aggregate_id) DO NOTHING",
                (aggregate, organisation),
            )
            self._remember(aggregate, organisation)
        return organisation

    def _owner(self, cursor: Cursor, aggregate: str) -> str | None:
        known = self._owners.get(aggregate)
        if known is not None:
            return known
        cursor.execute(
            "SELECT organisation_id FROM mh_audit_owners WHERE aggregate_id = ?",
            (aggregate,),
        )
        row = cursor.fetchone()
        if row is None:
            return None
        self._remember(aggregate, str(row[0]))
        return str(row[0])

    def _remember(self, aggregate: str, organisation: str) -> None:
        if len(self._owners) >= CACHE_LIMIT:
            self._owners.clear()
        self._owners[aggregate] = organisation

    def _admit(self, cursor: Cursor, organisation: str, account: str) -> None:
        cursor.execute(
            "INSERT INTO mh_audit_admins (organisation_id, account_id) VALUES (?, ?)"
            " ON CONFLICT (organisation_id, account_id) DO NOTHING",
            (organisation, account),
        )

    def _by_admin(self, cursor: Cursor, organisation: str | None, actor: str) -> bool:
        """Caused by the operator, or by an admin account of the event's organisation."""
        if organisation is None:
            return False
        if actor == "operator":
            return True
        kind, _, account = actor.partition(":")
        if kind != "account":
            return False
        if (organisation, account) in self._admins:
            return True
        cursor.execute(
            "SELECT 1 FROM mh_audit_admins WHERE organisation_id = ? AND account_id = ?",
            (organisation, account),
        )
        if cursor.fetchone() is None:
            return False
        if len(self._admins) >= CACHE_LIMIT:
            self._admins.clear()
        self._admins.add((organisation, account))
        return True


_READINGS: dict[type[Any], tuple[str, bool, bool]] = {}


def _reading(cls: type[Any]) -> tuple[str, bool, bool]:
    """The class's kind, whether it creates an aggregate, whether a member joins."""
    known = _READINGS.get(cls)
    if known is None:
        known = _READINGS[cls] = (
            cls.__qualname__,
            issubclass(cls, CREATIONS),
            issubclass(cls, Organisation.MemberJoined),
        )
    return known


def _created_in(event: object) -> UUID | str | None:  # noqa: PLR0911 - a case per creation event
    """For a creation event: its organisation's id, or the aggregate it belongs under.

    None for any other event (its aggregate's organisation is already recorded).
    """
    match event:
        case Organisation.Founded(originator_id=organisation):
            return UUID(str(organisation))
        case (
            UserAccount.Registered(organisation_id=organisation)
            | MailService.Created(organisation_id=organisation)
            | Invitation.Sent(organisation_id=organisation)
        ):
            return UUID(str(organisation))
        case Mailbox.Created(service_id=service):
            return str(service)
        case TwoStep.Opened(account_id=account):
            return str(account)
        case ImportJob.Requested(mailbox_id=mailbox):
            return str(mailbox)
        case (
            AutoResponder.Provisioned(address=address)
            | ReplyWindow.Opened(address=address)
            | ReplyBudget.Opened(address=address)
            | ImportLane.Opened(destination=address)
        ):
            return _service_of(address)
        case AutoReply.Decided(plan=plan):
            return _service_of(plan.address)
    return None


def _service_of(address: str) -> str:
    return str(service_id(address.rpartition("@")[2]))
