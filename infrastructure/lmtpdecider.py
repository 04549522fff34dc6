"""One decider process of ``mailhost lmtp --processes N``: sessions its parent accepted.

The interpreter lock lets one process decide on one core only; a listener of N
processes decides on N. The parent (``infrastructure.lmtpprocs``) accepts every
connection and hands it here over a unix socketpair with its descriptor (SCM_RIGHTS);
this process runs the same sessions and the same use case as a single listener, with
an engine of its own (its aggregate cache fast-forwards from the log, so another
decider's save only ever makes a save here conflict and be decided again, RSP-9).

The control channel carries fixed messages (``SEQPACKET``: one message per send):
the parent sends ``H`` + a connection id with its descriptor; this process answers
``R`` once its engine is open and ``C`` + the id when that connection has closed (the
parent keeps a copy of each descriptor, to tell the client ``421`` should this process
die, and closes it then). The channel's end, or SIGTERM/SIGINT, is the stop: no new
transaction, those in flight finish within the grace period, as in one process.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import signal
import socket
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from infrastructure.lmtp import Decide, Listener, ListenerLimits, LmtpSession
from infrastructure.lmtpcommon import close_engine, log_to_stderr
from infrastructure.lmtpserver import finish

log = logging.getLogger("mailhost.lmtp")

HAND, READY, CLOSED = b"H", b"R", b"C"
ID_BYTES = 8
MESSAGE = 1 + ID_BYTES
CODE = "from infrastructure.lmtpdecider import main; main()"
BUSY = b"421 4.3.2 shutting down, try again later\r\n"


def message(kind: bytes, conn_id: int = 0) -> bytes:
    return kind + conn_id.to_bytes(ID_BYTES, "big")


def conn_id_of(data: bytes) -> int:
    return int.from_bytes(data[1:MESSAGE], "big")


class Decider:
    """This process's side of the channel: connections in, closes and readiness out."""

    def __init__(self, listener: Listener, channel: socket.socket) -> None:
        self.listener = listener
        self.channel = channel
        self.ids: dict[LmtpSession, int] = {}
        self.opening: set[asyncio.Task[None]] = set()
        self.unsent: list[bytes] = []
        self.ended = asyncio.Event()
        listener.on_close = self._closed

    def start(self) -> None:
        loop = asyncio.get_running_loop()
        self.channel.settimeout(0.0)
        loop.add_reader(self.channel, self._receive)
        self._tell(message(READY))

    def _receive(self) -> None:
        while True:
            try:
                data, fds, _flags, _ = socket.recv_fds(self.channel, MESSAGE, 1)
            except (BlockingIOError, InterruptedError):
                return
            except OSError:
                data, fds = b"", []
            if not data:  # the parent stops, or is gone: this process stops too
                asyncio.get_running_loop().remove_reader(self.channel)
                self.ended.set()
                return
            for fd in fds:
                task = asyncio.ensure_future(
                    self._open(socket.socket(fileno=fd), conn_id_of(data))
                )
                self.opening.add(task)
                task.add_done_callback(self.opening.discard)

    async def _open(self, sock: socket.socket, conn_id: int) -> None:
        if self.listener.stopping:
            with contextlib.suppress(OSError):
                sock.send(BUSY)
            sock.close()
            self._tell(message(CLOSED, conn_id))
            return

        def session() -> asyncio.Protocol:
            protocol = self.listener.protocol()
            if isinstance(protocol, LmtpSession):
                self.ids[protocol] = conn_id
            return protocol

        sock.settimeout(0.0)
        try:
            await asyncio.get_running_loop().connect_accepted_socket(session, sock)
        except OSError as e:
            log.warning("a handed connection failed: %s", e)
            sock.close()
            self._tell(message(CLOSED, conn_id))

    def _closed(self, session: LmtpSession) -> None:
        """The client hears the end now, not when the parent closes its copy."""
        conn_id = self.ids.pop(session, None)
        transport = session.transport
        if transport is not None:
            sock = transport.get_extra_info("socket")
            if sock is not None:
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
        if conn_id is not None:
            self._tell(message(CLOSED, conn_id))

    def _tell(self, data: bytes) -> None:
        self.unsent.append(data)
        self._flush()

    def _flush(self) -> None:
        loop = asyncio.get_running_loop()
        while self.unsent:
            try:
                self.channel.send(self.unsent[0])
            except (BlockingIOError, InterruptedError):
                loop.add_writer(self.channel, self._flush)
                return
            except OSError:
                self.unsent.clear()  # the parent is gone: nobody to tell
                break
            self.unsent.pop(0)
        loop.remove_writer(self.channel)


async def decide(
    decide: Decide, limits: ListenerLimits, channel: socket.socket
) -> None:
    """Serve what the parent hands over until the channel ends or a stop signal."""
    loop = asyncio.get_running_loop()
    with ThreadPoolExecutor(
        max_workers=limits.workers, thread_name_prefix="mailhost-lmtp"
    ) as pool:
        listener = Listener(decide, limits, pool)
        decider = Decider(listener, channel)
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, decider.ended.set)
        decider.start()
        await decider.ended.wait()
        await finish(listener)


def main() -> None:
    """The decider's interpreter: ``python -c CODE FD CONFIG`` (``lmtpprocs``)."""
    from infrastructure.bootstrap import open_engine  # noqa: PLC0415 - after the argv checks

    fd, config = int(sys.argv[1]), json.loads(sys.argv[2])
    log_to_stderr(f"decider {config['index']}")
    channel = socket.socket(fileno=fd)
    limits = ListenerLimits(**config["limits"])
    home = Path(config["home"]) if config["home"] else None
    engine = open_engine(home, background=False, cached=True)
    try:
        asyncio.run(decide(engine.host.responders.deliver, limits, channel))
    finally:
        close_engine(engine)
