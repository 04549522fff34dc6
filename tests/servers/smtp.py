"""An SMTP sink in the test process: every message kept for assertions."""

from __future__ import annotations

import email
import email.policy
import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING

from aiosmtpd.controller import Controller

from tests.servers.process import (
    LOCALHOST,
    PORT_ATTEMPTS,
    START_TIMEOUT,
    StoppedOnExit,
    free_port,
)

if TYPE_CHECKING:
    from email.message import EmailMessage

    from aiosmtpd.smtp import SMTP, Envelope, Session


@dataclass(frozen=True)
class ReceivedMessage:
    """One SMTP transaction as the sink saw it; the envelope may differ from headers."""

    mail_from: str
    rcpt_tos: list[str]
    data: bytes
    message: EmailMessage


class _SinkHandler:
    def __init__(self, sink: SmtpSink) -> None:
        self._sink = sink

    async def handle_DATA(  # noqa: N802 - aiosmtpd's hook name
        self, _server: SMTP, _session: Session, envelope: Envelope
    ) -> str:
        raw = envelope.original_content
        if raw is None:
            content = envelope.content
            raw = (
                content.encode("utf-8", "surrogateescape")
                if isinstance(content, str)
                else content or b""
            )
        self._sink._record(
            ReceivedMessage(
                mail_from=envelope.mail_from or "",
                rcpt_tos=list(envelope.rcpt_tos),
                data=raw,
                message=email.message_from_bytes(raw, policy=email.policy.default),
            )
        )
        return "250 Message accepted for delivery"


class SmtpSink(StoppedOnExit):
    """An SMTP server that accepts everything and keeps it for assertions.

    It runs in a thread of the test process (aiosmtpd's Controller), so the
    messages are plain Python objects, without any parsing of logs or mbox files.
    """

    def __init__(self) -> None:
        self.host = LOCALHOST
        self.messages: list[ReceivedMessage] = []
        self._arrived = threading.Condition()
        self._controller: Controller | None = None
        for _ in range(PORT_ATTEMPTS):
            port = free_port()
            controller = Controller(
                _SinkHandler(self),
                hostname=LOCALHOST,
                port=port,
                ready_timeout=START_TIMEOUT,
                enable_SMTPUTF8=True,
            )
            try:
                controller.start()
            except OSError:
                continue
            self._controller = controller
            self.port = port
            self.url = f"smtp://{LOCALHOST}:{port}"
            return
        msg = f"SMTP sink found no free port on {LOCALHOST} in {PORT_ATTEMPTS} tries"
        raise RuntimeError(msg)

    def __repr__(self) -> str:
        return f"SmtpSink(url={self.url!r}, messages={len(self.messages)})"

    def _record(self, message: ReceivedMessage) -> None:
        with self._arrived:
            self.messages.append(message)
            self._arrived.notify_all()

    def clear(self) -> None:
        with self._arrived:
            self.messages.clear()

    def wait_for(self, n: int, timeout: float = 10.0) -> list[ReceivedMessage]:
        """Delivery is usually asynchronous (workers, queues): wait, don't sleep."""
        with self._arrived:
            if not self._arrived.wait_for(lambda: len(self.messages) >= n, timeout):
                got = len(self.messages)
                msg = f"expected at least {n} message(s) within {timeout}s, got {got}"
                raise TimeoutError(msg)
            return list(self.messages)

    def stop(self) -> None:
        controller, self._controller = self._controller, None
        if controller is not None:
            controller.stop()


def start_smtp_sink() -> SmtpSink:
    return SmtpSink()
