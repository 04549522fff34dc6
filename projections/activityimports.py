"""The imports in the recent activity of the destination's users (started, ended).

Kept in tables of their own beside ``mh_activity`` (one line per user of the address
for one event, where ``mh_activity`` keys a line by the event alone); ``recent`` reads
both. The mailbox's users and each job's destination are followed from the log here, so
a rebuild gives the same lines.
"""

from __future__ import annotations

from uuid import UUID

from domain.importjob import ImportJob
from domain.mailbox import Mailbox
from projections.storage import Cursor


def process(
    event: Mailbox.Event | ImportJob.Event, position: int, cursor: Cursor
) -> None:
    match event:
        case Mailbox.Created(users=users):
            for user in users:
                _add_user(cursor, event.originator_id, user)
        case Mailbox.UserAssigned(user_id=user):
            _add_user(cursor, event.originator_id, user)
        case Mailbox.UserUnassigned(user_id=user):
            cursor.execute(
                "DELETE FROM mh_activity_mailbox_users"
                " WHERE mailbox_id = ? AND account_id = ?",
                (str(event.originator_id), str(user)),
            )
        case ImportJob.Requested(mailbox_id=mailbox_id, destination=destination):
            cursor.execute(
                "INSERT INTO mh_activity_import_jobs (job_id, mailbox_id, destination)"
                " VALUES (?, ?, ?) ON CONFLICT (job_id) DO NOTHING",
                (str(event.originator_id), str(mailbox_id), destination),
            )
        case ImportJob.Started():
            _entry(cursor, event, position, "import started", "")
        case ImportJob.Completed():
            _entry(cursor, event, position, "import completed", "")
        case ImportJob.Failed(reason=reason):
            _entry(cursor, event, position, "import failed", reason.text)


def _add_user(cursor: Cursor, mailbox_id: UUID, user: UUID) -> None:
    cursor.execute(
        "INSERT INTO mh_activity_mailbox_users (mailbox_id, account_id) VALUES (?, ?)"
        " ON CONFLICT DO NOTHING",
        (str(mailbox_id), str(user)),
    )


def _entry(
    cursor: Cursor, event: ImportJob.Event, position: int, outcome: str, why: str
) -> None:
    """One line per current user of the destination; the detail names the address."""
    cursor.execute(
        "SELECT j.destination, u.account_id FROM mh_activity_import_jobs j"
        " JOIN mh_activity_mailbox_users u ON u.mailbox_id = j.mailbox_id"
        " WHERE j.job_id = ? ORDER BY u.account_id",
        (str(event.originator_id),),
    )
    for destination, account_id in cursor.fetchall():
        detail = f"into {destination}" + (f": {why}" if why else "")
        cursor.execute(
            "INSERT INTO mh_activity_imports (position, account_id, at, kind, outcome,"
            " detail) VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
            (
                position,
                str(account_id),
                event.timestamp.isoformat(),
                "import",
                outcome,
                detail,
            ),
        )
