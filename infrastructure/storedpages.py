"""The log's stored events a page at a time, for one pass over the whole log (a rebuild).

eventsourcing's ``select_notifications`` on SQLite reads each row as an
``sqlite3.Row`` and makes a ``UUID`` of each event's originator id from its text: on a
page of thousands of events of a few hundred aggregates, most of a page's reading. A
whole-log pass reads plain rows here, with the recorder's own statement, and makes each
aggregate's id once for the pass: the same notifications, in the same order.

Anything else reads as the recorder reads: PostgreSQL (whose driver hands out ids as
``UUID`` already), and a SQLite log that keeps its ids as text.
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import closing
from pathlib import Path
from uuid import UUID

from eventsourcing.persistence import ApplicationRecorder, Notification

from infrastructure.settings import Settings
from infrastructure.sql import read_only

MAX_IDS = 100_000
COLUMNS = "rowid, originator_id, originator_version, topic, state"


class StoredPages:
    """``projections.auditrebuild.PageSource`` over the recorder's SQLite file."""

    def __init__(self, recorder: ApplicationRecorder, events_file: Path | None) -> None:
        self.recorder = recorder
        table = getattr(recorder, "events_table_name", None)
        datastore = getattr(recorder, "datastore", None)
        uuid_ids = getattr(datastore, "originator_id_type", None) == "uuid"
        # Read-only: a rebuild's pass never writes to the log. Only a file on disk can be
        # opened by path (not ``:memory:`` or a ``file:`` URI): the rest is the recorder's.
        self.file: Path | None = None
        if events_file is not None and events_file.is_file() and table and uuid_ids:
            self.file = events_file.absolute()
        self.table = table
        self.ids: dict[str, UUID] = {}

    @classmethod
    def of(cls, recorder: ApplicationRecorder, settings: Settings) -> StoredPages:
        return cls(recorder, None if settings.uses_postgres else settings.events_file)

    def __call__(
        self, after: int, limit: int, topics: Sequence[str]
    ) -> Sequence[Notification]:
        if self.file is None:
            return self.recorder.select_notifications(
                start=after, limit=limit, topics=topics, inclusive_of_start=False
            )
        statement = f"SELECT {COLUMNS} FROM {self.table} WHERE rowid>? "  # noqa: S608 - the recorder's own table
        if topics:
            statement += f"AND topic IN ({','.join('?' * len(topics))}) "
        statement += "ORDER BY rowid LIMIT ?"
        with closing(read_only(self.file)) as connection:
            rows = connection.execute(statement, (after, *topics, limit)).fetchall()
        ids = self.ids
        if len(ids) > MAX_IDS:
            ids.clear()
        page: list[Notification] = []
        for position, originator, version, topic, state in rows:
            originator_id = ids.get(originator)
            if originator_id is None:
                originator_id = ids[originator] = UUID(originator)
            # By position, in the dataclass's order of fields: a page makes thousands.
            page.append(Notification(originator_id, version, topic, state, position))
        return page
