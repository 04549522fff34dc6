"""The relay's own hand-over, on the stack's store and a Redis of each test's own.

A relay of its own process (``mailhost run relay``) keeps the job schedule and writes
its new due jobs already handed over to it, sending them to Redis once the batch
commits (``workers.handover``); other due jobs it finds in the table. These tests step
such a relay by hand (its general hand-over held back unless the code asks for it, by
an ``IDLE_S`` of an hour) and read what reached Redis and what the job table says.
"""

from __future__ import annotations

import json
import threading
import time
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import redis

from application.accounts import LoginRefused
from application.jobs import SEND_AUTO_REPLY, SEND_SECURITY_ALERT, Job, jobs_for
from infrastructure.bootstrap import Engine
from infrastructure.clock import SystemClock
from projections import runner as runner_module
from projections import storage as storage_module
from projections.jobs import iso
from projections.runner import ProjectionRunner
from tests.integration.faultsupport import (
    RestartableRedis,
    decide,
    start_restartable_redis,
)
from tests.integration.support import (
    LOGIN,
    PASSWORD,
    engine,
    with_active_responder,
    with_user,
)
from tests.servers.process import LOCALHOST
from workers import relay as relay_module
from workers.broker import make_broker
from workers.relay import Relay

# Replies beyond the default hourly cap; the hand-over lease stays the default (600 s),
# so a job's mark never runs out within a test.
ENV = {"MAILHOST_RESPONDER_HOURLY_CAP": "1000"}
INFO = "info@example.org"
BACKLOG = 250  # more than two hand-over batches (``HAND_OVER_BATCH``)


@pytest.fixture
def own_redis(tmp_path: Path) -> Iterator[RestartableRedis]:
    """A Redis of the test's own: it counts every message, and may be stopped."""
    with start_restartable_redis(tmp_path / "redis") as server:
        yield server


@pytest.fixture
def opened(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Engine]:
    """An engine with a responder at ``INFO``, its set-up jobs scheduled elsewhere."""
    # The general hand-over only when the relay asks for it (first step, a backlog,
    # jobs given back, another runner seen scheduling), never because time passed.
    monkeypatch.setattr(relay_module, "IDLE_S", 3600.0)
    with engine(tmp_path / "home", ENV, background=False) as e:
        with_active_responder(e, INFO)
        with_user(e)
        e.runner.catch_up()  # as the projections process: set-up jobs in the table
        yield e


def relay_of(e: Engine, server: RestartableRedis) -> Relay:
    """A relay as ``mailhost run relay`` has it: the job schedule its own, to Redis."""
    return Relay(
        ProjectionRunner(e.host.log, e.runner.database, []),
        e.jobs,
        make_broker(server.url),
        SystemClock(),
        leases=e.leases,
    )


def primed(e: Engine, server: RestartableRedis) -> Relay:
    """A relay past its first step (which hands over what is due), Redis emptied."""
    relay = relay_of(e, server)
    relay.step()
    _client(server).flushall()
    return relay


def queued(server: RestartableRedis) -> Counter[str]:
    """The job ids of the messages in Redis, each as often as it was sent."""
    client = _client(server)
    return Counter(
        json.loads(data)["message_id"]
        for key in client.keys("dramatiq:*.msgs")
        for data in client.hvals(key)
    )


def _client(server: RestartableRedis) -> redis.Redis[bytes]:
    return redis.Redis(host=LOCALHOST, port=server.port)


def new_jobs(e: Engine, after: int) -> list[tuple[Job, int]]:
    """The jobs the log's events after position ``after`` start, with their position."""
    notifications = e.host.log.recorder.select_notifications(
        start=after, limit=1_000_000, inclusive_of_start=False
    )
    return [
        (job, n.id)
        for n in notifications
        for job in jobs_for(e.runner.decoding.event(n))
    ]


def marks(e: Engine) -> dict[str, float | None]:
    """Each job's hand-over mark (``handed_until``), by job id."""
    with e.jobs.database.transaction() as cursor:
        cursor.execute("SELECT job_id, handed_until FROM mh_jobs")
        return {str(r[0]): r[1] for r in cursor.fetchall()}


