"""Which events start which background jobs: the log is the outbox.

A job is named by its actor and JSON arguments (ids only) and has a due time. Its id is
derived from both, so recording the same job twice is one job, and a worker that receives
it twice still causes the effect once (the use case checks the log first).
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta
from uuid import UUID

from attrs import frozen

from domain.account import UserAccount
from domain.autoreply import AutoReply
from domain.importjob import ImportJob
from domain.importlane import ImportLane
from domain.invitation import Invitation
from domain.mailbox import Mailbox
from domain.security import AlertKind, alert_key
from domain.twostep import TwoStep

JOB_NAMESPACE = UUID("0b8c4f0e-3f59-5d7e-8a55-6a3c1f2d9e41")
SEND_SECURITY_ALERT = "send_security_alert"
SEND_AUTO_REPLY = "send_auto_reply"
SEND_INVITATION = "send_invitation"
SYNC_MAIL_STORE = "sync_mail_store"
RUN_IMPORT = "run_import"
SEND_IMPORT_CONFIRMATION = "send_import_confirmation"
FORGET_IMPORT_CREDENTIALS = "forget_import_credentials"
SEND_TWO_STEP_NOTICE = "send_two_step_notice"
SEND_SMS_CODE = "send_sms_code"
SEND_PUSH = "send_push"
# Failed second factors after a right password: one mail per window, with the count.
SECOND_FACTOR_FAILURE_WINDOW = timedelta(minutes=15)
AS_SOON_AS_POSSIBLE = datetime.min.replace(tzinfo=UTC)
# The two-step changes each mailed as a notice (no secret, no link).
TWO_STEP_CHANGES: tuple[type, ...] = (
    TwoStep.FactorConfirmed,
    TwoStep.FactorRemoved,
    TwoStep.Disabled,
    TwoStep.BackupCodesIssued,
    TwoStep.AppPasswordCreated,
    TwoStep.AppPasswordRevoked,
    TwoStep.AppPasswordsRevoked,
    TwoStep.CloneSuspected,
)
# The events that can start a job: the job schedule reads only these from the log.
TRIGGERS: tuple[type, ...] = (
    UserAccount.LoggedIn,
    UserAccount.LoginFailed,
    UserAccount.PasswordChanged,
    UserAccount.RecoveryPhoneChanged,
    AutoReply.Decided,
    Invitation.Sent,
    Mailbox.Created,
    Mailbox.PasswordChanged,
    Mailbox.Deleted,
    ImportJob.Requested,
    ImportJob.Completed,
    ImportJob.Failed,
    ImportJob.Cancelled,
    ImportLane.Released,
    *TWO_STEP_CHANGES,
    TwoStep.SecondFactorFailed,
    TwoStep.SmsCodeIssued,
    TwoStep.PushIssued,
)


@frozen
class Job:
    job_id: str
    actor: str
    args: tuple[str, ...]
    due_at: datetime

    @classmethod
    def of(cls, actor: str, *args: str, due_at: datetime) -> Job:
        return cls(derived_job_id(actor, args), actor, args, due_at)


# Each actor's ``uuid5`` prefix (the namespace and ``actor:``) hashed once
# (``hashlib._Hash``: typeshed's name for a hash object).
_PREFIXES: dict[str, hashlib._Hash] = {}
# The hex digit uuid5 writes at the variant's place (RFC 4122: top two bits 10),
# for each digit the digest has there.
_VARIANT = {digit: "89ab"[int(digit, 16) & 3] for digit in "0123456789abcdef"}


def derived_job_id(actor: str, args: tuple[str, ...]) -> str:
    """``str(uuid5(JOB_NAMESPACE, f"{actor}:{':'.join(args)}"))``, the same text.

    A rebuild derives thousands of ids from a few actors: SHA-1 reads its input as a
    stream, so a copy of the namespace and prefix already hashed, fed the rest, gives
    the whole name's digest without hashing the prefix or making a UUID each time.
    """
    prefix = _PREFIXES.get(actor)
    if prefix is None:
        prefix = _PREFIXES[actor] = hashlib.sha1(
            JOB_NAMESPACE.bytes + f"{actor}:".encode(), usedforsecurity=False
        )
    digest = prefix.copy()
    digest.update(":".join(args).encode())
    h = digest.hexdigest()
    # As uuid5 sets them: the version (5) and the variant over the first 128 bits.
    return f"{h[:8]}-{h[8:12]}-5{h[13:16]}-{_VARIANT[h[16]]}{h[17:20]}-{h[20:32]}"


def jobs_for(event: object) -> list[Job]:  # noqa: PLR0911 - one case per event
    """The jobs an event starts; most events start none."""
    match event:
        case UserAccount.LoggedIn(alert=True):
            key = alert_key(AlertKind.NEW_LOCATION, event.originator_version)
            return [_alert(event.originator_id, key, event.timestamp)]
        case UserAccount.LoginFailed(alert_key=str(key), alert_due=datetime() as due):
            return [_alert(event.originator_id, key, due)]
        case (
            UserAccount.PasswordChanged(alert=True)
            | UserAccount.RecoveryPhoneChanged(alert=True)
        ):
            key = alert_key(AlertKind.SECURITY_CHANGE, event.originator_version)
            return [_alert(event.originator_id, key, event.timestamp)]
        case UserAccount.Event():
            # Most of the log (log-ins without an alert): no case below is an account's.
            return []
        case AutoReply.Decided(originator_id=reply_id):
            # Due at once: a reply is sent when decided, whatever the MTA's clock said.
            return [Job.of(SEND_AUTO_REPLY, str(reply_id), due_at=AS_SOON_AS_POSSIBLE)]
        case Invitation.Sent(originator_id=invitation_id, code_id=UUID()):
            # An invitation saved without a sealed code was mailed by its request.
            return [
                Job.of(SEND_INVITATION, str(invitation_id), due_at=AS_SOON_AS_POSSIBLE)
            ]
        case (
            Mailbox.Created(credential_id=UUID())
            | Mailbox.PasswordChanged()
            | Mailbox.Deleted()
        ):
            # The mail store follows the log: the job writes the address's state as the
            # log has it when the job runs, so any of these jobs, run late or twice,
            # converges the store to the log.
            return [
                Job.of(
                    SYNC_MAIL_STORE,
                    str(event.originator_id),
                    str(event.originator_version),
                    due_at=AS_SOON_AS_POSSIBLE,
                )
            ]
    if isinstance(event, TwoStep.Event):
        return _two_step_jobs(event)
    return _import_jobs(event)


def _two_step_jobs(event: TwoStep.Event) -> list[Job]:
    """Notices of changes, the lock and a cloned key; SMS codes and pushes to send.

    Only ids go into the job: the SMS code is read from the credential store by the
    job that sends it, never from the event (which does not carry it).
    """
    aggregate, version = str(event.originator_id), str(event.originator_version)
    match event:
        case TwoStep.SmsCodeIssued(challenge_id=challenge):
            return [
                Job.of(
                    SEND_SMS_CODE, aggregate, str(challenge), due_at=AS_SOON_AS_POSSIBLE
                )
            ]
        case TwoStep.PushIssued(challenge_id=challenge):
            return [
                Job.of(SEND_PUSH, aggregate, str(challenge), due_at=AS_SOON_AS_POSSIBLE)
            ]
        case TwoStep.SecondFactorFailed(notify=True):
            return [
                Job.of(SEND_TWO_STEP_NOTICE, aggregate, version, due_at=event.timestamp)
            ]
        case TwoStep.SecondFactorFailed(failures=1):
            due = event.timestamp + SECOND_FACTOR_FAILURE_WINDOW
            return [Job.of(SEND_TWO_STEP_NOTICE, aggregate, version, due_at=due)]
    if isinstance(event, TWO_STEP_CHANGES):
        return [
            Job.of(SEND_TWO_STEP_NOTICE, aggregate, version, due_at=event.timestamp)
        ]
    return []


def _import_jobs(event: object) -> list[Job]:
    """An import runs when requested or when its lane's release makes it the head;
    its mail and the forgetting of its passwords follow its end."""
    match event:
        case ImportJob.Requested(originator_id=job_id):
            return [_import(RUN_IMPORT, job_id)]
        case ImportLane.Released(next_head=UUID() as next_head):
            # Another job id than the request's: that one ran (and found a head).
            version = str(event.originator_version)
            return [_import(RUN_IMPORT, next_head, version)]
        case (
            ImportJob.Completed(originator_id=job_id)
            | ImportJob.Failed(originator_id=job_id)
        ):
            return [
                _import(SEND_IMPORT_CONFIRMATION, job_id),
                _import(FORGET_IMPORT_CREDENTIALS, job_id),
            ]
        case ImportJob.Cancelled(originator_id=job_id):
            return [_import(FORGET_IMPORT_CREDENTIALS, job_id)]
    return []


def _import(actor: str, job_id: UUID, *more: str) -> Job:
    return Job.of(actor, str(job_id), *more, due_at=AS_SOON_AS_POSSIBLE)


def _alert(account_id: UUID, key: str, due: datetime) -> Job:
    return Job.of(SEND_SECURITY_ALERT, str(account_id), key, due_at=due)
