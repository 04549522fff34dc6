"""A real redis-server for the Dramatiq broker tests."""

from __future__ import annotations

import functools
import os
import socket
from pathlib import Path

from tests.servers.process import (
    LOCALHOST,
    ServerProcess,
    Spawn,
    Started,
    find_binary,
    launch,
    log_file,
    private_workdir,
)


class RunningRedis(ServerProcess):
    """A redis-server without persistence: tests never need their data back."""

    def __init__(self, started: Started) -> None:
        super().__init__(started)
        self.url = f"redis://{self.host}:{self.port}/0"

    def __repr__(self) -> str:
        return f"RunningRedis(url={self.url!r}, pid={self.pid})"


def _redis_serves(workdir: Path, port: int) -> bool:
    """Ask for the data directory: only our redis-server knows this one, so a
    server that grabbed the port first cannot pass for ours.

    Raw RESP keeps this module independent of the redis client's API.
    """
    try:
        with socket.create_connection((LOCALHOST, port), timeout=1) as sock:
            sock.sendall(b"CONFIG GET dir\r\n")
            return os.fsencode(workdir) in sock.recv(4096)
    except OSError:
        return False


def start_redis(tmpdir: Path | str) -> RunningRedis:
    binary = find_binary("redis-server", "redis-server")
    root = Path(tmpdir).resolve()
    workdir, _ = private_workdir(root, "redis", None)
    log = log_file(root, "redis")

    def argv(port: int) -> list[str]:
        return [
            binary,
            "--port", str(port),
            "--bind", LOCALHOST,
            "--save", "",
            "--appendonly", "no",
            "--daemonize", "no",
            "--dir", str(workdir),
        ]  # fmt: skip

    spec = Spawn(what="redis-server", log=log, cwd=workdir)
    return RunningRedis(launch(argv, functools.partial(_redis_serves, workdir), spec))
