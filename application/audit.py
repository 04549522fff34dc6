"""The auditor's questions: an aggregate's history, a past state, a timeline, a trace.

Auditors replay the log; they never write to it. Each answer reads the log itself for
what it shows (decoded events, a replayed aggregate) and the audit index
(``AuditQueries``) only to find which events to show, so what is printed is what the
log holds, with the context recorded beside each event (``application.context``).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from contextlib import suppress
from datetime import datetime, timedelta
from enum import Enum
from typing import Any
from uuid import UUID

import attrs
from attrs import frozen
from eventsourcing.utils import get_topic

from application.auditports import (
    AuditEntry,
    AuditQueries,
    JobEntry,
    TimelineQuery,
    account_subject,
    address_subject,
)
from application.context import Actor, recorded
from application.log import MailHostLog
from domain import ids
from domain.address import shown
from domain.errors import InvalidInput, NotFound
from domain.importlane import lane_id
from domain.mailservice import service_id
from domain.responderpolicy import responder_id

# Fields of every stored event that the envelope (position, id, version, time) shows.
_ENVELOPE = frozenset({"originator_id", "originator_version", "timestamp"})
EXPORT_PAGE = 500
UNRECORDED = "-"


def plain(value: object) -> Any:  # noqa: ANN401, C901, PLR0911 - JSON: a case per kind of value
    """A field's value as JSON data: ids and times as text, values as objects."""
    match value:
        case None | bool() | int() | float() | str():
            return value
        case UUID():
            return str(value)
        case datetime():
            return value.isoformat()
        case timedelta():
            return value.total_seconds()
        case Enum():
            return plain(value.value)
        case bytes():
            return value.hex()
        case dict():
            return {str(plain(k)): plain(v) for k, v in value.items()}
        case set() | frozenset():
            return sorted((plain(v) for v in value), key=str)
        case list() | tuple():
            return [plain(v) for v in value]
    if attrs.has(type(value)):
        names = [f.name for f in attrs.fields(type(value))]  # type: ignore[arg-type]  # attrs.has checked it
        return {name: plain(getattr(value, name)) for name in names}
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {
            f.name: plain(getattr(value, f.name)) for f in dataclasses.fields(value)
        }
    return str(value)


@frozen
class AuditedEvent:
    """One decoded event with its envelope and recorded context (stable for export)."""

    position: int | None
    aggregate_id: UUID
    version: int
    topic: str
    kind: str
    at: datetime
    actor: str
    correlation: str | None
    causation: int | None
    schema_version: int
    data: dict[str, Any]

    def as_json(self) -> dict[str, Any]:
        return {
            "position": self.position,
            "originator_id": str(self.aggregate_id),
            "version": self.version,
            "topic": self.topic,
            "timestamp": self.at.isoformat(),
            "actor": self.actor,
            "correlation": self.correlation,
            "causation": self.causation,
            "schema_version": self.schema_version,
            "data": self.data,
        }


def audited(event: Any, position: int | None) -> AuditedEvent:  # noqa: ANN401 - any event class
    context = recorded(event)
    cls = type(event)
    return AuditedEvent(
        position=position,
        aggregate_id=event.originator_id,
        version=event.originator_version,
        topic=get_topic(cls),
        kind=cls.__qualname__,
        at=event.timestamp,
        actor=UNRECORDED if context is None else str(context.actor),
        correlation=None if context is None else str(context.correlation_id),
        causation=None if context is None else context.causation,
        schema_version=int(getattr(cls, "class_version", 1)),
        data={
            f.name: plain(getattr(event, f.name))
            for f in dataclasses.fields(event)
            if f.name not in _ENVELOPE
        },
    )


@frozen
class PastState:
    aggregate_id: UUID
    kind: str
    version: int
    # The time of the last event applied: at or before the moment asked for.
    as_of: datetime
    attributes: dict[str, Any]


@frozen
class Trace:
    correlation: UUID
    events: list[AuditEntry]
    jobs: list[JobEntry]


