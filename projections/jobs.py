"""The job schedule: the log's events turned into due jobs (the outbox's table).

Written like any projection (rows and position in one transaction), so an event
committed just before a crash still gets its job after restart. A relay hands due jobs
to Dramatiq and marks them; a finished job is marked done by its worker.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from eventsourcing.utils import get_topic

from application.jobs import TRIGGERS, Job, jobs_for
from infrastructure.sql import Cursor, Database


def _iso(at: datetime) -> str:
    return at.astimezone(UTC).isoformat(timespec="microseconds")


class JobSchedule:
    name = "job_schedule"
    tables: tuple[str, ...] = ("mh_jobs",)
    topics: tuple[str, ...] = tuple(get_topic(cls) for cls in TRIGGERS)
    schema: tuple[str, ...] = (
        (
            "CREATE TABLE IF NOT EXISTS mh_jobs ("
            " job_id TEXT PRIMARY KEY, actor TEXT NOT NULL, args TEXT NOT NULL,"
            " due_at TEXT NOT NULL, position BIGINT NOT NULL,"
            " enqueued_at TEXT, done_at TEXT)"
        ),
        "CREATE INDEX IF NOT EXISTS mh_jobs_due ON mh_jobs (done_at, due_at)",
    )

    def process(self, event: object, position: int, cursor: Cursor) -> None:
        for job in jobs_for(event):
            cursor.execute(
                "INSERT INTO mh_jobs (job_id, actor, args, due_at, position)"
                " VALUES (?, ?, ?, ?, ?) ON CONFLICT (job_id) DO NOTHING",
                (
                    job.job_id,
                    job.actor,
                    json.dumps(job.args),
                    _iso(job.due_at),
                    position,
                ),
            )


class JobTable:
    """The relay's and the workers' view of the schedule."""

    def __init__(self, database: Database) -> None:
        self.database = database

    def due(
        self, now: datetime, *, lease: timedelta | None, limit: int = 100
    ) -> list[Job]:
        """Due jobs not done and not handed over (within the lease, if there is one)."""
        # Before any instant the table can hold: with no lease, a job is handed over once.
        stale = _iso(now - lease) if lease is not None else "0"
        with self.database.transaction() as cursor:
            cursor.execute(
                "SELECT job_id, actor, args, due_at FROM mh_jobs"
                " WHERE done_at IS NULL AND due_at <= ?"
                " AND (enqueued_at IS NULL OR enqueued_at <= ?)"
                " ORDER BY due_at, position LIMIT ?",
                (_iso(now), stale, limit),
            )
            rows = cursor.fetchall()
        return [
            Job(r[0], r[1], tuple(json.loads(r[2])), datetime.fromisoformat(r[3]))
            for r in rows
        ]

    def mark_enqueued(self, job_ids: list[str], at: datetime) -> None:
        with self.database.transaction() as cursor:
            for job_id in job_ids:
                cursor.execute(
                    "UPDATE mh_jobs SET enqueued_at = ? WHERE job_id = ?",
                    (_iso(at), job_id),
                )

    def forget_enqueued(self) -> None:
        """After a restart of an in-memory broker, what it held is gone: hand it over again."""
        with self.database.transaction() as cursor:
            cursor.execute(
                "UPDATE mh_jobs SET enqueued_at = NULL WHERE done_at IS NULL"
            )

    def complete(self, job_id: str, at: datetime) -> None:
        with self.database.transaction() as cursor:
            cursor.execute(
                "UPDATE mh_jobs SET done_at = ? WHERE job_id = ? AND done_at IS NULL",
                (_iso(at), job_id),
            )

    def unfinished(self, now: datetime) -> int:
        """Jobs due by ``now`` and not done."""
        with self.database.transaction() as cursor:
            cursor.execute(
                "SELECT COUNT(*) FROM mh_jobs WHERE done_at IS NULL AND due_at <= ?",
                (_iso(now),),
            )
            row = cursor.fetchone()
        return int(row[0]) if row else 0

    def next_due(self) -> datetime | None:
        with self.database.transaction() as cursor:
            cursor.execute("SELECT MIN(due_at) FROM mh_jobs WHERE done_at IS NULL")
            row = cursor.fetchone()
        return None if row is None or row[0] is None else datetime.fromisoformat(row[0])
