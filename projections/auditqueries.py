"""The audit read models' answers, as ``application.auditports.AuditQueries`` asks."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from application.auditports import (
    AuditEntry,
    Count,
    CountedBy,
    JobEntry,
    TimelineQuery,
)
from projections.storage import Cursor, Database

_COLUMNS = (
    "SELECT position, aggregate_id, version, kind, at, actor, correlation, causation"
    " FROM mh_audit_events"
)
# Bounded IN lists: SQLite allows 32,766 parameters, PostgreSQL 65,535.
CHUNK = 500


def _entry(row: tuple[Any, ...]) -> AuditEntry:
    return AuditEntry(
        position=int(row[0]),
        aggregate_id=UUID(str(row[1])),
        version=int(row[2]),
        kind=str(row[3]),
        at=datetime.fromisoformat(str(row[4])),
        actor=str(row[5]),
        correlation=None if row[6] is None else str(row[6]),
        causation=None if row[7] is None else int(row[7]),
    )


def _iso(at: datetime) -> str:
    return at.astimezone(UTC).isoformat(timespec="microseconds")


def _in_chunks(
    cursor: Cursor, sql: str, values: Sequence[Any], tail: str = ""
) -> list[tuple[Any, ...]]:
    """``sql`` + ``IN (...)`` over ``values`` in bounded chunks; rows of them all."""
    rows: list[tuple[Any, ...]] = []
    for start in range(0, len(values), CHUNK):
        chunk = list(values[start : start + CHUNK])
        marks = ", ".join("?" * len(chunk))
        cursor.execute(f"{sql} IN ({marks}){tail}", chunk)
        rows.extend(cursor.fetchall())
    return rows


class SqlAuditQueries:
    def __init__(self, database: Database) -> None:
        self.database = database

    def entries(self, positions: Sequence[int]) -> list[AuditEntry]:
        with self.database.transaction() as cursor:
            rows = _in_chunks(cursor, f"{_COLUMNS} WHERE position", positions)
        return sorted(map(_entry, rows), key=lambda e: e.position)

    def of_aggregates(self, aggregate_ids: Sequence[UUID]) -> list[AuditEntry]:
        with self.database.transaction() as cursor:
            rows = _in_chunks(
                cursor,
                f"{_COLUMNS} WHERE aggregate_id",
                [str(a) for a in aggregate_ids],
            )
        return sorted(map(_entry, rows), key=lambda e: e.position)

    def correlated(self, correlation: UUID) -> list[AuditEntry]:
        with self.database.transaction() as cursor:
            cursor.execute(
                f"{_COLUMNS} WHERE correlation = ? ORDER BY position",
                (str(correlation),),
            )
            return [_entry(r) for r in cursor.fetchall()]

    def timeline(self, query: TimelineQuery) -> list[AuditEntry]:
        ids = [str(a) for a in query.aggregate_ids]
        marks = ", ".join("?" * len(ids)) or "NULL"
        where = [
            (
                f"(aggregate_id IN ({marks}) OR actor = ? OR position IN"  # noqa: S608 - placeholders only
                " (SELECT position FROM mh_audit_subjects WHERE subject = ?))"
            )
        ]
        params: list[Any] = [*ids, query.actor or "", query.subject]
        if query.since is not None:
            where.append("at >= ?")
            params.append(_iso(query.since))
        if query.until is not None:
            where.append("at <= ?")
            params.append(_iso(query.until))
        with self.database.transaction() as cursor:
            cursor.execute(
                f"{_COLUMNS} WHERE {' AND '.join(where)} ORDER BY position",
                params,
            )
            return [_entry(r) for r in cursor.fetchall()]

    def linked(self, subject: str, first_kind: str) -> list[UUID]:
        with self.database.transaction() as cursor:
            cursor.execute(
                "SELECT l.aggregate_id FROM mh_audit_links l JOIN mh_audit_events e"
                " ON e.aggregate_id = l.aggregate_id AND e.version = 1"
                " WHERE l.subject = ? AND e.kind = ? ORDER BY e.position",
                (subject, first_kind),
            )
            return [UUID(str(r[0])) for r in cursor.fetchall()]

    def jobs(self, positions: Sequence[int]) -> list[JobEntry]:
        with self.database.transaction() as cursor:
            rows = _in_chunks(
                cursor,
                "SELECT job_id, actor, position, due_at, done_at, attempts, last_error"
                " FROM mh_jobs WHERE position",
                positions,
            )
        jobs = [
            JobEntry(
                str(r[0]),
                str(r[1]),
                int(r[2]),
                str(r[3]),
                None if r[4] is None else str(r[4]),
                int(r[5]),
                None if r[6] is None else str(r[6]),
            )
            for r in rows
        ]
        return sorted(jobs, key=lambda j: (j.position, j.job_id))

    def counts(self, by: CountedBy) -> list[Count]:
        column = {"actor": "actor", "day": "day", "kind": "kind"}[by]
        with self.database.transaction() as cursor:
            cursor.execute(
                f"SELECT {column}, SUM(events) FROM mh_audit_counts"  # noqa: S608 - a column of ours
                f" GROUP BY {column} ORDER BY {column}"
            )
            return [Count(str(r[0]), int(r[1])) for r in cursor.fetchall()]

    def admin_actions(self, organisation_id: UUID, limit: int) -> list[AuditEntry]:
        with self.database.transaction() as cursor:
            cursor.execute(
                f"{_COLUMNS} WHERE organisation_id = ? AND admin = 1"
                " ORDER BY position DESC LIMIT ?",
                (str(organisation_id), limit),
            )
            return [_entry(r) for r in cursor.fetchall()]
