"""Any tampering with a stored event, the chain or a checkpoint is found and located.

A real SQLite log (engine-written events, a gap where an id was never committed, a
checkpoint every few links); each example changes one thing in a copy of its file,
as an intruder with write access would, and ``verify`` must name the kind of break
and the position where it starts.
"""

from __future__ import annotations

import sqlite3
import tempfile
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from infrastructure.chainverify import Kind
from tests.chainlog import (
    PristineLog,
    copy_of,
    editing,
    flip,
    put,
    row,
    verdict,
    write_pristine,
)

EXAMPLES = settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
BITS = st.integers(0, 7)
INDEX = st.integers(0, 10_000)


@pytest.fixture(scope="module")
def pristine(tmp_path_factory: pytest.TempPathFactory) -> PristineLog:
    return write_pristine(tmp_path_factory.mktemp("chainlog") / "home")


@pytest.fixture
def scratch() -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix="chain-tamper-") as folder:
        yield Path(folder)


def assert_break(path: Path, log: PristineLog, position: int, kind: Kind) -> None:
    found = verdict(path, log.public)
    assert not found.intact
    first = found.first
    assert first is not None
    assert (first.position, first.kind) == (position, kind), found.breaks


def _change_column(
    connection: sqlite3.Connection,
    table: str,
    column: str,
    position: int,
    change: Callable[[bytes], object],
) -> None:
    """The ``table`` row at ``position`` gets ``column`` changed by ``change``."""
    (value,) = connection.execute(
        f"SELECT CAST({column} AS BLOB) FROM {table} WHERE position = ?",  # noqa: S608 - names of ours
        (position,),
    ).fetchone()
    connection.execute(
        f"UPDATE {table} SET {column} = ? WHERE position = ?",  # noqa: S608 - names of ours
        (change(bytes(value)), position),
    )


def test_the_untouched_log_verifies(pristine: PristineLog, scratch: Path) -> None:
    found = verdict(copy_of(pristine, scratch / "copy"), pristine.public)
    assert found.intact, found.breaks
    assert found.events == len(pristine.positions)
    assert found.checkpoints == len(pristine.checkpoints) >= 2
    assert pristine.gap not in pristine.positions


# -- tamperings: each changes one thing through ``connection`` (a copy of the log) and
# returns the position where verify must locate the break, or None when what it drew
# is no change an intruder could make.

Tampering = Callable[[sqlite3.Connection, PristineLog, st.DataObject], int | None]


def _flip_a_byte_of_an_event(
    connection: sqlite3.Connection, log: PristineLog, data: st.DataObject
) -> int:
    column = data.draw(st.sampled_from(["state", "topic", "originator_id"]))
    position = data.draw(st.sampled_from(log.positions))
    index, bit = data.draw(INDEX), data.draw(BITS)
    values = list(row(connection, position))
    slot = ["originator_id", "originator_version", "topic", "state"].index(column)
    values[slot] = flip(values[slot], index, bit)
    connection.execute("DELETE FROM stored_events WHERE rowid = ?", (position,))
    put(connection, position, tuple(values))
    return position


def _change_a_version(
    connection: sqlite3.Connection, log: PristineLog, data: st.DataObject
) -> int | None:
    bit = data.draw(st.integers(0, 40))
    position = data.draw(st.sampled_from(log.positions))
    try:
        connection.execute(
            # SQLite has no XOR operator: (a | b) - (a & b) is a XOR b.
            "UPDATE stored_events SET originator_version ="
            " (originator_version | ?) - (originator_version & ?) WHERE rowid = ?",
            (1 << bit, 1 << bit, position),
        )
    except sqlite3.IntegrityError:
        return None  # another event of the aggregate holds that version: no such change
    return position


def _delete_an_event(
    connection: sqlite3.Connection, log: PristineLog, data: st.DataObject
) -> int:
    position = data.draw(st.sampled_from(log.positions))
    connection.execute("DELETE FROM stored_events WHERE rowid = ?", (position,))
    return position


def _swap_two_events(
    connection: sqlite3.Connection, log: PristineLog, data: st.DataObject
) -> int:
    first, second = sorted(
        data.draw(
            st.lists(
                st.sampled_from(log.positions), min_size=2, max_size=2, unique=True
            )
        )
    )
    a, b = row(connection, first), row(connection, second)
    connection.execute(
        "DELETE FROM stored_events WHERE rowid IN (?, ?)", (first, second)
    )
    put(connection, first, b)
    put(connection, second, a)
    return first


