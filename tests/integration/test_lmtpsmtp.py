"""The reply sender's kept SMTP sessions, against the real SMTP sink."""

from __future__ import annotations

import socket
from email.message import EmailMessage
from typing import TYPE_CHECKING

from application.ports import OutgoingMail
from infrastructure.lmtpsmtp import KeptSessions, keep_sessions
from infrastructure.mail import OutboxMailSender, SmtpMailSender

if TYPE_CHECKING:
    from pathlib import Path

    from tests.servers import SmtpSink


def _reply(n: int) -> OutgoingMail:
    message = EmailMessage()
    message["From"] = "info@example.org"
    message["To"] = f"s{n}@example.net"
    message["Subject"] = f"Auto: question {n}"
    message["Message-ID"] = f"<reply{n}@example.org>"
    message.set_content("On holiday.")
    return OutgoingMail("", (f"s{n}@example.net",), message)


def test_one_session_carries_many_replies_and_a_closed_one_is_replaced(
    smtp: SmtpSink,
) -> None:
    sender = SmtpMailSender(smtp.url)
    kept = keep_sessions(sender)
    assert isinstance(kept, KeptSessions)
    sender.send(_reply(1))
    first = kept._local.smtp
    sender.send(_reply(2))
    assert kept._local.smtp is first
    # The server side goes away (an idle timeout): the next send reconnects.
    first.sock.shutdown(socket.SHUT_RDWR)
    sender.send(_reply(3))
    assert kept._local.smtp is not first
    kept.close()
    got = smtp.wait_for(3)
    assert sorted(m.message["Message-ID"] for m in got) == [
        "<reply1@example.org>",
        "<reply2@example.org>",
        "<reply3@example.org>",
    ]


def test_an_outbox_is_left_as_it_is(tmp_path: Path) -> None:
    assert keep_sessions(OutboxMailSender(tmp_path / "outbox")) is None
