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

Where the chain starts: an engine opened on an empty log records the start at 0, so
every event is linked. A log that already holds events and has no chain (a release
before the chain) gets one explicit, logged *genesis* link at its head: the events up
to it are reported by ``audit verify`` as not chained. A log with events and no link
where a chain was kept before (signed checkpoints, or the signing key, exist) had its
chain thrown away: the follower refuses to link it afresh, which would vouch for
whatever it holds now, and ``audit verify`` reports the chain missing. A lost tracked
position resumes at the chain's end once its last link holds. A broken chain never
stops a command: the runner logs it once, and verify says where.

At an engine's close the tail is linked and, where this process linked anything, the
head signed: a closed home has neither unlinked events nor an unsigned end.

The signing key sits in the engine's home by default (``audit-signing.key``, 0600):
an intruder with the home can rewrite the log, its chain and its checkpoints and sign
them again. Only heads exported (``mailhost audit checkpoint export``) and kept off the
machine, or a key kept elsewhere (``MAILHOST_AUDIT_KEY``), show such a rewrite.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Sequence

from eventsourcing.persistence import ApplicationRecorder

from application.log import MailHostLog
from application.ports import Clock
from infrastructure.chainlinks import (
    FOLLOWER,
    GENESIS,
    MISSING,
    ChainRow,
    EventTable,
    StoredEvent,
    chain_end,
    chain_rows,
    chain_schema,
    event_link,
    gap_link,
    genesis_row,
    track,
    tracked,
)
from infrastructure.checkpoints import (
    Checkpoint,
    Checkpoints,
    SigningKey,
    checkpoint_schema,
    latest_position,
)
from infrastructure.settings import Settings
from infrastructure.sql import Database, SqliteDatabase
from projections.runner import Projection, ProjectionRunner
from projections.storage import Cursor

__all__ = [
    "ChainBrokenError",
    "ChainedRunner",
    "EventTable",
    "HashChain",
    "chain_rows",
    "chained_runner",
    "open_chain",
]

BATCH = 500
INSERT_CHUNK = 100

logger = logging.getLogger(__name__)


def blob_type(database: Database) -> str:
    return "BYTEA" if database.dialect == "postgres" else "BLOB"


