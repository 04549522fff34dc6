"""Real servers for integration tests.

Mocks of Redis, PostgreSQL, SMTP and IMAP agree with whatever the code under
test believes; only the real servers can disagree.  Every server here listens
on 127.0.0.1 only, on a port picked at start-up, keeps its data in a private
temporary directory and is stopped through the pid of the process this module
started -- never by name -- so parallel runs and system services are left alone.

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
import email
import email.policy
import functools
import grp
import math
import os
import pwd
import secrets
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Final, Self, TypedDict

import psycopg
from aiosmtpd.controller import Controller
from psycopg import sql
from psycopg.conninfo import make_conninfo

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping, Sequence
    from email.message import EmailMessage
    from types import TracebackType

    from aiosmtpd.smtp import SMTP, Envelope, Session

__all__ = [
    "LOCALHOST",
    "ReceivedMessage",
    "RunningDovecot",
    "RunningPostgres",
    "RunningRedis",
    "ServiceUnavailable",
    "SmtpSink",
    "start_dovecot",
    "start_postgres",
    "start_redis",
    "start_smtp_sink",
]

LOCALHOST: Final = "127.0.0.1"

# Generous, because CI machines stall; a healthy start takes well under 2 s.
_START_TIMEOUT: Final = 60.0
_STOP_TIMEOUT: Final = 30.0
# A port picked by binding to port 0 can be taken by someone else before the
# server binds it; a retry with a new port is cheaper than any locking scheme.
_PORT_ATTEMPTS: Final = 3
_POLL_INTERVAL: Final = 0.02
_DOVECOT_MASTER_USER: Final = "master"
# Dovecot's clock and ours are the same clock; this only covers rounding.
_CLOCK_MARGIN: Final = 0.01


class ServiceUnavailable(RuntimeError):  # noqa: N818 - the name is the fixture contract
    """A server cannot start on this machine at all (as opposed to failing to start).

    Kept distinct from start-up failures so that fixtures can skip on a
    developer machine without the server, yet fail loudly when it is broken.
    """

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


# --------------------------------------------------------------------------
# process plumbing shared by the servers


@dataclass(frozen=True)
class _Account:
    """The OS user a server process runs as when we may not run it as root."""

    name: str
    group: str
    uid: int
    gid: int


def _account_of(entry: pwd.struct_passwd) -> _Account:
    try:
        group = grp.getgrgid(entry.pw_gid).gr_name
    except KeyError:
        group = str(entry.pw_gid)
    return _Account(name=entry.pw_name, group=group, uid=entry.pw_uid, gid=entry.pw_gid)


def _service_account(user: str, service: str) -> _Account | None:
    """Return the user to switch to, or None when we are not root and stay ourselves."""
    if os.geteuid() != 0:
        return None
    try:
        entry = pwd.getpwnam(user)
    except KeyError:
        reason = f"{service} refuses root and there is no {user!r} OS user to run it as"
        raise ServiceUnavailable(reason) from None
    return _account_of(entry)


def _find_binary(name: str, package: str) -> str:
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


def _as_user(account: _Account | None) -> _UserSwitch:
    """Popen arguments that switch to account; extra_groups=[] drops root's groups."""
    if account is None:
        return {}
    return {"user": account.uid, "group": account.gid, "extra_groups": []}


def _chown(path: Path, account: _Account | None) -> None:
    if account is not None:
        os.chown(path, account.uid, account.gid)


_TEST_BINARY: Final = shutil.which("test") or "/usr/bin/test"


def _can_write(path: Path, account: _Account) -> bool:
    """Ask the kernel rather than reimplement permission checks (ACLs, parents)."""
    result = subprocess.run(
        [_TEST_BINARY, "-w", str(path)],
        check=False,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        **_as_user(account),
    )
    return result.returncode == 0


