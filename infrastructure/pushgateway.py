"""Push challenges to the provider's app: an outbox file by default, or a signed POST.

The message names the device and the challenge, never the number the sign-in page shows:
the app asks the user to type that number (number matching against push-bombing, ASVS
6.6.4), so approving needs someone who sees the sign-in page.
"""

from __future__ import annotations

from pathlib import Path

from infrastructure.gateways import DEFAULT_TIMEOUT_S, JsonLinesOutbox, SignedPoster

OUTBOX_NAME = "push.jsonl"


def push_message(device_label: str, challenge_id: str, text: str) -> dict[str, object]:
    return {
        "kind": "push",
        "device": device_label,
        "challenge_id": challenge_id,
        "text": text,
    }


class OutboxPushGateway:
    """The embedded default: ``$MAILHOST_HOME/outbox/push.jsonl``, 0600."""

    def __init__(self, outbox: Path) -> None:
        self._file = JsonLinesOutbox(outbox / OUTBOX_NAME)

    @property
    def path(self) -> Path:
        return self._file.path

    def __repr__(self) -> str:
        return f"OutboxPushGateway({str(self.path)!r})"

    def send(self, device_label: str, challenge_id: str, text: str) -> None:
        self._file.append(push_message(device_label, challenge_id, text))


class HttpPushGateway:
    """POSTs the push as signed JSON to the provider's push gateway."""

    def __init__(
        self, url: str, key: bytes, timeout: float = DEFAULT_TIMEOUT_S
    ) -> None:
        self._poster = SignedPoster(url, key, what="push gateway", timeout=timeout)

    def __repr__(self) -> str:
        return f"HttpPushGateway({self._poster!r})"

    def send(self, device_label: str, challenge_id: str, text: str) -> None:
        self._poster.post(push_message(device_label, challenge_id, text))