def schedule_row(e: Engine, job: Job, position: int) -> None:
    """The job's row as another writer left it: due, handed over to nobody."""
    with e.jobs.database.transaction() as cursor:
        cursor.execute(
            "INSERT INTO mh_jobs (job_id, actor, args, due_at, position)"
            " VALUES (?, ?, ?, ?, ?)",
            (job.job_id, job.actor, json.dumps(job.args), iso(job.due_at), position),
        )


def test_a_batch_hands_over_only_the_due_jobs_it_inserted_itself(
    opened: Engine, own_redis: RestartableRedis
) -> None:
    e = opened
    relay = primed(e, own_redis)
    head = e.runner.log_position()
    e.host.accounts.login(LOGIN, PASSWORD, ip="192.0.2.10")  # an alert, due now
    with pytest.raises(LoginRefused):  # an alert due when the window closes
        e.host.accounts.login(LOGIN, "wrong password", ip="192.0.2.10")
    decide(e, 0, 2)  # two replies, due now
    jobs = new_jobs(e, head)
    [first_reply, _] = [(j, p) for j, p in jobs if j.actor == SEND_AUTO_REPLY]
    schedule_row(e, *first_reply)  # its row was there first: not this batch's
    now = datetime.now(UTC)
    later = {j.job_id for j, _ in jobs if j.due_at > now}
    due = {j.job_id for j, _ in jobs if j.due_at <= now} - {first_reply[0].job_id}
    assert len(later) == 1
    assert {j.actor for j, _ in jobs if j.job_id in due} == {
        SEND_SECURITY_ALERT,
        SEND_AUTO_REPLY,
    }
    relay.step()
    assert queued(own_redis) == Counter(due)  # each once
    mark = marks(e)
    assert all(mark[job_id] is not None for job_id in due)
    assert mark[first_reply[0].job_id] is None  # left to the general hand-over
    assert all(mark[job_id] is None for job_id in later)


def test_a_batch_that_rolled_back_hands_nothing_over(
    opened: Engine, own_redis: RestartableRedis, monkeypatch: pytest.MonkeyPatch
) -> None:
    e = opened
    relay = primed(e, own_redis)
    head = e.runner.log_position()
    decide(e, 0, 4)
    jobs = new_jobs(e, head)
    assert len(jobs) == 4  # one event each: two batches of two
    monkeypatch.setattr(runner_module, "BATCH", 2)
    # A row per INSERT: the second batch's first row is written (and returned) before
    # its second fails, and the whole batch rolls back.
    monkeypatch.setattr(storage_module, "ROWS_PER_INSERT", 1)
    first, second = {j.job_id for j, _ in jobs[:2]}, {j.job_id for j, _ in jobs[2:]}
    refuse = _refusal(e, from_position=jobs[3][1])
    with pytest.raises(Exception, match="injected fault"):
        relay.step()  # the first batch commits, the second rolls back
    assert queued(own_redis) == Counter(first)
    assert set(marks(e)) & second == set()
    refuse.close()
    relay.step()
    assert queued(own_redis) == Counter(first | second)  # each once


class _Refusal:
    """A trigger that fails the insert of job rows from a position on, until closed."""

    def __init__(self, e: Engine, statements: tuple[str, ...], drop: str) -> None:
        self.e, self.drop = e, drop
        with e.jobs.database.transaction() as cursor:
            for statement in statements:
                cursor.execute(statement)

    def close(self) -> None:
        with self.e.jobs.database.transaction() as cursor:
            cursor.execute(self.drop)


