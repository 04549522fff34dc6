"""PostgreSQL commands/s with 1 and 4 writer processes; commit-to-job latency on Redis.

It starts its own PostgreSQL and Redis on 127.0.0.1 (the test harness's servers). Each
writer count gets a fresh database; the writers found organisations (a new aggregate
per command, no password hashing). The latency runs the split topology
(``mailhost run projections``, ``mailhost run relay``, a ``dramatiq`` worker process
with a note of each start, ``benchmarks._scaleworker``) and measures, per reply, from
the decision's commit (``deliver`` returned) to a worker thread taking up its job.

Where the latency goes: the relay wakes on the log's NOTIFY (eventsourcing sends one in
every insert), reads the schedule's new events (one query), writes their jobs already
handed over to it with the schedule's position (one transaction: the conditional
position update, the rows, the commit), sends each to Redis and announces it on the
channel the idle workers wait on (two round trips); a worker's consumer fetches it (one)
and a thread takes it up. Measured per hop, each is a few milliseconds at most; the tail
is each process waiting for a core. What made the tail before (p99 0.3 to 0.8 s): the
garbage collector's full passes over each long-running process's start-up objects,
100 to 300 ms each on two busy cores (now frozen, ``workers.heap``), a separate
hand-over transaction with a statement per job, and a read of each position in a
transaction of its own before every batch, and the projections process writing the
schedule first for one job in ten (it now gathers commits for 50 ms before it steps);
before the wake-ups, three polls in series.

What limits scaling: eventsourcing's PostgreSQL recorder takes ``LOCK TABLE ... IN
EXCLUSIVE MODE`` on the events table per insert (gap-free notification ids in commit
order), so every command's commit is serialised there whatever the number of writers,
and the lock is held across the insert's round trips and its commit; the rest of a
command (loads, decisions, encoding) runs in parallel, as far as there are cores for it.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

from application.authorization import OPERATOR
from benchmarks._core import Options, Report, group, ratio, scratch_dir
from domain.replyplan import auto_reply_id
from infrastructure.bootstrap import Engine, open_engine
from tests.servers import RunningPostgres, start_postgres, start_redis

INFO = "info@example.org"
REPO = Path(__file__).resolve().parents[1]
KEY = "cd" * 32
# The file the worker notes each job's start in (``benchmarks._scaleworker``).
STARTS = "MAILHOST_BENCH_STARTS"


def _env(pg: RunningPostgres, home: Path, **more: str) -> dict[str, str]:
    env = {**os.environ, **pg.env(pg.create_database()), "MAILHOST_HOME": str(home)}
    env.update({"MAILHOST_SECRET_KEY": KEY, "MAILHOST_RESPONDER_HOURLY_CAP": "1000000"})
    env.update(more)
    return env


def _setup(env: dict[str, str]) -> None:
    engine = open_engine(env=env, background=False)
    try:
        host = engine.host
        host.organisations.found("Scale Co", by=OPERATOR)
        host.accounts.register(
            "Scale Co", "admin@example.net", "a long passphrase", by=OPERATOR
        )
        host.services.create("Scale Co", "example.org", quota=5, by=OPERATOR)
        host.addresses.create_unassigned(INFO, by=OPERATOR)
        host.responders.add(INFO, "Away", body="Away.", by=OPERATOR)
        host.responders.activate(INFO, "Away", by=OPERATOR)
    finally:
        engine.close()


def _commands_per_s(env: dict[str, str], writers: int, count: int) -> float:
    start_at = time.time() + 3
    procs = [
        subprocess.Popen(  # noqa: S603 - our own interpreter and module
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
            "benchmarks._scaleworker",
            "--processes",
            "1",
            "--threads",
            "4",
        ],
    ]
    with ExitStack() as stack:
        for n, argv in enumerate(argvs):
            out = stack.enter_context((folder / f"process{n}.log").open("wb"))
            proc = subprocess.Popen(  # noqa: S603 - our own commands
                argv, cwd=REPO, env=env, stdout=out, stderr=out
            )
            stack.callback(proc.wait, 30)
            stack.callback(proc.terminate)
        yield


def _latencies(
    engine: Engine, starts: Path, count: int, prefix: str = "lat"
) -> list[float]:
    """Per reply: the time its job started on the worker minus its commit, in ms.

    The commit is taken as ``deliver`` returns (the decision's transaction has
    committed by then), the start from the worker's notes (``benchmarks._scaleworker``).
    """
    committed: dict[str, float] = {}
    for n in range(count):
        sender = f"{prefix}{n}@example.net"
        raw = (
            f"From: <{sender}>\r\nTo: {INFO}\r\nSubject: q\r\n"
            f"Message-ID: <{prefix}{n}@example.net>\r\n\r\nHello.\r\n"
        ).encode()
        decision = engine.host.responders.deliver(INFO, sender, raw)
        at = time.time()
        if decision.plan is None:
            raise RuntimeError("the responder planned no reply")
        committed[str(auto_reply_id(decision.plan))] = at
        time.sleep(0.02)  # a steady stream, not one burst
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        started: dict[str, float] = {}
        for line in starts.read_text(encoding="ascii").splitlines():
            seconds, _, key = line.partition(" ")
            started.setdefault(key, float(seconds))  # a redelivery is no new start
        if all(key in started for key in committed):
            return [(started[k] - c) * 1000 for k, c in committed.items()]
        time.sleep(0.2)
    raise TimeoutError("reply jobs not started")


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
        starts = root / "starts.txt"
        starts.touch()
        env = _env(pg, root / "hl", MAILHOST_BROKER_URL=redis.url)
        env[STARTS] = str(starts)
        _setup(env)
        with _split(env, root):
            engine = open_engine(env=env, background=False)
            try:
                _latencies(engine, starts, 5, prefix="warm")  # the processes are up
                ms = sorted(_latencies(engine, starts, 50 if options.quick else 200))
            finally:
                engine.close()
        report.figure("command_to_job_p50_ms", statistics.median(ms), "ms")
        report.figure(
            "command_to_job_p99_ms", ms[min(len(ms) - 1, int(len(ms) * 0.99))], "ms"
        )
