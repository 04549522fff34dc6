"""The LMTP listener's wire contract: where it listens, and how a decision is replied.

Shared by the listener (``infrastructure.lmtp``) and any client of it (the thin
``mailhost deliver``), so both read one definition. A client forwarding one message
imports this module on every delivery, so it loads nothing at import but ``os``
(already loaded by the interpreter): ``pathlib``, ``ipaddress`` and ``json`` come with
the functions that need them, and only the listener's side calls those (a client reads
the address with ``listen_parts`` and the decision with a ``_json`` scanner).

After DATA, each accepted recipient gets one reply (RFC 2033 section 4.2). A decision
reads ``250 2.0.0 <rcpt> decided {json}``: the JSON is the decision object, compact and
ASCII only, and the reply line is at most 512 octets (RFC 5321 section 4.5.3.1.5), made
to fit by shortening the human ``reason`` text only. Where even that cannot fit (very
long non-ASCII addresses), the JSON continues on further lines of a multi-line reply
(RFC 5321 section 4.2.1), split where no line would begin or end with a blank: joined
without separators, the lines give the JSON back.
"""

from __future__ import annotations

import os

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (~2 ms)
if TYPE_CHECKING:
    from collections.abc import Mapping
    from pathlib import Path

MAX_REPLY_LINE = 512  # octets, CRLF included (RFC 5321 section 4.5.3.1.5)
_CRLF = 2
DECIDED = "decided"
ENV_LMTP = "MAILHOST_LMTP"
MAX_PORT = 65535


class ListenAddress:
    """A loopback (or explicitly public) TCP address, or a unix socket path.

    Immutable, compared and hashed by value (a plain class, not attrs: this module is
    imported by every thin client, and attrs' import is ~25 ms of it).
    """

    __slots__ = ("host", "path", "port")
    host: str | None
    port: int | None
    path: Path | None

    def __init__(
        self, host: str | None = None, port: int | None = None, path: Path | None = None
    ) -> None:
        object.__setattr__(self, "host", host)
        object.__setattr__(self, "port", port)
        object.__setattr__(self, "path", path)

    def __setattr__(self, name: str, value: object) -> None:
        msg = f"ListenAddress is immutable: cannot set {name}"
        raise AttributeError(msg)

    def __delattr__(self, name: str) -> None:
        msg = f"ListenAddress is immutable: cannot delete {name}"
        raise AttributeError(msg)

    def _key(self) -> tuple[str | None, int | None, Path | None]:
        return (self.host, self.port, self.path)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, ListenAddress):
            return NotImplemented
        return self._key() == other._key()

    def __hash__(self) -> int:
        return hash(self._key())

    def __repr__(self) -> str:
        return (
            f"ListenAddress(host={self.host!r}, port={self.port!r}, path={self.path!r})"
        )

    @property
    def is_unix(self) -> bool:
        return self.path is not None

    @property
    def is_loopback(self) -> bool:
        if self.path is not None:
            return True
        import ipaddress  # noqa: PLC0415 - the listener's question; a client never asks

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
    parts = _split(raw)
    if isinstance(parts, str):
        from pathlib import Path  # noqa: PLC0415 - ~5 ms a thin client does not pay

        return ListenAddress(path=Path(parts))
    host, port_text = parts
    import ipaddress  # noqa: PLC0415 - as pathlib above

    try:
        ipaddress.ip_address(host)
    except ValueError:
        msg = f"{host!r} is not an IP address (give 127.0.0.1, not a host name)"
        raise ValueError(msg) from None
    return ListenAddress(host=host, port=_port(raw, port_text, any_port=any_port))


def listen_parts(text: str) -> str | tuple[str, int]:
    """What ``parse_listen`` reads, as a client connects to it: the socket path, or the
    host and port (the host's literal checked by the connect, ``lmtpclient``)."""
    raw = text.strip()
    parts = _split(raw)
    if isinstance(parts, str):
        return parts
    host, port_text = parts
    return host, _port(raw, port_text, any_port=False)