def _refusal(e: Engine, *, from_position: int) -> _Refusal:
    if e.jobs.database.dialect == "postgres":
        return _Refusal(
            e,
            (
                (
                    "CREATE FUNCTION mh_test_refuse() RETURNS trigger LANGUAGE plpgsql"
                    " AS 'BEGIN RAISE EXCEPTION ''injected fault''; END'"
                ),
                (
                    "CREATE TRIGGER mh_test_refuse BEFORE INSERT ON mh_jobs FOR EACH ROW"
                    f" WHEN (NEW.position >= {from_position})"
                    " EXECUTE FUNCTION mh_test_refuse()"
                ),
            ),
            "DROP TRIGGER mh_test_refuse ON mh_jobs",
        )
    return _Refusal(
        e,
        (
            (
                "CREATE TRIGGER mh_test_refuse BEFORE INSERT ON mh_jobs"
                f" WHEN NEW.position >= {from_position}"
                " BEGIN SELECT RAISE(ABORT, 'injected fault'); END"
            ),
        ),
        "DROP TRIGGER mh_test_refuse",
    )


class _StopsRedisBeforeSend:
    """The broker's enqueue, Redis stopped (by its pid) just before send ``number``."""

    def __init__(self, relay: Relay, server: RestartableRedis, number: int) -> None:
        self.enqueue, self.server = relay.broker.enqueue, server
        self.number: int | None = number
        self.sent: list[str] = []

    def __call__(self, message: Any, **options: Any) -> Any:  # noqa: ANN401 - Dramatiq's
        if self.number is not None and len(self.sent) + 1 == self.number:
            self.number = None  # once
            self.server.halt()
        result = self.enqueue(message, **options)
        self.sent.append(message.message_id)
        return result


@pytest.mark.parametrize("source", ["own batch", "table"])
def test_jobs_not_sent_when_redis_stops_after_the_commit_go_when_it_is_back(
    opened: Engine,
    own_redis: RestartableRedis,
    monkeypatch: pytest.MonkeyPatch,
    source: str,
) -> None:
    # rule RSP-8: a decided reply is sent; once Redis is back, not after the lease
    e = opened
    relay = primed(e, own_redis)
    head = e.runner.log_position()
    decide(e, 0, 3)
    if source == "table":
        # The projections process scheduled them: the relay, overtaken, looks at once.
        e.runner.catch_up()
    jobs = [j.job_id for j, _ in new_jobs(e, head)]
    stops = _StopsRedisBeforeSend(relay, own_redis, number=2)
    monkeypatch.setattr(relay.broker, "enqueue", stops)
    with pytest.raises(redis.ConnectionError):
        relay.step()  # the jobs were marked handed over and committed first
    [sent] = stops.sent
    stops.sent = []
    mark = marks(e)
    assert mark[sent] is not None  # in Redis: handed over while the lease holds
    assert [mark[job_id] for job_id in jobs if job_id != sent] == [None, None]
    own_redis.resume()  # empty: the message sent before the stop is gone with it
    relay.step()
    assert sorted(stops.sent) == sorted(j for j in jobs if j != sent)
    assert queued(own_redis) == Counter(j for j in jobs if j != sent)


class _FirstWait:
    """The relay's wake-up: the jobs in Redis when the relay first waits."""

    def __init__(self, server: RestartableRedis) -> None:
        self.server = server
        self.seen: Counter[str] | None = None
        self.waited = threading.Event()

    def wait(self, timeout: float) -> None:
        if self.seen is None:
            self.seen = queued(self.server)
            self.waited.set()
        time.sleep(min(timeout, 0.05))

    def close(self) -> None:
        pass


def test_a_backlog_is_handed_over_batch_after_batch_before_the_relay_waits(
    opened: Engine, own_redis: RestartableRedis
) -> None:
    # As a relay starting after an outage: its first step hands over what is due.
    e = opened
    due = datetime.now(UTC) - timedelta(minutes=1)
    backlog = [
        Job.of(SEND_AUTO_REPLY, f"backlog-{n}", due_at=due) for n in range(BACKLOG)
    ]
    for n, job in enumerate(backlog):
        schedule_row(e, job, position=n + 1)
    relay = relay_of(e, own_redis)
    wakeup = _FirstWait(own_redis)
    relay.wake_on(wakeup)
    relay.start()
    try:
        assert wakeup.waited.wait(120), "the relay never waited"
    finally:
        relay.close()
    assert wakeup.seen is not None
    # Every job of the backlog (the set-up's few besides) in Redis, once.
    assert [job.job_id for job in backlog if wakeup.seen[job.job_id] != 1] == []
