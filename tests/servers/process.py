"""What every real server of the test harness shares: ports, OS users, one child process.

Every server listens on 127.0.0.1 only, on a port picked at start-up, keeps its
data in a private temporary directory and is stopped through the pid of the
process this harness started -- never by name -- so parallel runs and system
services are left alone.

PostgreSQL and Dovecot refuse to run (parts of) themselves as root.  When the
tests run as root those servers run as the ``postgres`` and ``dovecot`` OS
users.  Those users cannot traverse pytest's private (mode 0700) base temp
directory, so in that case their data lives in a fresh directory under the
system temp directory instead, symlinked from the given ``tmpdir`` and removed
again by ``stop()``.  Logs always stay in ``tmpdir``.
"""

from __future__ import annotations

import atexit
import contextlib
import functools
import grp
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, Self, TypedDict

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping, Sequence

LOCALHOST: Final = "127.0.0.1"

# Generous, because CI machines stall; a healthy start takes well under 2 s.
START_TIMEOUT: Final = 60.0
_STOP_TIMEOUT: Final = 30.0
# A port picked by binding to port 0 can be taken by someone else before the
# server binds it; a retry with a new port is cheaper than any locking scheme.
PORT_ATTEMPTS: Final = 3
_POLL_INTERVAL: Final = 0.02


class ServiceUnavailable(RuntimeError):  # noqa: N818 - the name is the fixture contract
    """A server cannot start on this machine at all (as opposed to failing to start).

    Kept distinct from start-up failures so that fixtures can skip on a
    developer machine without the server, yet fail loudly when it is broken.
    """

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class Account:
    """The OS user a server process runs as when we may not run it as root."""

    name: str
    group: str
    uid: int
    gid: int


def account_of(entry: pwd.struct_passwd) -> Account:
    try:
        group = grp.getgrgid(entry.pw_gid).gr_name
    except KeyError:
        group = str(entry.pw_gid)
    return Account(name=entry.pw_name, group=group, uid=entry.pw_uid, gid=entry.pw_gid)


def service_account(user: str, service: str) -> Account | None:
    """Return the user to switch to, or None when we are not root and stay ourselves."""
    if os.geteuid() != 0:
        return None
    try:
        entry = pwd.getpwnam(user)
    except KeyError:
        reason = f"{service} refuses root and there is no {user!r} OS user to run it as"
        raise ServiceUnavailable(reason) from None
    return account_of(entry)


def find_binary(name: str, package: str) -> str:
    # sbin is often missing from a non-root PATH although the servers live there.
    search = os.pathsep.join(
        [os.environ.get("PATH", ""), "/usr/local/sbin", "/usr/sbin", "/sbin"]
    )
    found = shutil.which(name, path=search)
    if found is None:
        reason = f"{name} not found; install the {package} package"
        raise ServiceUnavailable(reason)
    return found


class _UserSwitch(TypedDict, total=False):
    user: int
    group: int
    extra_groups: list[int]


def as_user(account: Account | None) -> _UserSwitch:
    """Popen arguments that switch to account; extra_groups=[] drops root's groups."""
    if account is None:
        return {}
    return {"user": account.uid, "group": account.gid, "extra_groups": []}


def chown_to(path: Path, account: Account | None) -> None:
    if account is not None:
        os.chown(path, account.uid, account.gid)


_TEST_BINARY: Final = shutil.which("test") or "/usr/bin/test"


def _can_write(path: Path, account: Account) -> bool:
    """Ask the kernel rather than reimplement permission checks (ACLs, parents)."""
    result = subprocess.run(
        [_TEST_BINARY, "-w", str(path)],
        check=False,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        **as_user(account),
    )
    return result.returncode == 0


def private_workdir(
    tmpdir: Path, name: str, account: Account | None
) -> tuple[Path, bool]:
    """Return a fresh directory owned by account and whether stop() must delete it.

    A directory inside tmpdir is preferred so everything of a test run sits in
    one place, but a service user usually cannot reach it (pytest makes its
    base temp directory 0700), hence the fallback to the system temp directory.
    """
    tmpdir.mkdir(parents=True, exist_ok=True)
    path = Path(tempfile.mkdtemp(prefix=f"{name}-", dir=tmpdir))
    if account is None:
        return path, False
    chown_to(path, account)
    if _can_write(path, account):
        return path, False
    path.rmdir()
    path = Path(tempfile.mkdtemp(prefix=f"mailhost-{name}-"))
    chown_to(path, account)
    if not _can_write(path, account):
        shutil.rmtree(path, ignore_errors=True)
        msg = f"OS user {account.name!r} cannot write to {path}"
        raise RuntimeError(msg)
    with contextlib.suppress(OSError):
        (tmpdir / path.name).symlink_to(path, target_is_directory=True)
    return path, True


