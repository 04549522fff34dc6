"""The actors: each takes a job's JSON ids and runs it under a claim (one attempt at a time).

Redelivery, a second relay's hand-over or a retry after a lease finds the job claimed or
done and does nothing; see ``workers.execution``. They are declared on the process's
broker as this module is imported, so whoever installs a broker does it first.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import dramatiq
from dramatiq.middleware import CurrentMessage

from application import jobs
from workers.broker import QUEUE, current
from workers.context import engine
from workers.execution import IMPORT_QUEUE, run_message

broker = current()
# A whole mailbox takes hours; Dramatiq's default ten minutes would cut it. The claim,
# renewed between batches, is what says the run is alive.
IMPORT_TIME_LIMIT_MS = 24 * 3600 * 1000


def _declared(
    name: str,
    *,
    queue: str = QUEUE,
    min_backoff: int = 1_000,
    max_backoff: int = 600_000,
    time_limit: int | None = None,
) -> Callable[[Callable[..., None]], dramatiq.Actor[..., None]]:
    """An actor on the process's broker, retried 20 times, at most ten minutes apart.

    An import's actor waits longer between tries and may run for hours (``time_limit``).
    """
    limits: dict[str, Any] = {} if time_limit is None else {"time_limit": time_limit}
    return dramatiq.actor(
        actor_name=name,
        queue_name=queue,
        broker=broker,
        max_retries=20,
        min_backoff=min_backoff,
        max_backoff=max_backoff,
        **limits,
    )


def _run(actor: str, *args: str) -> None:
    message = CurrentMessage.get_current_message()
    if message is None:  # pragma: no cover - Dramatiq always sets it for an actor
        raise RuntimeError(f"{actor} runs only as a Dramatiq actor")
    run_message(engine(), message.message_id, actor, args)


@_declared(jobs.SEND_SECURITY_ALERT)
def send_security_alert(account_id: str, key: str) -> None:
    """SEC-1/SEC-2/SEC-4 mail; a repeated delivery finds nothing pending and sends nothing."""
    _run(jobs.SEND_SECURITY_ALERT, account_id, key)


@_declared(jobs.SEND_AUTO_REPLY)
def send_auto_reply(reply_id: str) -> None:
    """RSP-8: retried until the mail server accepts; a repeat finds it sent already."""
    _run(jobs.SEND_AUTO_REPLY, reply_id)


@_declared(jobs.SEND_INVITATION)
def send_invitation(invitation_id: str) -> None:
    """ADR-5: the code read sealed from the credential store; a repeat finds it mailed."""
    _run(jobs.SEND_INVITATION, invitation_id)


@_declared(jobs.SYNC_MAIL_STORE)
def sync_mail_store(mailbox_id: str, version: str) -> None:
    """The mail store follows the log: the address's hash written, or its content destroyed."""
    _run(jobs.SYNC_MAIL_STORE, mailbox_id, version)


@_declared(
    jobs.RUN_IMPORT,
    queue=IMPORT_QUEUE,
    min_backoff=15_000,
    max_backoff=3_600_000,
    time_limit=IMPORT_TIME_LIMIT_MS,
)
def run_import(job_id: str, *_lane_version: str) -> None:
    """IMP-1..IMP-3: the copy, resumed where the log says; a repeat copies nothing new."""
    _run(jobs.RUN_IMPORT, job_id, *_lane_version)


@_declared(jobs.SEND_IMPORT_CONFIRMATION)
def send_import_confirmation(job_id: str) -> None:
    """IMP-4: the mail of a finished import; a repeat finds it recorded and sends nothing."""
    _run(jobs.SEND_IMPORT_CONFIRMATION, job_id)


@_declared(jobs.FORGET_IMPORT_CREDENTIALS)
def forget_import_credentials(job_id: str) -> None:
    """IMP-9: the sealed source passwords of a job that is over, deleted."""
    _run(jobs.FORGET_IMPORT_CREDENTIALS, job_id)


@_declared(jobs.SEND_TWO_STEP_NOTICE)
def send_two_step_notice(two_step_id: str, version: str) -> None:
    """A two-step change, lock or clone suspicion mailed; a repeat finds it recorded."""
    _run(jobs.SEND_TWO_STEP_NOTICE, two_step_id, version)


@_declared(jobs.SEND_SMS_CODE)
def send_sms_code(two_step_id: str, challenge_id: str) -> None:
    """The code is read sealed from the credential store, never from the message."""
    _run(jobs.SEND_SMS_CODE, two_step_id, challenge_id)


@_declared(jobs.SEND_PUSH)
def send_push(two_step_id: str, challenge_id: str) -> None:
    """A push approval request to the user's device (MFA-1)."""
    _run(jobs.SEND_PUSH, two_step_id, challenge_id)


ACTORS: list[dramatiq.Actor[..., None]] = [
    send_security_alert,
    send_auto_reply,
    send_invitation,
    sync_mail_store,
    run_import,
    send_import_confirmation,
    forget_import_credentials,
    send_two_step_notice,
    send_sms_code,
    send_push,
]
