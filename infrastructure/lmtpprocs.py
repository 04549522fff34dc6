"""``mailhost lmtp --processes N``: one process accepts, N decide (``lmtpdecider``).

The parent only accepts: each connection goes to the ready decider holding the fewest
(the first of equals in turn), with its descriptor over that decider's socketpair, and
the connection cap counts every decider's connections together. The parent keeps a
copy of each descriptor until the decider says the connection closed: should a decider
die, each of its clients hears ``421`` (the MTA tries again; its transaction was not
decided, or was decided and recorded, and the sender's window keeps a second decision
from replying twice, RSP-4), and the decider is started again after a pause.

Readiness (the ready file) is written once every decider has its engine open. SIGTERM
or SIGINT: the listening socket closes, each decider's channel is ended (it stops as
a single listener does: in-flight transactions finish within the grace period), and
the parent returns once all have exited.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import logging
import socket
import subprocess
import sys
from pathlib import Path

from attrs import asdict

from infrastructure.lmtp import ListenerLimits
from infrastructure.lmtpdecider import (
    CLOSED,
    CODE,
    HAND,
    MESSAGE,
    READY,
    conn_id_of,
    message,
)
from infrastructure.lmtpserver import (
    ListenError,
    bind,
    bound_address,
    remove,
    stop_signals,
    write_ready,
)
from infrastructure.lmtpwire import ListenAddress

log = logging.getLogger("mailhost.lmtp")

START_TIMEOUT_S = 120.0
EXIT_MARGIN_S = 30.0  # beyond the grace period: a decider closing its engine
RESTART_PAUSE_S = (1.0, 30.0)
ACCEPTS_PER_WAKE = 64  # then the loop reads the deciders' news again
FULL = b"421 4.3.2 too many connections, try again later\r\n"
STOPPING = b"421 4.3.2 shutting down, try again later\r\n"
UNAVAILABLE = b"421 4.3.0 no decider available, try again later\r\n"
DIED = b"421 4.3.0 the decider of this session failed, try again later\r\n"


def _refuse(sock: socket.socket, line: bytes) -> None:
    sock.settimeout(0.0)
    with contextlib.suppress(OSError):
        sock.send(line)
    sock.close()


class _Child:
    """The parent's side of one decider: its process, channel and connections."""

    def __init__(
        self, index: int, home: Path | None, limits: ListenerLimits, pause: float
    ) -> None:
        self.index = index
        self.pause = pause  # before the next start, should this one die
        parent, child = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        config = json.dumps(
            {"index": index, "home": str(home or ""), "limits": asdict(limits)}
        )
        try:
            self.proc = subprocess.Popen(  # noqa: S603 - our own interpreter and code
                [sys.executable, "-c", CODE, str(child.fileno()), config],
                pass_fds=(child.fileno(),),
                stdin=subprocess.DEVNULL,
            )
        except BaseException:
            parent.close()
            raise
        finally:
            child.close()
        parent.settimeout(0.0)
        self.channel = parent
        self.ready = asyncio.Event()
        self.exited = asyncio.Event()
        self.conns: dict[int, socket.socket] = {}


