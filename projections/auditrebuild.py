"""Rebuild read models from the log into a fresh store, and compare them row by row.

A read model is trusted because it follows from the log alone. ``mailhost audit
rebuild`` checks that: it replays the log into an empty store and compares every table
of each projection with the live one, ordered by primary key.

The replay reads the log once and decodes each event once for all the projections
(the live runner reads and decodes once per projection), in one transaction per page:
nobody else writes to a fresh store, so no position needs re-checking under a lock,
and nothing in it needs to survive a crash (it is thrown away then): a SQLite store
keeps no journal on disk meanwhile, a PostgreSQL commit waits for no disk flush.
The pass decodes with the mapper's decoding for a whole log, which keeps what repeats
between events (``infrastructure.rundecoding``).
Each projection still sees exactly the events of its topics, in log order, and its
tracked position ends where the runner's would (its last event).

Decoding is lazy, as the live runner's: an event's fields are structured only when a
projection needs them, and a projection of envelopes (the audit trail, of every event)
gets the envelope alone otherwise (``projections.envelope``). The indexes a projection
only queries by (``indexes_after_load``) are made once the rows are in, as a bulk load
does: the same index, built once rather than row by row.

Some columns are not derived from the log by design and are left out of the
comparison (``NOT_FROM_THE_LOG``): the job table's hand-over and claim leases, attempt
counts, errors and completion times are written by relays and workers as they run the
jobs; a rebuilt schedule has every job due and unclaimed.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager, nullcontext
from typing import Any, Protocol

from attrs import frozen
from eventsourcing.persistence import Notification

from application.log import MailHostLog
from projections.envelope import Decoding, decoding_for
from projections.runner import TRACKING_SCHEMA, Projection, apply
from projections.storage import Cursor, Database

# Events per page (a transaction each). Measured on the audit group's log: 5,000 a
# page rebuilt ~8% faster than 2,000 (fewer commits, fewer reads of each account's
# latest login line), 10,000 ~3% more; a page's decoded events are ~15 MB at most.
PAGE = 5_000
NOT_FROM_THE_LOG: Mapping[str, frozenset[str]] = {
    "mh_jobs": frozenset(
        {
            "enqueued_at",
            "done_at",
            "handed_until",
            "claim_token",
            "claimed_until",
            "attempts",
            "last_error",
        }
    ),
}


class PageSource(Protocol):
    """Where a replay reads the log: the notifications after ``after``, of ``topics``
    (all where empty), at most ``limit``, in log order."""

    def __call__(
        self, after: int, limit: int, topics: Sequence[str]
    ) -> Sequence[Notification]: ...


def replay(
    log: MailHostLog,
    database: Database,
    projections: Sequence[Projection],
    decoding: Decoding | None = None,
    pages: PageSource | None = None,
) -> int:
    """Apply the whole log to ``projections`` in the empty ``database``; events read.

    ``pages``: the log's reading for a whole pass (``infrastructure.storedpages``);
    by default, its recorder's.
    """
    scratch = getattr(database, "scratch", None)
    with scratch() if scratch is not None else nullcontext(), _no_collector():
        return _replay(log, database, projections, decoding, pages or _recorded(log))


def _recorded(log: MailHostLog) -> PageSource:
    def read(after: int, limit: int, topics: Sequence[str]) -> Sequence[Notification]:
        return log.recorder.select_notifications(
            start=after, limit=limit, topics=topics, inclusive_of_start=False
        )

    return read


@contextmanager
def _no_collector() -> Iterator[None]:
    """The cyclic garbage collector paused while the log is replayed.

    A page's decoded events stay alive until its rows are written (~10^4 objects),
    so the collector's young passes find them alive, promote them, and the full
    passes this triggers walk the whole heap again and again: measured, a quarter of
    a rebuild's time. Nothing a replay makes forms a cycle (events, envelopes and
    rows are freed by reference counting as each page ends), so pausing it leaves
    no garbage behind; it runs again as before when the replay ends.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _replay(
    log: MailHostLog,
    database: Database,
    projections: Sequence[Projection],
    decoding: Decoding | None,
    read: PageSource,
) -> int:
    database.ensure_schema(TRACKING_SCHEMA)
    later = [getattr(p, "indexes_after_load", ()) for p in projections]
    for projection, after in zip(projections, later, strict=True):
        database.ensure_schema([s for s in projection.schema if s not in after])
    pages = _Pages(decoding or decoding_for(log, whole_log=True), projections)
    last, count = _write(read, database, pages)
    with database.transaction() as cursor:
        for name, tracked in last.items():
            if tracked:
                cursor.execute(
                    "INSERT INTO mh_tracking (projection, position) VALUES (?, ?)",
                    (name, tracked),
                )
    for after in later:
        database.ensure_schema(after)
    return count


