"""Bulk creation from CSV files (application/bulk.py, ADR-9) on the real SQLite engine:
all or nothing, the aggregates' checks, sealed passwords, large files.

The file format, the rows and the report have their own tests (test_csvfile.py,
test_csvrows.py, test_bulkreport.py); the engine and helpers are in bulksupport.py.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping
from pathlib import Path

import attrs
import pytest
from attrs import frozen

from application.authorization import OPERATOR
from application.bulk import BulkCreation
from application.mailservices import MailServices
from domain import ids
from domain.creation import CreationMode
from domain.errors import NotFound, NotPermitted
from domain.hosted import AddressKind
from domain.mailservice import MailService
from infrastructure.cli.bulkreport import report_csv, report_text
from tests.integration.bulksupport import (
    ANN,
    BOB,
    DOMAIN,
    HEADER,
    World,
    _bulk,
    _count_writes,
    _errors,
    _message,
    _open,
    open_world,
)
from tests.integration.support import event_count, stored_bytes

GOOD = (
    HEADER
    + "alice,mailbox,ann@example.org,,Standard\n"
    + "Team@example.com,,ann@example.org;bob@example.org,,\n"
    + "\n"
    + "  carol  ,  ,  ,  ,  \n"
    + "fwd,redirect,,x@elsewhere.org;y@elsewhere.org,\n"
    + "no-reply,no_reply,,,Standard\n"
)


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    yield from open_world(tmp_path)


def test_a_good_file_creates_every_row_and_returns_each_password_once(
    world: World,
) -> None:
    # rule ADR-9, rule ADR-4, rule ADR-6, rule ADR-10
    claims = event_count(world.engine, "MailService.AddressesClaimed")
    used = world.service.used

    report = world.apply(GOOD)

    assert report.ok, report_text(report)
    assert report.applied
    assert report.rows == 5
    assert report.errors == ()
    assert [c.address for c in report.created] == [
        "alice@example.com",
        "Team@example.com",
        "carol@example.com",
        "fwd@example.com",
        "no-reply@example.com",
    ]
    passwords = {c.address: c.password for c in report.created}
    assert passwords["fwd@example.com"] is None
    generated = [p for p in passwords.values() if p is not None]
    assert len(generated) == 4
    assert len(set(generated)) == 4
    assert all(len(p) >= 20 for p in generated)
    # One claim for the whole file, in the same transaction as the mailboxes.
    assert event_count(world.engine, "MailService.AddressesClaimed") == claims + 1
    assert world.service.used == used + 5

    alice = world.mailbox("alice@example.com")
    assert alice.kind is AddressKind.MAILBOX
    assert alice.mode is CreationMode.FOR_OTHERS
    assert alice.linked == {ids.account_id(ANN)}
    assert alice.signature == "-- \nExample Co"
    team = world.mailbox("team@example.com")
    assert set(team.users) == {ids.account_id(ANN), ids.account_id(BOB)}
    carol = world.mailbox("carol@example.com")
    assert carol.mode is CreationMode.UNASSIGNED
    assert carol.users == {}
    fwd = world.mailbox("fwd@example.com")
    assert fwd.kind is AddressKind.REDIRECT
    assert fwd.targets == ("x@elsewhere.org", "y@elsewhere.org")
    assert world.mailbox("no-reply@example.com").kind is AddressKind.NO_REPLY

    _assert_hashes_stored(world, passwords)

    # Shown once: in the report for people and programs, never in its repr.
    assert all(p in report_text(report) for p in generated)
    assert all(p in report_csv(report) for p in generated)
    assert not any(p in repr(report) or p in str(report.created) for p in generated)

    # rule SEC-6: no generated password in any stored byte (events, views, WAL files).
    world.engine.runner.catch_up()
    assert (world.home / "events.sqlite").exists()
    assert (world.home / "views.sqlite").exists()
    stored = stored_bytes(world.home)
    assert not any(p.encode() in stored for p in generated)


def _assert_hashes_stored(world: World, passwords: dict[str, str | None]) -> None:
    """The credential store and (its jobs run) the mail store hold each password's hash."""
    world.engine.drain()
    hasher = world.bulk.hasher
    store_hashes = world.passwd()
    for address, password in passwords.items():
        credential = world.mailbox(address).credential_id
        if password is None:
            assert credential is None
            assert address.lower() not in store_hashes
            continue
        assert credential is not None
        encoded = world.bulk.credentials.secret(credential)
        assert encoded is not None
        assert hasher.verify(encoded, password)
        assert store_hashes[address.lower()] == encoded


def test_check_changes_nothing_and_apply_then_agrees(world: World) -> None:
    # rule ADR-9
    before = world.position()
    checked = world.check(GOOD)
    assert checked.ok, report_text(checked)
    assert not checked.applied
    assert checked.created == ()
    assert "applying the file creates 5 address(es)" in report_text(checked)
    assert world.position() == before
    assert world.apply(GOOD).ok


