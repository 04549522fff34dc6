"""What every event has, read without decoding its fields: the envelope.

A read model such as the audit trail wants, of most events, only who caused it, when,
and to which aggregate: the log's index of every topic. Structuring every field of
every event (cattrs, personal fields opened) only to read those few is most of what a
replay costs, so such a projection takes envelopes (``process_envelopes``) and names
the event classes whose fields it does read (``decoded``); the runner decodes an event
fully only where some projection needs it so.

How an envelope is read from a stored event is the log's business (its mapper, in
``infrastructure``); projections see it through ``Decoding``. Without a mapper that
reads envelopes, ``FullDecoding`` makes them from fully decoded events: the same
envelope either way, so live catch-up and a rebuild write the same rows.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC
from typing import Any, Protocol, runtime_checkable

from eventsourcing.persistence import StoredEvent
from eventsourcing.utils import resolve_topic

from application.context import recorded
from application.log import MailHostLog
from projections.storage import Cursor


class Envelope:
    """One event's envelope; ``event`` is the full event when it was decoded.

    ``at`` is the UTC time to the microsecond as ISO text (as rows store it);
    ``actor``, ``correlation`` and ``causation`` are None for an event stored before
    contexts were recorded.
    """

    __slots__ = (
        "actor",
        "aggregate_id",
        "at",
        "causation",
        "cls",
        "correlation",
        "event",
        "version",
    )

    def __init__(
        self,
        cls: type[Any],
        aggregate_id: str,
        version: int,
        at: str,
        context: tuple[str, str, int | None] | None,
        *,
        event: object | None = None,
    ) -> None:
        self.cls = cls
        self.aggregate_id = aggregate_id
        self.version = version
        self.at = at
        self.actor: str | None = None
        self.correlation: str | None = None
        self.causation: int | None = None
        if context is not None:
            self.actor, self.correlation, self.causation = context
        self.event = event

    @classmethod
    def of(cls, event: Any) -> Envelope:  # noqa: ANN401 - any event class
        """The envelope of a decoded event (it is kept as ``event``)."""
        context = recorded(event)
        return cls(
            type(event),
            str(event.originator_id),
            event.originator_version,
            event.timestamp.astimezone(UTC).isoformat(timespec="microseconds"),
            None
            if context is None
            else (str(context.actor), str(context.correlation_id), context.causation),
            event=event,
        )


EnvelopeItems = Sequence[tuple[Envelope, int]]


class EnvelopeProjection(Protocol):
    """A projection of envelopes, with the full event in those of ``decoded``."""

    name: str
    decoded: tuple[type[Any], ...]

    def process_envelopes(self, items: EnvelopeItems, cursor: Cursor) -> None: ...


@runtime_checkable
class EnvelopeReader(Protocol):
    """A mapper that reads envelopes itself (``infrastructure.mapper``)."""

    def envelope_of(self, stored_event: StoredEvent) -> Envelope: ...

    def decoded(self, stored_event: StoredEvent) -> tuple[object, Envelope]: ...


class Decoding(Protocol):
    def event(self, stored_event: StoredEvent) -> object: ...

    def envelope(self, stored_event: StoredEvent) -> Envelope: ...

    def both(self, stored_event: StoredEvent) -> tuple[object, Envelope]: ...

    def resolve(self, topic: str) -> type[Any]: ...


class FullDecoding:
    """Every event decoded fully, its envelope made from it."""

    def __init__(self, log: MailHostLog) -> None:
        self.to_domain_event = log.mapper.to_domain_event

    def event(self, stored_event: StoredEvent) -> object:
        return self.to_domain_event(stored_event)

    def envelope(self, stored_event: StoredEvent) -> Envelope:
        return Envelope.of(self.to_domain_event(stored_event))

    def both(self, stored_event: StoredEvent) -> tuple[object, Envelope]:
        event = self.to_domain_event(stored_event)
        return event, Envelope.of(event)

    def resolve(self, topic: str) -> type[Any]:
        cls: type[Any] = resolve_topic(topic)
        return cls


class LazyDecoding(FullDecoding):
    """Envelopes read by the log's mapper, no field structured unless asked."""

    def __init__(self, log: MailHostLog, reader: EnvelopeReader) -> None:
        super().__init__(log)
        self.envelope = reader.envelope_of  # type: ignore[method-assign]
        self.both = reader.decoded  # type: ignore[method-assign]


@runtime_checkable
class RunReader(Protocol):
    """A mapper with a decoding for one pass over a whole log (``infrastructure``)."""

    def run_decoding(self) -> Decoding: ...


def decoding_for(log: MailHostLog, *, whole_log: bool = False) -> Decoding:
    """The lazy decoding where the log's mapper reads envelopes, else the full one.

    ``whole_log``: for one pass over the log (a rebuild), the mapper's decoding that
    keeps for the pass what repeats between events, where it has one.
    """
    mapper = log.mapper
    if whole_log and isinstance(mapper, RunReader):
        return mapper.run_decoding()
    if isinstance(mapper, EnvelopeReader):
        return LazyDecoding(log, mapper)
    return FullDecoding(log)
