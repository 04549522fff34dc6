"""Verification: the chain recomputed from the stored events, its links and signed heads.

Reads the events' stored bytes unparsed, page by page beside the chain's links, so a
copy of the log is checked in one pass and in little memory, with only the public key.
Each link is checked against its own predecessor as stored, so one change is reported
where it is and later links are still checked; a chain rewritten consistently after a
change shows at the next signed checkpoint, whose head no longer matches.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

from attrs import define, field
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from infrastructure.chainlinks import (
    FOLLOWER,
    GENESIS,
    ChainRow,
    EventTable,
    StoredEvent,
    event_link,
    gap_link,
    genesis_row,
)
from infrastructure.chainverdict import Break, Kind, NoPublicKeyError, Verdict
from infrastructure.checkpoints import Checkpoint, signature_holds, stored_checkpoints
from projections.storage import Cursor, Database

__all__ = [
    "Break",
    "Kind",
    "NoPublicKeyError",
    "Verdict",
    "Verifier",
    "signed_heads",
    "verify",
]

PAGE = 2000
# Events after the chain's end a live follower may not have linked yet; a longer
# unlinked tail is a chain cut short, not a follower behind.
UNLINKED_ALLOWANCE = 1000
CHAIN, TRACKING, CHECKPOINTS = (
    "mh_audit_chain",
    "mh_audit_tracking",
    "mh_audit_checkpoints",
)
MAX_BREAKS = 100
# Breaks classified further (a look-up each); later ones are "event bytes changed".
MAX_CLASSIFIED = 10


@define
class _Walked:
    """How far the walk over the links got, and what it found before the chain."""

    previous: bytes = GENESIS
    head: int = 0
    events: int = 0
    genesis: int = 0
    unchained: int = 0


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


@define
class Verifier:
    """One walk over a log; its inputs, defaults included, are ``verify``'s."""

    database: Database
    table: EventTable
    public: Ed25519PublicKey | None
    extra: tuple[Checkpoint, ...]
    page: int
    allowance: int
    breaks: list[Break] = field(factory=list, init=False)
    _classified: int = field(default=0, init=False)

    def run(self) -> Verdict:
        with self.database.transaction() as cursor:
            present = _present(cursor, self.database.dialect)
            stored = stored_checkpoints(cursor) if CHECKPOINTS in present else []
            followed = _followed(cursor) if TRACKING in present else None
        checkpoints = stored + list(self.extra)
        if checkpoints and self.public is None:
            raise NoPublicKeyError(
                f"{len(checkpoints)} signed checkpoint(s) and no public key"
            )
        heads = self._signatures(checkpoints)
        walked = self._walk(heads, CHAIN in present)
        stopped = len(self.breaks) >= MAX_BREAKS
        pending = self._pending(walked.head)
        notes: list[str] = []
        if not stopped:
            self._ends(walked.head, pending, followed, notes)
            for at in sorted(heads):
                self._break(
                    at,
                    Kind.HEAD_MISMATCH,
                    f"the chain has no link at this signed position (it ends at {walked.head})",
                )
        return Verdict(
            events=walked.events,
            head=walked.head,
            pending=pending,
            checkpoints=len(checkpoints),
            breaks=tuple(self.breaks),
            stopped=stopped,
            genesis=walked.genesis,
            unchained=walked.unchained,
            notes=tuple(notes),
        )

    def _walk(self, heads: dict[int, list[Checkpoint]], chained: bool) -> _Walked:
        """Every link checked against its predecessor and the event it covers."""
        events = _Peek(self._events())
        walked = _Walked()
        for row in self._rows() if chained else ():
            if len(self.breaks) >= MAX_BREAKS:
                break
            if row.is_genesis and walked.head == 0 and row == genesis_row(row.position):
                walked.genesis = row.position
                walked.unchained = len(events.through(row.position))
            elif row.is_genesis:
                self._break(
                    row.position,
                    Kind.LINK_ALTERED,
                    "a genesis link that is not the chain's well-formed first link",
                )
            else:
                walked.events += self._row(row, walked.previous, walked.head, events)
            for checkpoint in heads.pop(row.position, ()):
                if checkpoint.head != row.link:
                    self._break(
                        row.position,
                        Kind.HEAD_MISMATCH,
                        "the signed head differs from the chain's link here",
                    )
            walked.previous, walked.head = row.link, row.position
        return walked

    def _ends(
        self, head: int, pending: int, followed: int | None, notes: list[str]
    ) -> None:
        """The chain's end against the log's and the follower's: none cut short."""
        if head == 0 and pending:
            self._break(
                1,
                Kind.CHAIN_MISSING,
                f"the log holds {pending} event(s) and the chain not one link",
            )
        elif pending > self.allowance:
            self._break(
                head + 1,
                Kind.CHAIN_MISSING,
                f"{pending} event(s) after the chain's end, more than the"
                f" {self.allowance} a follower may lag behind",
            )
        if followed is not None and followed > head:
            self._break(
                head + 1,
                Kind.LINK_ALTERED,
                f"the follower linked up to {followed}; the chain ends at {head}",
            )
        elif head and (followed is None or followed < head):
            shown = "none" if followed is None else str(followed)
            notes.append(
                f"the follower's tracked position ({shown}) is behind the chain's"
                f" end ({head}): the next engine start resumes there"
            )

    def _signatures(
        self, checkpoints: Sequence[Checkpoint]
    ) -> dict[int, list[Checkpoint]]:
        """Each checkpoint whose signature holds, by position; the others are breaks."""
        heads: dict[int, list[Checkpoint]] = {}
        for checkpoint in checkpoints:
            if self.public is None or not signature_holds(checkpoint, self.public):
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


def _followed(cursor: Cursor) -> int | None:
    """How far the follower says it linked: the chain's end cannot be cut unnoticed."""
    cursor.execute("SELECT position FROM mh_audit_tracking WHERE name = ?", (FOLLOWER,))
    row = cursor.fetchone()
    return None if row is None else int(row[0])


def signed_heads(database: Database) -> list[Checkpoint]:
    """The stored checkpoints; none where their table is missing (created by no reader)."""
    with database.transaction() as cursor:
        if CHECKPOINTS not in _present(cursor, database.dialect):
            return []
        return stored_checkpoints(cursor)


def _present(cursor: Cursor, dialect: str) -> set[str]:
    """The chain's tables that exist: verify reads a copy, and creates none."""
    found: set[str] = set()
    for table in (CHAIN, TRACKING, CHECKPOINTS):
        if dialect == "postgres":
            cursor.execute("SELECT to_regclass(?) IS NOT NULL", (table,))
        else:
            cursor.execute(
                "SELECT COUNT(*) > 0 FROM sqlite_master WHERE type = 'table' AND name = ?",
                (table,),
            )
        row = cursor.fetchone()
        if row is not None and row[0]:
            found.add(table)
    return found


def verify(
    database: Database,
    table: EventTable,
    public: Ed25519PublicKey | None,
    *,
    extra: Sequence[Checkpoint] = (),
    page: int = PAGE,
    allowance: int = UNLINKED_ALLOWANCE,
) -> Verdict:
    """The verdict on the log in ``database``: intact, or where and how it breaks.

    Raises NoPublicKeyError where checkpoints are signed and ``public`` is None.
    """
    return Verifier(database, table, public, tuple(extra), page, allowance).run()