class ChainBrokenError(RuntimeError):
    """The stored chain cannot be extended as it stands: ``audit verify`` locates why.

    The runner logs it once and carries on: ordinary commands keep working over a log
    whose evidence is broken, and the follower links nothing it cannot vouch for.
    """


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
        self.table = EventTable.of(recorder)
        self.broken: str | None = None
        self._known: int | None = None
        self._linked = False
        blob = blob_type(database)
        database.ensure_schema(chain_schema(blob) + checkpoint_schema(blob))
        self._start_on_an_empty_log()

    def _start_on_an_empty_log(self) -> None:
        """The chain's start recorded while the log is empty, so that its events are
        linked from the first; a log with events and no record is a pre-chain log (or
        one whose chain was thrown away), which `_resume` tells apart."""
        self._opened_at = self.recorder.max_notification_id() or 0
        if self._opened_at:
            return
        with self.database.transaction() as cursor:
            cursor.execute(
                "INSERT INTO mh_audit_tracking (name, position) VALUES (?, 0)"
                " ON CONFLICT (name) DO NOTHING",
                (FOLLOWER,),
            )

    def position(self) -> int:
        with self.database.transaction() as cursor:
            position = tracked(cursor, self.database.dialect, lock=False)
        return max(position or 0, 0)

    def is_current(self) -> bool:
        """A broken chain is as current as it will get: nothing waits on it."""
        if self.broken is not None:
            return True
        return self.position() >= (self.recorder.max_notification_id() or 0)

    def catch_up(self) -> int:
        """Link every event not yet linked; how many links were written."""
        if self.broken is not None:
            raise ChainBrokenError(self.broken)
        done = 0
        # Where this process last left the chain: no transaction (SQLite's takes the
        # log's write lock) while nothing is new; stale only when another process
        # linked meanwhile, and then the locked check below reads it afresh.
        position = self._known if self._known is not None else self.position()
        while True:
            # The stored rows as ``audit verify`` reads them, without a write lock.
            with self.database.read() as cursor:
                events = self.table.page(cursor, position, self.batch)
            if not events:
                self._known = position
                return done
            try:
                written = self._extend(position, events)
            except ChainBrokenError as e:
                self.broken = str(e)
                logger.error("hash chain not extended: %s", e)  # noqa: TRY400 - no traceback: a state, not a bug
                raise
            if written is None:
                position = self.position()
                continue
            done += written
            position = events[-1].position
            if len(events) < self.batch:
                # Every event visible when this page was read is linked; one written
                # since is the next call's, so no second read just to find nothing.
                self._known = position
                return done

    def _extend(self, position: int, events: Sequence[StoredEvent]) -> int | None:
        """The links of ``events`` after ``position``; None where the chain was not
        where this process thought (another process was first, or it was resumed)."""
        with self.database.transaction() as cursor:
            cursor.execute(
                "INSERT INTO mh_audit_tracking (name, position) VALUES (?, ?)"
                " ON CONFLICT (name) DO NOTHING",
                (FOLLOWER, MISSING),
            )
            locked = tracked(cursor, self.database.dialect, lock=True)
            end, head_link = chain_end(cursor)
            if locked != end:
                self._resume(cursor, MISSING if locked is None else locked, end)
                return None
            if end == 0:
                self._refuse_if_chained_before(cursor, "no chain link")
                if self.checkpoints is not None:
                    self.checkpoints.key.private()  # made now: a chain exists
            if locked != position:
                return None
            rows = chain_rows(head_link, position, events)
            self._insert(cursor, rows)
            head = rows[-1]
            track(cursor, head.position)
            if self.checkpoints is not None and self.checkpoints.due(
                cursor, head.position
            ):
                self.checkpoints.sign(cursor, head.position, head.link)
        self._linked = True
        return len(rows)

    def _resume(self, cursor: Cursor, tracked: int, end: int) -> None:
        """The tracked position and the chain's end disagree: continue from the end
        where its last link holds, or start the chain at a logged genesis."""
        if end > max(tracked, 0):
            self._check_end(cursor, end)
            track(cursor, end)
            shown = "missing" if tracked == MISSING else str(tracked)
            logger.warning(
                "hash chain: tracked position %s, resumed at its end %d", shown, end
            )
            return
        if tracked > end:
            raise ChainBrokenError(
                f"the follower linked up to {tracked} but the chain ends at {end}:"
                " links were removed; run audit verify"
            )
        self._refuse_if_chained_before(cursor, "no record of the chain's start")
        # The log as this process found it: what it wrote since is linked.
        head = self._opened_at or self.recorder.max_notification_id() or 0
        self._insert(cursor, [genesis_row(head)])
        track(cursor, head)
        if self.checkpoints is not None:
            self.checkpoints.key.private()
        logger.warning(
            "hash chain: genesis at %d; the events up to it were written before the"
            " chain and are not chained",
            head,
        )

    def _refuse_if_chained_before(self, cursor: Cursor, missing: str) -> None:
        """A log with events, no link and a sign that a chain was kept: the chain was
        thrown away, and linking the log now would vouch for whatever it holds."""
        if latest_position(cursor) > 0:
            evidence = "signed checkpoints exist"
        elif self.checkpoints is not None and self.checkpoints.key.path.exists():
            evidence = f"its signing key {self.checkpoints.key.path.name} exists"
        else:
            return
        raise ChainBrokenError(
            f"the log holds events and {missing}, yet {evidence}: the chain was"
            " removed; not linking the log afresh (run audit verify)"
        )

    def _check_end(self, cursor: Cursor, end: int) -> None:
        cursor.execute(
            "SELECT position, first, digest, link FROM mh_audit_chain"
            " WHERE position <= ? ORDER BY position DESC LIMIT 2",
            (end,),
        )
        rows = [
            ChainRow(int(p), int(f), bytes(d), bytes(k))
            for p, f, d, k in cursor.fetchall()
        ]
        last, before = rows[0], rows[1] if len(rows) > 1 else None
        previous = before.link if before is not None else GENESIS
        if last.is_genesis:
            holds = before is None and last == genesis_row(last.position)
        elif last.first != (before.position if before is not None else 0) + 1:
            holds = False
        elif last.is_gap:
            holds = gap_link(previous, last.first, last.position) == last.link
        else:
            stored = self.table.at(cursor, end)
            holds = (
                stored is not None
                and stored.digest == last.digest
                and event_link(previous, end, last.digest) == last.link
            )
        if not holds:
            raise ChainBrokenError(
                f"the chain's last link (at {end}) does not hold; run audit verify"
            )

    @staticmethod
    def _insert(cursor: Cursor, rows: Sequence[ChainRow]) -> None:
        for start in range(0, len(rows), INSERT_CHUNK):
            chunk = rows[start : start + INSERT_CHUNK]
            cursor.execute(
                "INSERT INTO mh_audit_chain (position, first, digest, link) VALUES "  # noqa: S608 - placeholders only
                + ", ".join("(?, ?, ?, ?)" for _ in chunk),
                [v for r in chunk for v in (r.position, r.first, r.digest, r.link)],
            )

    def checkpoint(self) -> Checkpoint | None:
        """A checkpoint of the current head, on demand; None for an empty log."""
        if self.checkpoints is None:
            raise RuntimeError("this chain has no signing key")
        self.catch_up()
        with self.database.transaction() as cursor:
            position = tracked(cursor, self.database.dialect, lock=True) or 0
            if position <= 0:
                return None
            return self.checkpoints.sign(
                cursor, position, self._link_at(cursor, position)
            )

    def seal(self) -> Checkpoint | None:
        """At an engine's close: the tail linked, and its head signed where this
        process linked anything, so a closed home has no unlinked or unsigned end."""
        try:
            self.catch_up()
            if not self._linked or self.checkpoints is None:
                return None
            return self.checkpoint()
        except ChainBrokenError:
            return None  # logged where it broke; audit verify reports it
        except Exception:  # a closing engine still closes its stores
            logger.warning("hash chain not sealed at close", exc_info=True)
            return None

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
        with contextlib.suppress(ChainBrokenError):  # logged once; verify reports it
            self.chain.catch_up()
        return super().catch_up()

    def is_current(self) -> bool:
        return self.chain.is_current() and super().is_current()

    def seal(self) -> None:
        self.chain.seal()


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
