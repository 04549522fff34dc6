"""Imports run by real ``dramatiq infrastructure.workerprocess`` processes over Redis.

The production shape: this process requests the import and relays its jobs to a real
redis-server; a real Dramatiq worker process (its own process group, stopped by its
own pid) copies from a real Dovecot filled with the generated corpus into the embedded
maildir store, then sends the confirmation to the real SMTP sink and forgets the
sealed password.

- IMP-9: the source password is a canary, searched (plain, base64 at every alignment,
  hex) in every stored byte while the copy runs (the worker frozen mid-folder) and at
  the end: the event log and read models (SQLite files, or every PostgreSQL table and
  the cluster's files), the outbox and home, every Redis key and value, every command
  Redis received (MONITOR), the worker's log, and every process's title and argv.
- IMP-2: the worker killed -9 in the middle of a folder, a new one started: every
  source message arrives exactly once, per folder (multisets of ``message_key``).
"""

from __future__ import annotations

import base64
import contextlib
import logging
import os
import secrets
import signal
import subprocess
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from uuid import UUID

import psycopg
import pytest
import redis
from imapclient import IMAPClient
from psycopg import sql

from application.authorization import OPERATOR
from application.imports import SourceRequest
from application.jobs import SEND_IMPORT_CONFIRMATION
from domain.importfacts import JobState
from domain.importjob import ImportJob
from domain.importplan import MessageKey, SourceFolder, destination_path
from domain.importsource import ImportSource, Security
from infrastructure.bootstrap import Engine
from infrastructure.credentials import SqlCredentialStore
from infrastructure.maildir import MaildirMailStore
from infrastructure.maildirsource import MaildirMailSource
from tests.integration.support import LOGIN, ORG, engine, process_env, with_user
from tests.integration.test_exactly_once import Follower, logs
from tests.integration.workerprocesses import DRAMATIQ_WORKERS
from tests.mailcorpus import Corpus, expected_multiset, generate
from tests.mailcorpusimap import load_into, read_multiset
from tests.servers import RunningDovecot, RunningPostgres, RunningRedis, SmtpSink

DOMAIN = "example.org"
DESTINATION = f"box@{DOMAIN}"
# Verbose: the worker logs at DEBUG (imapclient's protocol lines among them), so the
# scan of its output covers the most a deployment could be made to log.
WORKER = [*DRAMATIQ_WORKERS, "--verbose"]
Multisets = dict[tuple[str, ...], Counter[MessageKey]]


# -- the canary --------------------------------------------------------------------------


