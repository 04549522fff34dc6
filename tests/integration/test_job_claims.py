"""The job table's leases on real SQLite and PostgreSQL: one holder at a time, fenced."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from application.jobs import RUN_IMPORT, SEND_AUTO_REPLY, SYNC_MAIL_STORE, Job
from infrastructure.sql import Database, PostgresDatabase, SqliteDatabase, ensure_schema
from projections.jobs import JobSchedule, JobTable

NOW = datetime(2026, 12, 1, 12, tzinfo=UTC)


@pytest.fixture(params=["sqlite", "postgres"])
def table(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[JobTable]:
    database: Database
    if request.param == "sqlite":
        database = SqliteDatabase(tmp_path / "views.sqlite")
    else:
        env: dict[str, str] = request.getfixturevalue("postgres_env")
        database = PostgresDatabase(env)
    ensure_schema(database, JobSchedule.schema)
    yield JobTable(database)
    database.close()


def schedule(table: JobTable, *jobs: Job) -> None:
    with table.database.transaction() as cursor:
        for n, job in enumerate(jobs):
            cursor.execute(
                "INSERT INTO mh_jobs (job_id, actor, args, due_at, position)"
                " VALUES (?, ?, ?, ?, ?)",
                (
                    job.job_id,
                    job.actor,
                    json.dumps(job.args),
                    job.due_at.isoformat(),
                    n,
                ),
            )


def reply_job(n: int) -> Job:
    return Job.of(SEND_AUTO_REPLY, f"reply-{n}", due_at=NOW)


def claimed(table: JobTable, n: int, holder: str, lease: float) -> tuple[Job, float]:
    """Reply job ``n``, scheduled and claimed now by ``holder``; and that wall time."""
    job = reply_job(n)
    schedule(table, job)
    wall = time.time()
    assert table.claim(job.job_id, holder, wall=wall, lease=lease)
    return job, wall


def test_two_claims_of_one_job_one_wins_and_only_its_token_finishes_it(
    table: JobTable,
) -> None:
    job, wall = claimed(table, 1, "a", lease=60)
    assert not table.claim(job.job_id, "b", wall=wall, lease=60)
    table.complete([job.job_id], "b", NOW)  # a late worker's token: nothing happens
    assert table.unfinished(NOW) == 1
    table.complete([job.job_id], "a", NOW)
    assert table.unfinished(NOW) == 0
    assert not table.claim(
        job.job_id, "c", wall=wall + 3600, lease=60
    )  # done stays done
    assert table.attempts(job.job_id) == 1


def test_a_claim_left_by_a_dead_worker_expires_and_counts_an_attempt(
    table: JobTable,
) -> None:
    job, wall = claimed(table, 2, "dead", lease=5)
    assert table.hand_over(NOW, wall=wall + 1, lease=5) == []  # held: no relay takes it
    [again] = table.hand_over(NOW, wall=wall + 6, lease=5)
    assert again.job_id == job.job_id
    assert table.claim(job.job_id, "alive", wall=wall + 6, lease=5)
    table.complete([job.job_id], "dead", NOW)
    assert table.unfinished(NOW) == 1  # the dead worker's token no longer counts
    assert table.attempts(job.job_id) == 2


def test_a_released_job_waits_for_its_retry_time(table: JobTable) -> None:
    job, wall = claimed(table, 3, "a", lease=60)
    table.release([job.job_id], "a", "SMTPServerDisconnected", retry_at=wall + 15)
    assert table.hand_over(NOW, wall=wall + 1, lease=5) == []
    assert [j.job_id for j in table.hand_over(NOW, wall=wall + 16, lease=5)] == [
        job.job_id
    ]


def test_concurrent_relays_hand_each_job_over_once(table: JobTable) -> None:
    jobs = [reply_job(n) for n in range(200)]
    schedule(table, *jobs)
    handed: list[str] = []
    lock = threading.Lock()

    def relay() -> None:
        while True:
            got = table.hand_over(NOW, wall=time.time(), lease=600, limit=7)
            if not got:
                return
            with lock:
                handed.extend(j.job_id for j in got)

    threads = [threading.Thread(target=relay) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(handed) == sorted(j.job_id for j in jobs)


def test_a_batch_claim_takes_only_free_jobs_of_its_kind(table: JobTable) -> None:
    store = [Job.of(SYNC_MAIL_STORE, f"box-{n}", "1", due_at=NOW) for n in range(5)]
    schedule(table, reply_job(9), *store)
    wall = time.time()
    assert table.claim(store[0].job_id, "one", wall=wall, lease=60)
    batch = table.claim_due(
        NOW, "batch", wall=wall, lease=60, actor=SYNC_MAIL_STORE, limit=10
    )
    assert sorted(j.job_id for j in batch) == sorted(j.job_id for j in store[1:])
    assert {j.args for j in batch} == {(f"box-{n}", "1") for n in range(1, 5)}


def test_a_draining_command_leaves_the_excluded_kinds_to_the_workers(
    table: JobTable,
) -> None:
    # A short-lived command runs what it started, not an hour-long import.
    store = Job.of(SYNC_MAIL_STORE, "box", "1", due_at=NOW)
    long_run = Job.of(RUN_IMPORT, "job", due_at=NOW)
    schedule(table, long_run, store)
    wall = time.time()
    got = table.claim_due(NOW, "cli", wall=wall, lease=60, exclude=(RUN_IMPORT,))
    assert [job.job_id for job in got] == [store.job_id]
    table.complete([store.job_id], "cli", NOW)
    assert table.unfinished(NOW, exclude=(RUN_IMPORT,)) == 0
    assert table.unfinished(NOW) == 1
    worker = table.claim_due(NOW, "worker", wall=wall, lease=60)
    assert [job.job_id for job in worker] == [long_run.job_id]
