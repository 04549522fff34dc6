"""The job schedule: the log's events turned into due jobs (the outbox's table).

Written like any projection (rows and position in one transaction), so an event
committed just before a crash still gets its job after restart.

Two leases keep the effects to one attempt at a time, whatever the number of relays and
workers in whatever processes:

- a *hand-over*: a relay reads due jobs and marks them handed over in the same
  transaction (SQLite's write lock, PostgreSQL's ``FOR UPDATE SKIP LOCKED``), so two
  relays never hand over the same job; a hand-over that led nowhere (the process and its
  in-memory queue died) expires and any relay hands the job over again, and one whose
  send to the broker failed is given back at once (``give_back``);
- a *claim*: the worker that runs a job first claims it with a fresh token in one
  conditional update; a second delivery of the message finds it claimed or done and does
  nothing. Only the holder of the token can mark the job done or release it (fencing), and
  a claim left by a killed worker expires, after which the job is handed over again.

Leases are measured on the wall clock (seconds since the epoch), not on the engine's
clock: they are about processes being alive, and a test's manual clock jumping a day
must not expire a claim still in flight.
"""

from __future__ import annotations

import json
from collections.abc import Collection
from datetime import UTC, datetime
from json.encoder import encode_basestring_ascii
from uuid import UUID

from attrs import frozen
from eventsourcing.utils import get_topic

from application.context import recorded
from application.jobs import TRIGGERS, Job, jobs_for
from projections.jobcolumns import add_missing_columns
from projections.runner import Items
from projections.storage import Cursor, Database, insert_rows


def iso(at: datetime) -> str:
    """The schedule's time text: UTC, so text order is time order."""
    return at.astimezone(UTC).isoformat(timespec="microseconds")


@frozen
class Scheduled(Job):
    """A job as its row has it, with why it exists: the events it saves record that."""

    # The correlation id of the command whose event started the job; None for a row
    # written before jobs carried one.
    correlation_id: UUID | None = None
    # The log position of the event the job acts on (the row's ``position``).
    causation: int | None = None


@frozen
class JobRecord:
    """A job as an auditor reads it: what ran, when it was due and done, how often tried."""

    job_id: str
    kind: str
    args: tuple[str, ...]
    due_at: datetime
    done_at: datetime | None
    attempts: int
    causation: int
    last_error: str | None


class JobSchedule:
    name = "job_schedule"
    tables: tuple[str, ...] = ("mh_jobs",)
    topics: tuple[str, ...] = tuple(get_topic(cls) for cls in TRIGGERS)
    schema: tuple[str, ...] = (
        (
            "CREATE TABLE IF NOT EXISTS mh_jobs ("
            " job_id TEXT PRIMARY KEY, actor TEXT NOT NULL, args TEXT NOT NULL,"
            " due_at TEXT NOT NULL, position BIGINT NOT NULL,"
            " enqueued_at TEXT, done_at TEXT, handed_until DOUBLE PRECISION,"
            " claim_token TEXT, claimed_until DOUBLE PRECISION,"
            " attempts INTEGER NOT NULL DEFAULT 0, last_error TEXT,"
            " correlation_id TEXT)"
        ),
        "CREATE INDEX IF NOT EXISTS mh_jobs_due ON mh_jobs (done_at, due_at)",
    )
    # Read by relays and workers, never while events are applied: a rebuild makes it
    # after its rows.
    indexes_after_load: tuple[str, ...] = schema[1:]

    def process(self, event: object, position: int, cursor: Cursor) -> None:
        self.process_many([(event, position)], cursor)

    def process_many(self, items: Items, cursor: Cursor) -> None:
        """The events' jobs, each with its event's correlation; the position is the
        causation. A job started again by a later event keeps the first one's row
        (``DO NOTHING`` skips a repeat within one statement too, in log order)."""
        insert_rows(cursor, f"INSERT INTO mh_jobs ({ROW})", job_rows(items), NEW_ONLY)


# The columns ``job_rows`` gives, in order, and what a repeated job's row does.
ROW = "job_id, actor, args, due_at, position, correlation_id"
NEW_ONLY = " ON CONFLICT (job_id) DO NOTHING"


def job_rows(items: Items) -> list[tuple[str, str, str, str, int, str | None]]:
    """The schedule's rows (``ROW``) of the events' jobs, in log order.

    The events of one command share its context object (the decoding keeps one per
    context), so each context's correlation is written out once, found again by the
    object's identity: every context stays alive in ``items`` meanwhile.
    """
    rows: list[tuple[str, str, str, str, int, str | None]] = []
    correlations: dict[int, str | None] = {}
    for event, position in items:
        jobs = jobs_for(event)
        if not jobs:
            continue
        context = recorded(event)
        key = id(context)
        if key in correlations:
            correlation = correlations[key]
        else:
            correlation = correlations[key] = (
                None if context is None else str(context.correlation_id)
            )
        rows.extend(
            (
                job.job_id,
                job.actor,
                args_text(job.args),
                iso(job.due_at),
                position,
                correlation,
            )
            for job in jobs
        )
    return rows