def test_only_an_admin_of_the_organisation_may_check_or_apply(world: World) -> None:
    # rule ORG-1, rule ADR-9
    ann, bob = ids.account_id(ANN), ids.account_id(BOB)  # the first user is the admin
    before = world.position()
    with pytest.raises(NotPermitted):
        world.bulk.check(DOMAIN, b"address\nx\n", by=bob)
    with pytest.raises(NotPermitted):
        world.bulk.apply(DOMAIN, b"address\nx\n", by=bob)
    assert world.position() == before
    with pytest.raises(NotFound):
        world.bulk.apply("unknown.example", b"address\nx\n", by=OPERATOR)

    assert world.bulk.apply(DOMAIN, b"address\nx\n", by=ann).ok
    assert world.mailbox("x@example.com").creator_id == ann


# -- one bad row: nothing -----------------------------------------------------------------


def test_one_bad_row_creates_nothing_and_the_report_names_it(world: World) -> None:
    # rule ADR-9: validated first, all or nothing
    world.engine.runner.catch_up()
    before = world.position()
    addresses = dict(world.service.addresses)
    directory = world.engine.host.directory.directory(DOMAIN)
    secrets = world.secrets()
    store = world.passwd()

    report = world.apply(
        HEADER + "good1\n" + "good2\n" + "bad..dots\n" + "good3,,ann@example.org\n"
    )

    assert not report.ok
    assert not report.applied
    assert report.created == ()
    assert report.rows == 4
    assert _errors(report) == [(4, "address")]
    assert "bad..dots" in report.errors[0].message
    assert "line 4, column address:" in report_text(report)
    assert "nothing was created" in report_text(report)
    # Nothing half-created: no event, no address, no secret, nothing in the mail store.
    assert world.position() == before
    assert world.service.addresses == addresses
    world.engine.runner.catch_up()
    assert world.engine.host.directory.directory(DOMAIN) == directory
    assert world.secrets() == secrets
    assert world.passwd() == store


def test_duplicates_against_the_domain_are_refused(world: World) -> None:
    # rule ADR-2: across mailboxes, aliases and redirections; rule ADR-9
    host = world.engine.host
    host.addresses.create_unassigned("taken@example.com", by=OPERATOR)
    host.addresses.add_alias("taken@example.com", "nick@example.com", by=OPERATOR)
    before = world.position()

    report = world.apply(HEADER + "fresh\n" + "Taken\n" + "nick\n")

    assert _errors(report) == [(3, "address"), (4, "address")]
    assert "taken@example.com exists already" in _message(report, 3)
    assert "nick@example.com exists already (alias)" in _message(report, 4)
    assert world.position() == before
    assert "fresh" not in world.service.addresses


def test_quota_exceeded_names_the_numbers(tmp_path: Path) -> None:
    # rule ADR-1: a free slot per address; the whole file counts
    engine = _open(tmp_path, quota=5)
    try:
        world = World(engine, _bulk(engine, tmp_path), tmp_path)
        engine.host.addresses.create_unassigned("old@example.com", by=OPERATOR)
        before = world.position()
        rows = "".join(f"user{i}\n" for i in range(6))
        report = world.apply(HEADER + rows)
        assert _errors(report) == [(0, "")]
        message = report.errors[0].message
        assert "needs 6 address slot(s) but 4 of 5 are free (1 used)" in message
        assert "by at least 2" in message
        assert world.position() == before
        assert report_text(report).splitlines()[1].startswith("  file: quota exceeded")
    finally:
        engine.close()


def test_an_address_taken_between_check_and_save_refuses_the_file(
    tmp_path: Path,
) -> None:
    # rule ADR-9: decided again on fresh state; the secrets written for it are dropped
    engine = _open(tmp_path)
    try:
        host = engine.host

        @frozen
        class Racing(MailServices):
            """Another admin creates ``race@`` as soon as the file has been checked."""

            calls: list[int]

            def get(self, domain: str) -> MailService:
                self.calls.append(1)
                if len(self.calls) == 2:  # the reload before the save
                    host.addresses.create_unassigned("race@example.com", by=OPERATOR)
                return super().get(domain)

        bulk = _bulk(engine, tmp_path)
        racing = BulkCreation(
            log=bulk.log,
            services=Racing(host.log, host.services.clock, []),
            credentials=bulk.credentials,
            hasher=bulk.hasher,
            store=bulk.store,
            clock=bulk.clock,
        )
        world = World(engine, racing, tmp_path)
        secrets = world.secrets()

        report = world.apply(HEADER + "calm\n" + "race\n")

        assert _errors(report) == [(3, "address")]
        assert "race@example.com exists already" in report.errors[0].message
        assert "calm" not in world.service.addresses
        assert world.secrets() == secrets + 1  # race@'s own, not the file's two
    finally:
        engine.close()


