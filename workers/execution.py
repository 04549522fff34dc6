"""Running a claimed job: the one place that turns a job row into a use-case call.

Shared by the Dramatiq actors (a message names one job) and by a process that drains
its own due jobs before it exits (the embedded command line). Either way a job runs only
under a claim, and only the claim's holder marks it done.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Collection, Sequence
from contextlib import AbstractContextManager
from functools import partial
from uuid import UUID, uuid4

from attrs import evolve, frozen

from application.context import Actor, CommandContext, acting
from application.host import MailHost
from application.jobs import (
    FORGET_IMPORT_CREDENTIALS,
    RUN_IMPORT,
    SEND_AUTO_REPLY,
    SEND_IMPORT_CONFIRMATION,
    SEND_INVITATION,
    SEND_PUSH,
    SEND_SECURITY_ALERT,
    SEND_SMS_CODE,
    SEND_TWO_STEP_NOTICE,
    SYNC_MAIL_STORE,
)
from projections.jobs import JobTable, Scheduled
from workers.broker import QUEUE

log = logging.getLogger(__name__)

# The mail store takes many addresses in one write: a bulk creation of 20,000 addresses
# is a few dozen passwd-file rewrites, not 20,000.
STORE_BATCH = 500
# Imports run for hours on a queue of their own, so a worker process can be given to
# them (``dramatiq ... --queues``) and the short jobs never wait behind one.
IMPORT_QUEUE = "mailhost-import"
# A failed import attempt waits longer each time (15 s, 30 s, ... at most an hour).
MAX_IMPORT_RETRY_S = 3600.0


@frozen
class Leases:
    """Seconds a claim and a hand-over last before another process may take the job.

    A claim outlives any one attempt (the SMTP client gives up after 30 s per step); a
    hand-over to an in-memory queue expires sooner than one to Redis, which keeps it.
    """

    claim: float = 300.0
    handoff: float = 60.0
    retry: float = 15.0


@frozen
class Running:
    """What a job runs against: the engine's use cases, its job table, its leases."""

    host: MailHost
    jobs: JobTable
    leases: Leases


Handler = Callable[[MailHost, Sequence[str]], object]

HANDLERS: dict[str, Handler] = {
    SEND_SECURITY_ALERT: lambda host, args: host.alerts.send(UUID(args[0]), args[1]),
    SEND_AUTO_REPLY: lambda host, args: host.responders.send_reply(UUID(args[0])),
    SEND_INVITATION: lambda host, args: host.addresses.mail_invitation(UUID(args[0])),
    SEND_IMPORT_CONFIRMATION: lambda host, args: host.imports.send_confirmation(
        UUID(args[0])
    ),
    FORGET_IMPORT_CREDENTIALS: lambda host, args: host.imports.forget_credentials(
        UUID(args[0])
    ),
    SEND_TWO_STEP_NOTICE: lambda host, args: (
        host.notices and host.notices.send_notice(UUID(args[0]), int(args[1]))
    ),
    SEND_SMS_CODE: lambda host, args: (
        host.notices and host.notices.send_sms_code(UUID(args[0]), UUID(args[1]))
    ),
    SEND_PUSH: lambda host, args: (
        host.notices and host.notices.send_push(UUID(args[0]), UUID(args[1]))
    ),
}


def queue_of(actor: str) -> str:
    """The Dramatiq queue an actor's messages go to."""
    return IMPORT_QUEUE if actor == RUN_IMPORT else QUEUE


def message_options(job: Scheduled) -> dict[str, object]:
    """What a job's Dramatiq message carries beside its ids: why the job exists.

    The worker reads both from the job's row; in the message they let whoever reads
    the queue or Dramatiq's logs follow a command into its jobs. Workers that know
    no such options ignore them.
    """
    options: dict[str, object] = {}
    if job.correlation_id is not None:
        options["correlation_id"] = str(job.correlation_id)
    if job.causation is not None:
        options["causation"] = job.causation
    return options


def new_token() -> str:
    return uuid4().hex


def run_message(running: Running, job_id: str, actor: str, args: Sequence[str]) -> bool:
    """A broker's delivery of job ``job_id``: claimed, run, done; False if not ours.

    The message names the job; its row says which command and event it comes from.
    """
    host, jobs, leases = running.host, running.jobs, running.leases
    token = new_token()
    wall = time.time()
    row = jobs.claim(job_id, token, wall=wall, lease=leases.claim)
    if row is None:
        return False  # done already, or another worker holds it
    claimed = [evolve(row, actor=actor, args=tuple(args))]
    if actor == SYNC_MAIL_STORE:
        claimed += jobs.claim_due(
            host.alerts.clock.now(),
            token,
            wall=wall,
            lease=leases.claim,
            actor=SYNC_MAIL_STORE,
            limit=STORE_BATCH - 1,
        )
    execute(running, claimed, token)
    return True


