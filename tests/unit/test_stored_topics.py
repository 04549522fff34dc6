"""Every topic the log stores, pinned: a moved or renamed class fails here first.

Stored events name their class as ``module:QualName`` (events, and the aggregate class in
a ``Created`` event and in every snapshot). Moving a class without registering its old
topic (``eventsourcing.utils.register_topic``) would make every stored event of it
unreadable, and a rebuild would silently lose it. A topic that disappears from the
domain must stay resolvable; a new one is added to the list below.
"""

from __future__ import annotations

import subprocess
import sys

import pytest
from eventsourcing.utils import get_topic, resolve_topic

from tests.strategies import domain_aggregates, domain_event_classes

STORED_EVENT_TOPICS = (
    # Moved from domain.responder (their old topics above still resolve, by alias).
    "domain.replywindow:ReplyBudget.Opened",
    "domain.replywindow:ReplyBudget.ReplyCounted",
    "domain.replywindow:ReplyWindow.Opened",
    "domain.replywindow:ReplyWindow.ReplySent",
    "domain.account:UserAccount.LoggedIn",
    "domain.account:UserAccount.LoggedOut",
    "domain.account:UserAccount.LoginFailed",
    "domain.account:UserAccount.LoginThrottled",
    "domain.account:UserAccount.NotificationPreferencesChanged",
    "domain.account:UserAccount.PasswordChanged",
    "domain.account:UserAccount.RecoveryPhoneChanged",
    "domain.account:UserAccount.Reauthenticated",
    "domain.account:UserAccount.Registered",
    "domain.account:UserAccount.SecurityAlertSent",
    "domain.autoreply:AutoReply.Decided",
    "domain.autoreply:AutoReply.Sent",
    "domain.importjob:ImportJob.Cancelled",
    "domain.importjob:ImportJob.Completed",
    "domain.importjob:ImportJob.ConfirmationSent",
    "domain.importjob:ImportJob.CredentialsForgotten",
    "domain.importjob:ImportJob.Failed",
    "domain.importjob:ImportJob.FolderFinished",
    "domain.importjob:ImportJob.Progressed",
    "domain.importjob:ImportJob.Requested",
    "domain.importjob:ImportJob.SourceFailed",
    "domain.importjob:ImportJob.Started",
    "domain.importjob:ImportJob.Surveyed",
    "domain.importlane:ImportLane.Enqueued",
    "domain.importlane:ImportLane.Opened",
    "domain.importlane:ImportLane.Released",
    "domain.invitation:Invitation.Accepted",
    "domain.invitation:Invitation.Mailed",
    "domain.invitation:Invitation.Sent",
    "domain.mailbox:Mailbox.AliasAdded",
    "domain.mailbox:Mailbox.AliasesRemoved",
    "domain.mailbox:Mailbox.AllowListChanged",
    "domain.mailbox:Mailbox.ClientAccessRecorded",
    "domain.mailbox:Mailbox.Created",
    "domain.mailbox:Mailbox.Deleted",
    "domain.mailbox:Mailbox.MessageSent",
    "domain.mailbox:Mailbox.PasswordChanged",
    "domain.mailbox:Mailbox.PermissionChanged",
    "domain.mailbox:Mailbox.SignatureChanged",
    "domain.mailbox:Mailbox.UsageRecorded",
    "domain.mailbox:Mailbox.UserAssigned",
    "domain.mailbox:Mailbox.UserUnassigned",
    "domain.mailservice:MailService.AddressesClaimed",
    "domain.mailservice:MailService.AddressesReleased",
    "domain.mailservice:MailService.CatchAllChanged",
    "domain.mailservice:MailService.Created",
    "domain.mailservice:MailService.DefaultPermissionsChanged",
    "domain.mailservice:MailService.DmarcRecorded",
    "domain.mailservice:MailService.QuotaIncreased",
    "domain.mailservice:MailService.ResponderTemplateSaved",
    "domain.mailservice:MailService.SignatureTemplateSaved",
    "domain.organisation:Organisation.Founded",
    "domain.organisation:Organisation.MemberJoined",
    "domain.organisation:Organisation.TwoStepEnforced",
    "domain.organisation:Organisation.TwoStepRelaxed",
    "domain.responder:AutoResponder.MemoryReset",
    "domain.responder:AutoResponder.MessageActivated",
    "domain.responder:AutoResponder.MessageDeactivated",
    "domain.responder:AutoResponder.MessageDeleted",
    "domain.responder:AutoResponder.MessageEdited",
    "domain.responder:AutoResponder.MessageSaved",
    "domain.responder:AutoResponder.Provisioned",
    "domain.responder:AutoResponder.Retired",
    "domain.responder:AutoResponder.SenderConfirmed",
    "domain.responder:AutoResponder.SenderVerificationFailed",
    "domain.responder:AutoResponder.SenderVerificationRequested",
    "domain.responder:AutoResponder.TimeZoneChanged",
    "domain.responder:ReplyBudget.Opened",
    "domain.responder:ReplyBudget.ReplyCounted",
    "domain.responder:ReplyWindow.Opened",
    "domain.responder:ReplyWindow.ReplySent",
    # Two-step verification (issue 10, MFA-1..MFA-5).
    "domain.twostep:TwoStep.AppPasswordCreated",
    "domain.twostep:TwoStep.AppPasswordRevoked",
    "domain.twostep:TwoStep.AppPasswordUsed",
    "domain.twostep:TwoStep.AppPasswordsRevoked",
    "domain.twostep:TwoStep.BackupCodeUsed",
    "domain.twostep:TwoStep.BackupCodesIssued",
    "domain.twostep:TwoStep.CloneSuspected",
    "domain.twostep:TwoStep.Disabled",
    "domain.twostep:TwoStep.EnrolmentStarted",
    "domain.twostep:TwoStep.FactorConfirmed",
    "domain.twostep:TwoStep.FactorRemoved",
    "domain.twostep:TwoStep.KeyChallengeIssued",
    "domain.twostep:TwoStep.KeyChallengeUsed",
    "domain.twostep:TwoStep.Opened",
    "domain.twostep:TwoStep.PushApproved",
    "domain.twostep:TwoStep.PushDenied",
    "domain.twostep:TwoStep.PushIssued",
    "domain.twostep:TwoStep.SecondFactorFailed",
    "domain.twostep:TwoStep.SmsCodeIssued",
    "domain.twostep:TwoStep.SmsCodeUsed",
    "domain.twostep:TwoStep.TotpAccepted",
)

