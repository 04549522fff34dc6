"""An iterator produced in a thread, a bounded number of items ahead of its consumer.

The copy of a folder alternates between reading from the source and writing to the
destination, two connections that each wait on their own server. Producing the next
group of messages while the previous one is appended overlaps the two waits; the bound
(``depth`` items in the queue, one being built, one being consumed) keeps memory flat.

The producer owns whatever it reads from (the source connection) for its whole life;
the consumer never touches it until ``close`` has joined the thread. An exception in
the producer is raised in the consumer, at the point its items would have come.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterable, Iterator
from types import TracebackType
from typing import Final, Generic, TypeVar, cast

__all__ = ["Prefetched"]

T = TypeVar("T")
_DONE: Final = object()
_POLL: Final = 0.05  # seconds a blocked producer waits before looking at the stop


class _Failed:
    def __init__(self, error: BaseException) -> None:
        self.error = error


class Prefetched(Generic[T]):
    """``with Prefetched(produce) as items: for item in items: ...``; leaving the block
    (normally, by an exception, or by a ``break``) stops the producer and joins it."""

    def __init__(self, produce: Callable[[], Iterable[T]], *, depth: int = 1) -> None:
        self._produce = produce
        self._queue: queue.Queue[object] = queue.Queue(maxsize=depth)
        self._stop = threading.Event()
        self._thread = threading.Thread(
            target=self._work, name="import-prefetch", daemon=True
        )
        self._started = False

    def __enter__(self) -> Iterator[T]:
        self._thread.start()
        self._started = True
        return self._items()

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        """Stop the producer after the item it is producing, and wait for it."""
        self._stop.set()
        self._drain()
        if self._started:
            self._thread.join()
        self._drain()

    def _drain(self) -> None:
        while True:
            try:
                self._queue.get_nowait()
            except queue.Empty:
                return

    def _items(self) -> Iterator[T]:
        while True:
            try:
                item = self._queue.get(timeout=_POLL)
            except queue.Empty:
                if self._thread.is_alive() or not self._queue.empty():
                    continue
                raise RuntimeError("the prefetching thread ended unannounced") from None
            if item is _DONE:
                return
            if isinstance(item, _Failed):
                raise item.error
            yield cast("T", item)

    def _put(self, item: object) -> bool:
        """Queue ``item`` unless the consumer stopped us; False when it did."""
        while not self._stop.is_set():
            try:
                self._queue.put(item, timeout=_POLL)
            except queue.Full:
                continue
            return not self._stop.is_set()
        return False

    def _work(self) -> None:
        try:
            produced = iter(self._produce())
            try:
                for item in produced:
                    if not self._put(item):
                        return
            finally:
                close = getattr(produced, "close", None)
                if close is not None:
                    close()  # a generator's own cleanup, in the thread that ran it
            self._put(_DONE)
        except BaseException as error:  # noqa: BLE001 - handed to the consumer, raised there
            self._put(_Failed(error))
