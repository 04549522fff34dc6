"""Text messages (SMS codes) through an outbox file by default, or a signed POST.

The text holds a code: it is written only to the 0600 outbox or to the gateway, never
to a log or an error message.
"""

from __future__ import annotations

from infrastructure.gateways import Delivering, HttpGateway, OutboxGateway

OUTBOX_NAME = "sms.jsonl"


def sms_message(e164: str, text: str) -> dict[str, object]:
    return {"kind": "sms", "to": e164, "text": text}


class _Sms:
    def send(self: Delivering, e164: str, text: str) -> None:
        self.deliver(sms_message(e164, text))


class OutboxSmsGateway(_Sms, OutboxGateway):
    """The embedded default: ``$MAILHOST_HOME/outbox/sms.jsonl``, 0600."""

    outbox_name = OUTBOX_NAME


class HttpSmsGateway(_Sms, HttpGateway):
    """POSTs the text as signed JSON to the SMS provider's gateway."""

    what = "SMS gateway"
