"""A hash chain over the event log in notification order: tamper evidence for auditors.

Each link is SHA-256 over the previous link, the notification id and a digest of the
event exactly as the recorder stores it (originator id, version, topic and the state
bytes after eventsourcing's cipher and compression). Forgetting a person deletes a key
held outside the log and changes no stored byte, so it never breaks the chain; any
other change to a stored event does.

The links are written by a follower, not in the event's own transaction: eventsourcing
owns that transaction. The follower reads from its own tracked position and writes its
links and that position in one transaction, so it cannot skip an event, and two
processes following at once write each link once. A notification id no event holds
(a PostgreSQL sequence value of a rolled-back insert) becomes a *gap* link: an event
inserted there later is then detected. A gap is recorded only once an event after it
is visible: eventsourcing inserts under a table lock, so by then the gap is final.

The links live in the event store's own database (the SQLite file of the log, or the
PostgreSQL database), beside eventsourcing's tables.
"""

from __future__ import annotations

import hashlib
import struct
from collections.abc import Sequence
from typing import Any
from uuid import UUID

from attrs import frozen
from eventsourcing.persistence import ApplicationRecorder, Notification

from application.log import MailHostLog
from application.ports import Clock
from infrastructure.checkpoints import (
    Checkpoint,
    Checkpoints,
    SigningKey,
    checkpoint_schema,
)
from infrastructure.settings import Settings
from infrastructure.sql import Database, SqliteDatabase
from projections.runner import Projection, ProjectionRunner
from projections.storage import Cursor

GENESIS = bytes(32)
# The digest a gap link stores: no SHA-256 of an event is all zeros.
GAP = bytes(32)
EVENT_TAG = b"mailhost-audit-event-v1"
LINK_TAG = b"mailhost-audit-link-v1"
GAP_TAG = b"mailhost-audit-gap-v1"
BATCH = 500
INSERT_CHUNK = 100
FOLLOWER = "chain"
_LENGTHS = struct.Struct(">IIIQ")
_POSITION = struct.Struct(">q")


def event_digest(
    originator: bytes, version: int | str, topic: bytes, state: bytes
) -> bytes:
    """Length-prefixed fields: no two different events give the same input bytes.

    The version as its decimal text: a stored value altered into something that is no
    whole number still digests (differently) rather than failing the read.
    """
    version_bytes = str(version).encode("utf-8")
    return hashlib.sha256(
        b"".join(
            (
                EVENT_TAG,
                _LENGTHS.pack(
                    len(originator), len(version_bytes), len(topic), len(state)
                ),
                originator,
                version_bytes,
                topic,
                state,
            )
        )
    ).digest()


def event_link(previous: bytes, position: int, digest: bytes) -> bytes:
    return hashlib.sha256(
        LINK_TAG + previous + _POSITION.pack(position) + digest
    ).digest()


def gap_link(previous: bytes, first: int, last: int) -> bytes:
    return hashlib.sha256(GAP_TAG + previous + struct.pack(">qq", first, last)).digest()


def stored_bytes(value: object) -> bytes:
    """A column as the recorder stored it: SQLite keeps a UUID as its hex text."""
    if type(value) is bytes:  # SQLite's columns, read as blobs: the common case
        return value
    if isinstance(value, UUID):
        return value.hex.encode("ascii")
    if isinstance(value, str):
        return value.encode("utf-8")
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value)
    return str(value).encode("utf-8")


@frozen
class ChainRow:
    """One link: an event at ``position`` (``first == position``) or a gap ``first..position``."""

    position: int
    first: int
    digest: bytes
    link: bytes

    @property
    def is_gap(self) -> bool:
        return self.digest == GAP


def chain_rows(
    previous: bytes, after: int, events: Sequence[Notification]
) -> list[ChainRow]:
    """The links of ``events`` (ascending ids, all above ``after``), gaps included."""
    rows: list[ChainRow] = []
    expected = after + 1
    for event in events:
        if event.id < expected:
            raise ValueError(f"notification {event.id} is out of order")
        if event.id > expected:
            previous = gap_link(previous, expected, event.id - 1)
            rows.append(ChainRow(event.id - 1, expected, GAP, previous))
        digest = event_digest(
            stored_bytes(event.originator_id),
            event.originator_version,
            stored_bytes(event.topic),
            bytes(event.state),
        )
        previous = event_link(previous, event.id, digest)
        rows.append(ChainRow(event.id, event.id, digest, previous))
        expected = event.id + 1
    return rows