def args_text(args: tuple[str, ...]) -> str:
    """``json.dumps(args)``, the same text, for a tuple of strings (a job's args).

    ``dumps`` sets up an encoder for every call, which is most of its cost for a few
    short strings; each string is quoted here by the function it quotes them with.
    """
    return "[" + ", ".join(map(encode_basestring_ascii, args)) + "]"


# A job's row as ``scheduled`` reads it.
COLUMNS = "job_id, actor, args, due_at, correlation_id, position"
_SCHEDULED = f"SELECT {COLUMNS} FROM mh_jobs"  # noqa: S608 - constants only
_FREE = (
    "done_at IS NULL AND due_at <= ?"
    " AND (handed_until IS NULL OR handed_until <= ?)"
    " AND (claimed_until IS NULL OR claimed_until <= ?)"
)


class JobTable:
    """The relays' and the workers' view of the schedule."""

    def __init__(self, database: Database) -> None:
        self.database = database
        add_missing_columns(database)

    @property
    def _skip_locked(self) -> str:
        return " FOR UPDATE SKIP LOCKED" if self.database.dialect == "postgres" else ""

    def hand_over(
        self, now: datetime, *, wall: float, lease: float, limit: int = 100
    ) -> list[Scheduled]:
        """Due jobs nobody holds, marked handed over (until ``wall + lease``) as read.

        One statement picks and marks them (rows another relay has locked are skipped
        on PostgreSQL), so a hand-over is a single round trip in its transaction.
        """
        with self.database.transaction() as cursor:
            cursor.execute(
                "UPDATE mh_jobs SET handed_until = ? WHERE job_id IN ("  # noqa: S608 - constants only
                f"SELECT job_id FROM mh_jobs WHERE {_FREE}"
                f" ORDER BY due_at, position LIMIT ?{self._skip_locked})"
                f" RETURNING {COLUMNS}",
                (wall + lease, iso(now), wall, wall, limit),
            )
            rows = cursor.fetchall()
        # RETURNING keeps no order: the schedule's is due time, then log position.
        return [
            scheduled(row) for row in sorted(rows, key=lambda r: (str(r[3]), int(r[5])))
        ]

    def give_back(self, handed: Collection[tuple[str, float]]) -> None:
        """Clear the hand-overs of jobs a relay marked but could not send (Redis down).

        Each ``(job_id, until)`` names a job and the hand-over lease its mark ends at:
        only a mark still as that relay wrote it, on a job no worker holds or finished,
        is cleared, so the next hand-over (any relay's) takes the job once the broker
        is back instead of after the lease. A mark another relay wrote since is kept.
        """
        by_until: dict[float, list[str]] = {}
        for job_id, until in handed:
            by_until.setdefault(until, []).append(job_id)
        with self.database.transaction() as cursor:
            for until, job_ids in by_until.items():
                cursor.execute(
                    "UPDATE mh_jobs SET handed_until = NULL"  # noqa: S608 - placeholders only
                    " WHERE handed_until = ? AND claim_token IS NULL"
                    f" AND done_at IS NULL AND job_id IN ({', '.join('?' * len(job_ids))})",
                    (until, *job_ids),
                )

    def claim(
        self, job_id: str, token: str, *, wall: float, lease: float
    ) -> Scheduled | None:
        """Take the job for one attempt, as its row has it; None if it is done or
        someone holds it."""
        with self.database.transaction() as cursor:
            cursor.execute(
                "UPDATE mh_jobs SET claim_token = ?, claimed_until = ?,"
                " attempts = attempts + 1"
                " WHERE job_id = ? AND done_at IS NULL"
                " AND (claimed_until IS NULL OR claimed_until <= ?)"
                " RETURNING job_id, actor, args, due_at, correlation_id, position",
                (token, wall + lease, job_id, wall),
            )
            row = cursor.fetchone()
        return None if row is None else scheduled(row)

    def claim_due(
        self,
        now: datetime,
        token: str,
        *,
        wall: float,
        lease: float,
        actor: str | None = None,
        exclude: Collection[str] = (),
        limit: int = 100,
    ) -> list[Scheduled]:
        """Claim due jobs directly (a batch of one kind, or a draining process's own).

        ``exclude`` names kinds left to the workers (a short-lived command does not
        run an hour-long import).
        """
        kind = " AND actor = ?" if actor is not None else ""
        kind += _not_in(exclude)
        params = (
            iso(now),
            wall,
            wall,
            *((actor,) if actor is not None else ()),
            *exclude,
        )
        with self.database.transaction() as cursor:
            cursor.execute(
                f"{_SCHEDULED} WHERE {_FREE}{kind}"
                " ORDER BY due_at, position"
                f" LIMIT ?{self._skip_locked}",
                (*params, limit),
            )
            rows = cursor.fetchall()
            for row in rows:
                cursor.execute(
                    "UPDATE mh_jobs SET claim_token = ?, claimed_until = ?,"
                    " attempts = attempts + 1 WHERE job_id = ?",
                    (token, wall + lease, row[0]),
                )
        return [scheduled(row) for row in rows]

    def renew(self, job_id: str, token: str, wall: float, lease: float) -> bool:
        """Extend a claim still held by ``token`` to ``wall + lease``; False if lost.

        A long run (an import) calls it between batches: while it returns True no other
        worker can take the job, and once it returns False another has claimed it (a
        claim always takes a fresh token), so the run stops at once rather than work
        beside it. An expired claim nobody took yet is still this token's to renew.
        """
        with self.database.transaction() as cursor:
            cursor.execute(
                "UPDATE mh_jobs SET claimed_until = ?"
                " WHERE job_id = ? AND claim_token = ? AND done_at IS NULL"
                " RETURNING job_id",
                (wall + lease, job_id, token),
            )
            return cursor.fetchone() is not None

    def complete(self, job_ids: list[str], token: str, at: datetime) -> None:
        """Mark done, but only jobs this token still holds (a late worker changes nothing)."""
        self._update_held(
            job_ids,
            token,
            "done_at = ?, claim_token = NULL, claimed_until = NULL, last_error = NULL",
            (iso(at),),
            also_where=" AND done_at IS NULL",
        )

    def release(
        self, job_ids: list[str], token: str, error: str, *, retry_at: float
    ) -> None:
        """Give a failed attempt's claim back; relays hand it over again at ``retry_at``.

        Dramatiq retries the message with its own backoff meanwhile; the hand-over time
        only stops the relays from re-sending a failing job on every poll.
        """
        self._update_held(
            job_ids,
            token,
            "claim_token = NULL, claimed_until = NULL, handed_until = ?, last_error = ?",
            (retry_at, error[:500]),
        )

    def _update_held(
        self,
        job_ids: list[str],
        token: str,
        assignments: str,
        values: tuple[object, ...],
        *,
        also_where: str = "",
    ) -> None:
        """Set ``assignments`` on those of the jobs that ``token`` still holds (fencing).

        ``assignments`` and ``also_where`` (a further condition) are this module's constants;
        every value goes in as a placeholder.
        """
        with self.database.transaction() as cursor:
            for job_id in job_ids:
                cursor.execute(
                    f"UPDATE mh_jobs SET {assignments}"  # noqa: S608 - constants only
                    f" WHERE job_id = ? AND claim_token = ?{also_where}",
                    (*values, job_id, token),
                )

    def unfinished(self, now: datetime, *, exclude: Collection[str] = ()) -> int:
        """Jobs due by ``now`` and not done (but those of the ``exclude`` kinds)."""
        with self.database.transaction() as cursor:
            cursor.execute(
                "SELECT COUNT(*) FROM mh_jobs"  # noqa: S608 - placeholders only
                f" WHERE done_at IS NULL AND due_at <= ?{_not_in(exclude)}",
                (iso(now), *exclude),
            )
            row = cursor.fetchone()
        return int(row[0]) if row else 0

    def correlated(self, correlation_id: UUID) -> list[JobRecord]:
        """The jobs a command's events started (``mailhost audit trace``), in log order."""
        with self.database.transaction() as cursor:
            cursor.execute(
                "SELECT job_id, actor, args, due_at, done_at, attempts, position,"
                " last_error FROM mh_jobs WHERE correlation_id = ?"
                " ORDER BY position, job_id",
                (str(correlation_id),),
            )
            rows = cursor.fetchall()
        return [
            JobRecord(
                str(r[0]),
                str(r[1]),
                tuple(json.loads(str(r[2]))),
                datetime.fromisoformat(str(r[3])),
                None if r[4] is None else datetime.fromisoformat(str(r[4])),
                int(r[5]),
                int(r[6]),
                None if r[7] is None else str(r[7]),
            )
            for r in rows
        ]

    def attempts(self, job_id: str) -> int:
        with self.database.transaction() as cursor:
            cursor.execute("SELECT attempts FROM mh_jobs WHERE job_id = ?", (job_id,))
            row = cursor.fetchone()
        return 0 if row is None else int(row[0])


def scheduled(row: tuple[object, ...]) -> Scheduled:
    return Scheduled(
        str(row[0]),
        str(row[1]),
        tuple(json.loads(str(row[2]))),
        datetime.fromisoformat(str(row[3])),
        None if row[4] is None else UUID(str(row[4])),
        int(str(row[5])),
    )


def _not_in(kinds: Collection[str]) -> str:
    """A condition leaving out jobs of ``kinds``: one placeholder per kind."""
    if not kinds:
        return ""
    return f" AND actor NOT IN ({', '.join('?' * len(kinds))})"