def _write(
    read: PageSource, database: Database, pages: _Pages
) -> tuple[dict[str, int], int]:
    """Every page applied, a transaction each; each projection's last position, and
    the events read."""
    last = dict.fromkeys((p.name for p in pages.projections), 0)
    position, count = 0, 0
    while True:
        notifications = read(position, PAGE, pages.topics)
        if not notifications:
            return last, count
        with database.transaction() as cursor:
            if database.dialect == "postgres":
                # A fresh schema is dropped if anything fails: a commit need not
                # wait for its write-ahead log to reach the disk.
                cursor.execute("SET LOCAL synchronous_commit TO OFF")
            for projection, items in pages.of(notifications):
                apply(projection, items, cursor)
                last[projection.name] = items[-1][1]
        position = notifications[-1].id
        count += len(notifications)


@frozen
class _Plan:
    """How a topic's events are read: fully decoded or as envelopes, and for whom
    (each projection by its place in the replay's list)."""

    events: tuple[int, ...]
    envelopes: tuple[int, ...]
    full: bool


Page = list[tuple[Projection, list[tuple[object, int]]]]


class _Pages:
    """Each projection's events of a page, in log order, each decoded once.

    ``targets`` names the projections of each topic (those of every topic among them);
    a topic no projection names goes to those of every topic only. ``topics``: those
    to read, or all when some projection reads every topic.
    """

    def __init__(self, decoding: Decoding, projections: Sequence[Projection]) -> None:
        self.decoding = decoding
        self.projections = tuple(projections)
        self.every = tuple(p for p in projections if not p.topics)
        self.targets: dict[str, tuple[Projection, ...]] = {}
        for projection in projections:
            for topic in projection.topics:
                self.targets[topic] = (
                    *self.targets.get(topic, self.every),
                    projection,
                )
        self.topics = () if self.every else tuple(self.targets)
        self.plans: dict[str, _Plan] = {}

    def plan(self, topic: str) -> _Plan:
        readers = self.targets.get(topic, self.every)
        envelopes = tuple(p for p in readers if hasattr(p, "process_envelopes"))
        events = tuple(p for p in readers if p not in envelopes)
        cls = self.decoding.resolve(topic)
        envelope_full = any(
            issubclass(cls, getattr(p, "decoded", ())) for p in envelopes
        )
        slot = self.projections.index
        plan = self.plans[topic] = _Plan(
            tuple(slot(p) for p in events),
            tuple(slot(p) for p in envelopes),
            bool(events) or envelope_full,
        )
        return plan

    def of(self, notifications: Sequence[Notification]) -> Page:
        """The projections' items, in the replay's order of projections."""
        items: list[list[tuple[object, int]]] = [[] for _ in self.projections]
        decoding, plans = self.decoding, self.plans
        for notification in notifications:
            topic = notification.topic
            plan = plans.get(topic) or self.plan(topic)
            event: object = None
            envelope: object = None
            if plan.envelopes and plan.full:
                event, envelope = decoding.both(notification)
            elif plan.envelopes:
                envelope = decoding.envelope(notification)
            else:
                event = decoding.event(notification)
            position = notification.id
            for slot in plan.events:
                items[slot].append((event, position))
            for slot in plan.envelopes:
                items[slot].append((envelope, position))
        return [(p, i) for p, i in zip(self.projections, items, strict=True) if i]