def encodings(canary: str) -> list[bytes]:
    """The canary as plain bytes, hex (both cases), and base64 (standard and URL-safe)
    at each of the three alignments it can take inside a longer encoded value."""
    raw = canary.encode()
    found = [raw, raw.hex().encode(), raw.hex().upper().encode()]
    for encode in (base64.b64encode, base64.urlsafe_b64encode):
        for k in range(3):
            text = encode(b"\0" * k + raw)
            start, end = -(-k // 3) * 4, (k + len(raw)) // 3 * 4
            found.append(text[start:end])
    return found


def leaks(blob: bytes, canary: str) -> list[str]:
    """Which encodings of the canary ``blob`` holds (none, we hope)."""
    return [form.decode() for form in encodings(canary) if form in blob]


def home_bytes(home: Path) -> bytes:
    """Every file under the home: SQLite files and WAL, key, outbox, maildirs."""
    return b"".join(p.read_bytes() for p in sorted(home.rglob("*")) if p.is_file())


def redis_bytes(url: str) -> bytes:
    """Every key and every value of every type Redis holds now (Dramatiq's queues,
    message hashes, acks and heartbeats)."""
    client = redis.Redis.from_url(url)
    parts: list[bytes] = []
    try:
        for key in client.scan_iter(count=1000):
            parts.append(key)
            kind = client.execute_command("TYPE", key)
            if kind == b"string":
                parts.append(client.get(key) or b"")
            elif kind == b"list":
                parts.extend(client.lrange(key, 0, -1))
            elif kind == b"set":
                parts.extend(client.smembers(key))
            elif kind == b"zset":
                parts.extend(client.zrange(key, 0, -1))
            elif kind == b"hash":
                for field, value in client.hgetall(key).items():
                    parts += [field, value]
            elif kind == b"stream":
                parts.append(repr(client.xrange(key)).encode())
    finally:
        client.close()
    return b"\n".join(parts)


@contextlib.contextmanager
def redis_monitor(url: str) -> Iterator[list[bytes]]:
    """Every command Redis receives while the block runs, as MONITOR shows it."""
    seen: list[bytes] = []
    stop = threading.Event()
    client = redis.Redis.from_url(url)

    def listen() -> None:
        with client.monitor() as monitor:
            for command in monitor.listen():
                seen.append(str(command.get("command", "")).encode())
                if stop.is_set():
                    return

    thread = threading.Thread(target=listen, name="redis-monitor", daemon=True)
    thread.start()
    try:
        yield seen
    finally:
        stop.set()
        client.ping()  # one more command, so the listener wakes and sees the stop
        thread.join(timeout=10)
        client.close()


def processes_bytes() -> bytes:
    """Every process's title and argv, as ``ps`` and ``/proc`` show them."""
    shown = subprocess.run(
        ["ps", "-eww", "-o", "pid=,args="],  # noqa: S607 - ps from PATH, test only
        capture_output=True,
        check=True,
    ).stdout
    parts = [shown]
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            for name in ("cmdline", "comm"):
                with contextlib.suppress(OSError):
                    parts.append((proc / name).read_bytes())
    return b"\n".join(parts)


@dataclass(frozen=True)
class Postgres:
    server: RunningPostgres
    env: dict[str, str]
    redis: RunningRedis


@pytest.fixture
def postgres(
    postgres_server: RunningPostgres,
    postgres_env: dict[str, str],
    redis_server: RunningRedis,
) -> Postgres:
    """The session's cluster, this test's fresh database in it, and Redis."""
    return Postgres(postgres_server, postgres_env, redis_server)


def postgres_bytes(postgres: Postgres) -> bytes:
    """Every row of every table of the test's database (bytea shown as hex), then
    every file of the cluster (tables, WAL) after a checkpoint."""
    server, env = postgres.server, postgres.env
    parts: list[bytes] = []
    with psycopg.connect(server.conninfo(env["POSTGRES_DBNAME"])) as conn:
        tables = conn.execute(
            "SELECT table_schema, table_name FROM information_schema.tables"
            " WHERE table_schema NOT IN ('pg_catalog', 'information_schema')"
        ).fetchall()
        assert tables
        for schema, table in tables:
            query = sql.SQL("SELECT t::text FROM {}.{} t").format(
                sql.Identifier(schema), sql.Identifier(table)
            )
            parts.extend(str(row[0]).encode() for row in conn.execute(query))
    with psycopg.connect(server.conninfo(), autocommit=True) as conn:
        conn.execute("CHECKPOINT")
    for path in sorted(server.data_dir.rglob("*")):
        with contextlib.suppress(OSError):
            if path.is_file():
                parts.append(path.read_bytes())
    return b"\n".join(parts)


# -- the source, the destination ---------------------------------------------------------


def source_user(dovecot: RunningDovecot, password: str, corpus: Corpus) -> str:
    """A fresh Dovecot user holding the corpus; its login."""
    user = f"src-{secrets.token_hex(4)}@example.net"
    dovecot.add_user(user, password)
    with IMAPClient(dovecot.host, port=dovecot.port, ssl=False, timeout=30) as client:
        client.login(user, password)
        assert load_into(client, corpus) == corpus.messages
    return user


def source_multisets(dovecot: RunningDovecot, user: str, password: str) -> Multisets:
    with IMAPClient(dovecot.host, port=dovecot.port, ssl=False, timeout=30) as client:
        client.login(user, password)
        found = read_multiset(client)
    # Where the import puts each folder (INBOX, special-use folders: their own).
    return {
        destination_path(SourceFolder(name="/".join(p), path=p), {}): keys
        for p, keys in found.items()
    }


def destination_multisets(home: Path) -> Multisets:
    reader = MaildirMailSource(MaildirMailStore(home / "mail"))
    mailbox = reader.open_address(DESTINATION)
    found: Multisets = {}
    try:
        for folder in mailbox.folders():
            if folder.selectable:
                found[folder.path] = Counter(k for _, k in mailbox.keys(folder))
    finally:
        mailbox.close()
    return found


def prepare(e: Engine) -> None:
    with_user(e)
    e.host.services.create(ORG, DOMAIN, quota=10, by=OPERATOR)
    e.host.addresses.create_for_users(DESTINATION, [LOGIN], by=OPERATOR)


def request(e: Engine, dovecot: RunningDovecot, user: str, password: str) -> UUID:
    source = ImportSource(dovecot.host, dovecot.port, Security.NONE, user)
    return e.host.imports.start(
        DESTINATION, [SourceRequest(source, user, password)], by=LOGIN
    )


def wait_until(
    done: Callable[[], bool], worker: Follower, folder: Path, timeout: float
) -> None:
    """Poll ``done``; fail (with the logs) if the worker died or time ran out."""
    deadline = time.monotonic() + timeout
    while not done():
        assert worker.process is not None
        assert worker.process.poll() is None, logs(folder)
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting\n{logs(folder)}")
        time.sleep(0.05)


def mid_folder(e: Engine, job_id: UUID) -> bool:
    """A batch of some folder is recorded and that folder is not finished yet."""
    job = e.host.imports.get(job_id)
    return not job.is_over and any(job.progress.values())


def copying(e: Engine, job_id: UUID) -> bool:
    """Started and not over: the password has been unsealed and is in use.

    A job that ends before a poll sees it running fails the wait at once, rather
    than after the timeout.
    """
    job = e.host.imports.get(job_id)
    assert not job.is_over, "the copy ended before the scan could catch it running"
    return job.is_started


def all_jobs_done(e: Engine, job_id: UUID) -> Callable[[], bool]:
    def check() -> bool:
        job = e.host.imports.get(job_id)
        return (
            job.is_over
            and job.confirmation_sent
            and job.credentials_forgotten
            and e.jobs.unfinished(e.host.alerts.clock.now()) == 0
        )

    return check


@contextlib.contextmanager
def frozen(worker: Follower) -> Iterator[None]:
    """The worker's whole process group stopped (SIGSTOP) while the block runs."""
    assert worker.process is not None
    os.killpg(worker.process.pid, signal.SIGSTOP)
    try:
        yield
    finally:
        os.killpg(worker.process.pid, signal.SIGCONT)


def secret_rows(e: Engine, job: ImportJob) -> list[str]:
    """The credential store's rows for the job's sources, or owned by the job."""
    store = e.host.imports.credentials
    assert isinstance(store, SqlCredentialStore)
    found: list[str] = []
    with store.database.transaction() as cursor:
        for ref in job.sources:
            cursor.execute(
                "SELECT credential_id FROM mh_secrets WHERE owner = ?"
                " OR credential_id = ?",
                (str(job.id), str(ref.credential_id)),
            )
            found += [str(r[0]) for r in cursor.fetchall()]
    return found


# -- IMP-9 -------------------------------------------------------------------------------


def test_the_source_password_is_in_no_stored_byte_redis_log_or_process_title(
    tmp_path: Path,
    dovecot_server: RunningDovecot,
    postgres: Postgres,
    smtp: SmtpSink,
    caplog: pytest.LogCaptureFixture,
) -> None:
    # rule IMP-9: never in an event, a Dramatiq message, a log line or a process
    # title; encrypted at rest; the secret row destroyed when the job ends
    caplog.set_level(logging.DEBUG)
    canary = f"imp9-canary-{secrets.token_hex(12)}"
    # Large enough that the copy lasts seconds, not one poll: the scan must catch it.
    corpus = generate(seed=9, messages=4000, total_mb=8)
    user = source_user(dovecot_server, canary, corpus)
    home = tmp_path / "home"
    env = process_env(
        home, smtp, postgres.env, {"MAILHOST_BROKER_URL": postgres.redis.url}
    )
    assert not leaks(processes_bytes(), canary)  # the scan itself starts clean

    def scan(what: str) -> None:
        for place, blob in (
            ("the home (outbox, key, maildirs)", home_bytes(home)),
            ("PostgreSQL", postgres_bytes(postgres)),
            ("Redis keys and values", redis_bytes(postgres.redis.url)),
            ("commands Redis received", b"\n".join(commands)),
            ("the worker's log", (tmp_path / "worker.log").read_bytes()),
            ("this process's log records", caplog.text.encode()),
            ("process titles and argv", processes_bytes()),
        ):
            assert not leaks(blob, canary), f"{what}: the canary is in {place}"

    with (
        redis_monitor(postgres.redis.url) as commands,
        engine(home, env) as e,
    ):
        prepare(e)
        worker = Follower(WORKER, env, tmp_path / "worker.log")
        try:
            job_id = request(e, dovecot_server, user, canary)
            job = e.host.imports.get(job_id)
            assert len(secret_rows(e, job)) == 1  # sealed, stored, owned by the job
            wait_until(lambda: copying(e, job_id), worker, tmp_path, 120)
            with frozen(worker):
                assert not e.host.imports.get(job_id).is_over  # truly mid-copy
                assert any("mailhost-import" in c.decode() for c in commands)
                scan("while the copy runs")
            wait_until(all_jobs_done(e, job_id), worker, tmp_path, 180)
        finally:
            worker.stop()
        job = e.host.imports.get(job_id)
        assert job.state is JobState.COMPLETED, logs(tmp_path)
        assert job.counts.copied == corpus.messages
        assert secret_rows(e, job) == []  # rule IMP-9: forgotten when the job ends
        assert e.host.imports.credentials.secret(job.sources[0].credential_id) is None
        assert len(smtp.messages) == 1
        scan("after the job")
    assert not leaks(b"\n".join(commands), canary)


# -- IMP-2 -------------------------------------------------------------------------------


def test_kill_9_of_the_dramatiq_worker_mid_folder_then_every_message_once(
    tmp_path: Path,
    dovecot_server: RunningDovecot,
    redis_server: RunningRedis,
    smtp: SmtpSink,
) -> None:
    # rule IMP-2: resumed after kill -9 without losing or doubling a message;
    # rule IMP-3: twins arrive as twins; rule IMP-4: one confirmation per address;
    # rule IMP-9: the password forgotten after a resumed job too
    canary = f"imp2-canary-{secrets.token_hex(12)}"
    corpus = generate(seed=2, messages=2000, total_mb=8)
    user = source_user(dovecot_server, canary, corpus)
    home = tmp_path / "home"
    leases = {
        "MAILHOST_JOB_CLAIM_LEASE": "3",  # a killed worker's claim lapses soon
        "MAILHOST_JOB_HANDOFF_LEASE": "2",
    }
    env = process_env(home, smtp, leases, {"MAILHOST_BROKER_URL": redis_server.url})
    source = source_multisets(dovecot_server, user, canary)
    assert {p: sum(c.values()) for p, c in source.items()} == {
        destination_path(SourceFolder(name="/".join(p), path=p), {}): sum(c.values())
        for p, c in expected_multiset(corpus).items()
    }
    with engine(home, env) as e:
        prepare(e)
        worker = Follower(WORKER, env, tmp_path / "worker.log")
        try:
            job_id = request(e, dovecot_server, user, canary)
            wait_until(lambda: mid_folder(e, job_id), worker, tmp_path, 120)
            worker.kill()
            killed = e.host.imports.get(job_id)
            assert not killed.is_over  # the kill landed before the end ...
            assert any(killed.progress.values())  # ... inside a folder
            partial = destination_multisets(home)
            assert partial != source
            worker.start()
            wait_until(all_jobs_done(e, job_id), worker, tmp_path, 300)
        finally:
            worker.stop()
        job = e.host.imports.get(job_id)
        assert job.state is JobState.COMPLETED, logs(tmp_path)
        assert destination_multisets(home) == source  # every message exactly once
        assert job.counts.copied + job.counts.skipped == corpus.messages
        assert job.counts.failed == 0

        # The confirmation: once per involved address. It is sent, then recorded
        # (README: at least once); a repeat needs its job taken again after a kill
        # between the send and the record, which its attempts count would show.
        per_address = Counter(r for m in smtp.messages for r in m.rcpt_tos)
        assert set(per_address) == {DESTINATION, user}
        with e.jobs.database.transaction() as cursor:
            cursor.execute(
                "SELECT attempts FROM mh_jobs WHERE actor = ?",
                (SEND_IMPORT_CONFIRMATION,),
            )
            (attempts,) = (int(r[0]) for r in cursor.fetchall())
        if attempts == 1:
            assert set(per_address.values()) == {1}, per_address
        ids = {str(m.message["Message-ID"]) for m in smtp.messages}
        assert len(ids) == 1  # a repeat would carry the same derived Message-ID
        body = smtp.messages[0].message.get_content()
        assert f"{job.counts.copied} message(s) copied" in body

        assert secret_rows(e, job) == []  # rule IMP-9
        assert not leaks(home_bytes(home), canary)
        assert not leaks(redis_bytes(redis_server.url), canary)
        assert not leaks((tmp_path / "worker.log").read_bytes(), canary)
