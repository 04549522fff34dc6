"""Bounds on what an IMAP server can make an import wait for or hold in memory.

A socket timeout bounds one read, not an answer: a server that sends an untagged line
every few seconds ("* OK still checking") keeps every read inside the timeout for ever,
and one that announces a 2 GB literal makes imaplib allocate it (``BufferedReader.read``
sizes its buffer from the request). ``guard`` wraps the reads of one connection, the
ones imaplib and ``infrastructure.imapfetch`` both go through:

- every command (from its tag on) has a deadline for its whole answer: ``deadline``
  seconds, plus one second per ``MIN_LITERAL_RATE`` bytes of each literal announced
  (a large message arriving at a sane rate is never cut); a read near the deadline
  gets only the time left as its socket timeout;
- at most ``max_lines`` lines per command;
- a literal larger than ``max_literal`` is refused unread (``LiteralTooLarge``).

Each breach raises an ``IMAPClientAbortError`` subclass: the connection is unusable
after it (the rest of the answer is unread), and callers map it like a dropped one.
"""

from __future__ import annotations

import time
from typing import Any, Final

from imapclient.exceptions import IMAPClientAbortError

__all__ = [
    "MAX_LINES",
    "MIN_LITERAL_RATE",
    "AnswerTooLong",
    "LiteralTooLarge",
    "guard",
]

MIN_LITERAL_RATE: Final = 64 * 1024  # bytes per second a literal may take at worst
MAX_LINES: Final = 200_000  # lines of one answer (a LIST of a huge account fits)


class LiteralTooLarge(IMAPClientAbortError):  # type: ignore[misc]  # noqa: N818 - imapclient is untyped; reads as what happened
    """The server announced a literal above the cap; it was not read."""

    def __init__(self, size: int, limit: int) -> None:
        super().__init__(
            f"the server announced a literal of {size} bytes, above the cap of {limit}"
        )
        self.size = size
        self.limit = limit


class AnswerTooLong(IMAPClientAbortError):  # type: ignore[misc]  # noqa: N818 - imapclient is untyped; reads as what happened
    """The server did not finish an answer within its deadline or its line cap."""


class _Bounds:
    def __init__(
        self,
        imap: Any,  # noqa: ANN401 - imaplib.IMAP4 is untyped here
        deadline: float,
        max_literal: int,
        max_lines: int,
    ) -> None:
        self.imap = imap
        self.allowance = deadline
        self.max_literal = max_literal
        self.max_lines = max_lines
        self.deadline = time.monotonic() + deadline
        self.lines = 0
        self.timeout: float | None = None  # the socket's own, restored after a shrink
        self._readline = imap.readline
        self._read = imap.read
        self._new_tag = imap._new_tag  # noqa: SLF001 - every command starts with its tag

    def new_tag(self) -> bytes:
        self.restart()
        tag: bytes = self._new_tag()
        return tag

    def restart(self) -> None:
        """A new command: a fresh deadline and line count."""
        self.deadline = time.monotonic() + self.allowance
        self.lines = 0
        if self.timeout is not None:
            self._socket_timeout(self.timeout)
            self.timeout = None

    def readline(self) -> bytes:
        self.lines += 1
        if self.lines > self.max_lines:
            raise AnswerTooLong(
                f"the server sent more than {self.max_lines} lines in one answer"
            )
        self._before_read()
        line: bytes = self._readline()
        return line

    def read(self, size: int) -> bytes:
        if size > self.max_literal:
            raise LiteralTooLarge(size, self.max_literal)
        self.deadline += size / MIN_LITERAL_RATE
        self._before_read()
        data: bytes = self._read(size)
        return data

    def _before_read(self) -> None:
        left = self.deadline - time.monotonic()
        if left <= 0:
            raise AnswerTooLong(
                f"the server did not finish its answer within {self.allowance:g} s"
            )
        sock = self.imap.sock
        current = sock.gettimeout()
        if current is None or left < current:
            if self.timeout is None:
                self.timeout = current if current is not None else self.allowance
            sock.settimeout(left)

    def _socket_timeout(self, value: float) -> None:
        self.imap.sock.settimeout(value)


def guard(
    client: Any,  # noqa: ANN401 - imapclient is untyped
    *,
    deadline: float,
    max_literal: int,
    max_lines: int = MAX_LINES,
) -> None:
    """Bound every later answer on the client's connection (see the module)."""
    imap = client._imap  # noqa: SLF001 - the connection imapclient itself talks on
    bounds = _Bounds(imap, deadline, max_literal, max_lines)
    imap.readline = bounds.readline
    imap.read = bounds.read
    imap._new_tag = bounds.new_tag  # noqa: SLF001 - see _Bounds.new_tag
    imap.debug = 0  # imaplib formats (and logs) every server line when above 0
