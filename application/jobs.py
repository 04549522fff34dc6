"""Which events start which background jobs: the log is the outbox.

A job is named by its actor and JSON arguments (ids only) and has a due time. Its id is
derived from both, so recording the same job twice is one job, and a worker that receives
it twice still causes the effect once (the use case checks the log first).
"""

from __future__ import annotations

from datetime import UTC, datetime
from uuid import UUID, uuid5

from attrs import frozen

from domain.account import UserAccount
from domain.autoreply import AutoReply
from domain.mailbox import Mailbox
from domain.security import AlertKind, alert_key

JOB_NAMESPACE = UUID("0b8c4f0e-3f59-5d7e-8a55-6a3c1f2d9e41")
SEND_SECURITY_ALERT = "send_security_alert"
SEND_AUTO_REPLY = "send_auto_reply"
SYNC_MAIL_STORE = "sync_mail_store"
AS_SOON_AS_POSSIBLE = datetime.min.replace(tzinfo=UTC)
# The events that can start a job: the job schedule reads only these from the log.
TRIGGERS: tuple[type, ...] = (
    UserAccount.LoggedIn,
    UserAccount.LoginFailed,
    UserAccount.PasswordChanged,
    UserAccount.RecoveryPhoneChanged,
    AutoReply.Decided,
    Mailbox.Created,
    Mailbox.PasswordChanged,
    Mailbox.Deleted,
)


@frozen
class Job:
    job_id: str
    actor: str
    args: tuple[str, ...]
    due_at: datetime

    @classmethod
    def of(cls, actor: str, *args: str, due_at: datetime) -> Job:
        return cls(
            str(uuid5(JOB_NAMESPACE, f"{actor}:{':'.join(args)}")), actor, args, due_at
        )


def jobs_for(event: object) -> list[Job]:
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
        case AutoReply.Decided(originator_id=reply_id):
            # Due at once: a reply is sent when decided, whatever the MTA's clock said.
            return [Job.of(SEND_AUTO_REPLY, str(reply_id), due_at=AS_SOON_AS_POSSIBLE)]
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
    return []


def _alert(account_id: UUID, key: str, due: datetime) -> Job:
    return Job.of(SEND_SECURITY_ALERT, str(account_id), key, due_at=due)
