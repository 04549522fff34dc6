"""A long-running process's start-up objects, kept out of the collector's full passes.

A follower (``mailhost run ...``) or a worker process holds a few hundred thousand
objects that live as long as it does: modules, classes, the codec's and the engine's
tables. CPython's full collection walks every one of them each time enough new objects
have survived, every few seconds of steady work; on two busy cores one pass took 100 to
300 ms (measured with ``gc.callbacks`` in the scale benchmark), and a job handed over or
taken up meanwhile waited for it: most of the command-to-job p99. Frozen once the
process is up (``gc.freeze``), they are never scanned again, and a full pass walks only
what came after. Only for processes that run until stopped: a frozen object is never
freed, so a test process that opens engine after engine must not call it.
"""

from __future__ import annotations

import gc
import threading

import dramatiq
from dramatiq.broker import MessageProxy
from dramatiq.middleware import Middleware


def freeze_startup() -> None:
    """Collect once (start-up garbage is freed, not kept), then freeze what is left."""
    gc.collect()
    gc.freeze()


class FreezeAfterFirstJob(Middleware):
    """A worker process builds its engine on its first job: frozen after that one.

    Also frozen as the worker boots, so the imports are out of the passes from the
    start; objects of later jobs are collected as usual.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._done = False

    def after_worker_boot(self, _broker: dramatiq.Broker, _worker: object) -> None:
        freeze_startup()

    def after_process_message(
        self,
        _broker: dramatiq.Broker,
        _message: MessageProxy,
        *,
        result: object = None,  # noqa: ARG002 - Dramatiq's hook signature
        exception: BaseException | None = None,  # noqa: ARG002 - Dramatiq's hook signature
    ) -> None:
        with self._lock:
            if self._done:
                return
            self._done = True
        freeze_startup()