def chain_schema(blob: str) -> tuple[str, ...]:
    return (
        (
            "CREATE TABLE IF NOT EXISTS mh_audit_chain ("
            " position BIGINT PRIMARY KEY, first BIGINT NOT NULL,"
            f" digest {blob} NOT NULL, link {blob} NOT NULL)"
        ),
        (
            "CREATE TABLE IF NOT EXISTS mh_audit_tracking ("
            " name TEXT PRIMARY KEY, position BIGINT NOT NULL)"
        ),
    )


def blob_type(database: Database) -> str:
    return "BYTEA" if database.dialect == "postgres" else "BLOB"


@frozen
class EventTable:
    """Where the recorder keeps the events, to read their stored bytes unparsed."""

    dialect: str
    name: str
    id_column: str

    @classmethod
    def of(cls, recorder: ApplicationRecorder) -> EventTable:
        table: str = getattr(recorder, "events_table_name", "stored_events")
        datastore = getattr(recorder, "datastore", None)
        schema = getattr(datastore, "schema", None)
        if schema is not None:
            return cls("postgres", f'"{schema}"."{table}"', "notification_id")
        return cls("sqlite", f'"{table}"', "rowid")

    def select(self, where: str) -> str:
        """Raw columns; SQLite's as bytes, so a byte that is no UTF-8 still reads."""
        if self.dialect == "sqlite":
            columns = (
                "rowid, CAST(originator_id AS BLOB), originator_version,"
                " CAST(topic AS BLOB), CAST(state AS BLOB)"
            )
        else:
            columns = "notification_id, originator_id, originator_version, topic, state"
        return f"SELECT {columns} FROM {self.name} WHERE {where}"  # noqa: S608 - names are the recorder's

    def page(self, cursor: Cursor, after: int, limit: int) -> list[StoredEvent]:
        cursor.execute(
            self.select(f"{self.id_column} > ? ORDER BY {self.id_column} LIMIT ?"),
            (after, limit),
        )
        return [StoredEvent.of(row) for row in cursor.fetchall()]

    def count_after(self) -> str:
        return f"SELECT COUNT(*) FROM {self.name} WHERE {self.id_column} > ?"  # noqa: S608 - names are the recorder's

    def at(self, cursor: Cursor, position: int) -> StoredEvent | None:
        cursor.execute(self.select(f"{self.id_column} = ?"), (position,))
        row = cursor.fetchone()
        return None if row is None else StoredEvent.of(row)


@frozen
class StoredEvent:
    position: int
    digest: bytes

    @classmethod
    def of(cls, row: tuple[Any, ...]) -> StoredEvent:
        position, originator, version, topic, state = row
        return cls(
            int(position),
            event_digest(
                stored_bytes(originator),
                version
                if isinstance(version, int)
                else stored_bytes(version).decode("utf-8", "replace"),
                stored_bytes(topic),
                stored_bytes(state if state is not None else b""),
            ),
        )


class ChainBrokenError(RuntimeError):
    """The stored chain has no link where the follower would extend it."""


