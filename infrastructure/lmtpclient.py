"""A minimal LMTP client (RFC 2033) for the thin ``mailhost deliver``: one fixed dialogue.

Why not ``smtplib.LMTP``: importing it costs ~22 ms here (it loads ``ssl``, ``email.*``,
``base64``, ``hmac``, ``re``), half of the ~40 ms a message may cost all in when an MTA
starts one ``mailhost deliver`` per message (issue 13: at least half the speed of
``dovecot-lda``). The client needs five commands (LHLO, MAIL, RCPT, DATA, QUIT) and
the reply grammar of RFC 5321 section 4.2, which fit here. Why ``_socket`` (the C
module ``socket`` wraps) rather than ``socket``: the wrapper's import costs several ms
more (``enum`` for its constants, ``selectors``) for ``makefile`` and enums this client
does not use; its socket objects take the same calls and raise the same ``OSError``s.

One recipient per transaction, so DATA gets one reply (RFC 2033 section 4.2). Every
read is bounded: a reply line longer than ``MAX_LINE`` or a reply of more than
``MAX_LINES`` lines is a protocol error, so a confused peer cannot make this process
buffer without end.
"""

from __future__ import annotations

import _socket

MAX_LINE = 4096  # octets; RFC 5321 section 4.5.3.1.5 says 512, a peer may be sloppy
MAX_LINES = 256
_CRLF = b"\r\n"
_CHUNK = 65536
_DATA_GO = 354  # "start mail input" (RFC 5321 section 4.2.2)
_LOWEST, _HIGHEST = 200, 599  # the reply codes a client acts on (section 4.2.1)
_CONTINUED = "-"


class LmtpError(Exception):
    """The peer broke the reply grammar or closed the connection before replying."""


class Reply:
    """One reply: its code and the text of its lines (as ``smtplib`` gives them: the text
    after the code, blanks stripped, lines joined by newlines)."""

    __slots__ = ("code", "lines")

    def __init__(self, code: int, lines: list[str]) -> None:
        self.code = code
        self.lines = lines

    @property
    def text(self) -> str:
        return "\n".join(self.lines)

    def __repr__(self) -> str:
        return f"Reply({self.code!r}, {self.lines!r})"


def reply_line(raw: bytes) -> tuple[int, bool, str]:
    """A reply line (without its line end) as (code, continued, text), RFC 5321 section
    4.2: three digits, then a hyphen (more lines follow), a space or nothing (the last)."""
    head, mark = raw[:3], raw[3:4]
    if not (head.isdigit() and mark in (b"", b" ", b"-")):
        msg = f"not a reply line: {raw[:80]!r}"
        raise LmtpError(msg)
    code = int(head)
    if not _LOWEST <= code <= _HIGHEST:
        msg = f"not a reply code: {code}"
        raise LmtpError(msg)
    text = raw[4:].decode("utf-8", "replace").strip(" \t")
    return code, mark == _CONTINUED.encode(), text


def crlf(raw: bytes) -> bytes:
    """Lines ending in CRLF, as the wire needs them (RFC 5321 section 2.3.8): a bare LF
    or a bare CR is a line end too (what ``smtplib`` does to a str message)."""
    return raw.replace(b"\r\n", b"\n").replace(b"\r", b"\n").replace(b"\n", _CRLF)


def dot_stuffed(wire: bytes) -> bytes:
    """The DATA octets: a line that begins with "." gets one more (RFC 5321 section
    4.5.2), the message ends in CRLF, then the terminating "." line."""
    stuffed = wire.replace(b"\r\n.", b"\r\n..")
    if stuffed.startswith(b"."):
        stuffed = b"." + stuffed
    if stuffed and not stuffed.endswith(_CRLF):
        stuffed += _CRLF
    return stuffed + b"." + _CRLF


