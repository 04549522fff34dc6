"""Rebuild read models from the log into a fresh store, and compare them row by row.

A read model is trusted because it follows from the log alone. ``mailhost audit
rebuild`` checks that: it replays the log into an empty store and compares every table
of each projection with the live one, ordered by primary key.

The replay reads the log once and decodes each event once for all the projections
(the live runner reads and decodes once per projection), in one transaction per page:
nobody else writes to a fresh store, so no position needs re-checking under a lock.
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

from collections.abc import Mapping, Sequence
from typing import Any

from attrs import frozen
from eventsourcing.persistence import Notification

from application.log import MailHostLog
from projections.envelope import Decoding, decoding_for
from projections.runner import TRACKING_SCHEMA, Projection, apply
from projections.storage import Cursor, Database

PAGE = 2_000
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


def replay(
    log: MailHostLog,
    database: Database,
    projections: Sequence[Projection],
    decoding: Decoding | None = None,
) -> int:
    """Apply the whole log to ``projections`` in the empty ``database``; events read."""
    database.ensure_schema(TRACKING_SCHEMA)
    later = [getattr(p, "indexes_after_load", ()) for p in projections]
    for projection, after in zip(projections, later, strict=True):
        database.ensure_schema([s for s in projection.schema if s not in after])
    every = tuple(p for p in projections if not p.topics)
    targets: dict[str, tuple[Projection, ...]] = {}
    for projection in projections:
        for topic in projection.topics:
            targets[topic] = (*targets.get(topic, every), projection)
    last = dict.fromkeys((p.name for p in projections), 0)
    topics = () if every else tuple(targets)
    pages = _Pages(decoding or decoding_for(log), every, targets)
    position, count = 0, 0
    while True:
        notifications = log.recorder.select_notifications(
            start=position, limit=PAGE, topics=topics, inclusive_of_start=False
        )
        if not notifications:
            break
        with database.transaction() as cursor:
            for projection, items in pages.of(notifications):
                apply(projection, items, cursor)
                last[projection.name] = items[-1][1]
        position = notifications[-1].id
        count += len(notifications)
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


@frozen
class _Plan:
    """How a topic's events are read: by whom, fully decoded or as envelopes."""

    events: tuple[Projection, ...]
    envelopes: tuple[Projection, ...]
    full: bool
    envelope_full: bool


class _Pages:
    """Each projection's events of a page, in log order, each decoded once.

    ``targets`` names the projections of each topic (those of every topic among them);
    a topic no projection names goes to those of every topic only.
    """

    def __init__(
        self,
        decoding: Decoding,
        every: tuple[Projection, ...],
        targets: Mapping[str, tuple[Projection, ...]],
    ) -> None:
        self.decoding = decoding
        self.every = every
        self.targets = targets
        self.plans: dict[str, _Plan] = {}

    def plan(self, topic: str) -> _Plan:
        known = self.plans.get(topic)
        if known is not None:
            return known
        readers = self.targets.get(topic, self.every)
        envelopes = tuple(p for p in readers if hasattr(p, "process_envelopes"))
        events = tuple(p for p in readers if p not in envelopes)
        cls = self.decoding.resolve(topic)
        envelope_full = any(
            issubclass(cls, getattr(p, "decoded", ())) for p in envelopes
        )
        plan = self.plans[topic] = _Plan(
            events, envelopes, bool(events) or envelope_full, envelope_full
        )
        return plan

    def of(
        self, notifications: Sequence[Notification]
    ) -> list[tuple[Projection, list[tuple[object, int]]]]:
        pages: dict[str, tuple[Projection, list[tuple[object, int]]]] = {}
        decoding = self.decoding
        for notification in notifications:
            plan = self.plan(notification.topic)
            event: object = None
            envelope: object = None
            if plan.envelopes and plan.full:
                event, envelope = decoding.both(notification)
            elif plan.envelopes:
                envelope = decoding.envelope(notification)
            else:
                event = decoding.event(notification)
            position = notification.id
            for projection in plan.events:
                _page(pages, projection).append((event, position))
            for projection in plan.envelopes:
                _page(pages, projection).append((envelope, position))
        return list(pages.values())


def _page(
    pages: dict[str, tuple[Projection, list[tuple[object, int]]]],
    projection: Projection,
) -> list[tuple[object, int]]:
    page = pages.get(projection.name)
    if page is None:
        page = pages[projection.name] = (projection, [])
    return page[1]


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
