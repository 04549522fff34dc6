"""The engine an actor calls: the embedding process's own, or one its composition root builds.

The workers never build an engine themselves (that would point them at the adapters):
an embedded engine hands over its own objects (``use``), and a worker process's
composition root gives a factory (``provide``) that is called on the first job.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TYPE_CHECKING

from workers.execution import Running

if TYPE_CHECKING:
    from application.host import MailHost

_lock = threading.Lock()
_engine: Running | None = None
_factory: Callable[[], Running] | None = None


def use(running: Running) -> None:
    """Called by the embedded engine so in-process actors share its objects.

    Dramatiq's broker is process-wide, so one embedded engine runs per process at a time.
    """
    global _engine  # noqa: PLW0603 - one engine per worker process
    with _lock:
        if _engine is not None and _engine.host is not running.host:
            raise RuntimeError(
                "another embedded engine is open in this process; close it"
            )
        _engine = running


def provide(factory: Callable[[], Running]) -> None:
    """Called by a worker process's composition root: how to build its engine, once."""
    global _factory  # noqa: PLW0603 - one composition root per worker process
    with _lock:
        _factory = factory


def release(host: MailHost) -> None:
    global _engine  # noqa: PLW0603 - one engine per worker process
    with _lock:
        if _engine is not None and _engine.host is host:
            _engine = None


def engine() -> Running:
    global _engine  # noqa: PLW0603 - built on the first job, then shared
    with _lock:
        if _engine is None:
            if _factory is None:
                raise RuntimeError(
                    "no engine for the actors: run them with"
                    " `dramatiq infrastructure.workerprocess` or an embedded engine"
                )
            _engine = _factory()
        return _engine