def log_file(tmpdir: Path, name: str) -> Path:
    """Create the log in tmpdir; the server only inherits the open descriptor, so it
    needs no access to tmpdir and the log survives the removal of the data directory.
    """
    fd, path = tempfile.mkstemp(prefix=f"{name}-", suffix=".log", dir=tmpdir)
    os.close(fd)
    return Path(path)


def log_tail(log: Path, lines: int = 40) -> str:
    try:
        text = log.read_text(errors="replace")
    except OSError as exc:
        return f"(cannot read {log}: {exc})"
    return "\n".join(text.splitlines()[-lines:])


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((LOCALHOST, 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass(frozen=True)
class Spawn:
    """How to run a server process; shared by all of its start attempts."""

    what: str
    log: Path
    cwd: Path
    account: Account | None = None
    env: Mapping[str, str] | None = None


@dataclass(frozen=True)
class Started:
    """A server process that has passed its readiness check."""

    proc: subprocess.Popen[bytes]
    port: int
    log_path: Path
    owned_dir: Path | None = None


def _spawn(argv: Sequence[str], spec: Spawn) -> subprocess.Popen[bytes]:
    """Start a server in its own session so a Ctrl-C aimed at pytest does not
    kill it before the fixtures' orderly teardown.
    """
    with spec.log.open("ab") as out:
        return subprocess.Popen(
            argv, stdout=out, stderr=subprocess.STDOUT, **_detached(spec)
        )


def _detached(spec: Spawn) -> dict[str, Any]:
    """A server's own session, folder, environment and account; nothing on its stdin."""
    return {
        "stdin": subprocess.DEVNULL,
        "cwd": spec.cwd,
        "env": spec.env,
        "start_new_session": True,
        **as_user(spec.account),
    }


def _terminate(
    proc: subprocess.Popen[bytes], sig: signal.Signals, timeout: float = _STOP_TIMEOUT
) -> None:
    """Signal exactly our child (by its pid) and escalate to SIGKILL if it hangs."""
    if proc.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        proc.send_signal(sig)
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def _wait_ready(
    proc: subprocess.Popen[bytes], ready: Callable[[], bool], what: str, log: Path
) -> bool:
    """Poll instead of sleeping a fixed time; False means the process died (retry)."""
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            return False
        if ready():
            return True
        time.sleep(_POLL_INTERVAL)
    _terminate(proc, signal.SIGKILL)
    msg = f"{what} not ready within {START_TIMEOUT:.0f}s; log {log}:\n{log_tail(log)}"
    raise RuntimeError(msg)


def launch(
    prepare: Callable[[int], Sequence[str]],
    ready: Callable[[int], bool],
    spec: Spawn,
    owned_dir: Path | None = None,
) -> Started:
    """Start a server on a free port, retrying with another port if it dies early."""
    for _ in range(PORT_ATTEMPTS):
        port = free_port()
        proc = _spawn(prepare(port), spec)
        if _wait_ready(proc, functools.partial(ready, port), spec.what, spec.log):
            return Started(proc, port, spec.log, owned_dir)
    tail = log_tail(spec.log)
    msg = f"{spec.what} died in start-up {PORT_ATTEMPTS} times; {spec.log}:\n{tail}"
    raise RuntimeError(msg)


def service_env(home: Path) -> dict[str, str]:
    """Environment without PG* variables, which would silently redirect libpq tools."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("PG")}
    env["HOME"] = str(home)
    return env


class StoppedOnExit:
    """``with server:`` stops the server however the block ends."""

    def stop(self) -> None:
        raise NotImplementedError

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *raised: object) -> None:
        self.stop()


class ServerProcess(StoppedOnExit):
    """One child process that stop() ends by its pid; idempotent and also run at exit.

    The atexit hook matters when a session dies without running fixture
    finalizers: a leaked postgres keeps its port and shared memory.
    """

    _stop_signal: signal.Signals = signal.SIGTERM

    def __init__(self, started: Started) -> None:
        self._proc = started.proc
        self.host = LOCALHOST
        self.port = started.port
        self.log_path = started.log_path
        self._owned_dir = started.owned_dir
        self._stopped = False
        atexit.register(self.stop)

    @property
    def pid(self) -> int:
        return self._proc.pid

    def stop(self) -> None:
        if self._stopped:
            return
        self._stopped = True
        atexit.unregister(self.stop)
        _terminate(self._proc, self._stop_signal)
        if self._owned_dir is not None:
            shutil.rmtree(self._owned_dir, ignore_errors=True)
