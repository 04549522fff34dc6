"""Batch import from a CSV file (``application/importbatch.py``, rule IMP-8).

Every row is checked first and the file requests one job per row or none; the report
names each bad row's line and column, and never the password. Requesting needs no
source server (the copy is a later job), so these tests run on a real embedded engine
without one: the jobs are left requested.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from application.authorization import OPERATOR
from application.importbatch import BatchReport, ImportBatch, batch_id
from application.importrows import MAX_BATCH_ROWS
from domain.errors import NotPermitted
from domain.importjob import ImportJob
from infrastructure.bootstrap import Engine, open_engine

DOMAIN = "example.org"
HEADER = "destination,host,port,security,user,password\n"
CANARY = "Canary-Pw-7f3e9a"  # a password that must never be shown


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[Engine]:
    """Example Co with example.org: ann and bob mailboxes, team a redirect."""
    engine = open_engine(tmp_path, background=False)
    host = engine.host
    host.organisations.found("Example Co", by=OPERATOR)
    host.services.create("Example Co", DOMAIN, quota=10, by=OPERATOR)
    host.addresses.create_unassigned(f"ann@{DOMAIN}", by=OPERATOR)
    host.addresses.create_unassigned(f"bob@{DOMAIN}", by=OPERATOR)
    host.addresses.create_redirect(f"team@{DOMAIN}", [f"ann@{DOMAIN}"], by=OPERATOR)
    try:
        yield engine
    finally:
        engine.close()


def batch(engine: Engine) -> ImportBatch:
    host = engine.host
    return ImportBatch(host.log, host.services, host.imports)


def import_events(engine: Engine) -> list[str]:
    """The topics of every ImportJob event in the log."""
    notes = engine.host.log.recorder.select_notifications(start=1, limit=1_000_000)
    return [n.topic for n in notes if "ImportJob" in n.topic]


def csv(*rows: str) -> bytes:
    return (HEADER + "".join(f"{row}\n" for row in rows)).encode()


def csv_row(
    *,
    destination: str = "ann",
    host: str = "imap.old.example",
    port: str = "993",
    security: str = "tls",
    user: str = "a",
    password: str = CANARY,
) -> str:
    """A row of the file: an ordinary source for ann but for the columns named."""
    return f"{destination},{host},{port},{security},{user},{password}"


GOOD = csv_row(user="ann.old")


def refused(report: BatchReport) -> list[tuple[int, str]]:
    assert not report.ok
    assert not report.applied
    assert not report.jobs
    return [(e.line, e.column) for e in report.errors]


@pytest.mark.parametrize(
    ("row", "column", "words"),
    [
        (csv_row(destination="carol", user="c"), "destination", "does not exist"),
        (csv_row(destination="team", user="t"), "destination", "only a mailbox"),
        (
            csv_row(destination="ann@other.example", port="", security=""),
            "destination",
            "domain",
        ),
        (csv_row(host="imap..old"), "host", "not a host name"),
        (csv_row(host="bad_host!"), "host", "not a host name"),
        (csv_row(port="0"), "port", "1 to 65535"),
        (csv_row(port="70000"), "port", "1 to 65535"),
        (csv_row(port="imap"), "port", "not a number"),
        (csv_row(security="ssl"), "security", "not one of"),
        (csv_row(port="143", security="none"), "security", "in clear"),
        (csv_row(user=""), "user", "user is empty"),
        (csv_row(user="ann.old", password=""), "password", "password is empty"),
        (csv_row(host="imap.gmail.com", user="ann"), "host", "Google"),
        (csv_row(host="gmail", port="", security="", user="ann"), "host", "Google"),
        (csv_row(user="ann@gmail.com"), "host", "Google"),
        (csv_row(host="outlook.office365.com"), "host", "Microsoft 365"),
        (csv_row(user="=cmd()"), "user", "formula"),
    ],
)
def test_a_bad_row_is_refused_naming_its_line_and_column_and_nothing_is_requested(
    engine: Engine, row: str, column: str, words: str
) -> None:
    # rule IMP-8 (every row validated first; OAuth providers refused naming the row)
    data = csv(GOOD.replace("ann,", "bob,", 1), row)
    for report in (
        batch(engine).check(DOMAIN, data, by=OPERATOR),
        batch(engine).apply(DOMAIN, data, by=OPERATOR),
    ):
        assert refused(report) == [(3, column)]
        assert words in report.errors[0].message
        assert CANARY not in repr(report)
        assert all(CANARY not in e.message for e in report.errors)
    assert import_events(engine) == []


def test_a_file_of_26_rows_is_refused_naming_the_limit(engine: Engine) -> None:
    # rule IMP-8: at most 25 rows per batch
    rows = [csv_row(user=f"user{i}") for i in range(MAX_BATCH_ROWS + 1)]
    report = batch(engine).apply(DOMAIN, csv(*rows), by=OPERATOR)
    assert refused(report) == [(0, "")]
    assert "26 rows" in report.errors[0].message
    assert "at most 25" in report.errors[0].message
    assert import_events(engine) == []


def test_a_repeated_row_is_refused(engine: Engine) -> None:
    # rule IMP-8 (duplicate rows refused), rule IMP-3
    repeat = GOOD.replace("imap.old.example", "IMAP.Old.Example").replace(
        "ann.old", "ANN.OLD"
    )
    report = batch(engine).apply(
        DOMAIN, csv(GOOD, f"ann@{DOMAIN.upper()}" + repeat[3:]), by=OPERATOR
    )
    assert refused(report) == [(3, "")]
    assert "repeats line 2" in report.errors[0].message
    assert import_events(engine) == []


def test_a_control_character_in_a_password_is_refused_without_showing_it(
    engine: Engine,
) -> None:
    report = batch(engine).check(
        DOMAIN, csv(GOOD.replace(CANARY, CANARY + "\x1b")), by=OPERATOR
    )
    assert refused(report) == [(2, "password")]
    assert CANARY not in repr(report)


def test_a_wrong_header_is_refused(engine: Engine) -> None:
    report = batch(engine).check(
        DOMAIN, b"address,host\nann,imap.old.example\n", by=OPERATOR
    )
    assert not report.ok
    messages = " ".join(e.message for e in report.errors)
    assert "destination" in messages
    assert "unknown column" in messages


def test_a_good_file_requests_one_job_per_row_sharing_one_batch_id(
    engine: Engine,
) -> None:
    # rule IMP-8 (each row one job; the linked-destination rule does not apply)
    data = csv(
        GOOD,
        f"bob,imap.mail.me.com,,,bob@icloud.com,{CANARY}-2",
        f"ann,icloud,,,ann@icloud.com,{CANARY}-3",
        f"ann,127.0.0.1,1143,none,local,{CANARY}-4",
    )
    assert batch(engine).check(DOMAIN, data, by=OPERATOR).ok
    assert import_events(engine) == []
    report = batch(engine).apply(DOMAIN, data, by=OPERATOR)
    assert report.ok, report.errors
    assert report.applied
    assert [j.line for j in report.jobs] == [2, 3, 4, 5]
    assert report.batch_id == batch_id(DOMAIN, data)
    jobs = [engine.host.imports.get(j.job_id) for j in report.jobs]
    assert {job.batch_id for job in jobs} == {report.batch_id}
    assert [job.destination for job in jobs] == [
        f"ann@{DOMAIN}",
        f"bob@{DOMAIN}",
        f"ann@{DOMAIN}",
        f"ann@{DOMAIN}",
    ]
    sources = [
        (s.host, s.port, s.security.value, s.user) for j in jobs for s in j.sources
    ]
    assert sources == [
        ("imap.old.example", 993, "tls", "ann.old"),
        ("imap.mail.me.com", 993, "tls", "bob@icloud.com"),
        ("imap.mail.me.com", 993, "tls", "ann@icloud.com"),
        ("127.0.0.1", 1143, "none", "local"),
    ]
    assert CANARY not in repr(report)
    assert all(job.requested_by is None for job in jobs)


def test_a_rerun_of_the_same_file_is_recognised_and_requests_nothing_twice(
    engine: Engine,
) -> None:
    # rule IMP-3 (nothing doubled), rule IMP-8
    data = csv(GOOD, f"bob,imap.old.example,993,tls,bob.old,{CANARY}")
    first = batch(engine).apply(DOMAIN, data, by=OPERATOR)
    again = batch(engine).apply(DOMAIN, data, by=OPERATOR)
    assert again.ok
    assert again.batch_id == first.batch_id
    assert [j.job_id for j in again.jobs] == [j.job_id for j in first.jobs]
    assert all(j.existing for j in again.jobs)
    assert import_events(engine).count("domain.importjob:ImportJob.Requested") == 2
    # Once a job is over, the same file requests that row again (it copies only what
    # is new): here the first row's job is cancelled.
    engine.host.imports.cancel(first.jobs[0].job_id, by=OPERATOR)
    third = batch(engine).apply(DOMAIN, data, by=OPERATOR)
    assert [j.existing for j in third.jobs] == [False, True]
    assert third.jobs[0].job_id != first.jobs[0].job_id


def test_a_file_of_25_rows_is_accepted(engine: Engine) -> None:
    # rule IMP-8: 25 rows is the limit, not past it
    rows = [csv_row(user=f"user{i}") for i in range(MAX_BATCH_ROWS)]
    report = batch(engine).apply(DOMAIN, csv(*rows), by=OPERATOR)
    assert report.ok, report.errors
    assert len(report.jobs) == MAX_BATCH_ROWS
    jobs = {engine.host.imports.get(j.job_id).id for j in report.jobs}
    assert len(jobs) == MAX_BATCH_ROWS


def test_only_an_admin_may_apply_a_batch(engine: Engine) -> None:
    host = engine.host
    host.accounts.register(
        "Example Co", "adm@example.net", "adm-pw-1", admin=True, by=OPERATOR
    )
    host.accounts.register(
        "Example Co", "eve@example.net", "eve-password-1", by=OPERATOR
    )
    eve = host.accounts.get("eve@example.net").id
    with pytest.raises(NotPermitted, match="only an admin"):
        batch(engine).apply(DOMAIN, csv(GOOD), by=eve)
    assert import_events(engine) == []


def test_the_job_aggregate_is_what_the_batch_names(engine: Engine) -> None:
    report = batch(engine).apply(DOMAIN, csv(GOOD), by=OPERATOR)
    job = engine.host.log.load(report.jobs[0].job_id, ImportJob, "import")
    assert job.batch_id == report.batch_id
