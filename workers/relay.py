"""The relay: the engine's background thread that follows the log and hands jobs on.

One relay thread per engine brings every projection up to date (the job schedule among
them) and hands due jobs to Dramatiq. With the in-memory broker, a Dramatiq worker runs
in this process too; with Redis, ``dramatiq infrastructure.workerprocess`` processes
run the actors. A relay of its own process (``mailhost run relay``) keeps the job
schedule itself and sends its new due jobs as their batch commits
(``workers.handover``); the others it finds in the table.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable, Sequence
from queue import Queue
from typing import Protocol

import dramatiq
from dramatiq.brokers.redis import RedisBroker
from dramatiq.brokers.stub import StubBroker
from dramatiq.errors import QueueJoinTimeout

from application.ports import Clock
from projections.jobs import JobSchedule, JobTable, Scheduled
from projections.runner import ProjectionRunner
from workers.backoff import Backoff
from workers.broker import QUEUE
from workers.execution import IMPORT_QUEUE, Leases, message_options, queue_of
from workers.handover import Handed, HandingOverSchedule

log = logging.getLogger(__name__)

POLL_S = 0.1
# With a wake-up (PostgreSQL's LISTEN/NOTIFY), a step comes on each commit, and without
# one at least this often (jobs due later, retries, a notification missed).
IDLE_S = 0.5
# Secrets a crash left unnamed are swept this often (the sweep's grace is a day); the
# first sweep waits a minute, so a short-lived process (a `deliver` call) never sweeps.
SWEEP_INTERVAL_S = 3600.0
FIRST_SWEEP_S = 60.0
HAND_OVER_BATCH = 100
# The in-memory queue holds at most this many jobs waiting: a backlog (the mail server
# down, a burst of replies faster than they can be sent) stays in the job table rather
# than in this process's memory, and is handed over as the workers take jobs.
MAX_QUEUED = 500


class Wakeup(Protocol):
    """What the relay waits on between steps instead of sleeping a fixed poll."""

    def wait(self, timeout: float) -> None: ...

    def close(self) -> None: ...


class Relay:
    """Projections caught up, due jobs handed over, orphan secrets swept: one step at a time."""

    def __init__(
        self,
        runner: ProjectionRunner,
        jobs: JobTable,
        broker: dramatiq.Broker,
        clock: Clock,
        *,
        leases: Leases,
        sweep: Callable[[], int] | None = None,
        hands_over: bool = True,
    ) -> None:
        self.runner = runner
        # False: this process only keeps the projections (`mailhost run projections`).
        self.hands_over = hands_over
        self.jobs = jobs
        self.broker = broker
        self.clock = clock
        self.leases = leases
        self.sweep = sweep
        self._next_sweep = time.monotonic() + FIRST_SWEEP_S
        self.embedded = isinstance(broker, StubBroker) and hands_over
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._worker: dramatiq.Worker | None = None
        self._wakeup: Wakeup | None = None
        # A relay whose runner leaves the job schedule to another process (``mailhost
        # run relay``) keeps it too: a job is handed over as its event commits, not
        # after the projections process's next step over the chain and every read
        # model. Whichever of them applies an event first, it is applied once.
        # Towards Redis its new due jobs are written handed over to it and sent as
        # they commit (``workers.handover``); the other due jobs (another runner's,
        # due later, retried) are looked for every ``IDLE_S``, or at once when
        # another runner was seen scheduling.
        self._schedule: ProjectionRunner | None = None
        self._own: HandingOverSchedule | None = None
        self._look_at = 0.0  # when to look for due jobs next (monotonic)
        self._backlog = False
        if hands_over and all(p.name != JobSchedule.name for p in runner.projections):
            schedule = JobSchedule()
            if not isinstance(broker, StubBroker):
                schedule = self._own = HandingOverSchedule(clock, leases.handoff)
            self._schedule = ProjectionRunner(runner.log, runner.database, [schedule])

    def wake_on(self, wakeup: Wakeup) -> None:
        """Step when ``wakeup`` says so (or after ``IDLE_S``), not every ``POLL_S``."""
        self._wakeup = wakeup

    def start(self) -> None:
        if self.embedded:
            self._worker = dramatiq.Worker(
                self.broker, worker_threads=2, worker_timeout=100
            )
            self._worker.start()
        self._thread = threading.Thread(
            target=self._run, name="mailhost-relay", daemon=True
        )
        self._thread.start()

    def _run(self) -> None:
        backoff = Backoff("the relay (event store or broker)", log)
        while not self._stop.is_set():
            try:
                self.step()
            except Exception as e:  # noqa: BLE001 - any failure is retried, logged once
                delay = backoff.failed(e)
            else:
                backoff.succeeded()
                if self._backlog:
                    continue  # a full batch was handed over: look again at once
                if self._wakeup is not None:
                    self._wakeup.wait(IDLE_S)
                    continue
                delay = POLL_S
            self._stop.wait(delay)

    def step(self) -> int:
        with self._lock:
            self._backlog = False
            applied = self.runner.catch_up()
            if not self.hands_over:
                return applied
            room = self._room()  # Redis down: fail before a job is marked handed over
            if self._schedule is not None:
                applied += self._keep_schedule(self._schedule)
            self._maybe_sweep()
            if self._own is None or time.monotonic() >= self._look_at:
                self._look_at = time.monotonic() + IDLE_S
                applied += self.hand_over_due(room)
            return applied

    def _keep_schedule(self, schedule: ProjectionRunner) -> int:
        """The job schedule brought up to date; this relay's own new jobs sent."""
        overtaken = schedule.overtaken
        try:
            applied = schedule.catch_up()
        finally:
            if self._own is not None:  # even after a later batch failed
                self._send(self._own.take())
        if schedule.overtaken != overtaken:
            self._look_at = 0.0  # another runner scheduled: its jobs are due now
        return applied

    def _maybe_sweep(self) -> None:
        if self.sweep is None or time.monotonic() < self._next_sweep:
            return
        self._next_sweep = time.monotonic() + SWEEP_INTERVAL_S
        swept = self.sweep()
        if swept:
            log.info("swept %d secret(s) no event came to name", swept)

    def hand_over_due(self, room: int | None = None) -> int:
        """Hand due jobs to the broker; other relays in other processes never get them.

        The hand-over is recorded as the jobs are read: a crash before the broker has them
        leaves them handed over until the lease runs out, then any relay takes them again.
        After a full batch (a backlog) the relay steps again without waiting.
        """
        room = self._room() if room is None else room
        if room <= 0:
            return 0
        wall, lease = time.time(), self.leases.handoff
        due = self.jobs.hand_over(self.clock.now(), wall=wall, lease=lease, limit=room)
        self._send([(job, wall + lease) for job in due])  # ``hand_over``'s mark
        if len(due) == room:
            self._backlog, self._look_at = True, 0.0
        return len(due)

    def _send(self, handed: Sequence[Handed]) -> None:
        """Send the jobs handed over to this relay; if a send fails, give the rest back.

        The jobs sent before the failure keep their hand-over: they are in Redis, and
        no relay hands them over again while the lease holds. The job whose send
        failed and those after it are given back, so the next hand-over (at this
        relay's next step) takes them once Redis is back, not after the lease. A send
        that failed yet reached Redis (its reply lost) may so be sent twice: the
        worker's claim runs it once.
        """
        for n, (job, _until) in enumerate(handed):
            try:
                self.broker.enqueue(_message(job))
            except Exception:
                self._give_back(handed[n:])
                raise

    def _give_back(self, unsent: Sequence[Handed]) -> None:
        """Best effort: when the job table fails too, the lease still covers the jobs."""
        try:
            self.jobs.give_back([(job.job_id, until) for job, until in unsent])
        except Exception as e:  # noqa: BLE001 - the send's own error is the one raised
            # The class only: a driver's message may quote a connection string.
            log.warning(
                "%d job(s) not sent wait for their hand-over lease (%s)",
                len(unsent),
                type(e).__name__,
            )
        else:
            self._look_at = 0.0  # hand them over at the next step

    def _room(self) -> int:
        """How many jobs to hand over now; Redis keeps its queue out of this process."""
        if not isinstance(self.broker, StubBroker):
            if isinstance(self.broker, RedisBroker):
                # Redis down: fail before jobs are marked handed over, not after.
                self.broker.client.ping()
            return HAND_OVER_BATCH
        queues: dict[str, Queue[bytes]] = self.broker.queues
        waiting = sum(queue.qsize() for queue in queues.values())
        return min(HAND_OVER_BATCH, MAX_QUEUED - waiting)

    def settle(self, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while True:
            self.step()
            if isinstance(self.broker, StubBroker):
                for queue in (QUEUE, IMPORT_QUEUE):
                    if queue not in self.broker.get_declared_queues():
                        continue
                    left_ms = int(max(deadline - time.monotonic(), 0.1) * 1000)
                    try:
                        self.broker.join(queue, timeout=left_ms, fail_fast=False)
                    except QueueJoinTimeout:
                        raise TimeoutError(
                            "background jobs did not finish in time"
                        ) from None
            if self.runner.is_current() and self.jobs.unfinished(self.clock.now()) == 0:
                return
            if time.monotonic() > deadline:
                raise TimeoutError("background work did not settle in time")
            time.sleep(POLL_S / 4)

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
        if self._wakeup is not None:
            self._wakeup.close()
        if self._worker is not None:
            # A send blocked on a silent server must not hold the process for
            # Dramatiq's default ten minutes: its job stays claimed and is retried.
            self._worker.stop(timeout=5_000)


def _message(job: Scheduled) -> dramatiq.Message[None]:
    """The job as Dramatiq's message; its id is the job's (a worker claims by it)."""
    return dramatiq.Message(
        queue_name=queue_of(job.actor),
        actor_name=job.actor,
        args=tuple(json.loads(json.dumps(job.args))),
        kwargs={},
        options=message_options(job),
        message_id=job.job_id,
    )
