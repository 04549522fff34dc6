"""Who and why across jobs (issue 11): a command's correlation id reaches its jobs' events.

A command's event starts a job; the job's row keeps the command's correlation id and
the event's log position, and the events the job saves record the worker as actor, the
same correlation and that position as their cause: in-process, and in a ``dramatiq``
worker process fed over a real Redis.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, cast
from uuid import UUID, uuid4

import pytest
from eventsourcing.utils import get_topic

from application.authorization import OPERATOR
from application.context import (
    RECORDED,
    Actor,
    CommandContext,
    acting,
    correlated,
    recorded,
)
from application.jobs import SEND_AUTO_REPLY, SEND_SECURITY_ALERT, SYNC_MAIL_STORE
from domain.autoreply import AutoReply
from infrastructure.bootstrap import Engine
from infrastructure.sql import (
    Database,
    PostgresDatabase,
    SqliteDatabase,
    ensure_schema,
)
from projections.jobcolumns import CORRELATION_INDEX
from projections.jobs import JobSchedule, JobTable
from tests.integration.support import LOGIN, ORG, PASSWORD, engine, process_env
from tests.integration.workerprocesses import DRAMATIQ_WORKERS, child
from tests.servers import RunningRedis, SmtpSink
from workers.execution import drain, message_options

NEW_PASSWORD = "another long passphrase"
ALERT = Actor.worker(SEND_SECURITY_ALERT)
BOX = "box@example.org"


def with_user(e: Engine) -> None:
    """Ann's account and a mail service of her domain, made by the operator."""
    e.host.organisations.found(ORG, by=OPERATOR)
    e.host.accounts.register(ORG, LOGIN, PASSWORD, display_name="Ann", by=OPERATOR)
    e.host.services.create(ORG, "example.org", quota=5, by=OPERATOR)


def contexts(e: Engine, kind: str) -> list[tuple[int, CommandContext | None]]:
    """Each stored event of class ``kind``: its position and its recorded context."""
    log = e.host.log
    return [
        (n.id, recorded(log.mapper.to_domain_event(n)))
        for n in log.recorder.select_notifications(start=1, limit=1_000_000)
        if n.topic.endswith((f".{kind}", f":{kind}"))
    ]


def account_id(e: Engine) -> UUID:
    return e.host.accounts.get(LOGIN).id


def login_as_the_account(e: Engine, correlation: UUID) -> None:
    """A sign-in from a new device (an embedder's request ``correlation``): SEC-1."""
    with correlated(correlation):
        e.host.accounts.login(LOGIN, PASSWORD, ip="192.0.2.10")


def change_password(e: Engine, correlation: UUID) -> None:
    """SEC-4: a settings change mails an alert."""
    with correlated(correlation):
        e.host.accounts.change_password(LOGIN, PASSWORD, NEW_PASSWORD)


def create_box_as_operator(e: Engine, correlation: UUID) -> None:
    """A mailbox made by the operator: the mail store follows by a job."""
    with acting(Actor.operator(), correlation_id=correlation):
        e.host.addresses.create_unassigned(BOX, password=NEW_PASSWORD, by=OPERATOR)


def assert_traced(e: Engine, actor: Actor, correlation: UUID, trigger: str) -> None:
    """The command's event, its job's row and the job's own event, linked."""
    [(position, context)] = [
        (p, c)
        for p, c in contexts(e, trigger)
        if c is not None and c.correlation_id == correlation
    ]
    assert context == CommandContext(actor, correlation, None)
    [job] = e.jobs.correlated(correlation)
    assert (job.kind, job.causation) == (SEND_SECURITY_ALERT, position)
    assert job.done_at is not None
    assert job.attempts == 1
    sent = [c for _, c in contexts(e, "SecurityAlertSent") if c is not None]
    assert CommandContext(ALERT, correlation, position) in sent


def test_a_commands_alert_job_and_its_sent_event_carry_its_correlation(
    tmp_path: Path, smtp: SmtpSink
) -> None:
    # rule SEC-1, rule SEC-4
    signed_in, changed, created = uuid4(), uuid4(), uuid4()
    with engine(tmp_path / "home", {"MAILHOST_SMTP_URL": smtp.url}) as e:
        with_user(e)
        login_as_the_account(e, signed_in)
        change_password(e, changed)
        create_box_as_operator(e, created)
        e.host.settle()
        assert len(smtp.wait_for(2)) == 2
        ann = Actor.account(account_id(e))
        assert_traced(e, ann, signed_in, "LoggedIn")
        assert_traced(e, ann, changed, "PasswordChanged")
        [(position, context)] = contexts(e, "Mailbox.Created")
        assert context == CommandContext(Actor.operator(), created, None)
        [job] = e.jobs.correlated(created)
        assert (job.kind, job.causation) == (SYNC_MAIL_STORE, position)
        assert job.done_at is not None
        assert e.jobs.correlated(uuid4()) == []


def test_a_job_row_from_before_correlations_runs_under_a_fresh_one(
    tmp_path: Path, smtp: SmtpSink
) -> None:
    # rule SEC-1: the alert of a job recorded by an older release is still sent
    with engine(
        tmp_path / "home", {"MAILHOST_SMTP_URL": smtp.url}, background=False
    ) as e:
        with_user(e)
        first = uuid4()
        login_as_the_account(e, first)
        e.runner.catch_up()
        with e.jobs.database.transaction() as cursor:
            cursor.execute("UPDATE mh_jobs SET correlation_id = NULL")
        assert drain(e.running(), deadline=time.monotonic() + 60) == 1
        [(position, _)] = contexts(e, "LoggedIn")
        [(_, sent)] = contexts(e, "SecurityAlertSent")
        assert sent is not None
        assert (sent.actor, sent.causation) == (ALERT, position)
        assert sent.correlation_id != first
    assert len(smtp.wait_for(1)) == 1