class Client:
    """A connection to a listener: commands in, replies out, nothing buffered beyond one
    reply."""

    def __init__(self, sock: _socket.socket) -> None:
        self._sock = sock
        self._buffer = b""

    @classmethod
    def connect(cls, where: str | tuple[str, int], timeout: float) -> Client:
        """A connection to a unix socket path or an (IP literal, port); OSError if none.

        A host that is not an IP literal is refused (ValueError): connecting would
        resolve it, and the listener's address is never a name.
        """
        if isinstance(where, str):
            sock = _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM)
        else:
            sock = _socket.socket(_family(where[0]), _socket.SOCK_STREAM)
        try:
            sock.settimeout(timeout)
            sock.connect(where)
            if not isinstance(where, str):  # each command waits for its reply
                sock.setsockopt(_socket.IPPROTO_TCP, _socket.TCP_NODELAY, 1)
        except BaseException:
            sock.close()
            raise
        return cls(sock)

    def settimeout(self, seconds: float) -> None:
        self._sock.settimeout(seconds)

    def reply(self) -> Reply:
        """The next reply, multi-line ones whole (RFC 5321 section 4.2.1); LmtpError when
        the grammar is broken or the connection ends first."""
        code, lines = 0, list[str]()
        while len(lines) < MAX_LINES:
            line_code, continued, text = reply_line(self._line())
            if lines and line_code != code:  # "MUST be the same" (section 4.2.1)
                msg = f"reply codes {code} and {line_code} in one reply"
                raise LmtpError(msg)
            code = line_code
            lines.append(text)
            if not continued:
                return Reply(code, lines)
        msg = f"a reply of more than {MAX_LINES} lines"
        raise LmtpError(msg)

    def command(self, line: str, encoding: str = "ascii") -> Reply:
        """``line`` sent (CRLF added), its reply read."""
        self._sock.sendall(line.encode(encoding) + _CRLF)
        return self.reply()

    def pipelined(self, lines: list[str], encoding: str = "ascii") -> list[Reply]:
        """``lines`` sent in one write, then their replies in order (RFC 2920, where the
        peer offers PIPELINING; DATA, if there, must be the last)."""
        self._sock.sendall(b"".join(line.encode(encoding) + _CRLF for line in lines))
        return [self.reply() for _ in lines]

    def data(self, wire: bytes) -> Reply:
        """DATA, then the message; the reply for the one recipient, or the refusal of
        DATA itself."""
        go = self.command("DATA")
        return self.message(wire) if go.code == _DATA_GO else go

    def message(self, wire: bytes) -> Reply:
        """After a 354: the message (``wire``: lines already in CRLF) in one write, and
        the reply for the one recipient."""
        self._sock.sendall(dot_stuffed(wire))
        return self.reply()

    def close(self) -> None:
        self._sock.close()

    def _line(self) -> bytes:
        while True:
            end = self._buffer.find(b"\n")
            if end >= 0:
                line, self._buffer = self._buffer[:end], self._buffer[end + 1 :]
                return line.removesuffix(b"\r")
            if len(self._buffer) > MAX_LINE:
                msg = f"a reply line longer than {MAX_LINE} octets"
                raise LmtpError(msg)
            more = self._sock.recv(_CHUNK)
            if not more:
                msg = "the connection closed before the reply"
                raise LmtpError(msg)
            self._buffer += more


def extensions(lhlo: Reply) -> dict[str, str]:
    """The LHLO reply's service extensions (RFC 5321 section 4.1.1.1), keyword in lower
    case to its parameters; the first line is the greeting, not an extension."""
    found: dict[str, str] = {}
    for line in lhlo.lines[1:]:
        keyword, _, parameters = line.partition(" ")
        found[keyword.lower()] = parameters
    return found


def _family(host: str) -> int:
    for family in (_socket.AF_INET, _socket.AF_INET6):
        try:
            _socket.inet_pton(family, host)
        except OSError:
            continue
        return family
    msg = f"{host!r} is not an IP address"
    raise ValueError(msg)
