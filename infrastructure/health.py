"""What an operator watches: projection lag, the job backlog, import progress.

One reading, two readers: ``mailhost health`` turns it into an exit status for a
container or systemd check, and the metrics endpoint into gauges at each scrape, so the
two never disagree about what "behind" means.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime

from attrs import frozen

from projections.runner import Projection, ProjectionRunner
from projections.storage import Database

# Counting unapplied events stops here: past it the number says "far behind" already,
# and a health check must stay cheap when it matters most.
LAG_CAP = 10_000


@frozen
class Lag:
    projection: str
    events: int  # relevant events not yet applied (at most LAG_CAP)
    seconds: float  # age of the oldest of them; 0 when caught up


@frozen
class Backlog:
    due: int  # due, and nobody holds them
    in_flight: int  # handed over or claimed, lease running
    failed: int  # not done, and the last attempt failed
    retried: int  # not done, attempted more than once
    oldest_seconds: float  # age of the oldest due job not done; 0 when none


@frozen
class ImportCounts:
    state: str
    jobs: int


def lags(runner: ProjectionRunner) -> list[Lag]:
    head = runner.log_position()
    return [_lag(runner, projection, head) for projection in runner.projections]


def _lag(runner: ProjectionRunner, projection: Projection, head: int) -> Lag:
    position = runner.position(projection)
    if position >= head:
        return Lag(projection.name, 0, 0.0)
    pending = runner.log.recorder.select_notifications(
        start=position,
        limit=LAG_CAP,
        stop=head,
        topics=projection.topics,
        inclusive_of_start=False,
    )
    if not pending:
        return Lag(projection.name, 0, 0.0)
    oldest = runner.log.mapper.to_domain_event(pending[0])
    at = getattr(oldest, "timestamp", None)
    seconds = (
        max(0.0, (datetime.now(UTC) - at).total_seconds())
        if isinstance(at, datetime)
        else 0.0
    )
    return Lag(projection.name, len(pending), seconds)


def backlog(database: Database, now: datetime | None = None) -> Backlog:
    """The job table as the relays and workers see it (leases on the wall clock)."""
    now = now or datetime.now(UTC)
    iso = now.astimezone(UTC).isoformat(timespec="microseconds")
    wall = time.time()
    with database.transaction() as cursor:
        cursor.execute(
            "SELECT"
            " SUM(CASE WHEN due_at <= ? AND (handed_until IS NULL OR handed_until <= ?)"
            "  AND (claimed_until IS NULL OR claimed_until <= ?) THEN 1 ELSE 0 END),"
            " SUM(CASE WHEN handed_until > ? OR claimed_until > ? THEN 1 ELSE 0 END),"
            " SUM(CASE WHEN last_error IS NOT NULL THEN 1 ELSE 0 END),"
            " SUM(CASE WHEN attempts > 1 THEN 1 ELSE 0 END),"
            " MIN(CASE WHEN due_at <= ? THEN due_at END)"
            " FROM mh_jobs WHERE done_at IS NULL",
            (iso, wall, wall, wall, wall, iso),
        )
        row = cursor.fetchone() or (None,) * 5
    oldest = (
        (now - datetime.fromisoformat(str(row[4]))).total_seconds() if row[4] else 0.0
    )
    return Backlog(
        due=int(row[0] or 0),
        in_flight=int(row[1] or 0),
        failed=int(row[2] or 0),
        retried=int(row[3] or 0),
        oldest_seconds=max(0.0, oldest),
    )


def imports(database: Database) -> list[ImportCounts]:
    """Import jobs per state (requested, running, completed, ...) from the read model."""
    with database.transaction() as cursor:
        cursor.execute("SELECT state, COUNT(*) FROM mh_imports GROUP BY state")
        return [ImportCounts(str(r[0]), int(r[1])) for r in cursor.fetchall()]
