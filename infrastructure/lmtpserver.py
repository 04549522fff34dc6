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
    server = await _bind(loop, listener, address)
    stop = asyncio.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    bound = _bound_address(server, address)
    if ready_file is not None:
        _write_ready(ready_file, bound)
    log.info("listening on %s", bound)
    try:
        await stop.wait()
    finally:
        server.close()
        _remove(address.path, ready_file)
        in_flight = sum(s.in_transaction for s in listener.sessions)
        log.info("stopping: %d transaction(s) in flight", in_flight)
        listener.stop()
        try:
            await asyncio.wait_for(listener.idle.wait(), listener.limits.grace)
        except TimeoutError:
            log.warning(
                "grace period over: closing %d session(s)", len(listener.sessions)
            )
            listener.abort()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(server.wait_closed(), 5)
    log.info("stopped")


async def _bind(
    loop: asyncio.AbstractEventLoop, listener: Listener, address: ListenAddress
) -> asyncio.Server:
    if address.path is None:
        try:
            return await loop.create_server(
                listener.protocol,
                address.host,
                address.port or 0,
                reuse_address=True,
                backlog=BACKLOG,
            )
        except OSError as e:
            msg = f"cannot listen on {address}: {e.strerror or e}"
            raise ListenError(msg) from None
    path = address.path
    _clear_stale(path)
    old_mask = os.umask(0o117)  # never a moment with the socket open to everyone
    try:
        server = await loop.create_unix_server(
            listener.protocol, str(path), backlog=BACKLOG
        )
    except OSError as e:
        msg = f"cannot listen on {address}: {e.strerror or e}"
        raise ListenError(msg) from None
    finally:
        os.umask(old_mask)
    path.chmod(SOCKET_MODE)
    return server


def _remove(*paths: Path | None) -> None:
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


def _bound_address(server: asyncio.Server, address: ListenAddress) -> str:
    """Where clients connect: a port of 0 is the one the kernel chose."""
    if address.path is not None:
        return str(address)
    host, port = server.sockets[0].getsockname()[:2]
    return str(ListenAddress(host=host, port=port))


def _write_ready(ready_file: Path, bound: str) -> None:
    """Readiness for a supervisor (``mailhost health``): where, and which process."""
    content = json.dumps({"listen": bound, "pid": os.getpid()}) + "\n"
    partial = ready_file.with_name(f".{ready_file.name}.{os.getpid()}")
    partial.write_text(content, encoding="ascii")
    partial.replace(ready_file)  # whole or absent: a reader never sees half of it
