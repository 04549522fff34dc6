"""Push challenges to the provider's app: an outbox file by default, or a signed POST.

The message names the device and the challenge, never the number the sign-in page shows:
the app asks the user to type that number (number matching against push-bombing, ASVS
6.6.4), so approving needs someone who sees the sign-in page.
"""

from __future__ import annotations

from infrastructure.gateways import Delivering, HttpGateway, OutboxGateway

OUTBOX_NAME = "push.jsonl"


def push_message(device_label: str, challenge_id: str, text: str) -> dict[str, object]:
    return {
        "kind": "push",
        "device": device_label,
        "challenge_id": challenge_id,
        "text": text,
    }


class _Push:
    def send(self: Delivering, device_label: str, challenge_id: str, text: str) -> None:
        self.deliver(push_message(device_label, challenge_id, text))


class OutboxPushGateway(_Push, OutboxGateway):
    """The embedded default: ``$MAILHOST_HOME/outbox/push.jsonl``, 0600."""

    outbox_name = OUTBOX_NAME


class HttpPushGateway(_Push, HttpGateway):
    """POSTs the push as signed JSON to the provider's push gateway."""

    what = "push gateway"
