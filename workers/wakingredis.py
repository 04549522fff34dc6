"""Dramatiq's Redis broker with a wake-up: an idle worker is told a message arrived.

Dramatiq's Redis consumer polls: when a fetch finds nothing it sleeps, longer after each
miss, up to the worker's timeout (a second by default), so a job enqueued on an idle
worker waits half a second on average before anyone looks. Here every enqueue also
publishes on a channel of its queue, and an idle consumer waits on that channel (for the
same timeout at most) instead of sleeping: it fetches as soon as a message is there.

The fetch stays Dramatiq's own (its Lua script, its heartbeats, its acks); a missed
publish (Redis restarting) only costs the timeout, as before. A consumer whose
prefetch is full still sleeps as Dramatiq does: a publish would not give it room.
"""

from __future__ import annotations

from contextlib import suppress
from typing import Any

import redis
from dramatiq import Message
from dramatiq.broker import MessageProxy
from dramatiq.brokers.redis import RedisBroker, _RedisConsumer
from dramatiq.errors import ConnectionClosed


def channel(namespace: str, queue_name: str) -> str:
    """The channel a queue's enqueues are announced on (its delay queue has its own)."""
    return f"{namespace}:wake:{queue_name}"


class WakingRedisBroker(RedisBroker):
    """A Redis broker whose enqueues wake the idle consumers of their queue."""

    def __init__(self, url: str) -> None:
        super().__init__(url=url)  # type: ignore[no-untyped-call]

    @property
    def consumer_class(self) -> type[_RedisConsumer]:
        return _WakingConsumer

    def enqueue(
        self, message: Message[Any], *, delay: int | None = None
    ) -> Message[Any]:
        """Dramatiq's enqueue, then the wake-up; a wake-up that fails is not a failed send.

        The message is in Redis once Dramatiq's enqueue returned: a relay told it
        failed would give its hand-over back and send it again. An unannounced message
        waits for the worker's idle timeout at most.
        """
        sent: Message[Any] = super().enqueue(message, delay=delay)
        with suppress(redis.RedisError):
            self.client.publish(channel(self.namespace, sent.queue_name), b"")
        return sent


class _WakingConsumer(_RedisConsumer):
    """Dramatiq's consumer, waiting on its queue's channel when a fetch finds nothing."""

    def __init__(
        self, broker: WakingRedisBroker, queue_name: str, prefetch: int, timeout: int
    ) -> None:
        super().__init__(broker, queue_name, prefetch, timeout)  # type: ignore[no-untyped-call]
        self.idle_ms = timeout
        self._pubsub: redis.client.PubSub | None = None

    def __next__(self) -> MessageProxy | None:
        has_room = self.outstanding_message_count < self.prefetch
        # With room, Dramatiq's sleep after a miss is cut to nothing: the wait below
        # replaces it. Without room, its sleep (up to the timeout) is kept.
        self.timeout = 0 if has_room else self.idle_ms
        message: MessageProxy | None = super().__next__()  # type: ignore[no-untyped-call]
        if message is None and has_room:
            self._wait()
        return message

    def _wait(self) -> None:
        """Until a publish on the queue's channel, or the idle timeout."""
        try:
            if self._pubsub is None:
                pubsub = self.broker.client.pubsub(ignore_subscribe_messages=True)
                pubsub.subscribe(channel(self.broker.namespace, self.queue_name))
                self._pubsub = pubsub
                return  # subscribed now: fetch once more before trusting the channel
            if self._pubsub.get_message(timeout=self.idle_ms / 1000) is not None:
                # Several enqueues, one fetch: the announcements already read say no more.
                while self._pubsub.get_message(timeout=0.0) is not None:
                    pass
        except redis.ConnectionError as e:
            self.close()
            raise ConnectionClosed(e) from None  # type: ignore[no-untyped-call]

    def close(self) -> None:
        pubsub, self._pubsub = self._pubsub, None
        if pubsub is not None:
            with suppress(redis.RedisError):  # closing a dead connection
                pubsub.close()
        super().close()
