"""The split topology under faults, on 127.0.0.1: PostgreSQL + Redis + separate processes.

``mailhost run projections``, ``mailhost run relay`` and ``dramatiq`` worker processes
run as children; this test process writes the commands. Each test breaks one thing in
the middle of a run (Redis or PostgreSQL restarted, a worker, the relay or the
projection runner killed -9) and then counts the effects: every decided reply reaches
the SMTP sink and is recorded once; a mail may repeat only where a worker was killed
between the server's acceptance and the record (its job then shows attempts > 1).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from functools import partial
from pathlib import Path

import pytest

from infrastructure.bootstrap import Engine
from tests.integration.faultsupport import (
    LEASES,
    RECOVERED,
    RUN_PROJECTIONS,
    RUN_RELAY,
    RestartableRedis,
    by_message_id,
    decide,
    halt_postgres,
    mail_jobs,
    resume_postgres,
    start_restartable_redis,
    topology,
    wait_done,
)
from tests.integration.support import event_count, process_env
from tests.integration.test_exactly_once import logs
from tests.integration.workerprocesses import DRAMATIQ_WORKERS
from tests.servers import RunningPostgres, ServiceUnavailable, SmtpSink, start_postgres

SPLIT = [RUN_PROJECTIONS, RUN_RELAY, DRAMATIQ_WORKERS]
BATCH = 15
# Long enough for every process to notice (a poll, a pool's connection timing out).
DOWN_S = 3.0


@pytest.fixture
def own_postgres(tmp_path: Path) -> Iterator[RunningPostgres]:
    """A cluster of this test's own: it is restarted, and others share the session's."""
    try:
        server = start_postgres(tmp_path / "pg")
    except ServiceUnavailable as e:
        pytest.skip(e.reason)
    with server:
        yield server


@pytest.fixture
def own_redis(tmp_path: Path) -> Iterator[RestartableRedis]:
    with start_restartable_redis(tmp_path / "redis") as server:
        yield server


def _env(
    tmp_path: Path, smtp: SmtpSink, pg: RunningPostgres, redis: RestartableRedis
) -> dict[str, str]:
    broker = {"MAILHOST_BROKER_URL": redis.url}
    return process_env(
        tmp_path / "home", smtp, broker, pg.env(pg.create_database()), LEASES
    )


def _check_once(
    e: Engine, smtp: SmtpSink, expected: int, *, killed: bool = False
) -> None:
    """Nothing lost; nothing doubled (only a killed worker's interrupted job may repeat)."""
    counts = by_message_id(smtp)
    assert len(counts) == expected
    assert event_count(e, "AutoReply.Sent") == expected  # each reply recorded once
    repeated = [mid for mid, n in counts.items() if n > 1]
    if not killed:
        assert repeated == [], counts
    else:
        retried = sum(1 for attempts, _ in mail_jobs(e).values() if attempts > 1)
        assert len(repeated) <= retried


@pytest.mark.parametrize("server", ["redis", "postgres"])
def test_a_server_restart_delays_jobs_and_loses_none(
    tmp_path: Path,
    own_postgres: RunningPostgres,
    own_redis: RestartableRedis,
    smtp: SmtpSink,
    server: str,
) -> None:
    # rule RSP-8: every decided reply is sent, once
    env = _env(tmp_path, smtp, own_postgres, own_redis)
    pauses: dict[str, tuple[Callable[[], None], Callable[[], None]]] = {
        "redis": (own_redis.halt, own_redis.resume),
        "postgres": (
            partial(halt_postgres, own_postgres),
            partial(resume_postgres, own_postgres),
        ),
    }
    halt, resume = pauses[server]
    with topology(tmp_path / "home", env, SPLIT, tmp_path) as (e, _):
        expected = decide(e, 0, BATCH // 3)
        wait_done(e, expected, tmp_path)
        expected += decide(e, BATCH, BATCH)
        halt()  # while the batch is being worked on (a restarted Redis is empty)
        time.sleep(DOWN_S)
        resume()
        expected += decide(e, 2 * BATCH, BATCH)
        wait_done(e, expected, tmp_path)
        _check_once(e, smtp, expected)
        # Each follower said once that it failed and once that it recovered.
        assert RECOVERED in logs(tmp_path), logs(tmp_path)


@pytest.mark.parametrize("victim", ["projections", "relay", "worker"])
def test_kill_9_of_one_process_delays_jobs_and_loses_none(
    tmp_path: Path,
    own_postgres: RunningPostgres,
    own_redis: RestartableRedis,
    smtp: SmtpSink,
    victim: str,
) -> None:
    # rule RSP-8, rule SEC-1
    env = _env(tmp_path, smtp, own_postgres, own_redis)
    index = {"projections": 0, "relay": 1, "worker": 2}[victim]
    with topology(tmp_path / "home", env, SPLIT, tmp_path) as (e, running):
        expected = decide(e, 0, BATCH)
        wait_done(e, expected, tmp_path)
        for round_ in range(3):  # killed while the batch is being worked on
            time.sleep(0.3)
            running[index].kill()
            expected += decide(e, BATCH * (round_ + 1), BATCH)
            running[index].start()
        wait_done(e, expected, tmp_path)
        _check_once(e, smtp, expected, killed=victim == "worker")
