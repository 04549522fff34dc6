"""The engine an actor calls: the embedding process's own, or one built from the env."""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING

from workers.execution import Running

if TYPE_CHECKING:
    from application.host import MailHost

_lock = threading.Lock()
_engine: Running | None = None


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


def release(host: MailHost) -> None:
    global _engine  # noqa: PLW0603
    with _lock:
        if _engine is not None and _engine.host is host:
            _engine = None


def engine() -> Running:
    global _engine  # noqa: PLW0603
    with _lock:
        if _engine is None:
            from infrastructure.bootstrap import open_engine  # noqa: PLC0415 - composition root

            built = open_engine(background=False)
            _engine = Running(built.host, built.jobs, built.leases)
        return _engine
