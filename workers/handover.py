"""The relay's own job schedule: a due job is marked handed over as its row is written.

A relay that keeps the schedule itself (``mailhost run relay``) writes a new job's row
already handed over to it (``handed_until``, the hand-over lease) in the same
transaction as the rows and the schedule's position, and hands the job to the broker
once that commits. The job's way from its event to Redis is then one transaction, not
that one and a hand-over's after it. The guarantee is the hand-over's: a relay killed
between the commit and the broker leaves the job handed over until the lease runs out,
then any relay hands it over again; a rolled-back batch marked nothing. A relay whose
send fails (Redis stopped after the commit) gives the marks of the jobs it did not send
back (``JobTable.give_back``), so they go at the next hand-over once Redis is back.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from application.ports import Clock
from projections.jobs import (
    COLUMNS,
    NEW_ONLY,
    ROW,
    JobSchedule,
    Scheduled,
    iso,
    job_rows,
    scheduled,
)
from projections.runner import Items
from projections.storage import Cursor, insert_rows

# A job handed over, and the end of the hand-over lease its row was marked with.
Handed = tuple[Scheduled, float]


class HandingOverSchedule(JobSchedule):
    """The job schedule whose new due jobs are this relay's to hand over (``take``)."""

    def __init__(
        self, clock: Clock, lease: float, wall: Callable[[], float] = time.time
    ) -> None:
        self.clock = clock
        self.lease = lease
        self.wall = wall
        self._batch: list[Handed] = []  # the batch being written
        self._handed: list[Handed] = []  # those of committed batches

    def process_many(self, items: Items, cursor: Cursor) -> None:
        """As the schedule writes them, but a job due now is written handed over.

        A job another event started before keeps its row and is not returned
        (``DO NOTHING``): whoever wrote that row hands it over.
        """
        self._batch = []  # a batch before this one committed (``committed``) or not
        now, until = iso(self.clock.now()), self.wall() + self.lease
        rows = [(*row, until if row[3] <= now else None) for row in job_rows(items)]
        written = insert_rows(
            cursor,
            f"INSERT INTO mh_jobs ({ROW}, handed_until)",
            rows,
            f"{NEW_ONLY} RETURNING {COLUMNS}, handed_until",
            returning=True,
        )
        self._batch = [
            (scheduled(row), until) for row in written if row[-1] is not None
        ]

    def committed(self) -> None:
        """The runner's word that the batch's transaction committed: its jobs are ours."""
        self._handed += self._batch
        self._batch = []

    def take(self) -> list[Handed]:
        """The jobs of committed batches marked handed over since the last call."""
        handed, self._handed = self._handed, []
        return handed
