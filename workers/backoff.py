"""Retry with backoff, logged once per change of state rather than once per retry.

When PostgreSQL or Redis restarts, a follower's every step fails until it is back: a
line per failed poll would bury the one fact an operator needs (it went down at T, it
came back at T + n), and retrying at the poll rate would hammer a server that is
starting. So the delay doubles up to a ceiling, and only the first failure and the
first success after it are logged.
"""

from __future__ import annotations

import logging
import time

from attrs import define, field


@define
class Backoff:
    """The delay before the next attempt of a loop, and its two log lines."""

    what: str
    log: logging.Logger
    first: float = 0.1
    ceiling: float = 5.0
    _delay: float = field(init=False, default=0.0)
    _since: float | None = field(init=False, default=None)

    @property
    def failing(self) -> bool:
        return self._since is not None

    def failed(self, error: BaseException) -> float:
        """Seconds to wait before retrying; the first failure of a run is logged."""
        if self._since is None:
            self._since = time.monotonic()
            self._delay = self.first
            # The class only: a driver's message may quote a connection string.
            self.log.warning(
                "%s failing (%s); retrying with backoff up to %.0f s",
                self.what,
                type(error).__name__,
                self.ceiling,
                exc_info=error,
            )
        else:
            self._delay = min(self._delay * 2, self.ceiling)
        return self._delay

    def succeeded(self) -> None:
        """A step went through: logged once if it ends a run of failures."""
        if self._since is None:
            return
        down = time.monotonic() - self._since
        self._since = None
        self.log.warning("%s recovered after %.1f s", self.what, down)