STORED_AGGREGATE_TOPICS = (
    # Moved from domain.responder (their old topics above still resolve, by alias).
    "domain.replywindow:ReplyBudget",
    "domain.replywindow:ReplyWindow",
    "domain.account:UserAccount",
    "domain.autoreply:AutoReply",
    "domain.importjob:ImportJob",
    "domain.importlane:ImportLane",
    "domain.invitation:Invitation",
    "domain.mailbox:Mailbox",
    "domain.mailservice:MailService",
    "domain.organisation:Organisation",
    "domain.responder:AutoResponder",
    "domain.responder:ReplyBudget",
    "domain.responder:ReplyWindow",
    "domain.twostep:TwoStep",
)


@pytest.mark.parametrize("topic", STORED_EVENT_TOPICS + STORED_AGGREGATE_TOPICS)
def test_every_stored_topic_still_resolves(topic: str) -> None:
    cls = resolve_topic(topic)
    assert isinstance(cls, type)


def test_every_event_class_has_its_topic_pinned() -> None:
    current = {get_topic(cls) for cls in domain_event_classes()}
    unpinned = sorted(current - set(STORED_EVENT_TOPICS))
    assert not unpinned, f"pin the new event topics (or register aliases): {unpinned}"


def test_every_aggregate_class_has_its_topic_pinned() -> None:
    current = {get_topic(cls) for cls in domain_aggregates()}
    unpinned = sorted(current - set(STORED_AGGREGATE_TOPICS))
    assert not unpinned, (
        f"pin the new aggregate topics (or register aliases): {unpinned}"
    )


def test_a_fresh_process_reading_the_log_resolves_the_moved_topics() -> None:
    # Importing the log is all a reader does before decoding: the aliases must be there.
    probe = (
        "import application.log; from eventsourcing.utils import resolve_topic;"
        " from domain.replywindow import ReplyWindow;"
        " assert resolve_topic('domain.responder:ReplyWindow.Opened')"
        " is ReplyWindow.Opened"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr
