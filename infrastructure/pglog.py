"""eventsourcing's PostgreSQL persistence, with its start-up DDL serialised across processes.

eventsourcing creates its tables at start-up with ``CREATE TABLE IF NOT EXISTS`` and
``CREATE OR REPLACE FUNCTION``. Neither is safe when two processes run them at once on
one database: PostgreSQL answers ``tuple concurrently updated`` (two replaces of one
``pg_proc`` row) or a unique violation on ``pg_type`` (two creates of one table), and the
losing process fails to start. A session advisory lock, held on a connection of its own
while a recorder creates its tables, makes the second process wait and then find
everything in place.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import psycopg
from eventsourcing.persistence import (
    AggregateRecorder,
    ApplicationRecorder,
    ProcessRecorder,
)
from eventsourcing.postgres import PostgresFactory, TPostgresTrackingRecorder

# Advisory locks are per database; any fixed number the engine alone uses will do.
# ensure_schema (infrastructure.sql) uses another, so the two never wait on each other.
EVENT_SCHEMA_LOCK = 0x6D68_6576_656E_7473  # "mhevents"


class SerialisedPostgresFactory(PostgresFactory):
    """``PostgresFactory`` whose recorders create their tables one process at a time."""

    def aggregate_recorder(self, purpose: str = "events") -> AggregateRecorder:
        with self._schema_lock():
            return super().aggregate_recorder(purpose)

    def application_recorder(self) -> ApplicationRecorder:
        with self._schema_lock():
            return super().application_recorder()

    def tracking_recorder(
        self, tracking_recorder_class: type[TPostgresTrackingRecorder] | None = None
    ) -> TPostgresTrackingRecorder:
        with self._schema_lock():
            return super().tracking_recorder(tracking_recorder_class)

    def process_recorder(self) -> ProcessRecorder:
        with self._schema_lock():
            return super().process_recorder()

    @contextmanager
    def _schema_lock(self) -> Iterator[None]:
        """A connection outside the pool: the pool may hold a single connection."""
        if not self.env_create_table():
            yield
            return
        pool = self.datastore.pool
        given = pool.kwargs() if callable(pool.kwargs) else pool.kwargs
        kwargs: dict[str, Any] = {
            k: v for k, v in (given or {}).items() if k != "row_factory"
        }
        if pool.get_password_func is not None:
            kwargs["password"] = pool.get_password_func()
        with psycopg.connect(
            autocommit=True, connect_timeout=max(1, int(pool.timeout)), **kwargs
        ) as connection:
            connection.execute("SELECT pg_advisory_lock(%s)", (EVENT_SCHEMA_LOCK,))
            try:
                yield
            finally:
                connection.execute(
                    "SELECT pg_advisory_unlock(%s)", (EVENT_SCHEMA_LOCK,)
                )
