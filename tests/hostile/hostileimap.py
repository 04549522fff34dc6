"""A small IMAP server that lies, on 127.0.0.1, for the hostile import cases.

It speaks just enough IMAP4rev1 for imapclient (greeting, CAPABILITY, LOGIN, LIST,
EXAMINE/SELECT, UID SEARCH, UID FETCH, LOGOUT) and lets a case replace any answer: a
``Script`` holds the folders and messages of an honest server, and ``handlers`` maps a
command to a function that writes whatever the case wants instead (a folder named with
escape codes, a 2 GB literal announced and never sent, a stall, a dropped connection).

Each case starts its own server and stops it by its own handle: ``stop`` closes every
client connection, so a handler that stalls ends with it.
"""

from __future__ import annotations

import contextlib
import re
import socket
import socketserver
import threading
from collections.abc import Callable, Iterator
from typing import Final

from attrs import define, field
from imapclient import imap_utf7

CRLF: Final = b"\r\n"
_LITERAL: Final = re.compile(rb"\{(\d+)\+?\}\r\n$")
_ITEM: Final = re.compile(rb"BODY\.PEEK\[[^\]]*\]|BODY\[[^\]]*\]|[A-Z0-9.]+")


@define
class Message:
    uid: int
    raw: bytes
    flags: bytes = b"\\Seen"
    date: bytes = b'"01-Jan-2024 10:00:00 +0000"'


@define
class Folder:
    """A LIST line's parts as raw bytes: ``name`` is sent as a literal (any byte)."""

    name: bytes
    delimiter: bytes = b'"/"'
    flags: bytes = b"\\HasNoChildren"
    messages: list[Message] = field(factory=list)


Handler = Callable[["Session", bytes, bytes], None]


@define
class Script:
    greeting: bytes = b"* OK hostile IMAP ready"
    capabilities: bytes = b"IMAP4rev1 AUTH=PLAIN"
    folders: list[Folder] = field(factory=list)
    handlers: dict[bytes, Handler] = field(factory=dict)
    # What the server heard, for the case to check (every command line, raw).
    heard: list[bytes] = field(factory=list)


def message(subject: str, body: str = "hello") -> bytes:
    return (
        f"From: a@example.net\r\nTo: b@example.org\r\nSubject: {subject}\r\n"
        f"Message-ID: <{abs(hash(subject))}@example.net>\r\n\r\n{body}\r\n"
    ).encode()


def header_of(raw: bytes) -> bytes:
    end = raw.find(b"\r\n\r\n")
    return raw if end < 0 else raw[: end + 4]


def uid_set(text: bytes) -> list[int]:
    uids: list[int] = []
    for part in text.split(b","):
        low, _, high = part.partition(b":")
        if high:
            top = 10_000 if high == b"*" else int(high)
            uids.extend(range(int(low), top + 1))
        else:
            uids.append(int(low))
    return uids


class Session(socketserver.StreamRequestHandler):
    """One client connection; ``self.server.script`` says what to answer."""

    server: _Server
    selected: Folder | None = None

    @property
    def script(self) -> Script:
        return self.server.script

    def send(self, data: bytes) -> None:
        self.wfile.write(data)
        self.wfile.flush()

    def line(self, data: bytes) -> None:
        self.send(data + CRLF)

    def stall(self) -> None:
        """Say nothing more until the server stops."""
        self.server.stopping.wait()

    def handle(self) -> None:
        self.server.sessions.append(self.connection)
        try:
            self.line(self.script.greeting)
            while not self.server.stopping.is_set():
                command = self._read_command()
                if command is None:
                    return
                self.script.heard.append(command)
                self._dispatch(command)
        except (OSError, ValueError):
            return

    def _read_command(self) -> bytes | None:
        data = b""
        while True:
            line = self.rfile.readline(1_000_000)
            if not line:
                return None
            data += line
            found = _LITERAL.search(line)
            if found is None:
                return data.rstrip(b"\r\n")
            if not line.rstrip(b"\r\n").endswith(b"+}"):
                self.line(b"+ go ahead")
            data += self.rfile.read(int(found.group(1)))

    def _dispatch(self, command: bytes) -> None:
        tag, _, rest = command.partition(b" ")
        name, _, args = rest.partition(b" ")
        name = name.upper()
        if name == b"UID":
            sub, _, args = args.partition(b" ")
            name = b"UID " + sub.upper()
        handler = self.script.handlers.get(name) or _DEFAULTS.get(name)
        if handler is None:
            self.line(tag + b" BAD unknown command")
            return
        handler(self, tag, args)

    # -- the honest answers -------------------------------------------------------------

    def folder(self, name: bytes) -> Folder | None:
        wanted = name
        if len(name) > 1 and name.startswith(b'"') and name.endswith(b'"'):
            wanted = re.sub(rb'\\(["\\])', rb"\1", name[1:-1])
        return next(
            (f for f in self.script.folders if wanted in {f.name, _round_trip(f.name)}),
            None,
        )

    def fetch_line(self, msg: Message, items: bytes) -> bytes:
        parts = [b"UID %d" % msg.uid]
        for item in _ITEM.findall(items.upper()):
            if item == b"UID":
                continue
            if item == b"RFC822.SIZE":
                parts.append(b"RFC822.SIZE %d" % len(msg.raw))
            elif item == b"FLAGS":
                parts.append(b"FLAGS (" + msg.flags + b")")
            elif item == b"INTERNALDATE":
                parts.append(b"INTERNALDATE " + msg.date)
            elif item.endswith(b"[HEADER]"):
                head = header_of(msg.raw)
                parts.append(b"BODY[HEADER] {%d}\r\n" % len(head) + head)
            elif item.endswith(b"[]"):
                parts.append(b"BODY[] {%d}\r\n" % len(msg.raw) + msg.raw)
        seq = self.selected.messages.index(msg) + 1 if self.selected else 1
        return b"* %d FETCH (" % seq + b" ".join(parts) + b")"


