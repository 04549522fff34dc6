"""The chain's arithmetic and the checkpoints' signatures, without a database."""

from __future__ import annotations

import stat
from pathlib import Path
from uuid import UUID, uuid4

import pytest

from infrastructure.chainlinks import (
    GAP,
    GENESIS,
    ChainRow,
    StoredEvent,
    chain_rows,
    event_digest,
    event_link,
    gap_link,
    stored_bytes,
)
from infrastructure.chainverdict import Break, Kind, Verdict
from infrastructure.checkpoints import (
    Checkpoint,
    SigningKey,
    exported,
    key_id,
    load_public_pem,
    signature_holds,
    signed_message,
)
from infrastructure.cli.auditverify import verdict_text


def notification(position: int, state: bytes = b"{}") -> StoredEvent:
    """A stored row as the recorder hands it out (its id as a ``UUID``), digested."""
    topic = "domain.account:UserAccount.Registered"
    return StoredEvent.of((position, UUID(int=position), 1, topic, state))


def test_fields_are_length_prefixed() -> None:
    assert event_digest(b"ab", 1, b"c", b"") != event_digest(b"a", 1, b"bc", b"")
    assert event_digest(b"a", 1, b"b", b"c") != event_digest(b"a", 1, b"bc", b"")
    assert event_digest(b"a", 11, b"b", b"") != event_digest(b"a", 1, b"1b", b"")


def test_a_uuid_is_digested_as_sqlite_stores_it() -> None:
    identifier = uuid4()
    assert stored_bytes(identifier) == identifier.hex.encode()
    assert stored_bytes(identifier.hex) == identifier.hex.encode()
    assert stored_bytes(memoryview(b"\x00\xff")) == b"\x00\xff"


def test_each_link_covers_the_previous_one_and_the_position() -> None:
    digest = event_digest(b"o", 1, b"t", b"s")
    assert event_link(GENESIS, 1, digest) != event_link(GENESIS, 2, digest)
    first = event_link(GENESIS, 1, digest)
    assert event_link(first, 2, digest) != event_link(GENESIS, 2, digest)


def test_a_missing_id_becomes_a_gap_link_between_its_neighbours() -> None:
    rows = chain_rows(GENESIS, 0, [notification(1), notification(4)])
    assert [(r.first, r.position, r.is_gap) for r in rows] == [
        (1, 1, False),
        (2, 3, True),
        (4, 4, False),
    ]
    assert rows[1].digest == GAP
    assert rows[1].link == gap_link(rows[0].link, 2, 3)
    assert rows[2].link == event_link(rows[1].link, 4, rows[2].digest)


def test_a_gap_before_the_first_event_is_linked_too() -> None:
    rows = chain_rows(GENESIS, 0, [notification(3)])
    assert [(r.first, r.position) for r in rows] == [(1, 2), (3, 3)]


def test_the_follower_refuses_ids_out_of_order() -> None:
    with pytest.raises(ValueError, match="out of order"):
        chain_rows(GENESIS, 5, [notification(5)])


def test_the_state_bytes_are_linked_exactly() -> None:
    one = chain_rows(GENESIS, 0, [notification(1, b"\x00cipher")])
    other = chain_rows(GENESIS, 0, [notification(1, b"\x01cipher")])
    assert one[0].link != other[0].link


def test_the_key_is_made_once_private_and_reused(tmp_path: Path) -> None:
    path = tmp_path / "keys" / "audit.key"
    key = SigningKey(path)
    assert key.public() is None  # nothing made by merely asking
    private = key.private()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    again = SigningKey(path).private()
    assert key_id(again.public_key()) == key_id(private.public_key())
    assert not list(path.parent.glob(".*tmp"))


def test_a_key_made_meanwhile_by_another_process_is_kept(tmp_path: Path) -> None:
    path = tmp_path / "audit.key"
    first = SigningKey(path).private()
    late = SigningKey(path)
    late._create()  # the race: the file appeared after the check
    assert key_id(late.private().public_key()) == key_id(first.public_key())


def signed(tmp_path: Path) -> tuple[Checkpoint, SigningKey]:
    key = SigningKey(tmp_path / "audit.key")
    private = key.private()
    kid = key_id(private.public_key())
    head = bytes(range(32))
    at = "2026-12-02T10:00:00.000000+00:00"
    signature = private.sign(signed_message(9, head, at, kid))
    return Checkpoint(9, head, at, kid, signature), key


def test_a_checkpoint_holds_only_as_signed(tmp_path: Path) -> None:
    checkpoint, key = signed(tmp_path)
    public = key.public()
    assert public is not None
    assert signature_holds(checkpoint, public)
    for changed in (
        Checkpoint(
            10,
            checkpoint.head,
            checkpoint.signed_at,
            checkpoint.key_id,
            checkpoint.signature,
        ),
        Checkpoint(
            9, bytes(32), checkpoint.signed_at, checkpoint.key_id, checkpoint.signature
        ),
        Checkpoint(
            9, checkpoint.head, "2026-12-03", checkpoint.key_id, checkpoint.signature
        ),
        Checkpoint(
            9, checkpoint.head, checkpoint.signed_at, "0" * 16, checkpoint.signature
        ),
    ):
        assert not signature_holds(changed, public)
    other = SigningKey(tmp_path / "other.key").private().public_key()
    assert not signature_holds(checkpoint, other)


def test_an_export_carries_what_a_copy_is_verified_with(tmp_path: Path) -> None:
    checkpoint, key = signed(tmp_path)
    public = key.public()
    data = exported([checkpoint], public)
    assert Checkpoint.from_json(data["checkpoints"][0]) == checkpoint
    assert key_id(load_public_pem(data["public_key"].encode())) == data["key_id"]
    assert "PRIVATE" not in str(data)
    with pytest.raises(ValueError, match="PEM"):
        load_public_pem(b"not a key")


def test_the_verdict_names_the_first_break_and_its_position() -> None:
    intact = Verdict(events=3, head=3, pending=1, checkpoints=1, breaks=())
    assert verdict_text(intact).startswith("intact: 3 event(s) linked up to position 3")
    broken = Verdict(
        events=3,
        head=3,
        pending=0,
        checkpoints=0,
        breaks=(
            Break(3, Kind.LINK_ALTERED, "x"),
            Break(2, Kind.EVENT_CHANGED, "y"),
        ),
    )
    assert verdict_text(broken).startswith("BROKEN at position 2: event bytes changed")
    assert broken.as_json()["first_break"] == {
        "position": 2,
        "kind": "event_changed",
        "detail": "y",
    }


def test_a_gap_row_is_told_by_its_digest() -> None:
    assert ChainRow(3, 2, GAP, GENESIS).is_gap
    assert not ChainRow(3, 3, b"\x01" * 32, GENESIS).is_gap
