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
        # Where this runner last left each projection (see ``catch_up_one``).
        self._known: dict[str, int] = {}
        # Batches found applied by another runner first (a relay then hands over the
        # jobs that one scheduled).
        self.overtaken = 0
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
        this one last looked: then the batch is dropped and read again from where that
        one left off, so an event is applied exactly once whoever runs. The position
        this runner left is kept between calls (stale only when another was first,
        which the locked check finds), so an idle call is one read of the log and a
        batch one transaction: the hand-over of a job waits on these round trips. A
        projection with a ``committed()`` method hears of each of its batches once the
        transaction has committed (the relay's own schedule hands its jobs over then).
        """
        done = 0
        position = self._known.get(projection.name)
        if position is None:
            position = self.position(projection)
        while True:
            notifications = self.log.recorder.select_notifications(
                start=position,
                limit=BATCH,
                topics=projection.topics,
                inclusive_of_start=False,
            )
            if not notifications:
                self._known[projection.name] = position
                return done
            items = decoded(self.decoding, projection, notifications)
            end = notifications[-1].id
            with self.database.transaction() as cursor:
                held = self._advance(cursor, projection, position, end)
                if held == position:
                    apply(projection, items, cursor)
            if held != position:
                self.overtaken += 1
                position = held
                continue
            committed = getattr(projection, "committed", None)
            if committed is not None:
                committed()
            position = end
            done += len(notifications)
            if len(notifications) < BATCH:  # the log had no more of them just now
                self._known[projection.name] = position
                return done

    def _advance(
        self, cursor: Cursor, projection: Projection, start: int, end: int
    ) -> int:
        """Move the tracked position from ``start`` to ``end``, holding it locked until
        the transaction ends; the position found instead when it is not at ``start``.

        One conditional update does it in the usual case. SQLite's ``BEGIN IMMEDIATE``
        already holds the database's write lock; PostgreSQL's update locks the tracking
        row (a concurrent one waits, then finds the position moved).
        """
        if self._moved(cursor, projection, start, end):
            return start
        held = self._locked_position(cursor, projection)  # made at 0 if missing
        if held == start:
            self._moved(cursor, projection, start, end)
        return held

    @staticmethod
    def _moved(cursor: Cursor, projection: Projection, start: int, end: int) -> bool:
        cursor.execute(
            "UPDATE mh_tracking SET position = ?"
            " WHERE projection = ? AND position = ? RETURNING position",
            (end, projection.name, start),
        )
        return cursor.fetchone() is not None

    def _locked_position(self, cursor: Cursor, projection: Projection) -> int:
        """The tracked position (the row made at 0 if missing), locked until the
        transaction ends."""
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
        self._known.pop(projection.name, None)
        return self.catch_up_one(projection)
