"""The work that follows the log (projections, job dispatch) as the embedder sees it."""

from typing import Protocol


class Background(Protocol):
    def settle(self, timeout: float = 30.0) -> None:
        """Block until every event so far is projected and every due job has run.

        Embedded callers (the demo, tests, a request handler that reads its own
        writes) use it; with Redis workers it waits for the queue to drain.
        """
        ...

    def close(self) -> None: ...
