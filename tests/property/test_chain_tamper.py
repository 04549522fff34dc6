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


def tampered(
    log: PristineLog, scratch: Path, sql: str, params: tuple[object, ...] = ()
) -> Path:
    path = copy_of(log, scratch / uuid.uuid4().hex)
    with editing(path) as connection:
        connection.execute(sql, params)
    return path


def column_changed(  # noqa: PLR0917 - one call names the whole change
    log: PristineLog,
    scratch: Path,
    table: str,
    column: str,
    position: int,
    change: Callable[[bytes], object],
) -> Path:
    """A copy whose ``table`` row at ``position`` has ``column`` changed by ``change``."""
    path = copy_of(log, scratch / uuid.uuid4().hex)
    with editing(path) as connection:
        (value,) = connection.execute(
            f"SELECT CAST({column} AS BLOB) FROM {table} WHERE position = ?",  # noqa: S608 - names of ours
            (position,),
        ).fetchone()
        connection.execute(
            f"UPDATE {table} SET {column} = ? WHERE position = ?",  # noqa: S608 - names of ours
            (change(bytes(value)), position),
        )
    return path


def assert_break(path: Path, log: PristineLog, position: int, kind: Kind) -> None:
    found = verdict(path, log.public)
    assert not found.intact
    first = found.first
    assert first is not None
    assert (first.position, first.kind) == (position, kind), found.breaks


def test_the_untouched_log_verifies(pristine: PristineLog, scratch: Path) -> None:
    found = verdict(copy_of(pristine, scratch / "copy"), pristine.public)
    assert found.intact, found.breaks
    assert found.events == len(pristine.positions)
    assert found.checkpoints == len(pristine.checkpoints) >= 2
    assert pristine.gap not in pristine.positions


@EXAMPLES
@given(data=st.data(), column=st.sampled_from(["state", "topic", "originator_id"]))
def test_a_flipped_byte_of_an_event_is_located(
    pristine: PristineLog, scratch: Path, data: st.DataObject, column: str
) -> None:
    position = data.draw(st.sampled_from(pristine.positions))
    index, bit = data.draw(INDEX), data.draw(BITS)
    path = copy_of(pristine, scratch / uuid.uuid4().hex)
    with editing(path) as connection:
        values = list(row(connection, position))
        slot = ["originator_id", "originator_version", "topic", "state"].index(column)
        values[slot] = flip(values[slot], index, bit)
        connection.execute("DELETE FROM stored_events WHERE rowid = ?", (position,))
        put(connection, position, tuple(values))
    assert_break(path, pristine, position, Kind.EVENT_CHANGED)


@EXAMPLES
@given(data=st.data(), bit=st.integers(0, 40))
def test_a_changed_version_is_located(
    pristine: PristineLog, scratch: Path, data: st.DataObject, bit: int
) -> None:
    position = data.draw(st.sampled_from(pristine.positions))
    try:
        path = tampered(
            pristine,
            scratch,
            # SQLite has no XOR operator: (a | b) - (a & b) is a XOR b.
            "UPDATE stored_events SET originator_version ="
            " (originator_version | ?) - (originator_version & ?) WHERE rowid = ?",
            (1 << bit, 1 << bit, position),
        )
    except sqlite3.IntegrityError:
        return  # another event of the aggregate holds that version: no such change
    assert_break(path, pristine, position, Kind.EVENT_CHANGED)


@EXAMPLES
@given(data=st.data())
def test_a_deleted_event_is_located(
    pristine: PristineLog, scratch: Path, data: st.DataObject
) -> None:
    position = data.draw(st.sampled_from(pristine.positions))
    path = tampered(
        pristine, scratch, "DELETE FROM stored_events WHERE rowid = ?", (position,)
    )
    assert_break(path, pristine, position, Kind.EVENT_MISSING)


@EXAMPLES
@given(data=st.data())
def test_two_swapped_events_are_located_at_the_first(
    pristine: PristineLog, scratch: Path, data: st.DataObject
) -> None:
    first, second = sorted(
        data.draw(
            st.lists(
                st.sampled_from(pristine.positions), min_size=2, max_size=2, unique=True
            )
        )
    )
    path = copy_of(pristine, scratch / uuid.uuid4().hex)
    with editing(path) as connection:
        a, b = row(connection, first), row(connection, second)
        connection.execute(
            "DELETE FROM stored_events WHERE rowid IN (?, ?)", (first, second)
        )
        put(connection, first, b)
        put(connection, second, a)
    assert_break(path, pristine, first, Kind.REORDERED)


