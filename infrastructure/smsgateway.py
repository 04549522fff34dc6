"""Text messages (SMS codes) through an outbox file by default, or a signed POST.

The text holds a code: it is written only to the 0600 outbox or to the gateway, never
to a log or an error message.
"""

from __future__ import annotations

from pathlib import Path

from infrastructure.gateways import DEFAULT_TIMEOUT_S, JsonLinesOutbox, SignedPoster

OUTBOX_NAME = "sms.jsonl"


def sms_message(e164: str, text: str) -> dict[str, object]:
    return {"kind": "sms", "to": e164, "text": text}


class OutboxSmsGateway:
    """The embedded default: ``$MAILHOST_HOME/outbox/sms.jsonl``, 0600."""

    def __init__(self, outbox: Path) -> None:
        self._file = JsonLinesOutbox(outbox / OUTBOX_NAME)

    @property
    def path(self) -> Path:
        return self._file.path

    def __repr__(self) -> str:
        return f"OutboxSmsGateway({str(self.path)!r})"

    def send(self, e164: str, text: str) -> None:
        self._file.append(sms_message(e164, text))


class HttpSmsGateway:
    """POSTs the text as signed JSON to the SMS provider's gateway."""

    def __init__(
        self, url: str, key: bytes, timeout: float = DEFAULT_TIMEOUT_S
    ) -> None:
        self._poster = SignedPoster(url, key, what="SMS gateway", timeout=timeout)

    def __repr__(self) -> str:
        return f"HttpSmsGateway({self._poster!r})"

    def send(self, e164: str, text: str) -> None:
        self._poster.post(sms_message(e164, text))