def _workdir(tmpdir: Path, name: str, account: _Account | None) -> tuple[Path, bool]:
    """Return a fresh directory owned by account and whether stop() must delete it.

    A directory inside tmpdir is preferred so everything of a test run sits in
    one place, but a service user usually cannot reach it (pytest makes its
    base temp directory 0700), hence the fallback to the system temp directory.
    """
    tmpdir.mkdir(parents=True, exist_ok=True)
    path = Path(tempfile.mkdtemp(prefix=f"{name}-", dir=tmpdir))
    if account is None:
        return path, False
    _chown(path, account)
    if _can_write(path, account):
        return path, False
    path.rmdir()
    path = Path(tempfile.mkdtemp(prefix=f"mailhost-{name}-"))
    _chown(path, account)
    if not _can_write(path, account):
        shutil.rmtree(path, ignore_errors=True)
        msg = f"OS user {account.name!r} cannot write to {path}"
        raise RuntimeError(msg)
    with contextlib.suppress(OSError):
        (tmpdir / path.name).symlink_to(path, target_is_directory=True)
    return path, True


def _log_file(tmpdir: Path, name: str) -> Path:
    """Create the log in tmpdir; the server only inherits the open descriptor, so it
    needs no access to tmpdir and the log survives the removal of the data directory.
    """
    fd, path = tempfile.mkstemp(prefix=f"{name}-", suffix=".log", dir=tmpdir)
    os.close(fd)
    return Path(path)


