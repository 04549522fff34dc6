"""One claim per job, at the wire: many relays and workers in many processes, kill -9.

Several followers (each a relay, and embedded also a worker) run in processes of their
own on one engine; this test process decides replies and alerts. The SMTP sink counts
what arrives, per Message-ID:

- with no kill, every decided mail arrives exactly once;
- with kill -9 at random moments (and restarts), every decided mail still arrives, and
  only a job whose claim was taken again after a kill (attempts > 1) may arrive twice:
  the at-least-once side of a send that no one can know was finished.
"""

from __future__ import annotations

import contextlib
import os
import random
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from application.authorization import OPERATOR
from application.jobs import SEND_AUTO_REPLY, SEND_SECURITY_ALERT
from infrastructure.bootstrap import Engine
from tests.integration.support import (
    ORG,
    engine,
    process_env,
    with_active_responder,
)
from tests.integration.workerprocesses import DRAMATIQ_WORKERS, REPO
from tests.servers import RunningRedis, SmtpSink

DOMAIN = "example.org"
INFO = f"info@{DOMAIN}"
REPLIES = 24
LOGINS = 6
FOLLOWERS = 3
# Short leases so a killed holder's job is taken again within the test.
LEASES = {
    "MAILHOST_JOB_CLAIM_LEASE": "3",
    "MAILHOST_JOB_HANDOFF_LEASE": "2",
    "MAILHOST_RESPONDER_HOURLY_CAP": "100",
}
RUN = [sys.executable, "-m", "infrastructure.cli", "run"]


class Follower:
    """A process of ours that can be killed -9 and started again, by its own pid."""

    def __init__(self, argv: list[str], env: dict[str, str], log: Path) -> None:
        self.argv, self.env, self.log = argv, env, log
        self.process: subprocess.Popen[bytes] | None = None
        self.start()

    def start(self) -> None:
        with self.log.open("ab") as out:
            # Its own process group (id = its pid): a kill reaches the children
            # a `dramatiq` master forks, which a kill of the master alone would orphan.
            self.process = subprocess.Popen(
                self.argv,
                cwd=REPO,
                env={**os.environ, **self.env},
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def _signal_group(self, sig: signal.Signals) -> None:
        assert self.process is not None
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, sig)

    def kill(self) -> None:
        assert self.process is not None
        self._signal_group(signal.SIGKILL)
        self.process.wait()

    def stop(self) -> None:
        if self.process is None:
            return
        if self.process.poll() is None:
            self._signal_group(signal.SIGTERM)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self._signal_group(signal.SIGKILL)  # any child still left in the group


@contextmanager
def followers(
    argvs: list[list[str]], env: dict[str, str], folder: Path
) -> Iterator[list[Follower]]:
    started: list[Follower] = []
    try:
        for n, argv in enumerate(argvs):
            started.append(Follower(argv, env, folder / f"follower{n}.log"))
        yield started
    finally:
        for follower in started:
            follower.stop()


def logs(folder: Path) -> str:
    return "\n".join(
        p.read_text(errors="replace")[-3000:] for p in folder.glob("*.log")
    )


@contextmanager
def relaying(
    home: Path, env: dict[str, str], argvs: list[list[str]], folder: Path
) -> Iterator[tuple[Engine, list[Follower]]]:
    """This process's engine with INFO answering, and the followers started on it."""
    with engine(home, env, background=False) as e:
        with_active_responder(e, INFO)
        with followers(argvs, env, folder) as running:
            yield e, running


@contextmanager
def embedded_relays(
    folder: Path, smtp: SmtpSink
) -> Iterator[tuple[Engine, list[Follower]]]:
    """``FOLLOWERS`` embedded ``mailhost run`` relays on one SQLite home in ``folder``."""
    home = folder / "home"
    env = process_env(home, smtp, LEASES)
    with relaying(home, env, [RUN] * FOLLOWERS, folder) as started:
        yield started


def question(sender: str, n: int) -> bytes:
    """Question ``n`` from ``sender`` to INFO, a message of its own (its Message-ID)."""
    headers = {
        "From": f"<{sender}>",
        "To": INFO,
        "Subject": f"question {n}",
        "Message-ID": f"<q{n}@example.net>",
    }
    head = "".join(f"{name}: {value}\r\n" for name, value in headers.items())
    return f"{head}\r\nHello.\r\n".encode()


