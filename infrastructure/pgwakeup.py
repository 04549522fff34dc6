"""Waking a follower on PostgreSQL's LISTEN/NOTIFY instead of a fixed poll.

eventsourcing's recorder sends ``NOTIFY`` on its events table's channel in every insert
transaction; a follower that LISTENs on the channel steps as soon as the commit is
visible rather than on its next poll. The follower still steps after its
timeout without a notification (jobs due later, retries, a notification missed while
the connection was down), so a lost wake-up only costs that timeout.

The connection is one of eventsourcing's pooled ones, held for the process's life; on
an error it goes back (the pool drops a broken one) and the next wait listens again.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from contextlib import ExitStack
from typing import Any

import psycopg
from eventsourcing.persistence import PersistenceError
from eventsourcing.postgres import PostgresApplicationRecorder
from psycopg import sql

log = logging.getLogger(__name__)


class PgWakeup:
    """Blocks until a NOTIFY on one of ``channels``, or the timeout."""

    def __init__(
        self,
        recorder: PostgresApplicationRecorder,
        channels: Sequence[str],
        *,
        gather: float = 0.0,
    ) -> None:
        self.recorder = recorder
        self.channels = tuple(channels)
        # Seconds to wait after a notification for more before waking (see run.py).
        self.gather = gather
        self._held = ExitStack()
        self._connection: psycopg.Connection[Any] | None = None

    def wait(self, timeout: float) -> None:
        started = time.monotonic()
        try:
            connection = self._listening()
            if list(connection.notifies(timeout=timeout, stop_after=1)):
                # One step serves every commit so far: read the rest, and those that
                # come while gathering, then wake.
                list(connection.notifies(timeout=self.gather))
        except (psycopg.Error, PersistenceError) as e:
            log.debug("wake-up channel lost (%s); polling meanwhile", type(e).__name__)
            self.close()
            time.sleep(max(0.0, timeout - (time.monotonic() - started)))

    def _listening(self) -> psycopg.Connection[Any]:
        if self._connection is None:
            connection = self._held.enter_context(
                self.recorder.datastore.get_connection()
            )
            for name in self.channels:
                connection.execute(sql.SQL("LISTEN {}").format(sql.Identifier(name)))
            self._connection = connection
        return self._connection

    def close(self) -> None:
        """Stop listening and give the connection back."""
        connection, self._connection = self._connection, None
        if connection is not None and not connection.closed:
            try:
                connection.execute("UNLISTEN *")
            except psycopg.Error:
                connection.close()  # the pool replaces it
        held, self._held = self._held, ExitStack()
        try:
            held.close()
        except (psycopg.Error, PersistenceError):
            log.debug("the wake-up connection was already broken")