class Audit:
    def __init__(self, log: MailHostLog, queries: AuditQueries) -> None:
        self.log = log
        self.queries = queries

    def resolve(self, name: str) -> list[UUID]:
        """The aggregates ``name`` names: an id, a login or address, a domain, an
        organisation; NotFound when the log holds none of them."""
        try:
            return self._existing([UUID(name)], name)
        except ValueError:
            pass
        candidates: list[UUID] = []
        if "@" in name:
            candidates += [ids.account_id(name)]
            candidates += self.queries.linked(address_subject(name), "Mailbox.Created")
            candidates += [responder_id(name), lane_id(name)]
        else:
            candidates.append(service_id(name))
            # Text no organisation could be founded with names none, as anything else
            # the log does not hold: the refusal is about AGGREGATE, not a name field.
            with suppress(InvalidInput):
                candidates.append(ids.organisation_key(name))
        return self._existing(candidates, name)

    def _existing(self, candidates: list[UUID], name: str) -> list[UUID]:
        found = [c for c in dict.fromkeys(candidates) if self.log.exists(c)]
        if not found:
            raise NotFound(f"AGGREGATE: nothing in the log is named {shown(name)}")
        return found

    def history(self, aggregate_ids: list[UUID]) -> list[AuditedEvent]:
        """Every event of the aggregates, decoded, in log order."""
        positions = {
            (e.aggregate_id, e.version): e.position
            for e in self.queries.of_aggregates(aggregate_ids)
        }
        events = [
            audited(
                event, positions.get((event.originator_id, event.originator_version))
            )
            for aggregate_id in aggregate_ids
            for event in self.log.events.get(aggregate_id)
        ]
        return sorted(events, key=lambda e: (e.position or 0, e.at))

    def state(self, aggregate_id: UUID, at: datetime) -> PastState:
        """The aggregate as it was at ``at``: replayed to its last event at or before."""
        version, as_of = 0, at
        for event in self.log.events.get(aggregate_id):
            timestamp: datetime = getattr(event, "timestamp")  # noqa: B009 - not on the protocol
            if timestamp > at:
                break
            version, as_of = event.originator_version, timestamp
        if version == 0:
            raise NotFound(f"--at: the aggregate did not exist yet at {at.isoformat()}")
        aggregate: object = self.log.repository.get(aggregate_id, version=version)
        attributes = {
            name.lstrip("_"): plain(value)
            for name, value in sorted(vars(aggregate).items())
            if name not in {"_id", "_version", "_pending_events"}
        }
        return PastState(
            aggregate_id, type(aggregate).__qualname__, version, as_of, attributes
        )

    def user_timeline(
        self, login: str, since: datetime | None, until: datetime | None
    ) -> list[AuditEntry]:
        account = ids.account_id(login)
        if not self.log.exists(account):
            raise NotFound(f"--user: there is no account {shown(login)}")
        return self.queries.timeline(
            TimelineQuery(
                (account, ids.two_step_id(account)),
                str(Actor.account(account)),
                account_subject(account),
                since,
                until,
            )
        )

    def address_timeline(
        self, address: str, since: datetime | None, until: datetime | None
    ) -> list[AuditEntry]:
        if "@" not in address:
            raise InvalidInput(f"--address: {shown(address)} is not an address")
        return self.queries.timeline(
            TimelineQuery(
                (responder_id(address), lane_id(address)),
                None,
                address_subject(address),
                since,
                until,
            )
        )

    def trace(self, correlation: UUID) -> Trace:
        """The command's events, the jobs they started and the events those caused."""
        events = self.queries.correlated(correlation)
        if not events:
            raise NotFound(f"CORRELATION_ID: no event records {correlation}")
        return Trace(
            correlation, events, self.queries.jobs([e.position for e in events])
        )

    def export(self, since: int = 0) -> Iterator[AuditedEvent]:
        """The log after position ``since``, decoded, page by page."""
        position = since
        while True:
            notifications = self.log.recorder.select_notifications(
                start=position, limit=EXPORT_PAGE, inclusive_of_start=False
            )
            if not notifications:
                return
            for notification in notifications:
                event = self.log.mapper.to_domain_event(notification)
                yield audited(event, notification.id)
            position = notifications[-1].id
