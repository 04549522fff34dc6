"""Rebuilding a read model from the log gives the view the live runner built.

The house place for rebuild-equals-live: accounts' activity and jobs, the mail
directory and advisories, and the import progress and activity lines.

The incremental side catches up at arbitrary points of an arbitrary command sequence
(so batches split anywhere); the rebuilt side replays the whole log at once into an
empty database. Both run the real projections on real SQLite files.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from uuid import UUID, uuid4

from hypothesis import given, settings
from hypothesis import strategies as st

from application.importports import ImportProgress
from application.log import MailHostLog
from domain.account import UserAccount
from domain.creation import CreationMode
from domain.errors import DomainError
from domain.hosted import AddressEntry, AddressKind
from domain.importfacts import FailureReason, FolderTotal, SourceRef
from domain.importjob import ImportJob
from domain.importsource import ImportSource
from domain.mailbox import Mailbox
from domain.mailservice import MailService
from domain.organisation import Organisation, Role
from domain.permissions import Permission
from domain.security import LoginContext, NotificationPreferences, SecurityPolicy
from infrastructure.bootstrap import Engine
from infrastructure.sql import SqliteDatabase
from projections.activity import RecentActivity
from projections.advisories import Advisories
from projections.directory import AddressDirectory
from projections.imports import ImportViews, SqlImportQueries
from projections.jobs import JobSchedule
from projections.runner import Projection, ProjectionRunner
from tests.property.support import registered, scratch_engine

POLICY = SecurityPolicy(failed_login_window=timedelta(minutes=5), throttle_limit=4)
START = datetime(2026, 3, 29, tzinfo=UTC)

contexts = st.builds(
    LoginContext,
    device=st.sampled_from(["d1", "d2", "d3"]),
    network=st.sampled_from(["192.0.2.0/24", "198.51.100.0/24"]),
    place=st.sampled_from(["", "Geneva, CH", "Lisbon, PT"]),
    user_agent=st.sampled_from(["Firefox", "curl"]),
)
steps = st.lists(
    st.tuples(
        st.sampled_from(["login", "fail", "fail", "password", "prefs", "sent", "sync"]),
        st.integers(0, 1),  # which account
        contexts,
        st.integers(1, 600),  # seconds since the previous step
    ),
    max_size=40,
)


def _rows(database: SqliteDatabase, sql: str) -> list[tuple[object, ...]]:
    with database.transaction() as cursor:
        cursor.execute(sql)
        return cursor.fetchall()


ACTIVITY = "SELECT * FROM mh_activity ORDER BY position"
JOBS = "SELECT job_id, actor, args, due_at, position FROM mh_jobs ORDER BY job_id"


@contextmanager
def _rebuilt(
    engine: Engine, folder: Path, projections: list[Projection]
) -> Iterator[tuple[SqliteDatabase, SqliteDatabase]]:
    """The live database once its runner has caught up, and a new one in ``folder`` the
    projections rebuilt from the whole log at once."""
    engine.runner.catch_up()
    fresh = SqliteDatabase(folder / "rebuilt.sqlite")
    ProjectionRunner(engine.host.log, fresh, projections).catch_up()
    live = engine.databases[0]
    assert isinstance(live, SqliteDatabase)
    yield fresh, live
    fresh.close()


@settings(max_examples=25, deadline=None)
@given(steps=steps)
def test_rebuilt_views_equal_incremental_views(
    steps: list[tuple[str, int, LoginContext, int]],
) -> None:
    with scratch_engine() as (engine, tmp):
        log, runner = engine.host.log, engine.runner
        logins = [f"user{i}@example.org" for i in range(2)]
        accounts = registered(uuid4(), logins, at=START)
        log.save(*accounts)
        at = START
        for action, which, context, seconds in steps:
            at += timedelta(seconds=seconds)
            account = log.load(accounts[which].id, UserAccount, "account")
            try:
                _apply(account, action, context, at)
            except DomainError:
                continue
            if action == "sync":
                runner.catch_up()
            else:
                log.save(account)
        with _rebuilt(engine, tmp, [RecentActivity(), JobSchedule()]) as (fresh, live):
            assert _rows(fresh, ACTIVITY) == _rows(live, ACTIVITY)
            assert _rows(fresh, JOBS) == _rows(live, JOBS)


def _apply(
    account: UserAccount, action: str, context: LoginContext, at: datetime
) -> None:
    if action == "login":
        if account.is_throttled(at, POLICY, context):
            account.record_throttled(context, at=at, policy=POLICY)
        else:
            account.log_in(uuid4(), context, at=at, policy=POLICY)
    elif action == "fail":
        if account.is_throttled(at, POLICY, context):
            account.record_throttled(context, at=at, policy=POLICY)
        else:
            account.fail_login(context, at=at, policy=POLICY)
    elif action == "password":
        account.change_password(uuid4(), keep_session=None, at=at)
    elif action == "prefs":
        account.choose_notifications(
            NotificationPreferences(new_location=not account.preferences.new_location),
            at=at,
        )
    elif action == "sent" and account.pending_alerts:
        account.record_alert_sent(min(account.pending_alerts), at=at)


MAIL_STEPS = st.lists(
    st.tuples(
        st.sampled_from(
            [
                "create",
                "create",
                "alias",
                "delete",
                "catch_all",
                "allow",
                "usage",
                "pop3",
                "imap",
                "assign",
                "deny",
                "dmarc",
                "quota",
                "sync",
            ]
        ),
        st.sampled_from(["ann", "Bob", "carl", "info", "x-y"]),
        st.integers(0, 3),
    ),
    max_size=30,
)
MAIL_TABLES = (
    "SELECT * FROM mh_services ORDER BY service_id",
    "SELECT * FROM mh_addresses ORDER BY address_key",
    "SELECT * FROM mh_links ORDER BY account_id, mailbox_id",
    "SELECT * FROM mh_advice_services ORDER BY service_id",
    "SELECT * FROM mh_advice_mailboxes ORDER BY mailbox_id",
)


@settings(max_examples=25, deadline=None)
@given(steps=MAIL_STEPS)
def test_rebuilt_mail_views_equal_incremental_views(
    steps: list[tuple[str, str, int]],
) -> None:
    # rule ADR-1, rule ADR-11, rule ORG-3, rule ADV-1
    with scratch_engine() as (engine, tmp):
        log, runner = engine.host.log, engine.runner
        org = Organisation.found("Example Co", at=START)
        users = registered(org.id, [f"u{i}@example.net" for i in range(2)], at=START)
        for user in users:
            org.admit(user.id, role=Role.MEMBER, at=START)
        service = MailService.create(org.id, "example.org", quota=3, at=START)
        log.save(org, *users, service)
        at = START
        for action, local, n in steps:
            at += timedelta(minutes=1)
            if action == "sync":
                runner.catch_up()
                continue
            with contextlib.suppress(DomainError):
                _mail_step(
                    log,
                    service.id,
                    action=action,
                    local=local,
                    n=n,
                    users=[u.id for u in users],
                    at=at,
                )
        with _rebuilt(engine, tmp, [AddressDirectory(), Advisories()]) as (fresh, live):
            for query in MAIL_TABLES:
                assert _rows(fresh, query) == _rows(live, query), query


def _mail_step(
    log: MailHostLog,
    service_id: UUID,
    *,
    action: str,
    local: str,
    n: int,
    users: list[UUID],
    at: datetime,
) -> None:
    service = log.load(service_id, MailService, "service")
    if action == "create":
        mailbox_id = service.new_mailbox_id(local)
        service.claim([AddressEntry(local, AddressKind.MAILBOX, mailbox_id)], at=at)
        mode = CreationMode.FOR_OTHERS if n % 2 else CreationMode.UNASSIGNED
        box = Mailbox.create(
            mailbox_id,
            service.id,
            f"{local}@example.org",
            kind=AddressKind.MAILBOX,
            mode=mode,
            creator_id=None,
            credential_id=None,
            users=users[: n % 2 * 2],
            at=at,
        )
        log.save(service, box)
        return
    if action == "quota":
        service.increase_quota(1, at=at)
        log.save(service)
        return
    if action == "dmarc":
        service.record_dmarc("v=DMARC1; p=none" if n % 2 else None, at=at)
        log.save(service)
        return
    entry = service.entry(local)
    box = log.load(entry.mailbox_id, Mailbox, "mailbox")
    if action == "delete":
        service.release([local], at=at)
        if entry.kind is AddressKind.ALIAS:
            box.remove_aliases([f"{local}@example.org"], at=at)
        else:
            box.delete(at=at)
        log.save(service, box)
    elif action == "alias":
        alias = f"{local}{n}"
        service.claim([AddressEntry(alias, AddressKind.ALIAS, box.id)], at=at)
        box.add_alias(f"{alias}@example.org", at=at)
        log.save(service, box)
    elif action == "catch_all":
        service.set_catch_all(box.id if n % 2 else None, at=at)
        log.save(service)
    else:
        _mailbox_fact(box, action, n, users, at)
        log.save(box)


def _mailbox_fact(
    box: Mailbox, action: str, n: int, users: list[UUID], at: datetime
) -> None:
    if action == "allow":
        box.set_allow_list([box.address] if n % 2 else ["@partner.example"], at=at)
    elif action == "usage":
        box.record_usage(250 * n, 1000, at=at)
    elif action in {"pop3", "imap"}:
        box.record_client_access(action, keeps_copy=bool(n % 2), at=at)
    elif action == "assign":
        box.assign(users[n % 2], at=at)
    elif action == "deny":
        box.set_permission(users[n % 2], Permission.SEND, allowed=bool(n % 2), at=at)


# -- mailbox imports (IMP progress per job, user and destination; activity lines) -------

# Weighted so most examples start, survey, copy, finish and conclude a job before an
# end (cancel, fail) cuts it short.
IMPORT_ACTIONS = (
    ("request", 2),
    ("start", 4),
    ("survey", 3),
    ("progress", 4),
    ("finish", 6),
    ("conclude", 2),
    ("complete", 3),
    ("fail_source", 1),
    ("cancel", 1),
    ("fail", 1),
    ("confirm", 2),
    ("forget", 2),
    ("assign", 2),
    ("unassign", 1),
    ("sync", 2),
)
IMPORT_STEPS = st.lists(
    st.tuples(
        st.sampled_from([a for a, weight in IMPORT_ACTIONS for _ in range(weight)]),
        st.integers(0, 2),  # which job (of those requested)
        st.integers(0, 1),  # which source, which user
        st.sampled_from(["INBOX", "Work", "Archivé", "Sent"]),
        st.integers(0, 50),  # a count
    ),
    min_size=15,
    max_size=60,
)
IMPORT_TABLES = (
    "SELECT * FROM mh_imports ORDER BY job_id",
    "SELECT * FROM mh_import_users ORDER BY mailbox_id, account_id",
    "SELECT * FROM mh_activity_imports ORDER BY account_id, position",
    "SELECT * FROM mh_activity_mailbox_users ORDER BY mailbox_id, account_id",
    "SELECT * FROM mh_activity_import_jobs ORDER BY job_id",
    JOBS,
)
IMPORT_REFS = tuple(
    SourceRef.of(
        ImportSource.of(f"imap{n}.example.net", 993, "tls", f"user{n}@example.net"),
        UUID(int=0xC0 + n),
    )
    for n in range(2)
)


@settings(max_examples=40, deadline=None)
@given(steps=IMPORT_STEPS)
def test_rebuilt_import_views_equal_incremental_views(
    steps: list[tuple[str, int, int, str, int]],
) -> None:
    # rule IMP-2, rule IMP-4: progress per job, user and destination, and the
    # destination users' activity, rebuilt from the log, are the rows built live
    with scratch_engine() as (engine, tmp):
        log, runner = engine.host.log, engine.runner
        users = [uuid4(), uuid4()]
        box = Mailbox.create(
            uuid4(),
            uuid4(),
            "box@example.org",
            kind=AddressKind.MAILBOX,
            mode=CreationMode.FOR_OTHERS,
            creator_id=None,
            credential_id=None,
            users=users[:1],
            at=START,
        )
        log.save(box)
        jobs: list[UUID] = []
        at = START
        for action, which, index, folder, n in steps:
            at += timedelta(seconds=7)
            if action == "sync":
                runner.catch_up()
                continue
            with contextlib.suppress(DomainError):
                _import_step(
                    log,
                    box.id,
                    jobs=jobs,
                    step=(action, which, index, folder, n),
                    users=users,
                    at=at,
                )
        views: list[Projection] = [ImportViews(), RecentActivity(), JobSchedule()]
        with _rebuilt(engine, tmp, views) as (fresh, live):
            for query in IMPORT_TABLES:
                assert _rows(fresh, query) == _rows(live, query), query
            rebuilt, built = SqlImportQueries(fresh), SqlImportQueries(live)
            for job_id in jobs:
                assert rebuilt.progress(job_id) == built.progress(job_id)
                _agrees_with_the_job(
                    built.progress(job_id), log.load(job_id, ImportJob, "job")
                )
            for user in users:
                assert rebuilt.for_user(user) == built.for_user(user)
            assert rebuilt.for_destination("box@example.org") == built.for_destination(
                "box@example.org"
            )
            assert len(built.for_destination("box@example.org")) == len(jobs)


def _agrees_with_the_job(row: ImportProgress | None, job: ImportJob) -> None:
    """The live row says what the aggregate says (so equal rows are right rows)."""
    assert row is not None
    assert row.state == job.state.value
    counts = job.counts
    assert (row.copied, row.skipped, row.failed) == (
        counts.copied,
        counts.skipped,
        counts.failed,
    )
    assert row.bytes_done == counts.size
    assert row.reason == (None if job.reason is None else job.reason.value)
    assert row.messages_total == sum(
        total.messages
        for index in range(len(job.sources))
        if (total := job.source_total(index)) is not None
    )
    for index, source in enumerate(row.sources):
        failed = job.failed_sources.get(index)
        assert source.reason == (None if failed is None else failed.value)
        assert source.copied == job.source_counts(index).copied


def _complete(job: ImportJob, folder: str, n: int, at: datetime) -> None:
    """Every source surveyed (if not yet) and each of its folders finished; concluded."""
    for index in range(len(job.sources)):
        if index in job.failed_sources:
            continue
        if index not in job.surveys:
            job.survey(index, (FolderTotal(folder, n, 10 * n),), at=at)
        for total in job.surveys[index]:
            job.finish_folder(index, total.name, total.name, copied=n, skipped=0, at=at)
    job.conclude(at=at)


def _import_step(
    log: MailHostLog,
    mailbox_id: UUID,
    *,
    jobs: list[UUID],
    step: tuple[str, int, int, str, int],
    users: list[UUID],
    at: datetime,
) -> None:
    action, which, index, folder, n = step
    if action in {"assign", "unassign"}:
        box = log.load(mailbox_id, Mailbox, "mailbox")
        if action == "assign":
            box.assign(users[index], at=at)
        else:
            box.unassign(users[index], at=at)
        log.save(box)
        return
    if action == "request" and len(jobs) == len(IMPORT_REFS) + 1:
        return  # three jobs at most: each gets many of the steps
    if action == "request" or not jobs:
        job = ImportJob.request(
            uuid4(),
            destination="box@example.org",
            mailbox_id=mailbox_id,
            domain="example.org",
            requested_by=users[index] if n % 3 else None,
            sources=IMPORT_REFS[: 1 + n % 2],
            at=at,
        )
        jobs.append(job.id)
        log.save(job)
        return
    job = log.load(jobs[which % len(jobs)], ImportJob, "job")
    JOB_FACTS[action](job, index % len(job.sources), folder, n, at)
    log.save(job)


# (job, source index, folder, a count, when): one command of the job.
JOB_FACTS: dict[str, Callable[[ImportJob, int, str, int, datetime], None]] = {
    "start": lambda job, _i, _f, _n, at: job.start(at=at),
    "survey": lambda job, i, f, n, at: job.survey(
        i, (FolderTotal(f, n, 1000 * n), FolderTotal("Sent", 2, 300)), at=at
    ),
    "progress": lambda job, i, f, n, at: job.record_progress(
        i, f, copied=n, skipped=n // 3, failed=n % 2, size=900 * n, at=at
    ),
    "finish": lambda job, i, f, n, at: job.finish_folder(
        i,
        f,
        f,
        copied=n,
        skipped=1,
        failures=((FailureReason.TOO_LARGE.value, n % 3),),
        at=at,
    ),
    "fail_source": lambda job, i, _f, _n, at: job.fail_source(
        i, FailureReason.UNREACHABLE, at=at
    ),
    "conclude": lambda job, _i, _f, _n, at: job.conclude(at=at),
    "complete": lambda job, _i, f, n, at: _complete(job, f, n, at),
    "cancel": lambda job, _i, _f, _n, at: job.cancel(None, at=at),
    "fail": lambda job, _i, _f, _n, at: job.fail(
        FailureReason.AUTHENTICATION_FAILED, at=at
    ),
    "confirm": lambda job, _i, _f, _n, at: job.record_confirmation(at=at),
    "forget": lambda job, _i, _f, _n, at: job.forget_credentials(at=at),
}
