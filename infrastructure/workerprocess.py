"""The worker process's composition root: ``dramatiq infrastructure.workerprocess``.

Importing it puts a ``dramatiq`` worker process together, in Dramatiq's order: the
broker the settings name is installed before any actor is declared, the actors are
given a factory for the engine they run against (built on the first job, from the same
settings), and only then is ``workers.actors`` imported, which declares them on that
broker. The workers themselves never import an adapter.
"""

from __future__ import annotations

from infrastructure.bootstrap import open_engine
from infrastructure.settings import Settings
from workers import broker as brokers
from workers import context
from workers.execution import Running


def _engine() -> Running:
    """The engine of this process: no relay thread (``mailhost run`` relays)."""
    return open_engine(background=False).running()


broker = brokers.install(brokers.make_broker(Settings.from_env().broker_url))
context.provide(_engine)

import workers.actors  # noqa: E402, F401 - declared only now, on the broker installed above
