"""Follows the log from each projection's tracked position (exactly once per event)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from eventsourcing.persistence import Notification

from application.log import MailHostLog
from projections.envelope import Decoding, Envelope, decoding_for
from projections.storage import Cursor, Database

TRACKING_SCHEMA = (
    (
        "CREATE TABLE IF NOT EXISTS mh_tracking ("
        " projection TEXT PRIMARY KEY, position BIGINT NOT NULL)"
    ),
)
BATCH = 500


class Projection(Protocol):
    name: str
    schema: tuple[str, ...]
    tables: tuple[str, ...]
    topics: tuple[str, ...]

    def process(self, event: object, position: int, cursor: Cursor) -> None: ...


Items = Sequence[tuple[object, int]]


class BatchProjection(Projection, Protocol):
    """A projection that takes a page of its events at once (``process_many``).

    A page is applied in one transaction with the tracking position either way, so
    exactly-once holds as for ``process``; what a batch saves is a statement per row
    (its rows go in multi-row INSERTs, its counters are summed first). The items are
    ``(event, position)`` in log order, only of the projection's topics.
    """

    def process_many(self, items: Items, cursor: Cursor) -> None: ...


def apply(projection: Projection, items: Items, cursor: Cursor) -> None:
    """Hand ``items`` to the projection, in one call where it takes batches.

    A projection of envelopes (``projections.envelope``) is handed envelopes.
    """
    envelopes = getattr(projection, "process_envelopes", None)
    if envelopes is not None:
        envelopes(items, cursor)
        return
    many = getattr(projection, "process_many", None)
    if many is not None:
        many(items, cursor)
        return
    for event, position in items:
        projection.process(event, position, cursor)


def decoded(
    decoding: Decoding, projection: Projection, notifications: Sequence[Notification]
) -> list[tuple[object, int]]:
    """The events as the projection takes them: full, or envelopes (see ``apply``)."""
    if getattr(projection, "process_envelopes", None) is None:
        event = decoding.event
        return [(event(n), n.id) for n in notifications]
    wanted: tuple[type, ...] = getattr(projection, "decoded", ())
    full = {t: issubclass(decoding.resolve(t), wanted) for t in _topics(notifications)}
    return [(envelope(decoding, n, full=full[n.topic]), n.id) for n in notifications]


def _topics(notifications: Sequence[Notification]) -> set[str]:
    return {n.topic for n in notifications}


def envelope(decoding: Decoding, notification: Notification, *, full: bool) -> Envelope:
    """The notification's envelope, holding its decoded event when ``full``."""
    return decoding.both(notification)[1] if full else decoding.envelope(notification)


class ProjectionRunner:
    def __init__(
        self,
        log: MailHostLog,
        database: Database,
        projections: Sequence[Projection],
        decoding: Decoding | None = None,
    ) -> None:
        self.log = log
        self.database = database
        self.projections = tuple(projections)
        self.decoding = decoding or decoding_for(log)
        database.ensure_schema(TRACKING_SCHEMA)
        for projection in self.projections:
            database.ensure_schema(projection.schema)

    def position(self, projection: Projection) -> int:
        with self.database.transaction() as cursor:
            cursor.execute(
                "SELECT position FROM mh_tracking WHERE projection = ?",
                (projection.name,),
            )
            row = cursor.fetchone()
        return 0 if row is None else int(row[0])

    def log_position(self) -> int:
        return self.log.recorder.max_notification_id() or 0

    def catch_up(self) -> int:
        """Apply every event not yet applied; return how many were applied."""
        return sum(self.catch_up_one(projection) for projection in self.projections)

    def catch_up_one(self, projection: Projection) -> int:
        """Apply the next batches; each checks, under the write lock, where it starts.

        Another runner (another process's relay) may have applied the same events since
        this one read its position: then the batch is dropped and read again, so an
        event is applied exactly once whoever runs.
        """
        done = 0
        while True:
            position = self.position(projection)
            notifications = self.log.recorder.select_notifications(
                start=position,
                limit=BATCH,
                topics=projection.topics,
                inclusive_of_start=False,
            )
            if not notifications:
                return done
            items = decoded(self.decoding, projection, notifications)
            with self.database.transaction() as cursor:
                if self._locked_position(cursor, projection) != position:
                    continue
                apply(projection, items, cursor)
                cursor.execute(
                    "UPDATE mh_tracking SET position = ? WHERE projection = ?",
                    (notifications[-1].id, projection.name),
                )
            done += len(notifications)

    def _locked_position(self, cursor: Cursor, projection: Projection) -> int:
        """The tracked position, locked until the transaction ends.

        SQLite's ``BEGIN IMMEDIATE`` already holds the database's write lock; PostgreSQL
        locks the tracking row.
        """
        cursor.execute(
            "INSERT INTO mh_tracking (projection, position) VALUES (?, 0)"
            " ON CONFLICT (projection) DO NOTHING",
            (projection.name,),
        )
        lock = " FOR UPDATE" if self.database.dialect == "postgres" else ""
        cursor.execute(
            f"SELECT position FROM mh_tracking WHERE projection = ?{lock}",  # noqa: S608 - constant
            (projection.name,),
        )
        row = cursor.fetchone()
        return 0 if row is None else int(row[0])

    def is_current(self) -> bool:
        head = self.log_position()
        return all(self._caught_up(p, head) for p in self.projections)

    def _caught_up(self, projection: Projection, head: int) -> bool:
        position = self.position(projection)
        if position >= head:
            return True
        # With a topic filter the position stops at the last relevant event.
        return not self.log.recorder.select_notifications(
            start=position,
            limit=1,
            stop=head,
            topics=projection.topics,
            inclusive_of_start=False,
        )

    def rebuild(self, projection: Projection) -> int:
        """Drop the view's rows and replay the whole log into it."""
        with self.database.transaction() as cursor:
            for table in projection.tables:
                cursor.execute(f"DELETE FROM {table}")  # noqa: S608 - names are ours
            cursor.execute(
                "DELETE FROM mh_tracking WHERE projection = ?", (projection.name,)
            )
        return self.catch_up_one(projection)
