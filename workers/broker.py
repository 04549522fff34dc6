"""The process's Dramatiq broker, installed once before any actor is declared.

Dramatiq's rule: an actor is declared on the broker current at its declaration. A
``dramatiq`` worker process installs its Redis broker first (its composition root,
``infrastructure.workerprocess``, is the module the ``dramatiq`` command names); anywhere
else the actors are declared on an in-memory broker, and each embedded engine moves them
onto a fresh one of its own.
"""

from __future__ import annotations

import os

import dramatiq
from dramatiq.brokers.redis import RedisBroker
from dramatiq.brokers.stub import StubBroker
from dramatiq.middleware import CurrentMessage

from workers.heap import FreezeAfterFirstJob
from workers.wakingredis import WakingRedisBroker

QUEUE = "mailhost"
# Dramatiq's variable: set, the worker processes serve its Prometheus metrics there.
PROMETHEUS_PORT = "dramatiq_prom_port"

_broker: dramatiq.Broker | None = None


def make_broker(url: str | None) -> dramatiq.Broker:
    """Redis at ``url`` (checked by the settings), else an in-memory broker.

    On Redis, an enqueue wakes the idle workers of its queue (``workers.wakingredis``):
    Dramatiq's own consumer would look again only after sleeping up to a second.
    """
    if url:
        broker: dramatiq.Broker = WakingRedisBroker(url=url)
    else:
        broker = StubBroker()
    # Actors read their message id (the job id) to mark the job done.
    broker.add_middleware(CurrentMessage())
    broker.declare_queue(QUEUE)
    return broker


def install(broker: dramatiq.Broker) -> dramatiq.Broker:
    """Make ``broker`` the process's: the actors declared after this call run on it."""
    global _broker  # noqa: PLW0603 - Dramatiq's broker is process-wide by design
    _broker = broker
    if isinstance(broker, RedisBroker):
        # A worker process (``dramatiq infrastructure.workerprocess``): it runs until
        # stopped, so its start-up objects are kept out of full collections.
        broker.add_middleware(FreezeAfterFirstJob())
        if os.environ.get(PROMETHEUS_PORT):
            _add_prometheus(broker)
    dramatiq.set_broker(broker)
    return broker


def _add_prometheus(broker: dramatiq.Broker) -> None:
    """Dramatiq's own metrics (messages, errors, retries, durations) for the workers.

    Configured by Dramatiq's own variables, which its middleware reads on import; its
    exposition server would listen on every interface unless told otherwise, so it is
    told loopback unless the operator chose.
    """
    os.environ.setdefault("dramatiq_prom_host", "127.0.0.1")
    from dramatiq.middleware.prometheus import Prometheus  # noqa: PLC0415 - reads the variables on import

    broker.add_middleware(Prometheus())


def current() -> dramatiq.Broker:
    """The installed broker; an in-memory one if the process installed none."""
    if _broker is not None:
        return _broker
    return install(make_broker(None))


def embedded_broker(actors: list[dramatiq.Actor[..., None]]) -> dramatiq.Broker:
    """A fresh in-memory broker for one embedded engine, the actors moved onto it.

    A broker per engine, not per process: an engine closed and another opened (tests,
    a service that reconfigures) must not inherit the old one's queues and workers.
    """
    if isinstance(_broker, RedisBroker):
        # A worker process's actors are on Redis: moving them would strand its queue.
        raise ValueError(  # noqa: TRY004 - a configuration conflict, not an argument's type
            "an embedded engine cannot run in a process set up for Redis"
        )
    broker = make_broker(None)
    dramatiq.set_broker(broker)
    for actor in actors:
        actor.broker = broker
        broker.declare_actor(actor)
    return broker
