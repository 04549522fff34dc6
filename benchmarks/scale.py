"""PostgreSQL commands/s with 1 and 4 writer processes; commit-to-job latency on Redis.

It starts its own PostgreSQL and Redis on 127.0.0.1 (the test harness's servers). Each
writer count gets a fresh database; the writers found organisations (a new aggregate
per command, no password hashing). The latency runs the split topology
(``mailhost run projections``, ``mailhost run relay``, a ``dramatiq`` worker process)
and measures, per reply, from the decision's commit to its job done on the worker
(the send goes to the outbox: a file write), which bounds the job's start from above.

Where the time goes: eventsourcing's PostgreSQL recorder takes ``LOCK TABLE ... IN
EXCLUSIVE MODE`` on the events table per insert (gap-free notification ids), so every
command's commit is serialised there whatever the number of writers; the rest of a
command (loads, decisions, encoding) runs in parallel.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from datetime import datetime
from pathlib import Path

from benchmarks._core import Options, Report, group, ratio, scratch_dir
from domain.replyplan import auto_reply_id
from infrastructure.bootstrap import Engine, open_engine
from tests.servers import RunningPostgres, start_postgres, start_redis

INFO = "info@example.org"
REPO = Path(__file__).resolve().parents[1]
KEY = "cd" * 32


def _env(pg: RunningPostgres, home: Path, **more: str) -> dict[str, str]:
    env = {**os.environ, **pg.env(pg.create_database()), "MAILHOST_HOME": str(home)}
    env.update({"MAILHOST_SECRET_KEY": KEY, "MAILHOST_RESPONDER_HOURLY_CAP": "1000000"})
    env.update(more)
    return env


def _setup(env: dict[str, str]) -> None:
    engine = open_engine(env=env, background=False)
    try:
        engine.host.organisations.found("Scale Co")
        engine.host.accounts.register(
            "Scale Co", "admin@example.net", "a long passphrase"
        )
        engine.host.services.create("Scale Co", "example.org", quota=5)
        engine.host.addresses.create_unassigned(INFO)
        engine.host.responders.add(INFO, "Away", body="Away.")
        engine.host.responders.activate(INFO, "Away")
    finally:
        engine.close()


def _commands_per_s(env: dict[str, str], writers: int, count: int) -> float:
    start_at = time.time() + 3
    procs = [
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "benchmarks._scalewriter",
                str(n),
                str(count),
                str(start_at),
            ],
            cwd=REPO,
            env=env,
            stdout=subprocess.PIPE,
        )
        for n in range(writers)
    ]
    seconds = [float(p.communicate(timeout=600)[0].decode().split()[-1]) for p in procs]
    return writers * count / max(seconds)


@contextmanager
def _split(env: dict[str, str], folder: Path) -> Iterator[None]:
    mailhost = [sys.executable, "-m", "infrastructure.cli", "run"]
    argvs = [
        [*mailhost, "projections"],
        [*mailhost, "relay"],
        [
            sys.executable,
            "-m",
            "dramatiq",
            "infrastructure.workerprocess",
            "--processes",
            "1",
            "--threads",
            "4",
        ],
    ]
    with ExitStack() as stack:
        for n, argv in enumerate(argvs):
            out = stack.enter_context((folder / f"process{n}.log").open("wb"))
            proc = subprocess.Popen(argv, cwd=REPO, env=env, stdout=out, stderr=out)
            stack.callback(proc.wait, 30)
            stack.callback(proc.terminate)
        yield


def _latencies(engine: Engine, count: int, prefix: str = "lat") -> list[float]:
    """Per reply: its job's done time minus the decision's time, in ms."""
    decided: dict[str, datetime] = {}
    for n in range(count):
        sender = f"{prefix}{n}@example.net"
        raw = (
            f"From: <{sender}>\r\nTo: {INFO}\r\nSubject: q\r\n"
            f"Message-ID: <{prefix}{n}@example.net>\r\n\r\nHello.\r\n"
        ).encode()
        at = engine.host.alerts.clock.now()
        decision = engine.host.responders.deliver(INFO, sender, raw)
        assert decision.plan is not None
        decided[str(auto_reply_id(decision.plan))] = at
        time.sleep(0.02)  # a steady stream, not one burst
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        with engine.jobs.database.transaction() as cursor:
            cursor.execute(
                "SELECT args, done_at FROM mh_jobs WHERE done_at IS NOT NULL"
            )
            done = {
                str(r[0]).strip('[]"'): datetime.fromisoformat(str(r[1]))
                for r in cursor.fetchall()
            }
        if all(key in done for key in decided):
            return [(done[k] - at).total_seconds() * 1000 for k, at in decided.items()]
        time.sleep(0.2)
    raise TimeoutError("reply jobs not done")


@group(
    "scale", "PostgreSQL commands/s with 1 and 4 writers; command-to-job ms on Redis"
)
def run(options: Options, report: Report) -> None:
    count = 100 if options.quick else 400
    with (
        scratch_dir("scale") as root,
        start_postgres(root / "pg") as pg,
        start_redis(root / "redis") as redis,
    ):
        one = _commands_per_s(_env(pg, root / "h1"), 1, count)
        report.figure("pg_commands_per_s_1w", one, "cmd/s")
        four = _commands_per_s(_env(pg, root / "h4"), 4, count)
        report.figure("pg_commands_per_s_4w", four, "cmd/s")
        report.figure("pg_scaling_4w_vs_1w", ratio(four, one), "x")
        env = _env(pg, root / "hl", MAILHOST_BROKER_URL=redis.url)
        _setup(env)
        with _split(env, root):
            engine = open_engine(env=env, background=False)
            try:
                _latencies(engine, 5, prefix="warm")  # the processes have started
                ms = sorted(_latencies(engine, 50 if options.quick else 200))
            finally:
                engine.close()
        report.figure("command_to_job_p50_ms", statistics.median(ms), "ms")
        report.figure(
            "command_to_job_p99_ms", ms[min(len(ms) - 1, int(len(ms) * 0.99))], "ms"
        )