def test_an_event_inserted_into_a_gap_is_located(
    pristine: PristineLog, scratch: Path
) -> None:
    path = copy_of(pristine, scratch / "gap")
    with editing(path) as connection:
        values = row(connection, pristine.positions[0])
        put(connection, pristine.gap, (uuid.uuid4().hex.encode(), *values[1:]))
    assert_break(path, pristine, pristine.gap, Kind.EVENT_INSERTED)


@EXAMPLES
@given(data=st.data())
def test_an_event_inserted_with_the_later_ones_moved_up_is_located(
    pristine: PristineLog, scratch: Path, data: st.DataObject
) -> None:
    position = data.draw(st.sampled_from(pristine.positions))
    path = copy_of(pristine, scratch / uuid.uuid4().hex)
    with editing(path) as connection:
        later = [p for p in pristine.positions if p >= position]
        for moved in reversed(later):
            connection.execute(
                "UPDATE stored_events SET rowid = rowid + 1 WHERE rowid = ?", (moved,)
            )
        values = row(connection, position + 1)
        put(connection, position, (uuid.uuid4().hex.encode(), *values[1:]))
    assert_break(path, pristine, position, Kind.EVENT_INSERTED)


@EXAMPLES
@given(data=st.data(), column=st.sampled_from(["link", "digest"]))
def test_a_flipped_byte_of_the_chain_is_located(
    pristine: PristineLog, scratch: Path, data: st.DataObject, column: str
) -> None:
    position = data.draw(st.sampled_from((*pristine.positions, pristine.gap)))
    index, bit = data.draw(st.integers(0, 31)), data.draw(BITS)
    path = column_changed(
        pristine,
        scratch,
        "mh_audit_chain",
        column,
        position,
        lambda v: flip(v, index, bit),
    )
    assert_break(path, pristine, position, Kind.LINK_ALTERED)


@EXAMPLES
@given(data=st.data())
def test_a_deleted_link_is_located(
    pristine: PristineLog, scratch: Path, data: st.DataObject
) -> None:
    position = data.draw(st.sampled_from((*pristine.positions, pristine.gap)))
    path = tampered(
        pristine, scratch, "DELETE FROM mh_audit_chain WHERE position = ?", (position,)
    )
    assert_break(path, pristine, position, Kind.LINK_ALTERED)


@EXAMPLES
@given(
    data=st.data(),
    column=st.sampled_from(["head", "signature", "signed_at", "key_id"]),
    index=INDEX,
    bit=st.integers(0, 6),
)
def test_a_changed_checkpoint_is_located(  # noqa: PLR0917 - Hypothesis passes each drawn value by name
    pristine: PristineLog,
    scratch: Path,
    data: st.DataObject,
    column: str,
    index: int,
    bit: int,
) -> None:
    position = data.draw(st.sampled_from(pristine.checkpoints))

    def change(value: bytes) -> object:
        changed = flip(value, index, bit)  # bit < 7: text stays ASCII
        return changed if column in {"head", "signature"} else changed.decode("ascii")

    path = column_changed(
        pristine, scratch, "mh_audit_checkpoints", column, position, change
    )
    assert_break(path, pristine, position, Kind.SIGNATURE_BAD)


@EXAMPLES
@given(data=st.data(), shift=st.integers(1, 3))
def test_a_moved_checkpoint_is_located(
    pristine: PristineLog, scratch: Path, data: st.DataObject, shift: int
) -> None:
    position = data.draw(st.sampled_from(pristine.checkpoints))
    moved = position - shift
    if moved in pristine.checkpoints:
        return
    path = tampered(
        pristine,
        scratch,
        "UPDATE mh_audit_checkpoints SET position = ? WHERE position = ?",
        (moved, position),
    )
    assert_break(path, pristine, moved, Kind.SIGNATURE_BAD)
