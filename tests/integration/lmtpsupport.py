"""A real ``mailhost lmtp`` process for the tests, and an LMTP client's few moves.

The listener is started as the MTA would find it (the console script, its own process,
its own engine), on a port the kernel picks (``127.0.0.1:0``; the ready file names it)
or on a unix socket, and stopped through its own pid.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import smtplib
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from pathlib import Path

from tests.integration.support import engine, event_count, with_active_responder

REPO = Path(__file__).resolve().parents[2]
MAILHOST = Path(sys.executable).with_name("mailhost")
INFO = "info@example.org"
START_TIMEOUT = 60.0
STOP_TIMEOUT = 60.0
LOOPBACK = ("--listen", "127.0.0.1:0")  # a port the kernel picks
_CLEARED = ("MAILHOST_", "POSTGRES_", "PERSISTENCE_", "SQLITE_", "CIPHER_")


@dataclass
class RunningListener:
    proc: subprocess.Popen[bytes]
    listen: str
    log: Path
    ready_file: Path

    @property
    def pid(self) -> int:
        return self.proc.pid

    def client(self, timeout: float = 60.0) -> smtplib.LMTP:
        """A connected, greeted client (LHLO sent)."""
        lmtp = smtplib.LMTP(timeout=timeout)
        if self.listen.startswith("unix:"):
            lmtp.connect(self.listen.removeprefix("unix:"))
        else:
            host, port = self.listen.rsplit(":", 1)
            lmtp.connect(host, int(port))
        code, _ = lmtp.docmd("LHLO", "mta.test")
        assert code == 250
        return lmtp

    def raw_socket(self) -> socket.socket:
        if self.listen.startswith("unix:"):
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            sock.connect(self.listen.removeprefix("unix:"))
        else:
            host, port = self.listen.rsplit(":", 1)
            sock = socket.create_connection((host, int(port)))
        return sock

    def rss_kib(self) -> int:
        """The listener's resident memory now (VmRSS of /proc), in KiB, with its
        children's (the deciders, the sender): what its sessions cost is spread
        among them."""
        pids = [self.pid]
        pids += map(
            int,
            Path(f"/proc/{self.pid}/task/{self.pid}/children").read_text().split(),
        )
        total = 0
        for pid in pids:
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
        return total

    def terminate(self) -> int:
        """SIGTERM to our own child, by its pid; its exit status."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise

    def output(self) -> str:
        return self.log.read_text(errors="replace")


def child_env(home: Path, *more: Mapping[str, str]) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(_CLEARED)}
    env["MAILHOST_HOME"] = str(home)
    for extra in more:
        env.update(extra)
    return env


def seeded_home(home: Path, env: Mapping[str, str] | None = None) -> None:
    """``info@example.org`` answering every sender with its "Holidays" message."""
    with engine(home, env, background=False) as opened:
        with_active_responder(opened, INFO)


def events(home: Path, env: Mapping[str, str] | None = None) -> int:
    """How many events the log holds (every topic)."""
    with engine(home, env, background=False) as opened:
        return event_count(opened, "")


@dataclass(frozen=True)
class SeededHome:
    """A home where info@example.org answers every sender, and what a test does with it."""

    folder: Path  # the test's: the home, the listeners' ready files and logs
    env: dict[str, str]

    @classmethod
    def create(cls, folder: Path, *more: Mapping[str, str]) -> SeededHome:
        """Seeded under ``folder``, the listeners' environment with ``more`` in it."""
        home = folder / "home"
        env = child_env(home, *more)
        seeded_home(home, env)
        return cls(folder, env)

    @property
    def home(self) -> Path:
        return self.folder / "home"

    def events(self) -> int:
        return events(self.home, self.env)

    def listener(
        self, *options: str, where: Sequence[str] = LOOPBACK
    ) -> AbstractContextManager[RunningListener]:
        return listener(self.folder, self.env, *options, where=where)

    def outbox(self) -> list[Path]:
        """The replies a listener's sender wrote (with no SMTP URL), oldest first."""
        folder = self.home / "outbox"
        return sorted(folder.glob("*.eml")) if folder.exists() else []


@contextmanager
def listener(
    tmp_path: Path,
    env: Mapping[str, str],
    *args: str,
    where: Sequence[str] = LOOPBACK,
) -> Iterator[RunningListener]:
    """``mailhost lmtp`` running until the block ends (then SIGTERM, by its pid)."""
    ready = tmp_path / f"lmtp-{time.monotonic_ns()}.ready"
    log = tmp_path / f"{ready.stem}.log"
    argv = [str(MAILHOST), "lmtp", *where, "--ready-file", str(ready), *args]
    with log.open("wb") as out:
        proc = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            env=dict(env),
            cwd=REPO,
            start_new_session=True,
        )
    running: RunningListener | None = None
    try:
        deadline = time.monotonic() + START_TIMEOUT
        while not ready.exists():
            status = proc.poll()
            if status is not None:
                msg = f"mailhost lmtp exited {status}: {log.read_text()}"
                raise AssertionError(msg)
            if time.monotonic() > deadline:
                msg = f"mailhost lmtp not ready: {log.read_text()}"
                raise AssertionError(msg)
            time.sleep(0.02)
        listen = json.loads(ready.read_text())["listen"]
        running = RunningListener(proc, listen, log, ready)
        yield running
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def message(
    sender: str, n: int | str, to: str = INFO, body: bytes = b"Hello.\r\n"
) -> bytes:
    return (
        f"From: <{sender}>\r\nTo: {to}\r\nSubject: question {n}\r\n"
        f"Message-ID: <q{n}.{sender}>\r\n\r\n"
    ).encode() + body


def dot_stuffed(raw: bytes) -> bytes:
    """The DATA bytes for ``raw`` (RFC 5321 section 4.5.2), ending with the lone dot."""
    lines = raw.split(b"\r\n")
    stuffed = b"\r\n".join(
        b"." + line if line.startswith(b".") else line for line in lines
    )
    if not stuffed.endswith(b"\r\n"):
        stuffed += b"\r\n"
    return stuffed + b".\r\n"


def transaction(
    lmtp: smtplib.LMTP, sender: str, recipients: Sequence[str], raw: bytes
) -> list[tuple[int, str]]:
    """MAIL, RCPT each, DATA: the RCPT refusals, then one reply per accepted RCPT."""
    code, text = lmtp.docmd(f"MAIL FROM:<{sender}>")
    assert code == 250, (code, text)
    accepted = 0
    refused: list[tuple[int, str]] = []
    for rcpt in recipients:
        code, text = lmtp.docmd(f"RCPT TO:<{rcpt}>")
        if code == 250:
            accepted += 1
        else:
            refused.append((code, text.decode()))
    if not accepted:
        lmtp.docmd("RSET")
        return refused
    code, text = lmtp.docmd("DATA")
    assert code == 354, (code, text)
    lmtp.send(dot_stuffed(raw))
    replies = [lmtp.getreply() for _ in range(accepted)]
    return refused + [(code, text.decode()) for code, text in replies]


def decided(recipient: str, reply: tuple[int, str | bytes]) -> dict[str, object]:
    from infrastructure.lmtpwire import parse_decided  # noqa: PLC0415 - the client's own

    code, text = reply
    assert code == 250, reply
    return parse_decided(recipient, text if isinstance(text, str) else text.decode())


def quietly_close(lmtp: smtplib.LMTP) -> None:
    with contextlib.suppress(smtplib.SMTPException, OSError):
        lmtp.quit()
