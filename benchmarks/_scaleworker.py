"""The ``scale`` group's worker process: the production one, plus a note of each job's start.

``dramatiq benchmarks._scaleworker``: the same composition root as
``infrastructure.workerprocess``, with a Dramatiq middleware that appends, as a worker
thread takes up a message (before the actor runs, so before its claim), the wall-clock
time and the job's first argument to the file ``MAILHOST_BENCH_STARTS`` names. That is
the "job starting on a Redis worker" the latency is measured to; the job's done time
would add the send itself.
"""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

import dramatiq
from dramatiq.broker import MessageProxy
from dramatiq.middleware import Middleware

from benchmarks.scale import STARTS
from infrastructure.workerprocess import broker


class StartNotes(Middleware):
    """One line per delivery taken up: ``<wall seconds> <first argument>``."""

    def __init__(self, path: str) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()

    def before_process_message(
        self, _broker: dramatiq.Broker, message: MessageProxy
    ) -> None:
        at = time.time()
        first = str(message.args[0]) if message.args else ""
        with self._lock, self.path.open("a", encoding="ascii") as out:
            out.write(f"{at!r} {first}\n")


broker.add_middleware(StartNotes(os.environ[STARTS]))