class Deciders:
    """The decider processes of one listener, kept at their number until the stop."""

    def __init__(self, count: int, home: Path | None, limits: ListenerLimits) -> None:
        self.home = home
        self.limits = limits
        self.count = count
        self.children: list[_Child] = []
        self.stopping = False
        self._ids = itertools.count(1)
        self._turn = 0
        self._tasks: set[asyncio.Task[None]] = set()
        self.started = False

    @property
    def connections(self) -> int:
        return sum(len(child.conns) for child in self.children)

    async def start(self) -> None:
        """Every decider started and ready; OSError when one cannot start."""
        self.children = [self._spawn(i) for i in range(self.count)]
        try:
            async with asyncio.timeout(START_TIMEOUT_S):
                started = await asyncio.gather(*map(_started, self.children))
        except TimeoutError:
            msg = f"the deciders were not ready in {START_TIMEOUT_S:.0f} s"
            raise ListenError(msg) from None
        if not all(started):
            msg = "a decider could not open its engine (its error is above)"
            raise ListenError(msg)
        self.started = True

    def _spawn(self, index: int, pause: float = RESTART_PAUSE_S[0]) -> _Child:
        child = _Child(index, self.home, self.limits, pause)
        asyncio.get_running_loop().add_reader(child.channel, self._news, child)
        return child

    def hand(self, sock: socket.socket) -> None:
        """The connection to the least busy ready decider, or a ``421``."""
        if self.stopping:
            _refuse(sock, STOPPING)
            return
        if self.connections >= self.limits.max_connections:
            _refuse(sock, FULL)
            return
        ready = [c for c in self.children if c.ready.is_set() and not c.exited.is_set()]
        if not ready:
            _refuse(sock, UNAVAILABLE)
            return
        self._turn += 1
        order = ready[self._turn % len(ready) :] + ready[: self._turn % len(ready)]
        conn_id = next(self._ids)
        for child in sorted(order, key=lambda c: len(c.conns)):
            try:
                socket.send_fds(
                    child.channel, [message(HAND, conn_id)], [sock.fileno()]
                )
            except OSError:
                continue  # its queue is full, or it is going: the next one
            child.conns[conn_id] = sock
            return
        _refuse(sock, UNAVAILABLE)

    def _news(self, child: _Child) -> None:
        """What a decider says: ready, a connection closed, or (EOF) that it exited."""
        while True:
            try:
                data = child.channel.recv(MESSAGE)
            except (BlockingIOError, InterruptedError):
                return
            except OSError:
                data = b""
            if not data:
                self._lost(child)
                return
            if data[:1] == READY:
                child.ready.set()
            elif data[:1] == CLOSED:
                sock = child.conns.pop(conn_id_of(data), None)
                if sock is not None:
                    sock.close()

    def _lost(self, child: _Child) -> None:
        loop = asyncio.get_running_loop()
        loop.remove_reader(child.channel)
        child.channel.close()
        for sock in child.conns.values():
            _refuse(sock, DIED)
        if child.conns and not self.stopping:
            log.warning(
                "decider %d died: %d connection(s) told 421",
                child.index,
                len(child.conns),
            )
        child.conns.clear()
        task = asyncio.ensure_future(self._reap(child))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _reap(self, child: _Child) -> None:
        """Collect the exit; a decider of a started listener is started again."""
        code = await asyncio.to_thread(child.proc.wait)
        child.exited.set()
        if self.stopping or not self.started:
            return
        log.warning("decider %d exited %d: starting it again", child.index, code)
        await asyncio.sleep(child.pause)
        if self.stopping:
            return
        # Ready again: the next death waits the shortest pause; else twice as long.
        fresh = self._spawn(child.index, min(child.pause * 2, RESTART_PAUSE_S[1]))
        self.children[child.index] = fresh
        if await _started(fresh):
            fresh.pause = RESTART_PAUSE_S[0]

    async def stop(self) -> None:
        """Each decider told to stop; back once all exited (killed past their time)."""
        self.stopping = True
        for child in self.children:
            if not child.exited.is_set():
                with contextlib.suppress(OSError):
                    child.channel.shutdown(socket.SHUT_WR)
        waits = [child.exited.wait() for child in self.children]
        try:
            async with asyncio.timeout(self.limits.grace + EXIT_MARGIN_S):
                await asyncio.gather(*waits)
        except TimeoutError:
            for child in self.children:
                if child.proc.poll() is None:
                    log.warning("decider %d did not stop in time: killed", child.index)
                    child.proc.kill()
            await asyncio.gather(*(c.exited.wait() for c in self.children))


async def _started(child: _Child) -> bool:
    """Whether the decider said it is ready before it exited."""
    ready = asyncio.ensure_future(child.ready.wait())
    exited = asyncio.ensure_future(child.exited.wait())
    await asyncio.wait((ready, exited), return_when=asyncio.FIRST_COMPLETED)
    ready.cancel()
    exited.cancel()
    return child.ready.is_set()


async def serve_processes(
    count: int,
    home: Path | None,
    address: ListenAddress,
    limits: ListenerLimits,
    ready_file: Path | None,
) -> None:
    """Accept and hand over until SIGTERM or SIGINT; back once every decider exited."""
    loop = asyncio.get_running_loop()
    stop = stop_signals(loop)
    sock = bind(address)
    deciders = Deciders(count, home, limits)
    try:
        await deciders.start()
        bound = bound_address(sock, address)
        if ready_file is not None:
            write_ready(ready_file, bound, processes=count)
        log.info("listening on %s with %d deciders", bound, count)
        loop.add_reader(sock, _accept, sock, deciders)
        await stop.wait()
        loop.remove_reader(sock)
    finally:
        sock.close()
        remove(address.path, ready_file)
        log.info("stopping: %d connection(s) open", deciders.connections)
        await deciders.stop()
    log.info("stopped")


def _accept(sock: socket.socket, deciders: Deciders) -> None:
    for _ in range(ACCEPTS_PER_WAKE):
        try:
            conn, _ = sock.accept()
        except (BlockingIOError, InterruptedError):
            return
        except OSError as e:  # out of descriptors, say: the next wake tries again
            log.warning("accept failed: %s", e.strerror or e)
            return
        deciders.hand(conn)
