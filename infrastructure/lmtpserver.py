"""The LMTP listener's life: bind, say it is ready, serve, stop cleanly on SIGTERM/SIGINT.

Stopping closes the listening socket first (a new client is refused), says ``421`` to
every session between transactions, lets a transaction in flight finish its DATA and
replies within the grace period, then closes what is left. The caller closes the engine
afterwards, once no decision can still be running.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import signal
import socket
import stat
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from infrastructure.lmtp import Decide, Listener, ListenerLimits
from infrastructure.lmtpwire import ListenAddress

log = logging.getLogger("mailhost.lmtp")

BACKLOG = 512
SOCKET_MODE = 0o660  # the MTA's group may connect, nobody else


class ListenError(OSError):
    """The listener cannot bind where it was told to (in use, not a socket, ...)."""


def serve(
    decide: Decide,
    address: ListenAddress,
    limits: ListenerLimits,
    *,
    ready_file: Path | None = None,
) -> None:
    """Serve until SIGTERM or SIGINT; returns once every session and decision is done."""
    with ThreadPoolExecutor(
        max_workers=limits.workers, thread_name_prefix="mailhost-lmtp"
    ) as pool:
        asyncio.run(_serve(Listener(decide, limits, pool), address, ready_file))


async def _serve(
    listener: Listener, address: ListenAddress, ready_file: Path | None
) -> None:
    loop = asyncio.get_running_loop()
    sock = bind(address)
    try:
        if address.path is None:
            server = await loop.create_server(listener.protocol, sock=sock)
        else:
            server = await loop.create_unix_server(listener.protocol, sock=sock)
    except BaseException:
        sock.close()
        raise
    stop = stop_signals(loop)
    bound = bound_address(sock, address)
    if ready_file is not None:
        write_ready(ready_file, bound)
    log.info("listening on %s", bound)
    try:
        await stop.wait()
    finally:
        server.close()
        remove(address.path, ready_file)
        await finish(listener)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(server.wait_closed(), 5)
    log.info("stopped")


def stop_signals(loop: asyncio.AbstractEventLoop) -> asyncio.Event:
    """Set by SIGTERM or SIGINT: a supervisor's stop, or an operator's."""
    stop = asyncio.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    return stop


async def finish(listener: Listener) -> None:
    """No new transaction; those in flight get the grace period, then the door."""
    in_flight = sum(s.in_transaction for s in listener.sessions)
    log.info("stopping: %d transaction(s) in flight", in_flight)
    listener.stop()
    try:
        await asyncio.wait_for(listener.idle.wait(), listener.limits.grace)
    except TimeoutError:
        log.warning("grace period over: closing %d session(s)", len(listener.sessions))
        listener.abort()


def bind(address: ListenAddress) -> socket.socket:
    """The listening socket, non-blocking; ListenError naming why it cannot be had."""
    if address.path is None:
        family = socket.AF_INET6 if ":" in (address.host or "") else socket.AF_INET
        try:
            sock = socket.create_server(
                (address.host or "", address.port or 0),
                family=family,
                backlog=BACKLOG,
            )
        except OSError as e:
            msg = f"cannot listen on {address}: {e.strerror or e}"
            raise ListenError(msg) from None
        sock.settimeout(0.0)
        return sock
    path = address.path
    _clear_stale(path)
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    old_mask = os.umask(0o117)  # never a moment with the socket open to everyone
    try:
        sock.bind(str(path))
        sock.listen(BACKLOG)
    except OSError as e:
        sock.close()
        msg = f"cannot listen on {address}: {e.strerror or e}"
        raise ListenError(msg) from None
    finally:
        os.umask(old_mask)
    path.chmod(SOCKET_MODE)
    sock.settimeout(0.0)
    return sock


def remove(*paths: Path | None) -> None:
    """The socket and the ready file go first: nobody is sent to a stopping listener."""
    for path in paths:
        if path is not None:
            path.unlink(missing_ok=True)


def _clear_stale(path: Path) -> None:
    """Remove a socket no listener answers on; refuse a live one or any other file."""
    try:
        mode = path.lstat().st_mode
    except FileNotFoundError:
        return
    if not stat.S_ISSOCK(mode):
        msg = f"{path} exists and is not a socket: not replacing it"
        raise ListenError(msg)
    probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        probe.connect(str(path))
    except (ConnectionRefusedError, FileNotFoundError):
        path.unlink(missing_ok=True)  # stale: its listener is gone
        return
    finally:
        probe.close()
    msg = f"a listener is already running on {path}"
    raise ListenError(msg)


def bound_address(sock: socket.socket, address: ListenAddress) -> str:
    """Where clients connect: a port of 0 is the one the kernel chose."""
    if address.path is not None:
        return str(address)
    host, port = sock.getsockname()[:2]
    return str(ListenAddress(host=host, port=port))


def write_ready(ready_file: Path, bound: str, **more: object) -> None:
    """Readiness for a supervisor (``mailhost health``): where, and which process."""
    content = json.dumps({"listen": bound, "pid": os.getpid(), **more}) + "\n"
    partial = ready_file.with_name(f".{ready_file.name}.{os.getpid()}")
    partial.write_text(content, encoding="ascii")
    partial.replace(ready_file)  # whole or absent: a reader never sees half of it
