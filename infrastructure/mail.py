"""The two ways mail leaves: SMTP to a real server, or .eml files in an outbox folder."""

from __future__ import annotations

import hashlib
import json
import os
import smtplib
import ssl
import threading
from email.utils import make_msgid
from pathlib import Path
from urllib.parse import unquote, urlsplit

from application.ports import OutgoingMail
from infrastructure.files import PRIVATE_DIR, PRIVATE_FILE, secure_outbox

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
    """Writes each message as ``NAME.eml`` with its envelope in ``NAME.envelope.json``.

    The envelope stays out of the message: it lists Bcc recipients, and a relay that
    delivered the file as it is would show them to every recipient (SND-2). Both files
    are 0600 in a 0700 folder, and the envelope is in place before the ``.eml`` appears.

    ``NAME`` is the Message-ID's digest, then the digest of the bytes and the envelope:
    the same job sent twice (same Message-ID, same bytes) writes the same files, which
    keeps the outbox as idempotent as a Message-ID-aware mail server, while two distinct
    sends that share a Message-ID get two names instead of one silently replacing the
    other.
    """

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        folder.mkdir(mode=PRIVATE_DIR, parents=True, exist_ok=True)
        secure_outbox(folder)

    def send(self, mail: OutgoingMail) -> None:
        message = mail.message
        if message["Message-ID"] is None:
            # The file is named after it: without one, mails would replace each other.
            message["Message-ID"] = make_msgid()
        data = message.as_bytes()
        envelope = json.dumps(
            {"mail_from": mail.envelope_from, "rcpt_to": list(mail.recipients)},
            ensure_ascii=False,
            indent=1,
        ).encode()
        job = hashlib.sha256(str(message["Message-ID"]).encode()).hexdigest()[:24]
        content = hashlib.sha256(envelope + b"\0" + data).hexdigest()[:12]
        name = f"{job}-{content}"
        self._write(f"{name}.envelope.json", envelope)
        self._write(f"{name}.eml", data)

    def _write(self, name: str, data: bytes) -> None:
        tmp = self.folder / f".{name}.{os.getpid()}.{threading.get_ident()}.tmp"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, PRIVATE_FILE)
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        tmp.replace(self.folder / name)
