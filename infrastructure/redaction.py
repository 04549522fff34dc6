"""After a forget: rebuild what was derived from a person's data, and scrub the freed bytes.

The read models were written while the person's data could be read; rebuilt from the
log now, their fields read as forgotten. Deleted rows leave their bytes in free pages
(SQLite) or dead tuples (PostgreSQL), so each store is then compacted: SQLite with
``secure_delete``, ``VACUUM`` and a truncating WAL checkpoint, PostgreSQL with ``VACUUM
FULL`` of the touched tables. The person's snapshots (sealed under the deleted key, so
unreadable now) are deleted too: the account replays from its events instead.

The credential store is compacted too: forgetting deleted the person's unfinished
sign-ins from ``mh_secrets`` (application.loginflow), whose rows held where they came
from in plain.

The job schedule is never rebuilt (a rebuild would run every job again); its rows hold
ids, not personal data.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any
from uuid import UUID

from eventsourcing.utils import get_topic

from application.log import MailHostLog
from infrastructure.personaldata import PERSONAL
from infrastructure.sql import Database, PostgresDatabase, SqliteDatabase
from projections.jobs import JobSchedule
from projections.runner import Projection, ProjectionRunner

PERSONAL_TOPICS = frozenset(get_topic(cls) for cls in PERSONAL)
NEVER_REBUILT = frozenset({JobSchedule.name})
# Where forgetting deletes rows of the credential store: the keys, the sign-ins.
SECRET_TABLES = ("mh_person_keys", "mh_secrets")


def touched(projection: Projection) -> bool:
    """Whether a projection reads any event with personal fields (all, when unfiltered)."""
    if projection.name in NEVER_REBUILT:
        return False
    return not projection.topics or bool(PERSONAL_TOPICS & set(projection.topics))


class ReadModelRedaction:
    def __init__(
        self, log: MailHostLog, runner: ProjectionRunner, stores: Iterable[Database]
    ) -> None:
        self.log = log
        self.runner = runner
        self.stores = tuple(stores)

    def redact(self, subjects: tuple[UUID, ...]) -> None:
        self._forget_cached(subjects)
        tables = [*SECRET_TABLES, *self._delete_snapshots(subjects)]
        secure_delete(self.runner.database)
        for projection in self.runner.projections:
            if touched(projection):
                self.runner.rebuild(projection)
                tables.extend(projection.tables)
        for store in self.stores:
            scrub(store, tables)

    def _forget_cached(self, subjects: tuple[UUID, ...]) -> None:
        cache = getattr(self.log.repository, "cache", None)
        if cache is None:
            return
        for subject in subjects:
            try:
                cache.get(subject, evict=True)
            except KeyError:
                continue

    def _delete_snapshots(self, subjects: tuple[UUID, ...]) -> list[str]:
        """Delete the subjects' snapshots; the table, to compact on PostgreSQL."""
        snapshots = self.log.snapshots
        if snapshots is None:
            return []
        recorder: Any = snapshots.recorder
        table = recorder.events_table_name
        mark = "%s" if isinstance(self.runner.database, PostgresDatabase) else "?"
        with recorder.datastore.transaction(commit=True) as cursor:
            for subject in subjects:
                cursor.execute(
                    f"DELETE FROM {table} WHERE originator_id = {mark}",  # noqa: S608 - the library's own table name
                    (subject if mark == "%s" else str(subject),),
                )
        return [table] if mark == "%s" else []


def secure_delete(database: object) -> None:
    """Deletes on this thread's connection overwrite the freed bytes (SQLite)."""
    if isinstance(database, SqliteDatabase):
        with database.transaction() as cursor:
            cursor.execute("PRAGMA secure_delete = ON")


def scrub(database: Database, tables: Iterable[str]) -> None:
    """Compact a store so no deleted row's bytes remain in it."""
    database.compact(tables)