def _insert_an_event_moving_the_later_ones_up(
    connection: sqlite3.Connection, log: PristineLog, data: st.DataObject
) -> int:
    position = data.draw(st.sampled_from(log.positions))
    later = [p for p in log.positions if p >= position]
    for moved in reversed(later):
        connection.execute(
            "UPDATE stored_events SET rowid = rowid + 1 WHERE rowid = ?", (moved,)
        )
    values = row(connection, position + 1)
    put(connection, position, (uuid.uuid4().hex.encode(), *values[1:]))
    return position


def _flip_a_byte_of_the_chain(
    connection: sqlite3.Connection, log: PristineLog, data: st.DataObject
) -> int:
    column = data.draw(st.sampled_from(["link", "digest"]))
    position = data.draw(st.sampled_from((*log.positions, log.gap)))
    index, bit = data.draw(st.integers(0, 31)), data.draw(BITS)
    _change_column(
        connection, "mh_audit_chain", column, position, lambda v: flip(v, index, bit)
    )
    return position


def _delete_a_link(
    connection: sqlite3.Connection, log: PristineLog, data: st.DataObject
) -> int:
    position = data.draw(st.sampled_from((*log.positions, log.gap)))
    connection.execute("DELETE FROM mh_audit_chain WHERE position = ?", (position,))
    return position


def _change_a_checkpoint(
    connection: sqlite3.Connection, log: PristineLog, data: st.DataObject
) -> int:
    column = data.draw(st.sampled_from(["head", "signature", "signed_at", "key_id"]))
    index, bit = data.draw(INDEX), data.draw(st.integers(0, 6))
    position = data.draw(st.sampled_from(log.checkpoints))

    def change(value: bytes) -> object:
        changed = flip(value, index, bit)  # bit < 7: text stays ASCII
        return changed if column in {"head", "signature"} else changed.decode("ascii")

    _change_column(connection, "mh_audit_checkpoints", column, position, change)
    return position


def _move_a_checkpoint(
    connection: sqlite3.Connection, log: PristineLog, data: st.DataObject
) -> int | None:
    shift = data.draw(st.integers(1, 3))
    position = data.draw(st.sampled_from(log.checkpoints))
    moved = position - shift
    if moved in log.checkpoints:
        return None
    connection.execute(
        "UPDATE mh_audit_checkpoints SET position = ? WHERE position = ?",
        (moved, position),
    )
    return moved


TAMPERINGS: dict[str, tuple[Tampering, Kind]] = {
    "a-flipped-byte-of-an-event": (_flip_a_byte_of_an_event, Kind.EVENT_CHANGED),
    "a-changed-version": (_change_a_version, Kind.EVENT_CHANGED),
    "a-deleted-event": (_delete_an_event, Kind.EVENT_MISSING),
    "two-swapped-events-at-the-first": (_swap_two_events, Kind.REORDERED),
    "an-event-inserted-with-the-later-ones-moved-up": (
        _insert_an_event_moving_the_later_ones_up,
        Kind.EVENT_INSERTED,
    ),
    "a-flipped-byte-of-the-chain": (_flip_a_byte_of_the_chain, Kind.LINK_ALTERED),
    "a-deleted-link": (_delete_a_link, Kind.LINK_ALTERED),
    "a-changed-checkpoint": (_change_a_checkpoint, Kind.SIGNATURE_BAD),
    "a-moved-checkpoint": (_move_a_checkpoint, Kind.SIGNATURE_BAD),
}


@pytest.mark.parametrize(
    ("tampering", "kind"), TAMPERINGS.values(), ids=list(TAMPERINGS)
)
@EXAMPLES
@given(data=st.data())
def test_a_tampering_is_located(
    pristine: PristineLog,
    scratch: Path,
    tampering: Tampering,
    kind: Kind,
    data: st.DataObject,
) -> None:
    path = copy_of(pristine, scratch / uuid.uuid4().hex)
    with editing(path) as connection:
        position = tampering(connection, pristine, data)
    if position is not None:
        assert_break(path, pristine, position, kind)


def test_an_event_inserted_into_a_gap_is_located(
    pristine: PristineLog, scratch: Path
) -> None:
    path = copy_of(pristine, scratch / "gap")
    with editing(path) as connection:
        values = row(connection, pristine.positions[0])
        put(connection, pristine.gap, (uuid.uuid4().hex.encode(), *values[1:]))
    assert_break(path, pristine, pristine.gap, Kind.EVENT_INSERTED)