def decide_mails(e: Engine, pause: float = 0.0) -> int:
    """Replies to distinct senders and first-login alerts: each must reach the sink."""
    for n in range(REPLIES):
        sender = f"sender{n}@example.net"
        assert e.host.responders.deliver(INFO, sender, question(sender, n)).reply
        time.sleep(pause)
    for n in range(LOGINS):
        login = f"user{n}@example.net"
        e.host.accounts.register(ORG, login, "a long passphrase 42", by=OPERATOR)
        assert e.host.accounts.login(
            login, "a long passphrase 42", ip=f"192.0.2.{n + 1}"
        ).alerted
        time.sleep(pause)
    return REPLIES + LOGINS


def mail_jobs(e: Engine) -> dict[str, tuple[int, str | None]]:
    """Each mail job's attempts and whether it is done, from the job table."""
    with e.jobs.database.transaction() as cursor:
        cursor.execute(
            "SELECT job_id, attempts, done_at FROM mh_jobs WHERE actor IN (?, ?)",
            (SEND_AUTO_REPLY, SEND_SECURITY_ALERT),
        )
        return {str(r[0]): (int(r[1]), r[2]) for r in cursor.fetchall()}


def wait_all_done(e: Engine, expected: int, folder: Path, timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        e.runner.catch_up()
        jobs = mail_jobs(e)
        if len(jobs) == expected and all(done for _, done in jobs.values()):
            time.sleep(1.0)  # a second copy, if any, would be on its way by now
            return
        time.sleep(0.2)
    pytest.fail(f"mail jobs not done: {mail_jobs(e)}\n{logs(folder)}")


def by_message_id(smtp: SmtpSink) -> Counter[str]:
    return Counter(str(m.message["Message-ID"]) for m in smtp.messages)


def killer(
    running: list[Follower], stop_at: float, seed: int
) -> int:  # pragma: no cover - timing varies
    """Kill -9 a random follower at random moments and start it again; how many kills."""
    chance = random.Random(seed)  # noqa: S311 - test schedule, not a secret
    kills = 0
    while time.monotonic() < stop_at:
        time.sleep(chance.uniform(0.2, 0.9))
        victim = chance.choice(running)
        victim.kill()
        kills += 1
        victim.start()
    return kills


def test_many_embedded_relays_send_each_mail_once(
    tmp_path: Path, smtp: SmtpSink
) -> None:
    # rule RSP-8, rule SEC-1: one mail per decided reply and alert, whoever relays
    with embedded_relays(tmp_path, smtp) as (e, _):
        expected = decide_mails(e)
        wait_all_done(e, expected, tmp_path)
        counts = by_message_id(smtp)
        assert len(counts) == expected, logs(tmp_path)
        assert set(counts.values()) == {1}, counts


def test_kill_9_of_embedded_relays_loses_no_mail_and_repeats_only_the_interrupted(
    tmp_path: Path, smtp: SmtpSink
) -> None:
    # rule RSP-8, rule SEC-1
    with embedded_relays(tmp_path, smtp) as (e, running):
        expected = decide_mails(e, pause=0.05)
        kills = killer(running, time.monotonic() + 4, seed=7)
        wait_all_done(e, expected, tmp_path)
        _check_at_least_once(e, smtp, expected, kills)


def test_relays_and_dramatiq_workers_on_postgres_and_redis_survive_kill_9(
    tmp_path: Path,
    postgres_env: dict[str, str],
    redis_server: RunningRedis,
    smtp: SmtpSink,
) -> None:
    # rule RSP-8, rule SEC-1
    home = tmp_path / "home"
    broker = {"MAILHOST_BROKER_URL": redis_server.url}
    env = process_env(home, smtp, broker, postgres_env, LEASES)
    argvs = [RUN, RUN, DRAMATIQ_WORKERS, DRAMATIQ_WORKERS]
    with relaying(home, env, argvs, tmp_path) as (e, running):
        expected = decide_mails(e, pause=0.05)
        kills = killer(running, time.monotonic() + 4, seed=11)
        wait_all_done(e, expected, tmp_path, timeout=120)
        _check_at_least_once(e, smtp, expected, kills)


def _check_at_least_once(e: Engine, smtp: SmtpSink, expected: int, kills: int) -> None:
    counts = by_message_id(smtp)
    assert len(counts) == expected  # nothing lost
    repeated = {mid for mid, n in counts.items() if n > 1}
    attempts = mail_jobs(e)
    once = sum(1 for n, _ in attempts.values() if n == 1)
    # A repeat needs a job taken again after a kill: at most one per killed thread.
    assert len(repeated) <= sum(1 for n, _ in attempts.values() if n > 1)
    assert sum(counts.values()) - expected <= 2 * kills
    assert sum(counts.values()) <= expected + (len(attempts) - once)