def _round_trip(name: bytes) -> bytes:
    """The name as imapclient sends it back after decoding it from LIST."""
    try:
        return bytes(imap_utf7.encode(imap_utf7.decode(name)))
    except ValueError:
        return name


def _capability(s: Session, tag: bytes, _args: bytes) -> None:
    s.line(b"* CAPABILITY " + s.script.capabilities)
    s.line(tag + b" OK done")


def _login(s: Session, tag: bytes, _args: bytes) -> None:
    s.line(tag + b" OK logged in")


def _list(s: Session, tag: bytes, _args: bytes) -> None:
    for f in s.script.folders:
        s.send(b"* LIST (" + f.flags + b") " + f.delimiter + b" {%d}\r\n" % len(f.name))
        s.line(f.name)
    s.line(tag + b" OK listed")


def _examine(s: Session, tag: bytes, args: bytes) -> None:
    found = _LITERAL.search(args.partition(CRLF)[0] + CRLF)
    name = args.partition(CRLF)[2] if found is not None else args
    s.selected = s.folder(name)
    if s.selected is None:
        s.line(tag + b" NO [NONEXISTENT] no such folder")
        return
    s.line(b"* %d EXISTS" % len(s.selected.messages))
    s.line(b"* OK [UIDVALIDITY 7] ok")
    s.line(b"* FLAGS (\\Seen \\Answered \\Flagged \\Deleted \\Draft)")
    s.line(tag + b" OK [READ-ONLY] examined")


def _search(s: Session, tag: bytes, _args: bytes) -> None:
    uids = b" ".join(b"%d" % m.uid for m in (s.selected.messages if s.selected else []))
    s.line(b"* SEARCH " + uids)
    s.line(tag + b" OK searched")


def fetch_args(args: bytes) -> tuple[list[int], bytes]:
    seq, _, items = args.partition(b" ")
    return uid_set(seq), items


def _fetch(s: Session, tag: bytes, args: bytes) -> None:
    uids, items = fetch_args(args)
    for msg in s.selected.messages if s.selected else []:
        if msg.uid in uids:
            s.line(s.fetch_line(msg, items))
    s.line(tag + b" OK fetched")


def _logout(s: Session, tag: bytes, _args: bytes) -> None:
    s.line(b"* BYE bye")
    s.line(tag + b" OK logged out")
    raise ValueError  # ends the session


def _noop(s: Session, tag: bytes, _args: bytes) -> None:
    s.line(tag + b" OK")


_DEFAULTS: Final[dict[bytes, Handler]] = {
    b"CAPABILITY": _capability,
    b"LOGIN": _login,
    b"LIST": _list,
    b"EXAMINE": _examine,
    b"SELECT": _examine,
    b"UID SEARCH": _search,
    b"UID FETCH": _fetch,
    b"LOGOUT": _logout,
    b"NOOP": _noop,
    b"CLOSE": _noop,
    b"UNSELECT": _noop,
}


class _Server(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, script: Script) -> None:
        super().__init__(("127.0.0.1", 0), Session)
        self.script = script
        self.stopping = threading.Event()
        self.sessions: list[socket.socket] = []


@contextlib.contextmanager
def serving(script: Script) -> Iterator[int]:
    """The server running in a thread of this process; yields its port."""
    server = _Server(script)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_address[1]
    finally:
        server.stopping.set()
        for connection in server.sessions:
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)
            connection.close()
        server.shutdown()
        server.server_close()
        thread.join()
