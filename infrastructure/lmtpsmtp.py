"""The reply sender's SMTP sessions: one kept open per sending thread, not one per reply.

``infrastructure.mail.SmtpMailSender`` opens a connection for every message (connect,
greeting, EHLO, maybe STARTTLS and AUTH, then QUIT): for the listener's reply sender,
which sends one short reply after another to the same relay, that is most of the cost
of a send on both ends. Here each thread keeps its session; a session the server
closed meanwhile (an idle timeout, a restart) is noticed at the next send, which is
made once more on a new session. A failure on a new session is the send's own, raised
as before (the job is retried by its schedule). Every socket keeps the sender's
timeout, so a stuck server still cannot hold a job past it.
"""

from __future__ import annotations

import contextlib
import smtplib
import ssl
import threading

from application.ports import MailSender, OutgoingMail
from infrastructure.mail import SMTP_TIMEOUT_S, SmtpMailSender

# What a session the server has closed looks like at the next command.
_STALE = (smtplib.SMTPServerDisconnected, ConnectionError, BrokenPipeError)


class KeptSessions:
    """``send`` for one ``SmtpMailSender``'s server, over kept sessions."""

    def __init__(self, sender: SmtpMailSender) -> None:
        self.sender = sender
        self._local = threading.local()
        self._lock = threading.Lock()
        self._open: set[smtplib.SMTP] = set()

    def send(self, mail: OutgoingMail) -> None:
        smtp: smtplib.SMTP | None = getattr(self._local, "smtp", None)
        if smtp is not None:
            try:
                self._send(smtp, mail)
            except _STALE:
                self._drop(smtp)
            else:
                return
        smtp = self._connect()
        try:
            self._send(smtp, mail)
        except _STALE:
            self._drop(smtp)
            raise

    @staticmethod
    def _send(smtp: smtplib.SMTP, mail: OutgoingMail) -> None:
        smtp.send_message(
            mail.message, from_addr=mail.envelope_from, to_addrs=list(mail.recipients)
        )

    def _connect(self) -> smtplib.SMTP:
        s = self.sender
        host, port = s._host, s._port  # noqa: SLF001 - the settings it parsed
        context = ssl.create_default_context()
        smtp = (
            smtplib.SMTP_SSL(host, port, timeout=SMTP_TIMEOUT_S, context=context)
            if s._tls  # noqa: SLF001 - as above
            else smtplib.SMTP(host, port, timeout=SMTP_TIMEOUT_S)
        )
        try:
            if s._starttls:  # noqa: SLF001 - as above
                smtp.starttls(context=context)
            if s._user:  # noqa: SLF001 - as above
                smtp.login(s._user, s._password)  # noqa: SLF001 - as above
        except BaseException:
            smtp.close()
            raise
        self._local.smtp = smtp
        with self._lock:
            self._open.add(smtp)
        return smtp

    def _drop(self, smtp: smtplib.SMTP) -> None:
        self._local.smtp = None
        with self._lock:
            self._open.discard(smtp)
        smtp.close()

    def close(self) -> None:
        """QUIT every kept session (at the sender's exit)."""
        with self._lock:
            sessions, self._open = self._open, set()
        for smtp in sessions:
            with contextlib.suppress(smtplib.SMTPException, OSError):
                smtp.quit()
            smtp.close()


def keep_sessions(mail: MailSender) -> KeptSessions | None:
    """The SMTP sender's ``send`` switched to kept sessions (None: not SMTP, as is).

    The engine's mail sender is one object every use case holds; the sender process
    switches that object's ``send`` rather than building an engine of its own wiring.
    """
    if not isinstance(mail, SmtpMailSender):
        return None
    kept = KeptSessions(mail)
    setattr(mail, "send", kept.send)  # noqa: B010 - an instance's method, on purpose
    return kept
