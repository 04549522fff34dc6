"""The actors. Each takes ids, calls one use case, and marks its job done."""

from __future__ import annotations

from uuid import UUID

import dramatiq
from dramatiq.middleware import CurrentMessage

from workers.broker import QUEUE, current
from workers.context import engine

broker = current()


def _done() -> None:
    message = CurrentMessage.get_current_message()
    if message is not None:
        host, jobs = engine()
        jobs.complete(message.message_id, host.alerts.clock.now())


@dramatiq.actor(
    actor_name="send_security_alert",
    queue_name=QUEUE,
    broker=broker,
    max_retries=20,
    min_backoff=1_000,
    max_backoff=600_000,
)
def send_security_alert(account_id: str, key: str) -> None:
    """SEC-1/SEC-2/SEC-4 mail; a repeated delivery finds nothing pending and sends nothing."""
    host, _ = engine()
    host.alerts.send(UUID(account_id), key)
    _done()


@dramatiq.actor(
    actor_name="send_auto_reply",
    queue_name=QUEUE,
    broker=broker,
    max_retries=20,
    min_backoff=1_000,
    max_backoff=600_000,
)
def send_auto_reply(reply_id: str) -> None:
    """RSP-8: retried until the mail server accepts; a repeat finds it sent already."""
    host, _ = engine()
    host.responders.send_reply(UUID(reply_id))
    _done()


ACTORS: list[dramatiq.Actor[..., None]] = [send_security_alert, send_auto_reply]