# -- hostile files -----------------------------------------------------------------------


def test_a_failing_mail_store_loses_no_password_and_converges_once_back(
    world: World,
) -> None:
    # rule ADR-9: the save is the only write; the store follows by retried jobs
    class Down:
        def set_password(self, address: str, encoded: str) -> None:
            raise OSError(f"store down for {address} {len(encoded)}")

        def set_passwords(self, entries: Mapping[str, str]) -> None:
            raise OSError(f"store down for {len(entries)} addresses")

        def destroy(self, address: str) -> None:
            raise OSError(address)

    bulk = world.bulk
    down = BulkCreation(
        bulk.log, bulk.services, bulk.credentials, bulk.hasher, Down(), bulk.clock
    )
    report = down.apply(
        DOMAIN, (HEADER + "s1\ns2\nfw,redirect,,a@b.org\n").encode(), by=OPERATOR
    )
    assert report.ok
    passwords = {c.address: c.password for c in report.created}
    assert all(passwords[f"s{i}@example.com"] for i in (1, 2))
    boxes = [world.mailbox(address).id for address in passwords]
    failing = attrs.evolve(world.engine.host.addresses, store=Down())
    with pytest.raises(OSError, match="store down for 2 addresses"):
        failing.sync_store(boxes)  # the job fails, and stays due
    assert world.passwd() == {}
    _assert_hashes_stored(world, passwords)  # the store is back: the jobs write it


# -- large files (10,000 rows) ----------------------------------------------------------------


def _log_and_views(home: Path) -> bytes:
    """The event log and the read models, with their WAL files."""
    files = sorted([*home.glob("events.sqlite*"), *home.glob("views.sqlite*")])
    assert {f.name for f in files} >= {"events.sqlite", "views.sqlite"}
    return b"".join(f.read_bytes() for f in files)


def _large(rows: int) -> list[str]:
    lines = [HEADER.rstrip("\n")]
    for i in range(rows):
        if i % 10 == 0:
            lines.append(f"fwd{i},redirect,,t{i}@elsewhere.org,")
        elif i % 10 == 1:
            lines.append(f"team{i},mailbox,ann@example.org;bob@example.org,,Standard")
        else:
            lines.append(f"user{i},,,,")
    return lines


def test_ten_thousand_rows_are_checked_and_created_in_one_transaction(
    tmp_path: Path,
) -> None:
    # rule ADR-9, rule ADR-1
    engine = _open(tmp_path, quota=10_000)
    try:
        world = World(engine, _bulk(engine, tmp_path), tmp_path)
        before = world.position()
        data = ("\n".join(_large(10_000)) + "\n").encode()

        started = time.perf_counter()
        assert world.check(data).ok
        report = world.apply(data)
        elapsed = time.perf_counter() - started

        assert report.ok, report_text(report)[:2000]
        assert len(report.created) == 10_000
        # A generous bound: linear work takes seconds; a per-row scan would take minutes.
        assert elapsed < 30, elapsed
        # One claim event and one Created event per address, nothing else.
        assert world.position() == before + 1 + 10_000
        assert world.service.free == 0
        writes = _count_writes(world)
        engine.drain()
        assert len(world.passwd()) == 9_000  # redirects have no password
        # Jobs in batches: one passwd-file rewrite per batch, not one per address.
        assert 0 < writes() <= 9_000 // 500 + 1
        team = world.mailbox("team9991@example.com")
        assert team.mode is CreationMode.FOR_OTHERS
        assert team.signature == "-- \nExample Co"

        # rule SEC-6: a sample of the passwords, none in the events or the views.
        engine.runner.catch_up()
        stored = _log_and_views(tmp_path)
        passwords = [c.password for c in report.created if c.password is not None]
        assert len(passwords) == 9_000
        for password in passwords[::180]:
            assert password.encode() not in stored
    finally:
        engine.close()


def test_ten_thousand_rows_with_one_bad_row_create_nothing(tmp_path: Path) -> None:
    # rule ADR-9: all or nothing, on a large file
    engine = _open(tmp_path, quota=10_000)
    try:
        world = World(engine, _bulk(engine, tmp_path), tmp_path)
        lines = _large(10_000)
        assert lines[9_998].startswith("user9997,")  # line 9,999 of the file
        lines[9_998] = "user 9997,,,,"
        before = world.position()
        secrets = world.secrets()

        report = world.apply(("\n".join(lines) + "\n").encode())

        assert not report.ok
        assert report.rows == 10_000
        assert _errors(report) == [(9_999, "address")]
        assert report.created == ()
        assert world.position() == before
        assert world.service.used == 0
        assert world.secrets() == secrets
        assert world.passwd() == {}
    finally:
        engine.close()
