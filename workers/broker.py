"""The process's Dramatiq broker, set once before any actor is declared.

Redis when ``MAILHOST_BROKER_URL`` says so (``dramatiq workers`` processes), else the
in-memory broker that the embedded engine drives with an in-process worker.
"""

from __future__ import annotations

import dramatiq
from dramatiq.brokers.redis import RedisBroker
from dramatiq.brokers.stub import StubBroker
from dramatiq.middleware import CurrentMessage

QUEUE = "mailhost"

_broker: dramatiq.Broker | None = None


def make_broker(url: str | None) -> dramatiq.Broker:
    if url:
        if not url.startswith(("redis://", "rediss://", "unix://")):
            raise ValueError("MAILHOST_BROKER_URL must be a redis:// URL")
        broker: dramatiq.Broker = RedisBroker(url=url)  # type: ignore[no-untyped-call]
    else:
        broker = StubBroker()
    # Actors read their message id (the job id) to mark the job done.
    broker.add_middleware(CurrentMessage())
    broker.declare_queue(QUEUE)
    return broker


def current() -> dramatiq.Broker:
    """The worker process's broker, from the one reader of configuration."""
    global _broker  # noqa: PLW0603 - Dramatiq's broker is process-wide by design
    if _broker is None:
        from infrastructure.settings import Settings  # noqa: PLC0415 - composition root

        _broker = make_broker(Settings.from_env().broker_url)
        dramatiq.set_broker(_broker)
    return _broker


def embedded_broker(actors: list[dramatiq.Actor[..., None]]) -> dramatiq.Broker:
    """A fresh in-memory broker for one embedded engine, the actors moved onto it.

    A broker per engine, not per process: an engine closed and another opened (tests,
    a service that reconfigures) must not inherit the old one's queues and workers.
    """
    broker = make_broker(None)
    dramatiq.set_broker(broker)
    for actor in actors:
        actor.broker = broker
        broker.declare_actor(actor)
    return broker
