"""The chain's edges attacked (issue 11): thrown away, its follower's position lost, no key.

Each case once passed a tampered log as intact, stopped every command, or raised a tamper
alarm on an untouched copy. The follower refuses to vouch afresh for a log whose chain
was removed, a lost position resumes at the chain's end, a pre-chain log gets one
logged genesis, and ``audit verify`` creates no table it checks.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from application.authorization import OPERATOR
from infrastructure.chainlinks import EventTable
from infrastructure.chainverify import verify
from infrastructure.checkpoints import SigningKey
from infrastructure.cli.auditverify import ReadOnlySqlite
from tests.hostile.audit_world import copy_home, one, run, tamper
from tests.hostile.test_audit_hostile import (  # noqa: F401 - pristine: a fixture used by name
    ZED,
    _change_an_event_and_drop_the_chain,
    pristine,
)
from tests.integration.support import ORG, PASSWORD, engine

CHAIN_TABLES = ("mh_audit_chain", "mh_audit_tracking", "mh_audit_checkpoints")


@pytest.fixture
def home(pristine: tuple[Path, Path], tmp_path: Path) -> Path:  # noqa: F811 - the fixture
    return copy_home(pristine[0], tmp_path / "home")


def _tables(home: Path) -> set[str]:
    names = ", ".join(f"'{t}'" for t in CHAIN_TABLES)
    sql = f"SELECT group_concat(name) FROM sqlite_master WHERE name IN ({names})"  # noqa: S608 - the test's own names
    found = one(home, sql)
    return set(str(found).split(",")) if found else set()


def test_a_log_whose_chain_was_dropped_is_not_reported_intact(home: Path) -> None:
    """Issue 11: verify fails after any stored byte is changed. A log of N events with
    no link at all (the chain's tables dropped) is no intact log, and verify creates
    none of the tables it checks (a reader vouches for nothing)."""
    _change_an_event_and_drop_the_chain(home)
    verdict = run(home, "audit", "verify")
    assert verdict.status == 1, verdict.out
    assert not verdict.out.startswith("intact")
    assert verdict.out.startswith("BROKEN at position 1: chain missing")
    assert _tables(home) == set()


def test_the_engine_does_not_relink_a_log_whose_chain_was_dropped(home: Path) -> None:
    """The signing key shows a chain was kept: linking the changed log afresh (and
    signing it) would launder the change, so the follower refuses, and commands work."""
    _change_an_event_and_drop_the_chain(home)
    shown = run(home, "user", "show", ZED)
    assert shown.status == 0, shown.err
    assert "Traceback" not in shown.err
    signed = run(home, "audit", "checkpoint", "create")
    assert signed.status == 1
    assert "nothing signed" in signed.err
    assert "run audit verify" in signed.err
    assert one(home, "SELECT COUNT(*) FROM mh_audit_chain") == 0
    assert one(home, "SELECT COUNT(*) FROM mh_audit_checkpoints") == 0
    verdict = run(home, "audit", "verify", "--json")
    assert verdict.status == 1
    assert json.loads(verdict.out)["first_break"]["kind"] == "chain_missing"


def test_a_pre_chain_log_gets_one_logged_genesis(
    home: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A log written before the chain (no link, no checkpoint, no key): the chain starts
    at an explicit genesis at its head, and verify names what it does not vouch for."""
    tamper(home, *(f"DROP TABLE {t}" for t in CHAIN_TABLES))
    (home / "audit-signing.key").unlink()
    head = int(one(home, "SELECT MAX(rowid) FROM stored_events"))
    with caplog.at_level("WARNING"), engine(home, {}, background=False) as e:
        e.host.accounts.register(ORG, "new@example.org", PASSWORD, by=OPERATOR)
        e.drain()
    assert f"genesis at {head}" in caplog.text
    verdict = run(home, "audit", "verify", "--json")
    assert verdict.status == 0, verdict.out
    found = json.loads(verdict.out)
    assert (found["genesis"], found["not_chained"]) == (head, head)
    assert found["events"] > 0
    assert found["checkpoints"] >= 1
    said = run(home, "audit", "verify")
    assert f"{head} event(s) not chained (before genesis at {head})" in said.out


def test_a_copy_without_the_private_key_is_no_tamper_alarm(home: Path) -> None:
    """An auditor's untouched copy without the key: not "BROKEN" (exit 1) but a usage
    error (exit 2) asking for --public-key."""
    (home / "audit-signing.key").unlink()
    home.chmod(0o500)
    try:
        verdict = run(home, "audit", "verify")
    finally:
        home.chmod(0o700)
    assert "BROKEN" not in verdict.out
    assert verdict.status == 2
    assert "--public-key" in verdict.err
    assert "signed checkpoint(s) and no public key" in verdict.err


@pytest.mark.parametrize(
    "statement",
    ["DELETE FROM mh_audit_tracking", "UPDATE mh_audit_tracking SET position = 2"],
    ids=["deleted", "rolled back"],
)
def test_a_lost_tracking_row_does_not_stop_every_command(
    home: Path, statement: str
) -> None:
    """Losing the follower's position leaves the chain intact (verify says so, with a
    note); later commands resume at the chain's end instead of dying on a duplicate
    link (``IntegrityError``)."""
    end = int(one(home, "SELECT MAX(position) FROM mh_audit_chain"))
    tamper(home, statement)
    verdict = run(home, "audit", "verify")
    assert verdict.status == 0, verdict.out
    assert f"behind the chain's end ({end})" in verdict.out
    shown = run(home, "user", "show", ZED)
    assert "IntegrityError" not in shown.err
    assert shown.status in {0, 2}, shown.err
    resumed = one(home, "SELECT position FROM mh_audit_tracking")
    assert resumed == one(home, "SELECT MAX(position) FROM mh_audit_chain") >= end
    again = run(home, "audit", "verify")
    assert (again.status, "behind" in again.out) == (0, False), again.out


def test_an_unlinked_tail_longer_than_the_allowance_is_a_break(home: Path) -> None:
    """A chain cut short (its tail and tracked position rolled back together) looks
    like a follower behind only while the tail is short."""
    end = int(one(home, "SELECT MAX(position) FROM mh_audit_chain"))
    cut = end - 3
    rolled_back = (
        "DELETE FROM mh_audit_checkpoints",
        f"UPDATE mh_audit_tracking SET position = {cut}",  # noqa: S608 - test's own number
        f"DELETE FROM mh_audit_chain WHERE position > {cut}",  # noqa: S608 - test's own number
    )
    tamper(home, *rolled_back)
    public = SigningKey(home / "audit-signing.key").public()
    table = EventTable("sqlite", '"stored_events"', "rowid")
    database = ReadOnlySqlite(home / "events.sqlite")
    try:
        lagging = verify(database, table, public, allowance=3)
        cut_short = verify(database, table, public, allowance=2)
    finally:
        database.close()
    assert lagging.intact, lagging.breaks
    assert lagging.pending == 3
    first = cut_short.first
    assert first is not None
    assert (first.position, first.kind.name) == (cut + 1, "CHAIN_MISSING")


def test_a_read_only_copy_verifies(home: Path, tmp_path: Path) -> None:
    """Only the events file, no key: with the exported heads it verifies, and it was
    opened read-only (the file unchanged to the byte)."""
    copy = tmp_path / "copy"
    copy.mkdir()
    shutil.copy(home / "events.sqlite", copy / "events.sqlite")
    exported = run(home, "audit", "checkpoint", "export")
    heads = tmp_path / "heads.json"
    heads.write_text(exported.out)
    before = (copy / "events.sqlite").read_bytes()
    verdict = run(copy, "audit", "verify", "--public-key", str(heads))
    assert verdict.status == 0, verdict.out + verdict.err
    assert (copy / "events.sqlite").read_bytes() == before
