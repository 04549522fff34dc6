"""Servers a fault test may restart on the same port, and the split topology's processes.

The session's servers are shared by every test, so a test that restarts one starts its
own: a PostgreSQL cluster or a redis-server that stops (by its pid) and comes back on
the same port with the same data directory, as after an operator's restart.
"""

from __future__ import annotations

import functools
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg
import pytest

from application.jobs import SEND_AUTO_REPLY, SEND_SECURITY_ALERT
from domain.replyplan import Decision
from infrastructure.bootstrap import Engine
from tests.integration.support import engine, with_active_responder
from tests.integration.test_exactly_once import Follower, logs
from tests.servers import RunningPostgres, RunningRedis, SmtpSink
from tests.servers.process import (
    LOCALHOST,
    Spawn,
    Started,
    as_user,
    find_binary,
    launch,
    service_account,
)

DOMAIN = "example.org"
INFO = f"info@{DOMAIN}"
MAILHOST = [sys.executable, "-m", "infrastructure.cli"]
RUN_PROJECTIONS = [*MAILHOST, "run", "projections"]
RUN_RELAY = [*MAILHOST, "run", "relay"]
# Short leases: a job whose holder died (or whose Redis queue was lost) is taken again
# within the test rather than after the production defaults.
LEASES = {
    "MAILHOST_JOB_CLAIM_LEASE": "3",
    "MAILHOST_JOB_HANDOFF_LEASE": "3",
    "MAILHOST_RESPONDER_HOURLY_CAP": "1000",
}
RECOVERED = "recovered after"


class RestartableRedis(RunningRedis):
    """A redis-server that ``restart`` stops and starts again on its port."""

    def __init__(self, started: Started, argv: list[str], workdir: Path) -> None:
        super().__init__(started)
        self.argv, self.workdir = argv, workdir

    def halt(self) -> None:
        """Stopped (by its pid) until ``resume``: what a restart looks like to clients."""
        self._proc.terminate()
        self._proc.wait(30)

    def resume(self) -> None:
        spec = Spawn("redis-server", self.log_path, self.workdir)
        started = launch(lambda _port: self.argv, lambda _port: self._pings(), spec)
        self._proc = started.proc

    def _pings(self) -> bool:
        import redis  # noqa: PLC0415 - the test's own client, not the engine's

        try:
            return bool(redis.Redis(host=LOCALHOST, port=self.port).ping())
        except redis.RedisError:
            return False


def start_restartable_redis(tmp: Path) -> RestartableRedis:
    binary = find_binary("redis-server", "redis-server")
    workdir = tmp / "redis-data"
    workdir.mkdir(parents=True)
    log = tmp / "redis.log"
    holder: dict[str, list[str]] = {}

    def argv(port: int) -> list[str]:
        holder["argv"] = [
            binary, "--port", str(port), "--bind", LOCALHOST, "--save", "",
            "--appendonly", "no", "--daemonize", "no", "--dir", str(workdir),
        ]  # fmt: skip
        return holder["argv"]

    def ready(port: int) -> bool:
        import redis  # noqa: PLC0415 - as above

        try:
            return bool(redis.Redis(host=LOCALHOST, port=port).ping())
        except redis.RedisError:
            return False

    started = launch(argv, ready, Spawn("redis-server", log, workdir))
    return RestartableRedis(started, holder["argv"], workdir)


def halt_postgres(server: RunningPostgres) -> None:
    """Stop the cluster (fast shutdown, by its pid) until ``resume_postgres``."""
    proc = server._proc
    proc.send_signal(signal.SIGINT)  # fast shutdown: clients are disconnected
    proc.wait(60)


def resume_postgres(server: RunningPostgres) -> None:
    """Start the cluster again on its port and data directory."""
    proc = server._proc
    bindir = Path(str(proc.args[0])).parent  # type: ignore[index]
    account = service_account("postgres", "PostgreSQL")
    with server.log_path.open("ab") as out:
        server._proc = subprocess.Popen(
            [
                str(bindir / "postgres"),
                "-D",
                str(server.data_dir),
                "-p",
                str(server.port),
            ],
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            cwd=server.data_dir.parent,
            start_new_session=True,
            **as_user(account),
        )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            with psycopg.connect(server.conninfo(), connect_timeout=2):
                return
        except psycopg.OperationalError:
            time.sleep(0.1)
    pytest.fail("PostgreSQL did not come back")


@contextmanager
def topology(
    home: Path, env: dict[str, str], argvs: list[list[str]], folder: Path
) -> Iterator[tuple[Engine, list[Follower]]]:
    """This process's engine (writing commands, INFO answering) and the split processes."""
    with engine(home, env, background=False) as e:
        with_active_responder(e, INFO)
        started: list[Follower] = []
        try:
            for n, argv in enumerate(argvs):
                name = argv[-1] if RUN_RELAY[:-1] == argv[:-1] else "workers"
                started.append(Follower(argv, env, folder / f"{name}{n}.log"))
            yield e, started
        finally:
            for follower in started:
                follower.stop()


def decide(e: Engine, first: int, count: int) -> int:
    """Replies to ``count`` new senders (from number ``first``), retried while a store
    restarts (the command is refused, not half-done: nothing was decided); how many."""
    for n in range(first, first + count):
        sender = f"sender{n}@example.net"
        raw = (
            f"From: <{sender}>\r\nTo: {INFO}\r\nSubject: question {n}\r\n"
            f"Message-ID: <q{n}@example.net>\r\n\r\nHello.\r\n"
        ).encode()
        _retried(functools.partial(e.host.responders.deliver, INFO, sender, raw))
    return count


def _retried(call: Callable[[], Decision]) -> None:
    deadline = time.monotonic() + 60
    while True:
        try:
            decision = call()
        except psycopg.Error:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)
            continue
        assert decision.reply
        return


def mail_jobs(e: Engine) -> dict[str, tuple[int, object]]:
    with e.jobs.database.transaction() as cursor:
        cursor.execute(
            "SELECT job_id, attempts, done_at FROM mh_jobs WHERE actor IN (?, ?)",
            (SEND_AUTO_REPLY, SEND_SECURITY_ALERT),
        )
        return {str(r[0]): (int(r[1]), r[2]) for r in cursor.fetchall()}


def wait_done(e: Engine, expected: int, folder: Path, timeout: float = 120) -> None:
    """Until the projections process has scheduled every mail job and all are done."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            jobs = mail_jobs(e)
        except psycopg.Error:
            jobs = {}
        if len(jobs) == expected and all(done for _, done in jobs.values()):
            time.sleep(1.0)  # a second copy, if any, would be on its way by now
            return
        time.sleep(0.2)
    pytest.fail(
        f"mail jobs not done: {len(mail_jobs(e))} of {expected}\n{logs(folder)}"
    )


def by_message_id(smtp: SmtpSink) -> Counter[str]:
    return Counter(str(m.message["Message-ID"]) for m in smtp.messages)
