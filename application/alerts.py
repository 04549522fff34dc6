"""Security alert mails (SEC-1, SEC-2, SEC-4), sent by a worker from a pending alert.

The log decides that a mail is due (a pending alert on the account); this use case sends
it and records that it went out. Sending first and recording second means a crash can
only cause a repeat, which carries the same Message-ID, never a lost alert. A second
delivery of the same job finds nothing pending and sends nothing.
"""

from __future__ import annotations

from email.message import EmailMessage
from email.utils import format_datetime
from uuid import UUID

from attrs import frozen

from application.log import MailHostLog
from application.ports import Clock, EngineMail, OutgoingMail
from domain.account import UserAccount
from domain.security import AlertKind, PendingAlert
from domain.text import neutralise

SUBJECTS = {
    AlertKind.NEW_LOCATION: "Security alert: new sign-in to your account",
    AlertKind.FAILED_LOGIN: "Security alert: wrong password entered for your account",
    AlertKind.SECURITY_CHANGE: "Security alert: your account settings changed",
}

ADVICE = (
    "If this was you, you can ignore this message. If it was not you, open your account\n"
    "settings yourself (type the address you always use; do not follow links in mails)\n"
    "and check the recent-activity list, then enable two-step verification, change your\n"
    "account password and the passwords of your mail addresses.\n"
    "\n"
    "This message contains no links on purpose: a real security mail never asks you to\n"
    "click anything."
)


@frozen
class SecurityAlerts:
    log: MailHostLog
    mail: EngineMail
    clock: Clock

    def send(self, account_id: UUID, key: str) -> bool:
        """Send the pending alert ``key`` if it is still pending; True if a mail went out."""
        account = self.log.find(account_id, UserAccount)
        pending = account.pending_alerts.get(key) if account is not None else None
        if account is None or pending is None:
            return False
        self.mail.send(self.compose(account, key, pending))
        self.log.retrying(lambda: self._record(account_id, key))
        return True

    def _record(self, account_id: UUID, key: str) -> None:
        account = self.log.load(account_id, UserAccount, "account")
        if key in account.pending_alerts:
            account.record_alert_sent(key, at=self.clock.now())
            self.log.save(account)

    def compose(
        self, account: UserAccount, key: str, alert: PendingAlert
    ) -> OutgoingMail:
        message = EmailMessage()
        message["From"] = self.mail.sender
        message["To"] = account.login
        message["Subject"] = SUBJECTS[alert.kind]
        message["Date"] = format_datetime(alert.last_at)
        message["Message-ID"] = self.mail.message_id("alert", f"{account.id}:{key}")
        message["Auto-Submitted"] = "auto-generated"
        text = alert_text(account, alert)
        message.set_content(text, cte="7bit" if text.isascii() else "quoted-printable")
        return OutgoingMail(
            envelope_from=self.mail.sender, recipients=(account.login,), message=message
        )


def alert_text(account: UserAccount, alert: PendingAlert) -> str:
    """The body: the provider's own words around neutralised outside text (ADV-5).

    The User-Agent and the place are whatever the attempt sent or geolocation said, and
    the display name was typed by a person: none of them may carry a link, an escape
    sequence or a page of text into a mail the provider signs with its own name.
    """
    when = f"{alert.first_at:%Y-%m-%d %H:%M} UTC"
    name = neutralise(account.display_name) if account.display_name else ""
    lines = [f"Hello {name or account.login},", ""]
    if alert.kind is AlertKind.NEW_LOCATION:
        lines.append(
            "Your account was signed in to from a device or place not seen before."
        )
    elif alert.kind is AlertKind.FAILED_LOGIN:
        span = f"between {when} and {alert.last_at:%H:%M} UTC"
        lines.append(
            f"A wrong password was entered for your account {alert.count} "
            f"time{'s' if alert.count != 1 else ''} {span}."
        )
    else:
        lines.append(alert.detail)
    lines.append("")
    lines.append(f"  When:   {when}")
    if alert.context is not None:
        place = neutralise(alert.context.place) or "unknown place"
        network = neutralise(alert.context.network, max_length=50)
        device = neutralise(alert.context.user_agent) or "unknown device"
        lines.append(f"  Where:  {place} (network {network})")
        lines.append(f"  Device: {device}")
    lines += ["", ADVICE, ""]
    return "\n".join(lines)