def test_the_relays_message_names_the_jobs_correlation_and_cause(
    tmp_path: Path,
) -> None:
    correlation = uuid4()
    with engine(tmp_path / "home", background=False) as e:
        with_user(e)
        login_as_the_account(e, correlation)
        e.runner.catch_up()
        [job] = e.jobs.hand_over(e.host.alerts.clock.now(), wall=time.time(), lease=60)
        [(position, _)] = contexts(e, "LoggedIn")
    assert (job.correlation_id, job.causation) == (correlation, position)
    assert message_options(job) == {
        "correlation_id": str(correlation),
        "causation": position,
    }


PRE_CORRELATION = (
    "CREATE TABLE mh_jobs ("
    " job_id TEXT PRIMARY KEY, actor TEXT NOT NULL, args TEXT NOT NULL,"
    " due_at TEXT NOT NULL, position BIGINT NOT NULL,"
    " enqueued_at TEXT, done_at TEXT, handed_until DOUBLE PRECISION,"
    " claim_token TEXT, claimed_until DOUBLE PRECISION,"
    " attempts INTEGER NOT NULL DEFAULT 0, last_error TEXT)"
)


@pytest.fixture(params=["sqlite", "postgres"])
def views(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Database]:
    database: Database = (
        SqliteDatabase(tmp_path / "views.sqlite")
        if request.param == "sqlite"
        else PostgresDatabase(request.getfixturevalue("postgres_env"))
    )
    yield database
    database.close()


@pytest.fixture
def older(views: Database) -> Database:
    """A job table as a release before correlations made it, with one job in it."""
    database = views
    with database.transaction() as cursor:
        cursor.execute(PRE_CORRELATION)
        cursor.execute(
            "INSERT INTO mh_jobs (job_id, actor, args, due_at, position)"
            " VALUES ('old', ?, ?, '2026-01-01T00:00:00+00:00', 7)",
            (SEND_AUTO_REPLY, json.dumps([str(uuid4())])),
        )
    return database


def test_an_older_job_table_gains_the_correlation_and_keeps_its_jobs(
    older: Database,
) -> None:
    database = older
    table = JobTable(database)
    JobTable(database)  # a second start finds nothing to add
    [job] = table.hand_over(datetime.now(UTC), wall=time.time(), lease=60)
    assert (job.job_id, job.correlation_id, job.causation) == ("old", None, 7)
    assert message_options(job) == {"causation": 7}
    with database.transaction() as cursor:
        if database.dialect == "postgres":
            cursor.execute("SELECT to_regclass(?) IS NOT NULL", (CORRELATION_INDEX,))
        else:
            cursor.execute(
                "SELECT COUNT(*) FROM sqlite_master WHERE name = ?",
                (CORRELATION_INDEX,),
            )
        row = cursor.fetchone()
    assert row is not None
    assert row[0]


def test_a_dramatiq_worker_process_records_the_commands_correlation(
    tmp_path: Path, redis_server: RunningRedis, smtp: SmtpSink
) -> None:
    # rule SEC-1, rule SEC-4: the message goes over Redis to another process
    home, logged = tmp_path / "home", tmp_path / "workers.log"
    env = process_env(home, smtp, {"MAILHOST_BROKER_URL": redis_server.url})
    signed_in, changed = uuid4(), uuid4()
    with child(DRAMATIQ_WORKERS, env, logged) as workers, engine(home, env) as e:
        with_user(e)
        login_as_the_account(e, signed_in)
        change_password(e, changed)
        e.host.settle(timeout=60)
        assert workers.poll() is None, logged.read_text()
        assert len(smtp.wait_for(2, timeout=60)) == 2, logged.read_text()
        ann = Actor.account(account_id(e))
        assert_traced(e, ann, signed_in, "LoggedIn")
        assert_traced(e, ann, changed, "PasswordChanged")


def decided(reply_id: UUID, correlation: UUID) -> object:
    """A reply's decision as the mapper decodes it: recorded with its command's context.

    The schedule reads only its id (the plan is the reply sender's business).
    """
    make = cast("Any", AutoReply.Decided)  # mypy sees eventsourcing's fields only
    event = make(
        originator_id=reply_id,
        originator_version=1,
        timestamp=datetime.now(UTC),
        originator_topic=get_topic(AutoReply),
        plan=None,
    )
    event.__dict__[RECORDED] = CommandContext(Actor.operator(), correlation, None)
    return event


def test_a_batch_schedules_each_job_once_with_its_first_events_correlation(
    views: Database,
) -> None:
    # RSP-8: a reply decided twice is sent once
    first, again, other = uuid4(), uuid4(), uuid4()
    reply, another = uuid4(), uuid4()
    schedule = JobSchedule()
    ensure_schema(views, schedule.schema)
    with views.transaction() as cursor:
        schedule.process_many(
            [
                (decided(reply, first), 5),
                (decided(another, other), 6),
                (decided(reply, again), 9),
            ],
            cursor,
        )
    table = JobTable(views)
    [job] = table.correlated(first)
    assert (job.args, job.causation) == ((str(reply),), 5)
    assert table.correlated(again) == []
    assert [j.args for j in table.correlated(other)] == [(str(another),)]
