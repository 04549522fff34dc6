"""Verification: the chain recomputed from the stored events, its links and signed heads.

Reads the events' stored bytes unparsed, page by page beside the chain's links, so a
copy of the log is checked in one pass and in little memory, with only the public key.
Each link is checked against its own predecessor as stored, so one change is reported
where it is and later links are still checked; a chain rewritten consistently after a
change shows at the next signed checkpoint, whose head no longer matches.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from enum import StrEnum
from typing import Any

from attrs import frozen
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from infrastructure.chain import (
    FOLLOWER,
    GENESIS,
    ChainRow,
    EventTable,
    StoredEvent,
    event_link,
    gap_link,
)
from infrastructure.checkpoints import Checkpoint, signature_holds, stored_checkpoints
from infrastructure.sql import Database
from projections.storage import Cursor

PAGE = 2000
MAX_BREAKS = 100
# Breaks classified further (a look-up each); later ones are "event bytes changed".
MAX_CLASSIFIED = 10


class Kind(StrEnum):
    EVENT_CHANGED = "event bytes changed"
    EVENT_MISSING = "event missing or deleted"
    EVENT_INSERTED = "event inserted"
    REORDERED = "events reordered"
    LINK_ALTERED = "chain link altered"
    SIGNATURE_BAD = "checkpoint signature bad"
    HEAD_MISMATCH = "checkpoint head mismatch"


@frozen
class Break:
    position: int
    kind: Kind
    detail: str

    def as_json(self) -> dict[str, Any]:
        return {
            "position": self.position,
            "kind": self.kind.name.lower(),
            "detail": self.detail,
        }


@frozen
class Verdict:
    events: int
    head: int
    pending: int
    checkpoints: int
    breaks: tuple[Break, ...]
    stopped: bool = False

    @property
    def intact(self) -> bool:
        return not self.breaks

    @property
    def first(self) -> Break | None:
        return min(self.breaks, key=lambda b: b.position) if self.breaks else None

    def as_json(self) -> dict[str, Any]:
        first = self.first
        return {
            "intact": self.intact,
            "events": self.events,
            "head": self.head,
            "pending": self.pending,
            "checkpoints": self.checkpoints,
            "first_break": first.as_json() if first else None,
            "breaks": [b.as_json() for b in sorted(self.breaks, key=_order)],
            "stopped_early": self.stopped,
        }


def _order(item: Break) -> int:
    return item.position


class _Peek:
    """The stored events in id order, taken up to a position at a time."""

    def __init__(self, events: Iterator[StoredEvent]) -> None:
        self._events = events
        self._next: StoredEvent | None = next(events, None)

    def through(self, position: int) -> list[StoredEvent]:
        taken: list[StoredEvent] = []
        while self._next is not None and self._next.position <= position:
            taken.append(self._next)
            self._next = next(self._events, None)
        return taken


class Verifier:
    def __init__(
        self,
        database: Database,
        table: EventTable,
        public: Ed25519PublicKey | None,
        *,
        extra: Sequence[Checkpoint] = (),
        page: int = PAGE,
    ) -> None:
        self.database = database
        self.table = table
        self.public = public
        self.extra = tuple(extra)
        self.page = page
        self.breaks: list[Break] = []
        self._classified = 0

    def run(self) -> Verdict:
        with self.database.transaction() as cursor:
            checkpoints = stored_checkpoints(cursor) + list(self.extra)
            followed = _followed(cursor)
        heads = self._signatures(checkpoints)
        events = _Peek(self._events())
        previous, position, count = GENESIS, 0, 0
        for row in self._rows():
            if len(self.breaks) >= MAX_BREAKS:
                break
            count += self._row(row, previous, position, events)
            for checkpoint in heads.pop(row.position, ()):
                if checkpoint.head != row.link:
                    self._break(
                        row.position,
                        Kind.HEAD_MISMATCH,
                        "the signed head differs from the chain's link here",
                    )
            previous, position = row.link, row.position
        stopped = len(self.breaks) >= MAX_BREAKS
        if followed > position and not stopped:
            self._break(
                position + 1,
                Kind.LINK_ALTERED,
                f"the follower linked up to {followed}; the chain ends at {position}",
            )
        if not stopped:
            for at in sorted(heads):
                self._break(
                    at,
                    Kind.HEAD_MISMATCH,
                    f"the chain has no link at this signed position (it ends at {position})",
                )
        return Verdict(
            events=count,
            head=position,
            pending=self._pending(position),
            checkpoints=len(checkpoints),
            breaks=tuple(self.breaks),
            stopped=stopped,
        )

    def _signatures(
        self, checkpoints: Sequence[Checkpoint]
    ) -> dict[int, list[Checkpoint]]:
        """Each checkpoint whose signature holds, by position; the others are breaks."""
        heads: dict[int, list[Checkpoint]] = {}
        for checkpoint in checkpoints:
            if self.public is None:
                self._break(
                    checkpoint.position,
                    Kind.SIGNATURE_BAD,
                    "no public key to check it with (--public-key)",
                )
            elif not signature_holds(checkpoint, self.public):
                self._break(
                    checkpoint.position,
                    Kind.SIGNATURE_BAD,
                    f"the signature does not hold for key {checkpoint.key_id!r}",
                )
            else:
                heads.setdefault(checkpoint.position, []).append(checkpoint)
        return heads

    def _row(self, row: ChainRow, previous: bytes, after: int, events: _Peek) -> int:
        """Check one link; how many events it covered."""
        found = events.through(row.position)
        if (
            row.first != after + 1
            or row.first > row.position
            or (not row.is_gap and row.first != row.position)
        ):
            self._break(
                after + 1,
                Kind.LINK_ALTERED,
                f"the chain has no well-formed link for positions {after + 1}..{row.position}",
            )
            return len(found)
        if row.is_gap:
            if found:
                self._break(
                    found[0].position,
                    Kind.EVENT_INSERTED,
                    "an event where the chain records a gap",
                )
            elif gap_link(previous, row.first, row.position) != row.link:
                self._break(
                    row.position,
                    Kind.LINK_ALTERED,
                    "the gap's link does not follow from the one before",
                )
            return len(found)
        if not found and gap_link(previous, row.first, row.position) == row.link:
            self._break(
                row.position, Kind.LINK_ALTERED, "a gap's stored digest was altered"
            )
            return 0
        if not found:
            self._break(
                row.position,
                Kind.EVENT_MISSING,
                "the chain links an event the log no longer holds",
            )
            return 0
        event = found[-1]
        if event_link(previous, row.position, event.digest) == row.link:
            if event.digest != row.digest:
                self._break(
                    row.position,
                    Kind.LINK_ALTERED,
                    "the link's stored digest was altered",
                )
        elif event_link(previous, row.position, row.digest) != row.link:
            self._break(
                row.position,
                Kind.LINK_ALTERED,
                "the link does not follow from the one before",
            )
        else:
            self._event_changed(row, event)
        return len(found)

    def _event_changed(self, row: ChainRow, event: StoredEvent) -> None:
        """The link holds for what was stored here once: say what became of that event."""
        if self._classified >= MAX_CLASSIFIED:
            self._break(
                row.position,
                Kind.EVENT_CHANGED,
                "the stored event differs from the one linked",
            )
            return
        self._classified += 1
        with self.database.transaction() as cursor:
            cursor.execute(
                "SELECT position FROM mh_audit_chain WHERE digest = ? AND position <> ?",
                (event.digest, row.position),
            )
            elsewhere = cursor.fetchone()
            if elsewhere is not None:
                other = self.table.at(cursor, int(elsewhere[0]))
                swapped = other is not None and other.digest == row.digest
                kind = (
                    Kind.REORDERED
                    if swapped or int(elsewhere[0]) < row.position
                    else Kind.EVENT_MISSING
                )
                detail = (
                    f"swapped with the event at {elsewhere[0]}"
                    if swapped
                    else f"holds the event linked at {elsewhere[0]}"
                )
                self._break(row.position, kind, detail)
                return
            following = self.table.page(cursor, row.position, 1)
        if following and following[0].digest == row.digest:
            self._break(
                row.position,
                Kind.EVENT_INSERTED,
                f"a new event here; the one linked here is now at {following[0].position}",
            )
            return
        self._break(
            row.position,
            Kind.EVENT_CHANGED,
            "the stored event differs from the one linked",
        )

    def _rows(self) -> Iterator[ChainRow]:
        after = 0
        while True:
            with self.database.transaction() as cursor:
                cursor.execute(
                    "SELECT position, first, digest, link FROM mh_audit_chain"
                    " WHERE position > ? ORDER BY position LIMIT ?",
                    (after, self.page),
                )
                page = cursor.fetchall()
            if not page:
                return
            for position, first, digest, link in page:
                yield ChainRow(int(position), int(first), bytes(digest), bytes(link))
            after = int(page[-1][0])

    def _events(self) -> Iterator[StoredEvent]:
        after = 0
        while True:
            with self.database.transaction() as cursor:
                page = self.table.page(cursor, after, self.page)
            if not page:
                return
            yield from page
            after = page[-1].position

    def _pending(self, head: int) -> int:
        with self.database.transaction() as cursor:
            cursor.execute(self.table.count_after(), (head,))
            row = cursor.fetchone()
        return 0 if row is None else int(row[0])

    def _break(self, position: int, kind: Kind, detail: str) -> None:
        self.breaks.append(Break(position, kind, detail))


def _followed(cursor: Cursor) -> int:
    """How far the follower says it linked: the chain's end cannot be cut unnoticed."""
    cursor.execute("SELECT position FROM mh_audit_tracking WHERE name = ?", (FOLLOWER,))
    row = cursor.fetchone()
    return 0 if row is None else int(row[0])


def verify(
    database: Database,
    table: EventTable,
    public: Ed25519PublicKey | None,
    *,
    extra: Sequence[Checkpoint] = (),
    page: int = PAGE,
) -> Verdict:
    """The verdict on the log in ``database``: intact, or where and how it breaks."""
    return Verifier(database, table, public, extra=extra, page=page).run()
