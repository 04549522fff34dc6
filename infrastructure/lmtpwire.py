"""The LMTP listener's wire contract: where it listens, and how a decision is replied.

Shared by the listener (``infrastructure.lmtp``) and any client of it (the thin
``mailhost deliver``), so both read one definition; it imports only the standard library
and attrs, so a client that forwards one message pays for nothing more.

After DATA, each accepted recipient gets one reply (RFC 2033 section 4.2). A decision
reads ``250 2.0.0 <rcpt> decided {json}``: the JSON is the decision object, compact and
ASCII only, and the reply line is at most 512 octets (RFC 5321 section 4.5.3.1.5), made
to fit by shortening the human ``reason`` text only. Where even that cannot fit (very
long non-ASCII addresses), the JSON continues on further lines of a multi-line reply
(RFC 5321 section 4.2.1), split where no line would begin or end with a blank: joined
without separators, the lines give the JSON back.
"""

from __future__ import annotations

import ipaddress
import json
from collections.abc import Mapping
from pathlib import Path

from attrs import frozen

MAX_REPLY_LINE = 512  # octets, CRLF included (RFC 5321 section 4.5.3.1.5)
_CRLF = 2
DECIDED = "decided"
ENV_LMTP = "MAILHOST_LMTP"
MAX_PORT = 65535


@frozen
class ListenAddress:
    """A loopback (or explicitly public) TCP address, or a unix socket path."""

    host: str | None = None
    port: int | None = None
    path: Path | None = None

    @property
    def is_unix(self) -> bool:
        return self.path is not None

    @property
    def is_loopback(self) -> bool:
        if self.path is not None:
            return True
        return ipaddress.ip_address(self.host or "").is_loopback

    def __str__(self) -> str:
        if self.path is not None:
            return f"unix:{self.path}"
        host = f"[{self.host}]" if self.host and ":" in self.host else self.host
        return f"{host}:{self.port}"


def parse_listen(text: str, *, any_port: bool = False) -> ListenAddress:
    """``unix:/absolute/path`` or ``IP:PORT`` (``[IPv6]:PORT``); ValueError naming why.

    An IP literal, not a name: what a name resolves to can change under a running
    listener, and whether it is loopback is then a guess. ``any_port``: port 0 (the
    kernel picks one, the ready file names it) is allowed, for a listener only.
    """
    raw = text.strip()
    if raw.startswith("unix:"):
        path = Path(raw.removeprefix("unix:"))
        if not path.is_absolute():
            msg = (
                f"the socket path of {raw!r} must be absolute (unix:/run/mailhost.sock)"
            )
            raise ValueError(msg)
        return ListenAddress(path=path)
    host, sep, port_text = raw.rpartition(":")
    host = host.removeprefix("[").removesuffix("]")
    if not sep or not host:
        msg = f"{raw!r} is neither IP:PORT (127.0.0.1:2424) nor unix:/path"
        raise ValueError(msg)
    try:
        ipaddress.ip_address(host)
    except ValueError:
        msg = f"{host!r} is not an IP address (give 127.0.0.1, not a host name)"
        raise ValueError(msg) from None
    lowest = 0 if any_port else 1
    if not (port_text.isascii() and port_text.isdigit()) or not (
        lowest <= int(port_text) <= MAX_PORT
    ):
        msg = f"the port of {raw!r} must be a number from {lowest} to {MAX_PORT}"
        raise ValueError(msg)
    return ListenAddress(host=host, port=int(port_text))


def decision_json(decision: Mapping[str, object]) -> str:
    """The decision as the wire carries it: compact, ASCII only, one line."""
    return json.dumps(decision, separators=(",", ":"), ensure_ascii=True)


def decided_reply(recipient: str, decision: Mapping[str, object]) -> list[str]:
    """The reply lines (without CRLF) for ``recipient``'s decision, each within 512 octets.

    Only ``reason`` is shortened: every other field is what a program reads.
    """
    head = f"2.0.0 <{recipient}> {DECIDED} "
    room = MAX_REPLY_LINE - _CRLF - len("250 ") - len(head.encode())
    payload = decision_json(decision)
    reason = decision.get("reason")
    if len(payload) > room and isinstance(reason, str):
        payload = _shortened(decision, reason, room)
    if len(payload) <= room:
        return [f"250 {head}{payload}"]
    return _continued(head, payload, room)


def _shortened(decision: Mapping[str, object], reason: str, room: int) -> str:
    """The JSON with ``reason`` cut (an ellipsis marks it) until it fits, or emptied."""
    low, best = 0, decision_json({**decision, "reason": ""})
    high = len(reason)
    while low <= high:  # the longest prefix of the reason that fits
        middle = (low + high) // 2
        cut = reason if middle == len(reason) else reason[:middle].rstrip() + "..."
        candidate = decision_json({**decision, "reason": cut})
        if len(candidate) <= room:
            best, low = candidate, middle + 1
        else:
            high = middle - 1
    return best


def _continued(head: str, payload: str, room: int) -> list[str]:
    """A multi-line reply: the JSON split where no line begins or ends with a blank
    (a client strips those), the first piece on the first line."""
    lines: list[str] = []
    rest, width = payload, room
    while rest:
        cut = min(width, len(rest))
        while 1 < cut < len(rest) and (rest[cut - 1] == " " or rest[cut] == " "):
            cut -= 1
        piece, rest = rest[:cut], rest[cut:]
        lines.append(head + piece if not lines else piece)
        width = MAX_REPLY_LINE - _CRLF - len("250-")
    return [
        f"250{'-' if n < len(lines) - 1 else ' '}{line}" for n, line in enumerate(lines)
    ]


def parse_decided(recipient: str, text: str) -> dict[str, object]:
    """The decision in a ``250`` reply's text (lines joined by newlines, as
    ``smtplib`` gives them); ValueError when the text is not a decision for ``recipient``.
    """
    joined = text.replace("\r", "").replace("\n", "")
    prefix = f"2.0.0 <{recipient}> {DECIDED}"
    if not joined.startswith(prefix):
        msg = f"the reply is not a decision for <{recipient}>"
        raise ValueError(msg)
    found = json.loads(joined.removeprefix(prefix).lstrip(" "))
    if not isinstance(found, dict):
        msg = "the decision in the reply is not a JSON object"
        raise ValueError(msg)  # noqa: TRY004 - bad data on the wire, one error for a client
    return found
