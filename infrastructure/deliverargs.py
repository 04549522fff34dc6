"""The arguments of ``mailhost deliver`` as the thin client reads them (``entrypoint``).

Apart from the console script so that the LMTP dialogue and the reading of the command
line are each read whole; like the entry point it imports nothing at start but
``domain.errors`` (``datetime`` only for a ``--received-at``), to keep the decided path
within its budget (issue 13).
"""

from __future__ import annotations

from domain.errors import InvalidInput

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (~2 ms)
if TYPE_CHECKING:
    from collections.abc import Sequence
    from datetime import datetime

_FLAGS = {
    "--recipient": "recipient",
    "--sender": "sender",
    "--received-at": "received_at",
    "--home": "home",
}


class Request:
    """The arguments of ``mailhost deliver`` (a plain class, not attrs nor NamedTuple:
    their imports, ~25 ms and ~2 ms, are most of a thin client's budget)."""

    __slots__ = ("home", "received_at", "recipient", "sender")

    def __init__(
        self,
        recipient: str,
        sender: str,
        received_at: str | None = None,
        home: str | None = None,
    ) -> None:
        self.recipient = recipient
        self.sender = sender
        self.received_at = received_at
        self.home = home

    def _key(self) -> tuple[str, str, str | None, str | None]:
        return (self.recipient, self.sender, self.received_at, self.home)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Request):
            return NotImplemented
        return self._key() == other._key()

    def __hash__(self) -> int:
        return hash(self._key())

    def __repr__(self) -> str:
        return "Request({!r}, {!r}, received_at={!r}, home={!r})".format(*self._key())


def parse_request(words: Sequence[str]) -> Request | None:
    """``deliver``'s flags as argparse reads them, or None for anything else.

    None sends the words to the full parser, whose help and usage errors are the ones
    every ``mailhost`` command gives; what it accepts and this does not merely costs
    the in-process path.
    """
    found: dict[str, str] = {}
    rest = iter(words)
    for word in rest:
        name, equals, value = word.partition("=")
        if name not in _FLAGS:
            return None
        if not equals:
            following = next(rest, None)
            if following is None or following.startswith("-"):
                return None
            value = following
        found[_FLAGS[name]] = value
    if "recipient" not in found or "sender" not in found:
        return None
    return Request(**found)


def received_at(text: str | None) -> datetime | None:
    """``--received-at`` read once for both paths (the cold path imports it from here)."""
    if not text:
        return None
    from datetime import UTC, datetime  # noqa: PLC0415 - only when the MTA passes one

    try:
        received = datetime.fromisoformat(text)
    except ValueError:
        raise InvalidInput(f"--received-at {text!r} is not ISO 8601") from None
    if received.tzinfo is None:
        raise InvalidInput(
            "--received-at needs a UTC offset, e.g. 2026-11-28T10:00+01:00"
        )
    try:
        return received.astimezone(UTC)
    except OverflowError:  # 0001-01-01T00:00+01:00 has no UTC instant
        raise InvalidInput(
            f"--received-at {text!r} is outside the range of dates this engine keeps"
        ) from None
