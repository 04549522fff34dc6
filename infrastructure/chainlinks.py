"""The links of the hash chain: what each one hashes, and the rows that store them.

Pure functions of the stored bytes, shared by the follower that writes the links and
the verifier that recomputes them. Every input is length-prefixed or fixed-size and
every kind of link has its own tag, so no event, gap or genesis hashes like another.
"""

from __future__ import annotations

import hashlib
import struct
from collections.abc import Sequence
from typing import Any
from uuid import UUID

from attrs import frozen
from eventsourcing.persistence import ApplicationRecorder

from projections.storage import Cursor

GENESIS = bytes(32)
# The digest a gap link stores: no SHA-256 of an event is all zeros.
GAP = bytes(32)
EVENT_TAG = b"mailhost-audit-event-v1"
LINK_TAG = b"mailhost-audit-link-v1"
GAP_TAG = b"mailhost-audit-gap-v1"
GENESIS_TAG = b"mailhost-audit-genesis-v1"
# The digest a genesis link stores: the events up to it were written before the chain.
BEFORE_GENESIS = b"\xff" * 32
_LENGTHS = struct.Struct(">IIIQ")
_POSITION = struct.Struct(">q")
FOLLOWER = "chain"
# What the tracking row holds for a moment while the follower finds it missing.
MISSING = -1


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


def genesis_link(position: int) -> bytes:
    """The first link of a chain started over a log already ``position`` long."""
    return hashlib.sha256(GENESIS_TAG + _POSITION.pack(position)).digest()


def genesis_row(position: int) -> ChainRow:
    return ChainRow(position, 1, BEFORE_GENESIS, genesis_link(position))


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

    @property
    def is_genesis(self) -> bool:
        return self.digest == BEFORE_GENESIS


def chain_rows(
    previous: bytes, after: int, events: Sequence[StoredEvent]
) -> list[ChainRow]:
    """The links of ``events`` (ascending positions, all above ``after``), gaps included."""
    rows: list[ChainRow] = []
    expected = after + 1
    for event in events:
        position = event.position
        if position < expected:
            raise ValueError(f"notification {position} is out of order")
        if position > expected:
            previous = gap_link(previous, expected, position - 1)
            rows.append(ChainRow(position - 1, expected, GAP, previous))
        previous = event_link(previous, position, event.digest)
        rows.append(ChainRow(position, position, event.digest, previous))
        expected = position + 1
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


def tracked(cursor: Cursor, dialect: str, *, lock: bool) -> int | None:
    """The tracked position (locked until the transaction ends, as the runner's)."""
    suffix = " FOR UPDATE" if lock and dialect == "postgres" else ""
    cursor.execute(
        f"SELECT position FROM mh_audit_tracking WHERE name = ?{suffix}",  # noqa: S608 - constant
        (FOLLOWER,),
    )
    row = cursor.fetchone()
    if row is None or int(row[0]) == MISSING:
        return None
    return int(row[0])


def track(cursor: Cursor, position: int) -> None:
    cursor.execute(
        "UPDATE mh_audit_tracking SET position = ? WHERE name = ?",
        (position, FOLLOWER),
    )


def chain_end(cursor: Cursor) -> tuple[int, bytes]:
    """The chain's last position and its link: (0, GENESIS) for a chain not started."""
    cursor.execute(
        "SELECT position, link FROM mh_audit_chain ORDER BY position DESC LIMIT 1"
    )
    row = cursor.fetchone()
    return (0, GENESIS) if row is None else (int(row[0]), bytes(row[1]))
