"""A small real SQLite log with its hash chain, and the tampering the chain must show.

The log is written once through the engine (accounts, an organisation, a gap where an
insert "rolled back"), its chain linked with a checkpoint every few links; each test
then tampers with a copy of the file, as an intruder with write access to it would.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from application.authorization import OPERATOR
from infrastructure.bootstrap import open_engine
from infrastructure.chain import ChainedRunner, EventTable
from infrastructure.chainverify import Verdict, verify
from infrastructure.sql import SqliteDatabase

TABLE = EventTable("sqlite", '"stored_events"', "rowid")
COLUMNS = "originator_id, originator_version, topic, state"
PASSWORD = "canary-Passw0rd-7f3a91"


@dataclass(frozen=True)
class PristineLog:
    path: Path
    public: Ed25519PublicKey
    positions: tuple[int, ...]  # the events' ids
    gap: int  # a notification id no event holds, linked as a gap
    checkpoints: tuple[int, ...]


def write_pristine(home: Path, accounts: int = 8) -> PristineLog:
    """Events, one removed before the chain saw it (a rolled-back id), then linked."""
    env = {
        "MAILHOST_AUDIT_CHECKPOINT_EVERY": "3",
        "PERSISTENCE_MODULE": "",
        "SQLITE_DBNAME": "",
        "MAILHOST_BROKER_URL": "",
    }
    engine = open_engine(home, env, background=False)
    try:
        host = engine.host
        host.organisations.found("Example Co", by=OPERATOR)
        for i in range(accounts):
            host.accounts.register(
                "Example Co",
                f"user{i}@example.org",
                PASSWORD,
                display_name=f"U{i}",
                by=OPERATOR,
            )
        runner = engine.runner
        assert isinstance(runner, ChainedRunner)
        head = runner.log_position()
        gap = head // 2
        with editing(engine.settings.events_file) as connection:
            connection.execute("DELETE FROM stored_events WHERE rowid = ?", (gap,))
        runner.chain.batch = 3  # several checkpoints on a small log
        runner.chain.catch_up()
        runner.chain.checkpoint()  # the head signed too, on demand
        public = (
            runner.chain.checkpoints.key.public() if runner.chain.checkpoints else None
        )
        assert public is not None
        events_file = engine.settings.events_file
    finally:
        engine.close()
    with closing(sqlite3.connect(events_file)) as connection:
        positions = tuple(
            r[0]
            for r in connection.execute(
                "SELECT rowid FROM stored_events ORDER BY rowid"
            )
        )
        checkpoints = tuple(
            r[0]
            for r in connection.execute(
                "SELECT position FROM mh_audit_checkpoints ORDER BY position"
            )
        )
    return PristineLog(events_file, public, positions, gap, checkpoints)


@contextmanager
def editing(path: Path) -> Iterator[sqlite3.Connection]:
    """A connection to the file, committed and closed when the block ends."""
    with closing(sqlite3.connect(path)) as connection, connection:
        yield connection


def copy_of(log: PristineLog, folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / "events.sqlite"
    with (
        closing(sqlite3.connect(log.path)) as source,
        closing(sqlite3.connect(target)) as copy,
    ):
        source.backup(copy)
    return target


def verdict(path: Path, public: Ed25519PublicKey | None, page: int = 5) -> Verdict:
    """A small page, so the streaming crosses several pages even on a small log."""
    database = SqliteDatabase(path)
    try:
        return verify(database, TABLE, public, page=page)
    finally:
        database.close()


def row(connection: sqlite3.Connection, position: int) -> tuple[object, ...]:
    found = connection.execute(
        "SELECT CAST(originator_id AS BLOB), originator_version, CAST(topic AS BLOB), state"
        " FROM stored_events WHERE rowid = ?",
        (position,),
    ).fetchone()
    assert found is not None
    return tuple(found)


def put(
    connection: sqlite3.Connection, position: int, values: tuple[object, ...]
) -> None:
    """A row at ``position`` with text columns stored as text, bytes exactly as given."""
    originator, version, topic, state = values
    connection.execute(
        f"INSERT INTO stored_events (rowid, {COLUMNS})"  # noqa: S608 - constant
        " VALUES (?, CAST(? AS TEXT), ?, CAST(? AS TEXT), ?)",
        (position, originator, version, topic, state),
    )


def flip(value: object, index: int, bit: int) -> bytes:
    """``value`` (a column as read: bytes, or text) with one bit of one byte flipped."""
    changed = bytearray(value.encode() if isinstance(value, str) else bytes(value))  # type: ignore[call-overload]
    changed[index % len(changed)] ^= 1 << bit
    return bytes(changed)