class HashChain:
    """The follower: links written in position order, exactly once whoever runs it."""

    def __init__(
        self,
        recorder: ApplicationRecorder,
        database: Database,
        checkpoints: Checkpoints | None = None,
        *,
        batch: int = BATCH,
        owns_database: bool = False,
    ) -> None:
        self.recorder = recorder
        self.database = database
        self.checkpoints = checkpoints
        self.batch = batch
        self.owned: tuple[Database, ...] = (database,) if owns_database else ()
        self._known: int | None = None
        blob = blob_type(database)
        database.ensure_schema(chain_schema(blob) + checkpoint_schema(blob))

    def position(self) -> int:
        with self.database.transaction() as cursor:
            cursor.execute(
                "SELECT position FROM mh_audit_tracking WHERE name = ?", (FOLLOWER,)
            )
            row = cursor.fetchone()
        return 0 if row is None else int(row[0])

    def is_current(self) -> bool:
        return self.position() >= (self.recorder.max_notification_id() or 0)

    def catch_up(self) -> int:
        """Link every event not yet linked; how many links were written."""
        done = 0
        # Where this process last left the chain: no transaction (SQLite's takes the
        # log's write lock) while nothing is new; stale only when another process
        # linked meanwhile, and then the locked check below reads it afresh.
        position = self._known if self._known is not None else self.position()
        while True:
            events = self.recorder.select_notifications(
                start=position, limit=self.batch, inclusive_of_start=False
            )
            if not events:
                self._known = position
                return done
            written = self._extend(position, events)
            if written is None:
                position = self.position()
                continue
            done += written
            position = events[-1].id

    def _extend(self, position: int, events: Sequence[Notification]) -> int | None:
        """The links of ``events`` after ``position``; None where another process was first."""
        with self.database.transaction() as cursor:
            if self._locked_position(cursor) != position:
                return None
            rows = chain_rows(self._link_at(cursor, position), position, events)
            for start in range(0, len(rows), INSERT_CHUNK):
                chunk = rows[start : start + INSERT_CHUNK]
                cursor.execute(
                    "INSERT INTO mh_audit_chain (position, first, digest, link) VALUES "  # noqa: S608 - placeholders only
                    + ", ".join("(?, ?, ?, ?)" for _ in chunk),
                    [v for r in chunk for v in (r.position, r.first, r.digest, r.link)],
                )
            head = rows[-1]
            cursor.execute(
                "UPDATE mh_audit_tracking SET position = ? WHERE name = ?",
                (head.position, FOLLOWER),
            )
            if self.checkpoints is not None and self.checkpoints.due(
                cursor, head.position
            ):
                self.checkpoints.sign(cursor, head.position, head.link)
        return len(rows)

    def checkpoint(self) -> Checkpoint | None:
        """A checkpoint of the current head, on demand; None for an empty log."""
        if self.checkpoints is None:
            raise RuntimeError("this chain has no signing key")
        self.catch_up()
        with self.database.transaction() as cursor:
            position = self._locked_position(cursor)
            if position == 0:
                return None
            return self.checkpoints.sign(
                cursor, position, self._link_at(cursor, position)
            )

    def _link_at(self, cursor: Cursor, position: int) -> bytes:
        if position == 0:
            return GENESIS
        cursor.execute(
            "SELECT link FROM mh_audit_chain WHERE position = ?", (position,)
        )
        row = cursor.fetchone()
        if row is None:
            raise ChainBrokenError(
                f"no chain link at position {position}: run audit verify"
            )
        return bytes(row[0])

    def _locked_position(self, cursor: Cursor) -> int:
        """The tracked position, locked until the transaction ends (as the runner's)."""
        cursor.execute(
            "INSERT INTO mh_audit_tracking (name, position) VALUES (?, 0)"
            " ON CONFLICT (name) DO NOTHING",
            (FOLLOWER,),
        )
        lock = " FOR UPDATE" if self.database.dialect == "postgres" else ""
        cursor.execute(
            f"SELECT position FROM mh_audit_tracking WHERE name = ?{lock}",  # noqa: S608 - constant
            (FOLLOWER,),
        )
        row = cursor.fetchone()
        return 0 if row is None else int(row[0])


class ChainedRunner(ProjectionRunner):
    """The projections' runner that extends the chain first, wherever it runs: the
    relay thread, ``mailhost run`` and every ``Engine.drain``."""

    def __init__(
        self,
        log: MailHostLog,
        database: Database,
        projections: Sequence[Projection],
        chain: HashChain,
    ) -> None:
        super().__init__(log, database, projections)
        self.chain = chain

    def catch_up(self) -> int:
        self.chain.catch_up()
        return super().catch_up()

    def is_current(self) -> bool:
        return self.chain.is_current() and super().is_current()


def chain_database(settings: Settings, views: Database) -> Database:
    """The event store's database: the log's SQLite file, or the one PostgreSQL database."""
    return views if settings.uses_postgres else SqliteDatabase(settings.events_file)


def open_chain(
    settings: Settings, log: MailHostLog, views: Database, clock: Clock
) -> HashChain:
    database = chain_database(settings, views)
    checkpoints = Checkpoints(
        SigningKey(settings.audit_key_file), clock, settings.audit_checkpoint_every
    )
    return HashChain(
        log.recorder, database, checkpoints, owns_database=database is not views
    )


def chained_runner(
    settings: Settings,
    log: MailHostLog,
    views: Database,
    projections: Sequence[Projection],
    clock: Clock,
) -> ChainedRunner:
    return ChainedRunner(
        log, views, projections, open_chain(settings, log, views, clock)
    )