@frozen
class Difference:
    """One cell that differs; ``column`` "(row)" where the whole row is on one side."""

    table: str
    key: tuple[Any, ...]
    column: str
    live: Any
    rebuilt: Any


@frozen
class _Table:
    columns: tuple[str, ...]
    key: tuple[str, ...]


def _shape(cursor: Cursor, dialect: str, table: str) -> _Table:
    """The table's columns and primary key, as the store itself declares them."""
    if dialect == "sqlite":
        cursor.execute(f"PRAGMA table_info({table})")
        rows = cursor.fetchall()
        columns = tuple(str(r[1]) for r in rows)
        key = tuple(str(r[1]) for r in sorted(rows, key=lambda r: r[5]) if r[5])
        return _Table(columns, key or columns)
    cursor.execute(
        "SELECT column_name FROM information_schema.columns"
        " WHERE table_schema = current_schema() AND table_name = ?"
        " ORDER BY ordinal_position",
        (table,),
    )
    columns = tuple(str(r[0]) for r in cursor.fetchall())
    cursor.execute(
        "SELECT a.attname FROM pg_index i JOIN pg_attribute a"
        " ON a.attrelid = i.indrelid AND a.attnum = ANY(i.indkey)"
        " WHERE i.indrelid = CAST(? AS regclass) AND i.indisprimary"
        " ORDER BY array_position(i.indkey, a.attnum)",
        (table,),
    )
    key = tuple(str(r[0]) for r in cursor.fetchall())
    return _Table(columns, key or columns)


def _rows(
    database: Database, table: str, shape: _Table, columns: Sequence[str]
) -> dict[tuple[Any, ...], dict[str, Any]]:
    wanted = (*shape.key, *(c for c in columns if c not in shape.key))
    with database.transaction() as cursor:
        cursor.execute(
            f"SELECT {', '.join(wanted)} FROM {table}"  # noqa: S608 - names the store declared
            f" ORDER BY {', '.join(shape.key)}"
        )
        rows = cursor.fetchall()
    width = len(shape.key)
    return {
        tuple(row[:width]): dict(zip(wanted[width:], row[width:], strict=True))
        for row in rows
    }


def compare_table(live: Database, rebuilt: Database, table: str) -> list[Difference]:
    """Every difference between the live and the rebuilt rows of ``table``."""
    with rebuilt.transaction() as cursor:
        shape = _shape(cursor, rebuilt.dialect, table)
    with live.transaction() as cursor:
        live_shape = _shape(cursor, live.dialect, table)
    skipped = NOT_FROM_THE_LOG.get(table, frozenset())
    columns = [c for c in shape.columns if c not in skipped and c not in shape.key]
    missing = [c for c in columns if c not in live_shape.columns]
    if missing:
        return [Difference(table, (), c, "(no such column)", "") for c in missing]
    theirs = _rows(live, table, shape, columns)
    ours = _rows(rebuilt, table, shape, columns)
    found: list[Difference] = []
    for key in sorted(theirs.keys() | ours.keys()):
        old, new = theirs.get(key), ours.get(key)
        if old is None or new is None:
            found.append(Difference(table, key, "(row)", old, new))
            continue
        found.extend(
            Difference(table, key, c, old[c], new[c])
            for c in columns
            if old[c] != new[c]
        )
    return found


def compare(
    live: Database, rebuilt: Database, projection: Projection
) -> list[Difference]:
    """The projection's tables and its tracked position, live against rebuilt."""
    found = [
        d for table in projection.tables for d in compare_table(live, rebuilt, table)
    ]
    positions = []
    for database in (live, rebuilt):
        with database.transaction() as cursor:
            cursor.execute(
                "SELECT position FROM mh_tracking WHERE projection = ?",
                (projection.name,),
            )
            row = cursor.fetchone()
        positions.append(0 if row is None else int(row[0]))
    if positions[0] != positions[1]:
        found.append(
            Difference("mh_tracking", (projection.name,), "position", *positions)
        )
    return found