def _split(raw: str) -> str | tuple[str, str]:
    """The absolute socket path of ``unix:PATH``, or the host and port text of the rest."""
    if raw.startswith("unix:"):
        path = raw.removeprefix("unix:")
        if not os.path.isabs(path):  # noqa: PTH117 - pathlib is not imported here
            msg = (
                f"the socket path of {raw!r} must be absolute (unix:/run/mailhost.sock)"
            )
            raise ValueError(msg)
        return path
    host, sep, port_text = raw.rpartition(":")
    host = host.removeprefix("[").removesuffix("]")
    if not sep or not host:
        msg = f"{raw!r} is neither IP:PORT (127.0.0.1:2424) nor unix:/path"
        raise ValueError(msg)
    return host, port_text


def _port(raw: str, port_text: str, *, any_port: bool) -> int:
    lowest = 0 if any_port else 1
    if not (port_text.isascii() and port_text.isdigit()) or not (
        lowest <= int(port_text) <= MAX_PORT
    ):
        msg = f"the port of {raw!r} must be a number from {lowest} to {MAX_PORT}"
        raise ValueError(msg)
    return int(port_text)


# RFC 5322 atext: a dot-atom of these is an addr-spec as it stands, nothing to unquote.
_ATEXT = frozenset(
    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789!#$%&'*+-/=?^_`{|}~"
)


def _dot_atom(text: str) -> bool:
    return all(atom and _ATEXT.issuperset(atom) for atom in text.split("."))


def plain_path(arg: str) -> tuple[str, str] | None:
    """``<local@domain> PARAMS`` read without the RFC 5322 parser: (address, params).

    What an MTA sends is nearly always this plain form (ASCII dot-atoms, no comment,
    quoting, route or literal), and there the parser's result is the text between the
    brackets; it costs more than the rest of a MAIL or RCPT command, run per message on
    the listener's one event loop. None: anything else, which the parser reads.
    """
    end = arg.find(">")
    if not arg.startswith("<") or end < 0:
        return None
    address, rest = arg[1:end], arg[end + 1 :]
    local, at, domain = address.rpartition("@")
    if not at or not _dot_atom(local) or not _dot_atom(domain):
        return None
    if rest and (rest[0] != " " or "(" in rest or not rest.isascii()):
        return None
    return address, rest.strip(" ")


def decision_json(decision: Mapping[str, object]) -> str:
    """The decision as the wire carries it: compact, ASCII only, one line."""
    import json  # noqa: PLC0415 - the listener's side; a client parses with _json

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
    found = json_value(joined.removeprefix(prefix))
    if not isinstance(found, dict):
        msg = "the decision in the reply is not a JSON object"
        raise ValueError(msg)  # noqa: TRY004 - bad data on the wire, one error for a client
    return found


class _Strict:
    """What ``json.loads`` gives the C scanner (``json.decoder.JSONDecoder``'s
    defaults): the same values for the same text."""

    strict = True
    object_hook = None
    object_pairs_hook = None
    parse_float = float
    parse_int = int
    parse_constant = staticmethod(
        {"-Infinity": -float("inf"), "Infinity": float("inf"), "NaN": float("nan")}.get
    )


def json_value(text: str) -> object:
    """``json.loads(text)`` by its own C scanner, without importing ``json`` (which
    compiles its ``re`` patterns at import: ~5 ms of a thin client's ~20); ValueError
    for anything but one JSON value, blanks around it allowed, as ``json.loads``."""
    try:
        from _json import make_scanner  # noqa: PLC0415 - CPython's accelerator
    except ImportError:  # another interpreter: the module it accelerates
        import json  # noqa: PLC0415 - only where the accelerator is missing

        found: object = json.loads(text)
        return found
    body = text.strip(" \t\n\r")
    try:
        # The scanner reads six attributes of its context (typeshed wants a scanner).
        scan = make_scanner(_Strict)  # type: ignore[arg-type]
        value, end = scan(body, 0)
    except StopIteration as e:
        msg = f"no JSON value at {e.value}"
        raise ValueError(msg) from None
    if end != len(body):
        msg = f"extra data after the JSON value at {end}"
        raise ValueError(msg)
    return value
