"""Import progress per job, per user and per destination (messages, bytes, rate, ETA).

A row per job holds the totals the users see, and the per-source, per-folder counts
they are summed from (as JSON), so every event updates the row from the event alone and
a rebuild from the log gives the same rows. The destination's users are followed here
too (their mailbox's assignments), so "my imports" includes those into an address a
user shares, whoever requested them.

``mh_import_folder_states`` keeps, per destination, source identity (host, port, user
as ``SourceRef.identity``) and source folder, the two folder states of the last
``FolderFinished`` that carried them: a later import of the same source into the same
address skips a folder whose states are unchanged (``application.importcopy``). A
finish without states removes the row, so a stale state is never offered.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from eventsourcing.utils import get_topic

from application.importports import FolderState, ImportProgress, SourceProgress
from domain.importjob import ImportJob
from domain.mailbox import Mailbox
from projections.storage import Cursor, Database

EVENTS = (
    Mailbox.Created,
    Mailbox.UserAssigned,
    Mailbox.UserUnassigned,
    ImportJob.Requested,
    ImportJob.Started,
    ImportJob.Surveyed,
    ImportJob.Progressed,
    ImportJob.FolderFinished,
    ImportJob.SourceFailed,
    ImportJob.Completed,
    ImportJob.Failed,
    ImportJob.Cancelled,
)
_ENDS = {
    ImportJob.Completed: "completed",
    ImportJob.Failed: "failed",
    ImportJob.Cancelled: "cancelled",
}
_COLUMNS = (
    "job_id, destination, mailbox_id, requested_by, state, requested_at, started_at,"
    " updated_at, finished_at, reason, current_folder, detail"
)


def _iso(at: datetime) -> str:
    return at.astimezone(UTC).isoformat(timespec="microseconds")


def _instant(text: object) -> datetime | None:
    return None if text is None else datetime.fromisoformat(str(text)).astimezone(UTC)


class ImportViews:
    name = "import_views"
    tables: tuple[str, ...] = (
        "mh_imports",
        "mh_import_users",
        "mh_import_folder_states",
    )
    topics: tuple[str, ...] = tuple(get_topic(cls) for cls in EVENTS)
    schema: tuple[str, ...] = (
        (
            "CREATE TABLE IF NOT EXISTS mh_imports (job_id TEXT PRIMARY KEY,"
            " destination TEXT NOT NULL, mailbox_id TEXT NOT NULL, requested_by TEXT,"
            " state TEXT NOT NULL, requested_at TEXT NOT NULL, started_at TEXT,"
            " updated_at TEXT, finished_at TEXT, reason TEXT, current_folder TEXT,"
            " detail TEXT NOT NULL, position BIGINT NOT NULL)"
        ),
        "CREATE INDEX IF NOT EXISTS mh_imports_by_mailbox ON mh_imports (mailbox_id)",
        "CREATE INDEX IF NOT EXISTS mh_imports_by_user ON mh_imports (requested_by)",
        (
            "CREATE TABLE IF NOT EXISTS mh_import_users (mailbox_id TEXT NOT NULL,"
            " account_id TEXT NOT NULL, PRIMARY KEY (mailbox_id, account_id))"
        ),
        (
            "CREATE TABLE IF NOT EXISTS mh_import_folder_states (destination TEXT"
            " NOT NULL, source TEXT NOT NULL, folder TEXT NOT NULL, source_state TEXT"
            " NOT NULL, destination_folder TEXT NOT NULL, destination_state TEXT"
            " NOT NULL, PRIMARY KEY (destination, source, folder))"
        ),
    )

    def process(self, event: object, position: int, cursor: Cursor) -> None:
        if isinstance(event, Mailbox.Event):
            _follow_users(event, cursor)
            return
        if isinstance(event, ImportJob.Requested):
            detail: dict[str, Any] = {
                "sources": [
                    {
                        "label": ref.label,
                        "identity": source_key(ref.identity),
                        "surveyed": {},
                        "folders": {},
                        "reason": None,
                    }
                    for ref in event.sources
                ]
            }
            cursor.execute(
                "INSERT INTO mh_imports (job_id, destination, mailbox_id, requested_by,"
                " state, requested_at, detail, position) VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
                " ON CONFLICT (job_id) DO NOTHING",
                (
                    str(event.originator_id),
                    event.destination,
                    str(event.mailbox_id),
                    None if event.requested_by is None else str(event.requested_by),
                    "requested",
                    _iso(event.timestamp),
                    json.dumps(detail),
                    position,
                ),
            )
            return
        if isinstance(event, ImportJob.Event):
            _update(event, cursor)
        if isinstance(event, ImportJob.FolderFinished):
            _record_states(event, cursor)


def source_key(identity: tuple[str, int, str]) -> str:
    """A source identity as the folder-state rows name it."""
    return json.dumps(list(identity), ensure_ascii=False)


def _record_states(event: ImportJob.FolderFinished, cursor: Cursor) -> None:
    cursor.execute(
        "SELECT destination, detail FROM mh_imports WHERE job_id = ?",
        (str(event.originator_id),),
    )
    row = cursor.fetchone()
    if row is None:
        return
    sources: list[dict[str, Any]] = json.loads(str(row[1]))["sources"]
    source = sources[event.source_index].get("identity")
    if source is None:
        return
    key = (str(row[0]), str(source), event.folder)
    if event.source_state is None or event.destination_state is None:
        cursor.execute(
            "DELETE FROM mh_import_folder_states WHERE destination = ? AND source = ?"
            " AND folder = ?",
            key,
        )
        return
    cursor.execute(
        "INSERT INTO mh_import_folder_states (destination, source, folder,"
        " source_state, destination_folder, destination_state)"
        " VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (destination, source, folder)"
        " DO UPDATE SET source_state = excluded.source_state,"
        " destination_folder = excluded.destination_folder,"
        " destination_state = excluded.destination_state",
        (
            *key,
            event.source_state,
            event.result.destination_folder,
            event.destination_state,
        ),
    )


def _follow_users(event: Mailbox.Event, cursor: Cursor) -> None:
    mailbox = str(event.originator_id)
    match event:
        case Mailbox.Created(users=users):
            for user in users:
                _add_user(cursor, mailbox, user)
        case Mailbox.UserAssigned(user_id=user):
            _add_user(cursor, mailbox, user)
        case Mailbox.UserUnassigned(user_id=user):
            cursor.execute(
                "DELETE FROM mh_import_users WHERE mailbox_id = ? AND account_id = ?",
                (mailbox, str(user)),
            )


def _add_user(cursor: Cursor, mailbox: str, user: UUID) -> None:
    cursor.execute(
        "INSERT INTO mh_import_users (mailbox_id, account_id) VALUES (?, ?)"
        " ON CONFLICT DO NOTHING",
        (mailbox, str(user)),
    )


def _update(event: ImportJob.Event, cursor: Cursor) -> None:
    job = str(event.originator_id)
    cursor.execute(
        "SELECT state, started_at, finished_at, reason, current_folder, detail"
        " FROM mh_imports WHERE job_id = ?",
        (job,),
    )
    row = cursor.fetchone()
    if row is None:
        return
    state, started, finished, reason, current = row[0], row[1], row[2], row[3], row[4]
    detail: dict[str, Any] = json.loads(str(row[5]))
    at = _iso(event.timestamp)
    sources: list[dict[str, Any]] = detail["sources"]
    match event:
        case ImportJob.Started():
            state, started = "running", at
        case ImportJob.Surveyed(source_index=i, folders=folders):
            sources[i]["surveyed"] = {f.name: [f.messages, f.size] for f in folders}
        case ImportJob.Progressed(source_index=i, folder=folder, counts=c):
            sources[i]["folders"][folder] = [c.copied, c.skipped, c.failed, c.size]
            current = folder
        case ImportJob.FolderFinished(source_index=i, folder=folder, result=r):
            c = r.counts
            sources[i]["folders"][folder] = [c.copied, c.skipped, c.failed, c.size]
            current = None if current == folder else current
        case ImportJob.SourceFailed(source_index=i, reason=why):
            sources[i]["reason"] = why.value
        case ImportJob.Failed(reason=why):
            reason = why.value
        case ImportJob.Cancelled():
            reason = "cancelled"
    end = _ENDS.get(type(event))
    if end is not None:
        state, finished, current = end, at, None
    cursor.execute(
        "UPDATE mh_imports SET state = ?, started_at = ?, updated_at = ?,"
        " finished_at = ?, reason = ?, current_folder = ?, detail = ? WHERE job_id = ?",
        (state, started, at, finished, reason, current, json.dumps(detail), job),
    )


def _progress(row: tuple[Any, ...]) -> ImportProgress:
    detail: dict[str, Any] = json.loads(str(row[11]))
    shown: list[SourceProgress] = []
    totals = [
        0,
        0,
        0,
        0,
        0,
        0,
    ]  # messages, bytes (surveyed); copied, skipped, failed, size
    for source in detail["sources"]:
        counts = [sum(f[n] for f in source["folders"].values()) for n in range(4)]
        totals[0] += sum(m for m, _ in source["surveyed"].values())
        totals[1] += sum(s for _, s in source["surveyed"].values())
        for n in range(4):
            totals[2 + n] += counts[n]
        shown.append(
            SourceProgress(
                label=source["label"],
                copied=counts[0],
                skipped=counts[1],
                failed=counts[2],
                reason=source["reason"],
            )
        )
    requested_at = _instant(row[5])
    assert requested_at is not None  # noqa: S101 - the column is NOT NULL
    return ImportProgress(
        job_id=UUID(str(row[0])),
        destination=str(row[1]),
        state=str(row[4]),
        requested_at=requested_at,
        messages_done=totals[2] + totals[3] + totals[4],
        messages_total=totals[0],
        bytes_done=totals[5],
        bytes_total=totals[1],
        copied=totals[2],
        skipped=totals[3],
        failed=totals[4],
        current_folder=None if row[10] is None else str(row[10]),
        started_at=_instant(row[6]),
        updated_at=_instant(row[7]),
        finished_at=_instant(row[8]),
        reason=None if row[9] is None else str(row[9]),
        sources=tuple(shown),
    )


class SqlImportQueries:
    """``ImportQueries``; ``catch_up``, when given, brings this view up to the log
    before ``folder_states`` answers, so an import run right after another one (before
    any background runner went by) still finds the states it left."""

    def __init__(
        self, database: Database, *, catch_up: Callable[[], object] | None = None
    ) -> None:
        self.database = database
        self.catch_up = catch_up

    def _rows(self, where: str, params: tuple[object, ...]) -> list[ImportProgress]:
        with self.database.transaction() as cursor:
            cursor.execute(
                f"SELECT {_COLUMNS} FROM mh_imports WHERE {where}"  # noqa: S608 - constants
                " ORDER BY position DESC LIMIT 200",
                params,
            )
            rows = cursor.fetchall()
        return [_progress(tuple(r)) for r in rows]

    def progress(self, job_id: UUID) -> ImportProgress | None:
        found = self._rows("job_id = ?", (str(job_id),))
        return found[0] if found else None

    def for_user(self, user_id: UUID) -> list[ImportProgress]:
        return self._rows(
            "requested_by = ? OR mailbox_id IN"
            " (SELECT mailbox_id FROM mh_import_users WHERE account_id = ?)",
            (str(user_id), str(user_id)),
        )

    def for_destination(self, address: str) -> list[ImportProgress]:
        return self._rows("destination = ?", (address,))

    def recent(self, limit: int) -> list[ImportProgress]:
        return self._rows("1 = 1", ())[:limit]

    def folder_states(
        self, destination: str, source: tuple[str, int, str]
    ) -> dict[str, FolderState]:
        if self.catch_up is not None:
            self.catch_up()
        with self.database.transaction() as cursor:
            cursor.execute(
                "SELECT folder, source_state, destination_folder, destination_state"
                " FROM mh_import_folder_states WHERE destination = ? AND source = ?",
                (destination, source_key(source)),
            )
            rows = cursor.fetchall()
        return {str(r[0]): FolderState(str(r[1]), str(r[2]), str(r[3])) for r in rows}
