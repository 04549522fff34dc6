"""The engine an actor calls: the embedding process's own, or one built from the env."""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from application.host import MailHost
    from projections.jobs import JobTable

_lock = threading.Lock()
_engine: tuple[MailHost, JobTable] | None = None


def use(host: MailHost, jobs: JobTable) -> None:
    """Called by the embedded engine so in-process actors share its objects.

    Dramatiq's broker is process-wide, so one embedded engine runs per process at a time.
    """
    global _engine  # noqa: PLW0603 - one engine per worker process
    with _lock:
        if _engine is not None and _engine[0] is not host:
            raise RuntimeError(
                "another embedded engine is open in this process; close it"
            )
        _engine = (host, jobs)


def release(host: MailHost) -> None:
    global _engine  # noqa: PLW0603
    with _lock:
        if _engine is not None and _engine[0] is host:
            _engine = None


def engine() -> tuple[MailHost, JobTable]:
    global _engine  # noqa: PLW0603
    with _lock:
        if _engine is None:
            from infrastructure.bootstrap import open_engine  # noqa: PLC0415 - composition root

            built = open_engine(background=False)
            _engine = (built.host, built.jobs)
        return _engine
