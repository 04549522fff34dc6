"""Two-step notices, SMS codes and push challenges: effects of TwoStep events, as jobs.

Each job names an event (the aggregate and its version) or a challenge, never a secret:
a notice is composed from the event's facts (no secret, no link), an SMS code is read
from the credential store by the job that sends it (``Challenges.sms_code``). Failed
second factors after a right password are one mail per window with the count (SEC-2
style): the job of the first failure is due when the window closes and counts them.
A repeated job sends the same Message-ID, so a repeat is recognisable (at least once).
"""

from __future__ import annotations

from datetime import timedelta
from email.message import EmailMessage
from email.utils import format_datetime
from uuid import UUID

from attrs import frozen

from application.alerts import ADVICE
from application.challenges import Challenges
from application.log import MailHostLog
from application.ports import Clock, EngineMail, OutgoingMail
from application.twostepports import TwoStepAdapters
from domain.account import UserAccount
from domain.text import neutralise
from domain.twostep import TwoStep

FAILURE_WINDOW = timedelta(minutes=15)
CHANGES: dict[type, str] = {
    TwoStep.FactorConfirmed: "A two-step verification method was added to your account.",
    TwoStep.FactorRemoved: "A two-step verification method was removed from your account.",
    TwoStep.Disabled: "Two-step verification was turned off for your account.",
    TwoStep.BackupCodesIssued: "New backup codes were made for your account; the old "
    "ones no longer work.",
    TwoStep.AppPasswordCreated: "An application password was created for your account.",
    TwoStep.AppPasswordRevoked: "An application password of your account was revoked.",
    TwoStep.AppPasswordsRevoked: "Every application password of your account was revoked.",
}
LOCKED = (
    "Too many wrong two-step verification codes were entered after your correct "
    "password. Two-step verification is locked for a while."
)
PUSH_TEXT = "Sign-in request: type the number shown on the sign-in page."
CLONE = (
    "A security key of your account answered with a signature counter that did not "
    "increase: the key may have been copied. The sign-in was refused."
)


def notice_kind(event: object) -> str | None:
    """Which notice an event mails, or None (the job schedule asks this)."""
    if type(event) in CHANGES:
        return "change"
    if isinstance(event, TwoStep.SecondFactorFailed):
        if event.notify:
            return "locked"
        return "failed" if event.failures == 1 else None
    if isinstance(event, TwoStep.CloneSuspected):
        return "clone"
    return None


@frozen
class TwoStepNotices:
    log: MailHostLog
    mail: EngineMail
    clock: Clock
    challenges: Challenges | None = None

    @property
    def _gateways(self) -> TwoStepAdapters | None:
        """The challenges' own adapters: a code or push goes out the way it was issued."""
        return None if self.challenges is None else self.challenges.adapters

    def send_notice(self, aggregate_id: UUID, version: int) -> bool:
        """Mail the notice of the TwoStep event at ``version``; True if one went out."""
        events = list(self.log.repository.event_store.get(aggregate_id))
        event = next((e for e in events if e.originator_version == version), None)
        kind = notice_kind(event)
        if event is None or kind is None or not isinstance(event, TwoStep.Event):
            return False
        two_step = self.log.load(aggregate_id, TwoStep, "two-step")
        account = self.log.find(two_step.account_id, UserAccount)
        if account is None:
            return False
        if kind == "change":
            if not account.preferences.security_change:
                return False
            text = CHANGES[type(event)]
        elif kind == "failed":
            if not account.preferences.failed_login:
                return False
            until = event.timestamp + FAILURE_WINDOW
            count = sum(
                1
                for e in events
                if isinstance(e, TwoStep.SecondFactorFailed)
                and e.originator_version >= version
                and e.timestamp < until
            )
            text = (
                f"Your correct password was entered, then a wrong two-step code "
                f"{count} time{'s' if count != 1 else ''} between "
                f"{event.timestamp:%Y-%m-%d %H:%M} and {until:%H:%M} UTC."
            )
        else:
            text = LOCKED if kind == "locked" else CLONE
        self.mail.send(
            self._compose(account, aggregate_id, version, text, event.timestamp)
        )
        return True

    def _compose(
        self,
        account: UserAccount,
        aggregate_id: UUID,
        version: int,
        text: str,
        at: object,
    ) -> OutgoingMail:
        message = EmailMessage()
        message["From"] = self.mail.sender
        message["To"] = account.login
        message["Subject"] = "Security notice: two-step verification"
        message["Date"] = format_datetime(at)  # type: ignore[arg-type]
        message["Message-ID"] = self.mail.message_id(
            "twostep", f"{aggregate_id}:{version}"
        )
        message["Auto-Submitted"] = "auto-generated"
        name = neutralise(account.display_name) if account.display_name else ""
        body = "\n".join([f"Hello {name or account.login},", "", text, "", ADVICE, ""])
        message.set_content(body, cte="7bit" if body.isascii() else "quoted-printable")
        return OutgoingMail(
            envelope_from=self.mail.sender, recipients=(account.login,), message=message
        )

    def send_sms_code(self, aggregate_id: UUID, challenge_id: UUID) -> bool:
        """The code read from the credential store (sealed), sent while still open."""
        sms = None if self._gateways is None else self._gateways.sms
        if self.challenges is None or sms is None:
            return False
        two_step = self._open_challenge(aggregate_id, challenge_id)
        if two_step is None:
            return False
        code = self.challenges.sms_code(two_step.account_id, challenge_id)
        phones = [f.phone for f in two_step.factors if f.phone]
        if code is None or not phones:
            return False
        sms.send(phones[-1], f"Your sign-in code is {code}. It expires in minutes.")
        return True

    def _open_challenge(self, aggregate_id: UUID, challenge_id: UUID) -> TwoStep | None:
        """The two-step record while its challenge is still open: else nothing to send."""
        two_step = self.log.find(aggregate_id, TwoStep)
        challenge = None if two_step is None else two_step.challenges.get(challenge_id)
        if challenge is None or not challenge.is_open(self.clock.now()):
            return None
        return two_step

    def send_push(self, aggregate_id: UUID, challenge_id: UUID) -> bool:
        push = None if self._gateways is None else self._gateways.push
        if push is None:
            return False
        two_step = self._open_challenge(aggregate_id, challenge_id)
        if two_step is None:
            return False
        devices = [f.label for f in two_step.factors if f.kind.value == "push"]
        push.send(
            devices[-1] if devices else "",
            str(challenge_id),
            PUSH_TEXT,  # never the number: the user reads it off the page (ASVS 6.6.4)
        )
        return True