def drain(running: Running, *, deadline: float, exclude: Collection[str] = ()) -> int:
    """Claim and run every due job nobody holds, until none is left or time is up.

    A job that fails is given back with a retry time, so this loop moves on to the
    others rather than trying it again at once. Jobs of the ``exclude`` kinds stay
    due for the workers.
    """
    host, jobs, leases = running.host, running.jobs, running.leases
    done = 0
    while time.monotonic() < deadline:
        token = new_token()
        claimed = jobs.claim_due(
            host.alerts.clock.now(),
            token,
            wall=time.time(),
            lease=leases.claim,
            exclude=exclude,
            limit=STORE_BATCH,
        )
        if not claimed:
            break
        try:
            done += execute(running, claimed, token)
        except Exception as e:  # noqa: BLE001 - a failed job stays due for the next runner
            log.warning("a job failed and stays scheduled: %s", type(e).__name__)
    return done


def execute(running: Running, claimed: Sequence[Scheduled], token: str) -> int:
    """Run claimed jobs; each failure gives its claim back and is raised after the rest."""
    host = running.host
    failure: Exception | None = None
    store = [job for job in claimed if job.actor == SYNC_MAIL_STORE]
    if store:
        mailbox_ids = list(dict.fromkeys(UUID(job.args[0]) for job in store))
        sync = partial(host.addresses.sync_store, mailbox_ids)
        failure = _attempt(running, store, token, sync)
    # Imports last: the short jobs claimed with them are done before their claims
    # could expire behind an hour-long copy.
    for job in sorted(claimed, key=lambda j: j.actor == RUN_IMPORT):
        if job.actor == SYNC_MAIL_STORE:
            continue
        if job.actor == RUN_IMPORT:
            failure = _run_import(running, job, token) or failure
            continue
        handler = HANDLERS.get(job.actor)
        if handler is None:
            log.error("job %s names an unknown actor %r", job.job_id, job.actor)
            continue
        run = partial(handler, host, job.args)
        failure = _attempt(running, [job], token, run) or failure
    if failure is not None:
        raise failure
    return len(claimed)


def _run_import(running: Running, job: Scheduled, token: str) -> Exception | None:
    """The copy under a claim it keeps alive; retried later and later when it fails.

    The claim is renewed between batches; once it cannot be (another worker took the
    job after this one stalled past its lease) the copy stops at once and this run
    leaves the job to the new holder. The claim's count of attempts bounds the retries
    of a source that stays unreachable.
    """
    jobs, leases = running.jobs, running.leases
    attempt = max(jobs.attempts(job.job_id), 1)
    held = [True]

    def keep_alive() -> bool:
        held[0] = held[0] and jobs.renew(
            job.job_id, token, wall=time.time(), lease=leases.claim
        )
        return held[0]

    def run() -> None:
        running.host.imports.run(UUID(job.args[0]), keep_alive, attempt=attempt)

    retry = min(leases.retry * 2 ** (attempt - 1), MAX_IMPORT_RETRY_S)
    failure = _attempt(running, [job], token, run, retry=retry)
    if failure is None and not held[0]:
        log.info("import job %s was taken over by another worker", job.job_id)
    return failure


def _attempt(
    running: Running,
    claimed: Sequence[Scheduled],
    token: str,
    run: Callable[[], object],
    *,
    retry: float | None = None,
) -> Exception | None:
    jobs = running.jobs
    job_ids = [job.job_id for job in claimed]
    try:
        with _acting_for(claimed):
            run()
    except Exception as e:  # noqa: BLE001 - any failure: the claim goes back, the job stays
        jobs.release(
            job_ids,
            token,
            type(e).__name__,
            retry_at=time.time() + (running.leases.retry if retry is None else retry),
        )
        return e
    jobs.complete(job_ids, token, running.host.alerts.clock.now())
    return None


def _acting_for(claimed: Sequence[Scheduled]) -> AbstractContextManager[CommandContext]:
    """The events a run saves record the job as actor, its command and its cause.

    A row from before jobs carried a correlation gets a fresh one for the attempt. A
    batch (the mail store's) is one run: it keeps the correlation and the causing event
    its jobs share, if they share one.
    """
    correlations = {job.correlation_id for job in claimed}
    causations = {job.causation for job in claimed}
    correlation = correlations.pop() if len(correlations) == 1 else None
    return acting(
        Actor.worker(claimed[0].actor),
        correlation_id=correlation or uuid4(),
        causation=causations.pop() if len(causations) == 1 else None,
    )
