"""One running import per destination: the lane its jobs queue in (IMP-2, IMP-3).

Two imports running at once into one mailbox produced 3,009 duplicates (engineering
notes): each computes what is missing before the other has appended it. A job runs
only while it is the head of its destination's lane; it leaves the lane when it ends
(saved with its Completed, Failed or Cancelled), and the ``Released`` event names the
next head, so the job that starts it is derived from that event alone.
"""

from __future__ import annotations

from datetime import datetime
from uuid import UUID, uuid5

from eventsourcing.domain import Aggregate

from domain.address import identity
from domain.errors import AlreadyExists, NotFound
from domain.ids import NAMESPACE
from domain.time import utc


def lane_id(destination: str) -> UUID:
    """One lane per destination address, whatever case it was typed in."""
    return uuid5(NAMESPACE, f"import-lane:{identity(destination.strip())}")


class ImportLane(Aggregate):
    destination: str
    queue: list[UUID]

    class Opened(Aggregate.Created):
        destination: str

    def __init__(self, *, destination: str) -> None:
        self.destination = destination
        self.queue = []

    @classmethod
    def open(cls, destination: str, *, at: datetime) -> ImportLane:
        return cls._create(
            cls.Opened,
            id=lane_id(destination),
            timestamp=utc(at),
            destination=destination.strip(),
        )

    @property
    def head(self) -> UUID | None:
        """The job that may run now."""
        return self.queue[0] if self.queue else None

    def is_head(self, job_id: UUID) -> bool:
        return self.head == job_id

    def position(self, job_id: UUID) -> int | None:
        """0 for the head, 1 for the next one, ...; None when not queued."""
        return self.queue.index(job_id) if job_id in self.queue else None

    class Enqueued(Aggregate.Event):
        job_id: UUID
        became_head: bool

        def apply(self, aggregate: ImportLane) -> None:
            aggregate.queue.append(self.job_id)

    def enqueue(self, job_id: UUID, *, at: datetime) -> None:
        """Queue a job; ``Enqueued.became_head`` says it may start at once."""
        if job_id in self.queue:
            raise AlreadyExists(f"import {job_id} is queued already")
        self.trigger_event(
            self.Enqueued, timestamp=utc(at), job_id=job_id, became_head=not self.queue
        )

    class Released(Aggregate.Event):
        job_id: UUID
        next_head: UUID | None

        def apply(self, aggregate: ImportLane) -> None:
            aggregate.queue.remove(self.job_id)

    def release(self, job_id: UUID, *, at: datetime) -> None:
        """The job left the lane; ``Released.next_head``: the job to start now, if the
        released one was the head and another waits."""
        if job_id not in self.queue:
            raise NotFound(f"import {job_id} is not queued for {self.destination}")
        was_head = self.queue[0] == job_id
        following = self.queue[1] if was_head and len(self.queue) > 1 else None
        self.trigger_event(
            self.Released, timestamp=utc(at), job_id=job_id, next_head=following
        )
