"""The two ways mail leaves: SMTP to a real server, or .eml files in an outbox folder."""

from __future__ import annotations

import hashlib
import os
import smtplib
import ssl
from email.utils import make_msgid
from pathlib import Path
from urllib.parse import unquote, urlsplit

from application.mail import OutgoingMail

SMTP_TIMEOUT_S = 30


class SmtpMailSender:
    """``smtp://[user:pass@]host[:port][?starttls=1]`` or ``smtps://...``.

    Each send opens its own connection with a socket timeout: a Dramatiq time limit
    cannot interrupt a blocked socket.
    """

    def __init__(self, url: str) -> None:
        parts = urlsplit(url)
        if parts.scheme not in {"smtp", "smtps"} or not parts.hostname:
            raise ValueError("MAILHOST_SMTP_URL must look like smtp://host:port")
        self._tls = parts.scheme == "smtps"
        self._starttls = "starttls=1" in parts.query
        self._host = parts.hostname
        self._port = parts.port or (465 if self._tls else 25)
        self._user = unquote(parts.username or "")
        self._password = unquote(parts.password or "")

    def __repr__(self) -> str:
        return f"SmtpMailSender({self._host}:{self._port})"

    def send(self, mail: OutgoingMail) -> None:
        smtp: smtplib.SMTP
        if self._tls:
            smtp = smtplib.SMTP_SSL(
                self._host,
                self._port,
                timeout=SMTP_TIMEOUT_S,
                context=ssl.create_default_context(),
            )
        else:
            smtp = smtplib.SMTP(self._host, self._port, timeout=SMTP_TIMEOUT_S)
        with smtp:
            if self._starttls:
                smtp.starttls(context=ssl.create_default_context())
            if self._user:
                smtp.login(self._user, self._password)
            smtp.send_message(
                mail.message,
                from_addr=mail.envelope_from,
                to_addrs=list(mail.recipients),
            )


class OutboxMailSender:
    """Writes each message as an .eml file named after its Message-ID.

    Sending the same message twice writes the same file, which makes the outbox as
    idempotent as a Message-ID-aware mail server. The envelope travels in
    ``X-Envelope-*`` headers so a later relay can deliver the file.
    """

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        folder.mkdir(parents=True, exist_ok=True)

    def send(self, mail: OutgoingMail) -> None:
        message = mail.message
        if message["Message-ID"] is None:
            # The file is named after it: without one, mails would replace each other.
            message["Message-ID"] = make_msgid()
        name = hashlib.sha256(str(message["Message-ID"]).encode()).hexdigest()[:24]
        data = (
            f"X-Envelope-From: <{mail.envelope_from}>\r\n"
            f"X-Envelope-To: {', '.join(f'<{r}>' for r in mail.recipients)}\r\n"
        ).encode() + message.as_bytes()
        tmp = self.folder / f".{name}.tmp"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        tmp.replace(self.folder / f"{name}.eml")