def _tail(log: Path, lines: int = 40) -> str:
    try:
        text = log.read_text(errors="replace")
    except OSError as exc:
        return f"(cannot read {log}: {exc})"
    return "\n".join(text.splitlines()[-lines:])


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((LOCALHOST, 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass(frozen=True)
class _Spawn:
    """How to run a server process; shared by all of its start attempts."""

    what: str
    log: Path
    cwd: Path
    account: _Account | None = None
    env: Mapping[str, str] | None = None


@dataclass(frozen=True)
class _Started:
    """A server process that has passed its readiness check."""

    proc: subprocess.Popen[bytes]
    port: int
    log_path: Path
    owned_dir: Path | None = None


def _spawn(argv: Sequence[str], spec: _Spawn) -> subprocess.Popen[bytes]:
    """Start a server in its own session so a Ctrl-C aimed at pytest does not
    kill it before the fixtures' orderly teardown.
    """
    with spec.log.open("ab") as out:
        return subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            cwd=spec.cwd,
            env=spec.env,
            start_new_session=True,
            **_as_user(spec.account),
        )


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
    deadline = time.monotonic() + _START_TIMEOUT
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            return False
        if ready():
            return True
        time.sleep(_POLL_INTERVAL)
    _terminate(proc, signal.SIGKILL)
    msg = f"{what} not ready within {_START_TIMEOUT:.0f}s; log {log}:\n{_tail(log)}"
    raise RuntimeError(msg)


def _launch(
    prepare: Callable[[int], Sequence[str]],
    ready: Callable[[int], bool],
    spec: _Spawn,
    owned_dir: Path | None = None,
) -> _Started:
    """Start a server on a free port, retrying with another port if it dies early."""
    for _ in range(_PORT_ATTEMPTS):
        port = _free_port()
        proc = _spawn(prepare(port), spec)
        if _wait_ready(proc, functools.partial(ready, port), spec.what, spec.log):
            return _Started(proc, port, spec.log, owned_dir)
    tail = _tail(spec.log)
    msg = f"{spec.what} died in start-up {_PORT_ATTEMPTS} times; {spec.log}:\n{tail}"
    raise RuntimeError(msg)


def _service_env(home: Path) -> dict[str, str]:
    """Environment without PG* variables, which would silently redirect libpq tools."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("PG")}
    env["HOME"] = str(home)
    return env


class _ServerProcess:
    """One child process that stop() ends by its pid; idempotent and also run at exit.

    The atexit hook matters when a session dies without running fixture
    finalizers: a leaked postgres keeps its port and shared memory.
    """

    _stop_signal: signal.Signals = signal.SIGTERM

    def __init__(self, started: _Started) -> None:
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

    def is_running(self) -> bool:
        return self._proc.poll() is None

    def stop(self) -> None:
        if self._stopped:
            return
        self._stopped = True
        atexit.unregister(self.stop)
        _terminate(self._proc, self._stop_signal)
        if self._owned_dir is not None:
            shutil.rmtree(self._owned_dir, ignore_errors=True)

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


# --------------------------------------------------------------------------
# Redis


class RunningRedis(_ServerProcess):
    """A redis-server without persistence: tests never need their data back."""

    def __init__(self, started: _Started) -> None:
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
    binary = _find_binary("redis-server", "redis-server")
    root = Path(tmpdir).resolve()
    workdir, _ = _workdir(root, "redis", None)
    log = _log_file(root, "redis")

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

    spec = _Spawn(what="redis-server", log=log, cwd=workdir)
    return RunningRedis(_launch(argv, functools.partial(_redis_serves, workdir), spec))


# --------------------------------------------------------------------------
# PostgreSQL


def _postgres_bindir() -> Path:
    """Debian keeps initdb/postgres off PATH, in a per-version directory."""
    initdb, postgres = shutil.which("initdb"), shutil.which("postgres")
    if initdb and postgres and Path(initdb).parent == Path(postgres).parent:
        return Path(initdb).parent
    candidates = [
        path.parent
        for path in Path("/usr/lib/postgresql").glob("*/bin/postgres")
        if (path.parent / "initdb").exists()
    ]
    if not candidates:
        reason = "initdb and postgres not found; install the postgresql package"
        raise ServiceUnavailable(reason)

    def version(bindir: Path) -> tuple[int, ...]:
        name = bindir.parent.name
        return (
            tuple(int(part) for part in name.split("."))
            if name.replace(".", "").isdigit()
            else (0,)
        )

    return max(candidates, key=version)


_POSTGRES_SETTINGS: Final = """
# Added by tests/services.py: a throw-away test cluster, durability is not wanted.
listen_addresses = '127.0.0.1'
unix_socket_directories = '{socket_dir}'
fsync = off
synchronous_commit = off
full_page_writes = off
max_connections = 200
timezone = 'UTC'
"""


class RunningPostgres(_ServerProcess):
    """A private PostgreSQL cluster whose superuser is ``mailhost``."""

    _stop_signal = signal.SIGINT  # "fast" shutdown: no waiting for clients.

    def __init__(
        self, started: _Started, *, user: str, password: str, data_dir: Path
    ) -> None:
        super().__init__(started)
        self.user = user
        self.password = password
        self.data_dir = data_dir
        self.socket_dir = data_dir.parent

    def __repr__(self) -> str:
        return f"RunningPostgres(host={self.host!r}, port={self.port}, pid={self.pid})"

    def conninfo(self, dbname: str = "postgres") -> str:
        return make_conninfo(
            host=self.host,
            port=self.port,
            user=self.user,
            password=self.password,
            dbname=dbname,
            connect_timeout=10,
        )

    def env(self, dbname: str) -> dict[str, str]:
        """The variables eventsourcing reads to select and reach its recorder."""
        return {
            "PERSISTENCE_MODULE": "eventsourcing.postgres",
            "POSTGRES_DBNAME": dbname,
            "POSTGRES_HOST": self.host,
            "POSTGRES_PORT": str(self.port),
            "POSTGRES_USER": self.user,
            "POSTGRES_PASSWORD": self.password,
        }

    def create_database(self) -> str:
        """Give each test its own database: far cheaper than a cluster, and isolated."""
        name = f"mailhost_test_{secrets.token_hex(6)}"
        with psycopg.connect(self.conninfo(), autocommit=True) as conn:
            conn.execute(
                sql.SQL("CREATE DATABASE {} TEMPLATE template0").format(
                    sql.Identifier(name)
                )
            )
        return name

    def drop_database(self, name: str) -> None:
        """FORCE, because pools of the code under test may still hold connections."""
        with psycopg.connect(self.conninfo(), autocommit=True) as conn:
            conn.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
                    sql.Identifier(name)
                )
            )


def _postgres_accepts(conninfo: str) -> bool:
    try:
        with psycopg.connect(conninfo, connect_timeout=2):
            return True
    except psycopg.OperationalError:
        return False


def _initdb(
    bindir: Path, workdir: Path, data_dir: Path, user: str, account: _Account | None
) -> str:
    password = secrets.token_urlsafe(18)
    pwfile = workdir / "initdb-password"
    pwfile.write_text(password + "\n")
    pwfile.chmod(0o600)
    _chown(pwfile, account)
    try:
        result = subprocess.run(
            [
                str(bindir / "initdb"),
                "--pgdata", str(data_dir),
                "--username", user,
                f"--pwfile={pwfile}",
                "--auth-host=scram-sha-256",
                "--auth-local=trust",
                "--encoding=UTF8",
                "--locale=C",
                "--no-sync",
                "--no-instructions",
            ],
            check=False,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            cwd=workdir,
            env=_service_env(workdir),
            **_as_user(account),
        )  # fmt: skip
    finally:
        pwfile.unlink()
    if result.returncode != 0:
        output = result.stdout + result.stderr
        msg = f"initdb failed with exit code {result.returncode}:\n{output}"
        raise RuntimeError(msg)
    with (data_dir / "postgresql.conf").open("a") as conf:
        conf.write(_POSTGRES_SETTINGS.format(socket_dir=workdir))
    return password


def start_postgres(tmpdir: Path | str) -> RunningPostgres:
    bindir = _postgres_bindir()
    account = _service_account("postgres", "PostgreSQL")
    root = Path(tmpdir).resolve()
    workdir, owned = _workdir(root, "postgres", account)
    try:
        data_dir = workdir / "data"
        user = "mailhost"
        password = _initdb(bindir, workdir, data_dir, user, account)
        log = _log_file(root, "postgres")

        def argv(port: int) -> list[str]:
            return [str(bindir / "postgres"), "-D", str(data_dir), "-p", str(port)]

        def ready(port: int) -> bool:
            info = make_conninfo(
                host=LOCALHOST,
                port=port,
                user=user,
                password=password,
                dbname="postgres",
            )
            return _postgres_accepts(info)

        spec = _Spawn("postgres", log, workdir, account, _service_env(workdir))
        started = _launch(argv, ready, spec, workdir if owned else None)
    except BaseException:
        if owned:
            shutil.rmtree(workdir, ignore_errors=True)
        raise
    return RunningPostgres(started, user=user, password=password, data_dir=data_dir)


# --------------------------------------------------------------------------
# SMTP sink


@dataclass(frozen=True)
class ReceivedMessage:
    """One SMTP transaction as the sink saw it; the envelope may differ from headers."""

    mail_from: str
    rcpt_tos: list[str]
    data: bytes
    message: EmailMessage


class _SinkHandler:
    def __init__(self, sink: SmtpSink) -> None:
        self._sink = sink

    async def handle_DATA(  # noqa: N802 - aiosmtpd's hook name
        self, _server: SMTP, _session: Session, envelope: Envelope
    ) -> str:
        raw = envelope.original_content
        if raw is None:
            content = envelope.content
            raw = (
                content.encode("utf-8", "surrogateescape")
                if isinstance(content, str)
                else content or b""
            )
        self._sink._record(
            ReceivedMessage(
                mail_from=envelope.mail_from or "",
                rcpt_tos=list(envelope.rcpt_tos),
                data=raw,
                message=email.message_from_bytes(raw, policy=email.policy.default),
            )
        )
        return "250 Message accepted for delivery"


class SmtpSink:
    """An SMTP server that accepts everything and keeps it for assertions.

    It runs in a thread of the test process (aiosmtpd's Controller), so the
    messages are plain Python objects, without any parsing of logs or mbox files.
    """

    def __init__(self) -> None:
        self.host = LOCALHOST
        self.messages: list[ReceivedMessage] = []
        self._arrived = threading.Condition()
        self._controller: Controller | None = None
        for _ in range(_PORT_ATTEMPTS):
            port = _free_port()
            controller = Controller(
                _SinkHandler(self),
                hostname=LOCALHOST,
                port=port,
                ready_timeout=_START_TIMEOUT,
                enable_SMTPUTF8=True,
            )
            try:
                controller.start()
            except OSError:
                continue
            self._controller = controller
            self.port = port
            self.url = f"smtp://{LOCALHOST}:{port}"
            return
        msg = f"SMTP sink found no free port on {LOCALHOST} in {_PORT_ATTEMPTS} tries"
        raise RuntimeError(msg)

    def __repr__(self) -> str:
        return f"SmtpSink(url={self.url!r}, messages={len(self.messages)})"

    def _record(self, message: ReceivedMessage) -> None:
        with self._arrived:
            self.messages.append(message)
            self._arrived.notify_all()

    def clear(self) -> None:
        with self._arrived:
            self.messages.clear()

    def wait_for(self, n: int, timeout: float = 10.0) -> list[ReceivedMessage]:
        """Delivery is usually asynchronous (workers, queues): wait, don't sleep."""
        with self._arrived:
            if not self._arrived.wait_for(lambda: len(self.messages) >= n, timeout):
                got = len(self.messages)
                msg = f"expected at least {n} message(s) within {timeout}s, got {got}"
                raise TimeoutError(msg)
            return list(self.messages)

    def stop(self) -> None:
        controller, self._controller = self._controller, None
        if controller is not None:
            controller.stop()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def start_smtp_sink() -> SmtpSink:
    return SmtpSink()


# --------------------------------------------------------------------------
# Dovecot

_DOVECOT_CONFIG: Final = """\
# Generated by tests/services.py for one test session; not a production config.
base_dir = {workdir}/run
state_dir = {workdir}/state
# The master inherits our log file as stderr; Dovecot writes to the descriptor.
log_path = /dev/stderr

protocols = imap
listen = {host}
ssl = no
auth_mechanisms = plain login
disable_plaintext_auth = no
# Tests check refused logins; the default 2 s delay would only slow them.
# (Dovecot 2.3 still answers a failure on its next 0.5 s timer tick.)
auth_failure_delay = 0
auth_master_user_separator = *
# Lets the readiness check tell this instance from any other on the port.
login_greeting = {greeting}

# Everything runs as one unprivileged user, the one running the master.
default_internal_user = {user}
default_internal_group = {group}
default_login_user = {user}
mail_uid = {uid}
mail_gid = {gid}
first_valid_uid = {uid}
first_valid_gid = {gid}

mail_location = maildir:~/Maildir:LAYOUT=fs
mail_fsync = never

passdb {{
  driver = passwd-file
  args = {master_file}
  master = yes
  pass = yes
}}
passdb {{
  driver = passwd-file
  args = {passwd_file}
}}
userdb {{
  driver = passwd-file
  args = {passwd_file}
  default_fields = home={homes}/%u
}}

protocol imap {{
  # Tests open many connections per user from 127.0.0.1; the default is 10.
  mail_max_userip_connections = 1000
}}

service imap-login {{
  # An unprivileged master cannot chroot.
  chroot =
  inet_listener imap {{
    address = {host}
    port = {port}
  }}
  inet_listener imaps {{
    port = 0
  }}
}}
service anvil {{
  chroot =
  # Without this socket the auth process skips the per-IP penalty, which
  # would delay every failed login from 127.0.0.1 by up to 15 s.
  unix_listener anvil-auth-penalty {{
    mode = 0
  }}
}}
"""


class RunningDovecot(_ServerProcess):
    """An IMAP-only Dovecot with passwd-file users and a master user.

    Dovecot re-reads the passwd-file without a reload, but it looks at the
    file at most once per second (its ``passwd_file_sync`` gate) and only
    notices a changed mtime (whole seconds) or size.  ``add_user`` and friends
    therefore return only once the change is certain to be seen; whoever edits
    ``passwd_file`` directly should call ``wait_for_passwd_reload`` after it.
    """

    def __init__(
        self,
        started: _Started,
        *,
        workdir: Path,
        master_password: str,
        account: _Account | None,
    ) -> None:
        super().__init__(started)
        self.workdir = workdir
        self.config_path = workdir / "dovecot.conf"
        self.passwd_file = workdir / "users"
        self.master_passwd_file = workdir / "master-users"
        self.home_root = workdir / "home"
        self.master_user = _DOVECOT_MASTER_USER
        self.master_password = master_password
        self._account = account
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"RunningDovecot(host={self.host!r}, port={self.port}, pid={self.pid})"

    def home(self, name: str) -> Path:
        return self.home_root / name

    def add_user(self, name: str, password: str) -> None:
        """Add or replace a user with a plain-text password (test data only)."""
        _check_field("password", password)
        self.add_user_hash(name, "{PLAIN}" + password)

    def add_user_hash(self, name: str, scheme_prefixed_hash: str) -> None:
        """Add or replace a user with a hash as the application stores it,
        e.g. ``{ARGON2ID}$argon2id$v=19$...`` -- Dovecot verifies it itself.
        """
        _check_field("user name", name)
        if "*" in name:
            msg = f"'*' separates a master login in Dovecot here: {name!r}"
            raise ValueError(msg)
        _check_field("password hash", scheme_prefixed_hash)
        if not scheme_prefixed_hash.startswith("{") or "}" not in scheme_prefixed_hash:
            msg = "the hash needs a Dovecot scheme prefix such as {ARGON2ID}"
            raise ValueError(msg)
        self._update_passwd_file(name, f"{name}:{scheme_prefixed_hash}::::::")

    def remove_user(self, name: str) -> None:
        _check_field("user name", name)
        self._update_passwd_file(name, None)

    def wait_for_passwd_reload(self) -> None:
        """Sleep into the next wall-clock second.

        A lookup in the same second as a write may be answered from Dovecot's
        copy made earlier in that second; any lookup in a later second stats
        the file again (the file's mtime must differ from the old one, too).
        """
        now = time.time()
        time.sleep(math.floor(now) + 1 - now + _CLOCK_MARGIN)

    def _update_passwd_file(self, name: str, line: str | None) -> None:
        with self._lock:
            _rewrite_passwd_file(self.passwd_file, name, line, self._account)
        self.wait_for_passwd_reload()


def _check_field(what: str, value: str) -> None:
    """passwd-file is colon separated and line based; refuse what would corrupt it."""
    if not value or any(char in value for char in ":\n\r\0"):
        msg = f"{what} must be non-empty, without ':', NUL or line breaks: {value!r}"
        raise ValueError(msg)


def _rewrite_passwd_file(
    path: Path, name: str, line: str | None, account: _Account | None
) -> None:
    """Replace the file atomically, with an mtime Dovecot cannot mistake.

    Dovecot compares only the mtime in whole seconds and the size, so a second
    rewrite within one second that keeps the size (a new password of the same
    length) would go unnoticed; the mtime is pushed past the old one then.
    """
    try:
        old = path.stat()
        lines = path.read_text().splitlines()
    except FileNotFoundError:
        old = None
        lines = []
    kept = [entry for entry in lines if entry.split(":", 1)[0] != name]
    if line is not None:
        kept.append(line)
    _write_private(path, "".join(entry + "\n" for entry in kept), account)
    if old is not None and int(path.stat().st_mtime) <= int(old.st_mtime):
        bumped = int(old.st_mtime) + 1
        os.utime(path, (bumped, bumped))


def _write_private(path: Path, text: str, account: _Account | None) -> None:
    """Write via rename so Dovecot never reads a half-written file."""
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}")
    tmp.write_text(text)
    tmp.chmod(0o600)
    _chown(tmp, account)
    tmp.replace(path)


def _imap_greets(greeting: str, port: int) -> bool:
    try:
        with socket.create_connection((LOCALHOST, port), timeout=2) as sock:
            line = sock.recv(1024)
    except OSError:
        return False
    return line.startswith(b"* OK") and greeting.encode() in line


def _check_dovecot_imap(binary: str) -> None:
    """dovecot-core starts fine without dovecot-imapd and only fails per connection."""
    prefix = Path(binary).resolve().parent.parent
    libexec_dirs = [prefix / "lib" / "dovecot", prefix / "libexec" / "dovecot"]
    existing = [path for path in libexec_dirs if path.is_dir()]
    if existing and not any((path / "imap-login").exists() for path in existing):
        reason = "Dovecot lacks IMAP support; install the dovecot-imapd package"
        raise ServiceUnavailable(reason)


def _populate_dovecot_dir(workdir: Path, account: _Account | None) -> str:
    """Create the directories and user files; return the master user's password."""
    if any(char in str(workdir) for char in ' "%#'):
        msg = f"Dovecot's config syntax cannot express the directory {workdir}"
        raise RuntimeError(msg)
    # Dovecot insists on a world-readable base_dir ("run"); workdir is private.
    for sub, mode in (("run", 0o755), ("state", 0o700), ("home", 0o700)):
        (workdir / sub).mkdir()
        (workdir / sub).chmod(mode)
        _chown(workdir / sub, account)
    master_password = secrets.token_urlsafe(18)
    master_line = f"{_DOVECOT_MASTER_USER}:{{PLAIN}}{master_password}\n"
    _write_private(workdir / "master-users", master_line, account)
    _write_private(workdir / "users", "", account)
    return master_password


def _write_dovecot_config(
    workdir: Path, port: int, me: _Account, greeting: str, account: _Account | None
) -> Path:
    config = workdir / "dovecot.conf"
    config.write_text(
        _DOVECOT_CONFIG.format(
            workdir=workdir,
            host=LOCALHOST,
            port=port,
            greeting=greeting,
            user=me.name,
            group=me.group,
            uid=me.uid,
            gid=me.gid,
            master_file=workdir / "master-users",
            passwd_file=workdir / "users",
            homes=workdir / "home",
        )
    )
    _chown(config, account)
    return config


def start_dovecot(tmpdir: Path | str) -> RunningDovecot:
    binary = _find_binary("dovecot", "dovecot-imapd")
    _check_dovecot_imap(binary)
    account = _service_account("dovecot", "Dovecot")
    try:
        me = account or _account_of(pwd.getpwuid(os.geteuid()))
    except KeyError:
        reason = f"uid {os.geteuid()} has no passwd entry; Dovecot needs a user name"
        raise ServiceUnavailable(reason) from None
    root = Path(tmpdir).resolve()
    workdir, owned = _workdir(root, "dovecot", account)
    greeting = f"mailhost-test-{secrets.token_hex(6)}"
    try:
        master_password = _populate_dovecot_dir(workdir, account)
        log = _log_file(root, "dovecot")

        def argv(port: int) -> list[str]:
            config = _write_dovecot_config(workdir, port, me, greeting, account)
            return [binary, "-F", "-c", str(config)]

        spec = _Spawn("dovecot", log, workdir, account)
        ready = functools.partial(_imap_greets, greeting)
        started = _launch(argv, ready, spec, workdir if owned else None)
    except BaseException:
        if owned:
            shutil.rmtree(workdir, ignore_errors=True)
        raise
    return RunningDovecot(
        started, workdir=workdir, master_password=master_password, account=account
    )
