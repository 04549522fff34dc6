"""The provider's mail store: a Dovecot reached over IMAP, or embedded maildirs.

Dovecot authenticates addresses against a passwd-file that this module keeps in
step with the engine's credential store: one line per address, holding the same
hash the engine keeps (``{ARGON2ID}$argon2id$...``), never a password.

Dovecot re-reads a passwd-file by itself, but it stats the file at most once per
wall-clock second and only notices a changed mtime (whole seconds) or size.  A
change is therefore visible to logins from the next wall-clock second on;
``wait_until_visible`` sleeps that long.  Writes push the mtime past the previous
one so that two writes within one second can never look unchanged.

What the Dovecot side must be configured with is listed in ``DOVECOT_REQUIREMENTS``.
"""

from __future__ import annotations

import contextlib
import fcntl
import ipaddress
import logging
import math
import os
import re
import shutil
import ssl
import tempfile
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final, Literal
from urllib.parse import parse_qs, urlsplit

from imapclient import IMAPClient, SocketTimeout
from imapclient.exceptions import IMAPClientError, LoginError

from application.ports import MailStore
from infrastructure.settings import ConfigurationError

__all__ = [
    "DOVECOT_REQUIREMENTS",
    "DovecotMailStore",
    "ImapEndpoint",
    "MailStoreError",
    "MaildirMailStore",
    "PasswdFile",
    "imap_login_works",
    "mail_store_from_env",
]

log = logging.getLogger(__name__)

DOVECOT_REQUIREMENTS: Final = """\
# What DovecotMailStore relies on (Dovecot 2.3):
auth_username_format = %Lu          # the default; passwd-file keys are lower case
auth_username_chars =               # empty = any; the default refuses + ' / & = ...
auth_master_user_separator = *      # MAILHOST_IMAP_MASTER_USER logs in as addr*master
auth_cache_size = 0                 # the default; a cache keeps old passwords valid
passdb {
  driver = passwd-file
  args = /path/to/master-users      # MAILHOST_IMAP_MASTER_USER's entry
  master = yes
  pass = yes                        # the target address must exist as well
}
passdb {
  driver = passwd-file
  args = /path/to/users             # = MAILHOST_IMAP_PASSWD_FILE
}
userdb {
  driver = passwd-file
  args = /path/to/users
  default_fields = home=/var/vmail/%d/%n   # lines carry no home, uid or gid
}
# No lazy_expunge or trash plugin: they keep what destroy() deletes.
"""

# Dovecot's passwd-file: user:password:uid:gid:gecos:home:shell:extra_fields.
_EMPTY_FIELDS: Final = "::::::"
_SCHEME = re.compile(r"\{([A-Z0-9][A-Z0-9._-]*)\}.", re.IGNORECASE)
_PLAINTEXT_SCHEMES: Final = frozenset({"PLAIN", "CLEAR", "CLEARTEXT", "PLAIN-TRUNC"})
_ARGON2_PREFIXES: Final = (("$argon2id$", "{ARGON2ID}"), ("$argon2i$", "{ARGON2I}"))
_PRINTABLE_ASCII = re.compile(r"[\x21-\x7e]+")
_DEFAULT_TIMEOUT: Final = 30.0
# Dovecot's clock and ours are the same clock; this only covers rounding.
_CLOCK_MARGIN: Final = 0.01
_INBOX: Final = "INBOX"
_DELETE_PASSES: Final = 4
_EXPUNGE_PASSES: Final = 3

ENV_URL: Final = "MAILHOST_IMAP_URL"
ENV_MASTER_USER: Final = "MAILHOST_IMAP_MASTER_USER"
ENV_MASTER_PASSWORD: Final = "MAILHOST_IMAP_MASTER_PASSWORD"  # noqa: S105 - a name
ENV_PASSWD_FILE: Final = "MAILHOST_IMAP_PASSWD_FILE"  # noqa: S105 - a name


class MailStoreError(RuntimeError):
    """The mail store could not do what was asked; names the address, never a password."""


# --------------------------------------------------------------------------
# addresses and encodings


def normalise_address(address: str) -> str:
    """The passwd-file key for an address: lower case, refusing what would corrupt it.

    Dovecot lower-cases the login name (``auth_username_format = %Lu``) and only in
    ASCII, so a non-ASCII address could never be matched case-insensitively; IDN
    domains must be passed in their A-label (``xn--``) form.
    """
    if not isinstance(address, str) or not address:
        raise ValueError("the address is empty")
    if any(char in address for char in ":\n\r\0"):
        raise ValueError(
            f"the address {address!r} contains ':', NUL or a line break, which would "
            "corrupt Dovecot's passwd-file"
        )
    if not _PRINTABLE_ASCII.fullmatch(address):
        raise ValueError(
            f"the address {address!r} has a space, control or non-ASCII character; "
            "pass IDN domains in their A-label (xn--) form"
        )
    if address.startswith("#"):
        raise ValueError(
            f"the address {address!r} starts with '#', a passwd-file comment"
        )
    local, at, domain = address.rpartition("@")
    if not at or not local or not domain:
        raise ValueError(f"the address {address!r} is not of the form local@domain")
    return address.lower()


def dovecot_encoding(address: str, encoded: str) -> str:
    """The passwd-file form of a hash: ``{SCHEME}...``; the hash is never echoed."""
    if not isinstance(encoded, str) or not encoded:
        raise ValueError(f"the password encoding for {address!r} is empty")
    if not _PRINTABLE_ASCII.fullmatch(encoded) or ":" in encoded:
        raise ValueError(
            f"the password encoding for {address!r} contains ':', a space, a control "
            "or a non-ASCII character, which would corrupt Dovecot's passwd-file"
        )
    for prefix, scheme in _ARGON2_PREFIXES:
        if encoded.startswith(prefix):
            return scheme + encoded
    match = _SCHEME.match(encoded)
    if match is None:
        raise ValueError(
            f"the password encoding for {address!r} is neither an argon2 encoding "
            "($argon2id$...) nor prefixed with a Dovecot scheme ({SCHEME}...)"
        )
    if match.group(1).upper() in _PLAINTEXT_SCHEMES:
        raise ValueError(
            f"the password encoding for {address!r} uses the plain-text scheme "
            f"{{{match.group(1)}}}; the mail store keeps hashes only"
        )
    return encoded


# --------------------------------------------------------------------------
# the passwd-file

_THREAD_LOCKS: dict[Path, threading.Lock] = {}
_THREAD_LOCKS_GUARD = threading.Lock()


def _thread_lock(path: Path) -> threading.Lock:
    with _THREAD_LOCKS_GUARD:
        return _THREAD_LOCKS.setdefault(path, threading.Lock())


class PasswdFile:
    """A Dovecot passwd-file kept in step: one ``address:{SCHEME}hash::::::`` line each.

    Every change rewrites the file under a lock (a thread lock and an ``flock`` on
    ``.<name>.lock`` beside it, so processes serialise too) into a 0600 temporary
    file in the same folder, fsyncs it and renames it over the old one, so Dovecot
    never reads half a file.  Lines are sorted; comment lines stay on top.  When
    run as root, a replaced file keeps its owner and group (Dovecot must still
    read it); ``owner`` sets them explicitly.
    """

    def __init__(self, path: Path, *, owner: tuple[int, int] | None = None) -> None:
        self.path = Path(path).absolute()
        self._owner = owner
        self._lock_path = self.path.with_name(f".{self.path.name}.lock")
        self._thread_lock = _thread_lock(self.path)
        self._last_write: float | None = None

    def __repr__(self) -> str:
        return f"PasswdFile({str(self.path)!r})"

    def set(self, address: str, encoded: str) -> None:
        self.update(set_entries={address: encoded})

    def remove(self, address: str) -> None:
        self.update(remove=[address])

    def update(
        self,
        *,
        set_entries: Mapping[str, str] | None = None,
        remove: Iterable[str] = (),
    ) -> None:
        """Apply many changes in one rewrite (bulk creation: one write, not 10,000)."""
        changes: dict[str, str | None] = {}
        for address in remove:
            changes[normalise_address(address)] = None
        for address, encoded in (set_entries or {}).items():
            key = normalise_address(address)
            changes[key] = f"{key}:{dovecot_encoding(key, encoded)}{_EMPTY_FIELDS}"
        if not changes:
            return
        with self._locked() as lock_fd:
            comments, entries = self._read()
            for key, line in changes.items():
                if line is None:
                    entries.pop(key, None)
                else:
                    entries[key] = line
            self._write(
                [*comments, *(entries[key] for key in sorted(entries))], lock_fd
            )

    def contains(self, address: str) -> bool:
        return normalise_address(address) in self._read()[1]

    def addresses(self) -> list[str]:
        return sorted(self._read()[1])

    def wait_until_visible(self) -> None:
        """Sleep until Dovecot is certain to see this object's last write.

        Dovecot stats the file at most once per second, so a lookup in the same
        second as the write may still be answered from the old contents.
        """
        if self._last_write is None:
            return
        delay = math.floor(self._last_write) + 1 + _CLOCK_MARGIN - time.time()
        if delay > 0:
            time.sleep(delay)

    @contextlib.contextmanager
    def _locked(self) -> Iterator[int]:
        """Yield the locked lock file's descriptor; it also holds the stamp history."""
        with self._thread_lock:
            fd = os.open(self._lock_path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX)
                yield fd
            finally:
                os.close(fd)  # closing releases the flock

    def _read(self) -> tuple[list[str], dict[str, str]]:
        try:
            # Lines this class did not write are kept byte for byte.
            text = self.path.read_text(encoding="ascii", errors="surrogateescape")
        except FileNotFoundError:
            return [], {}
        comments: list[str] = []
        entries: dict[str, str] = {}
        for line in text.splitlines():
            if not line.strip():
                continue
            if line.startswith("#"):
                comments.append(line)
            else:
                entries[line.split(":", 1)[0].lower()] = line
        return comments, entries

    def _write(self, lines: list[str], lock_fd: int) -> None:
        try:
            old: os.stat_result | None = self.path.stat()
        except FileNotFoundError:
            old = None
        text = "".join(line + "\n" for line in lines).encode("ascii", "surrogateescape")
        fd, tmp_name = tempfile.mkstemp(
            prefix=f".{self.path.name}.", suffix=".tmp", dir=self.path.parent
        )
        tmp = Path(tmp_name)
        try:
            with os.fdopen(fd, "wb") as out:
                out.write(text)
                out.flush()
                os.fchmod(out.fileno(), 0o600)
                self._chown(out.fileno(), old)
                os.fsync(out.fileno())
            stamp = _unseen_stamp(lock_fd, old, len(text))
            os.utime(tmp, (stamp, stamp))
            tmp.replace(self.path)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        self._last_write = time.time()
        dir_fd = os.open(self.path.parent, os.O_RDONLY | os.O_DIRECTORY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)

    def _chown(self, fd: int, old: os.stat_result | None) -> None:
        if self._owner is not None:
            uid, gid = self._owner
        elif old is not None and os.geteuid() == 0:
            uid, gid = old.st_uid, old.st_gid
        else:
            return
        os.fchown(fd, uid, gid)


def _unseen_stamp(lock_fd: int, old: os.stat_result | None, size: int) -> int:
    """An mtime (whole seconds) that, with ``size``, no earlier version has had.

    Dovecot notices a new passwd-file only by a changed (mtime in seconds, size)
    pair.  Two versions with equal pairs (a same-length hash replaced within one
    second, or A -> B -> A-sized C) would look unchanged to a Dovecot that read the
    first.  The pairs published from this second on are kept in the lock file; the
    mtime moves into the future only when a pair would repeat, so a burst of
    additions (whose sizes all differ) keeps the real time.
    """
    now = math.floor(time.time())
    os.lseek(lock_fd, 0, os.SEEK_SET)
    raw = b""
    while chunk := os.read(lock_fd, 65536):
        raw += chunk
    seen: set[tuple[int, int]] = set()
    for line in raw.decode("ascii", "replace").splitlines():
        fields = line.split()
        if len(fields) == 2 and all(field.isdigit() for field in fields):  # noqa: PLR2004
            seen.add((int(fields[0]), int(fields[1])))
    if old is not None:
        seen.add((math.floor(old.st_mtime), old.st_size))
    stamp = now
    while (stamp, size) in seen:
        stamp += 1
    seen.add((stamp, size))
    kept = sorted(pair for pair in seen if pair[0] >= now)
    os.ftruncate(lock_fd, 0)
    os.lseek(lock_fd, 0, os.SEEK_SET)
    os.write(lock_fd, "".join(f"{sec} {length}\n" for sec, length in kept).encode())
    return stamp


# --------------------------------------------------------------------------
# the embedded store


def _path_part(what: str, value: str, address: str) -> str:
    if "/" in value or value in {".", ".."}:
        raise ValueError(f"the {what} of {address!r} cannot name a folder")
    return value


class MaildirMailStore:
    """Maildirs at ``root/<domain>/<local>/Maildir`` and their passwd-file ``root/passwd``.

    A Dovecot pointed at it needs ``mail_location = maildir:~/Maildir:LAYOUT=fs`` and
    ``userdb { driver = passwd-file; args = <root>/passwd;
    default_fields = home=<root>/%d/%n }``.
    """

    def __init__(self, root: Path) -> None:
        self.root = Path(root).absolute()
        self.passwd = PasswdFile(self.root / "passwd")

    def __repr__(self) -> str:
        return f"MaildirMailStore({str(self.root)!r})"

    def home(self, address: str) -> Path:
        key = normalise_address(address)
        local, _, domain = key.rpartition("@")
        return (
            self.root
            / _path_part("domain", domain, address)
            / _path_part("local part", local, address)
        )

    def maildir(self, address: str) -> Path:
        return self.home(address) / "Maildir"

    def set_password(self, address: str, encoded: str) -> None:
        self.set_passwords({address: encoded})

    def set_passwords(self, entries: Mapping[str, str]) -> None:
        """Many addresses in one passwd-file rewrite (bulk creation)."""
        for address, encoded in entries.items():
            dovecot_encoding(normalise_address(address), encoded)
            self.home(address)
        self.root.mkdir(mode=0o700, parents=True, exist_ok=True)
        for address in entries:
            for sub in ("cur", "new", "tmp"):
                (self.maildir(address) / sub).mkdir(
                    mode=0o700, parents=True, exist_ok=True
                )
        self.passwd.update(set_entries=entries)

    def destroy(self, address: str) -> None:
        home = self.home(address)
        with contextlib.suppress(FileNotFoundError):
            shutil.rmtree(home)
        with contextlib.suppress(OSError):
            home.parent.rmdir()  # only if that was the domain's last address
        if self.passwd.path.exists():
            self.passwd.remove(address)


# --------------------------------------------------------------------------
# IMAP


def _is_loopback(host: str) -> bool:
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@dataclass(frozen=True)
class ImapEndpoint:
    """Where and how to reach the IMAP server.

    ``imaps://`` is TLS from the first byte, certificates checked; ``imap://`` is
    plain text on loopback and mandatory STARTTLS elsewhere (a master password
    never crosses a network in clear).  ``?insecure=1`` (loopback only) skips the
    certificate check, for test servers with self-signed certificates.
    """

    host: str
    port: int
    tls: Literal["implicit", "starttls", "none"]
    verify: bool = True

    @classmethod
    def parse(cls, url: str) -> ImapEndpoint:
        """Raise ValueError naming the problem; the URL is not echoed (it may hold secrets)."""
        try:
            parts = urlsplit(url.strip())
            port = parts.port
        except ValueError as exc:
            raise ValueError(f"not a valid URL ({exc})") from None
        scheme = parts.scheme.lower()
        if scheme not in {"imap", "imaps"}:
            raise ValueError("the scheme must be imap:// or imaps://")
        if parts.username is not None or parts.password is not None:
            raise ValueError(
                "the URL must not carry credentials; use "
                f"{ENV_MASTER_USER} and {ENV_MASTER_PASSWORD}"
            )
        host = parts.hostname
        if not host:
            raise ValueError("the URL names no host")
        if parts.path not in {"", "/"} or parts.fragment:
            raise ValueError("the URL must have no path or fragment")
        query = parse_qs(parts.query, keep_blank_values=True, strict_parsing=False)
        unknown = sorted(set(query) - {"insecure"})
        if unknown:
            raise ValueError(f"unknown URL parameter(s): {', '.join(unknown)}")
        insecure = query.get("insecure", ["0"]) != ["0"]
        if insecure and query["insecure"] != ["1"]:
            raise ValueError("insecure must be 1 when given")
        loopback = _is_loopback(host)
        if insecure and not loopback:
            raise ValueError("insecure=1 is allowed for loopback servers only")
        if scheme == "imaps":
            tls: Literal["implicit", "starttls", "none"] = "implicit"
        else:
            tls = "none" if loopback else "starttls"
        default_port = 993 if scheme == "imaps" else 143
        return cls(host=host, port=port or default_port, tls=tls, verify=not insecure)

    def ssl_context(self) -> ssl.SSLContext:
        context = ssl.create_default_context()
        if not self.verify:
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        return context

    def connect(self, timeout: float = _DEFAULT_TIMEOUT) -> Any:  # noqa: ANN401 - untyped lib
        """An IMAPClient (untyped library), TLS as the URL asked, socket timeouts set."""
        implicit = self.tls == "implicit"
        client = IMAPClient(
            self.host,
            port=self.port,
            ssl=implicit,
            ssl_context=self.ssl_context() if implicit else None,
            timeout=SocketTimeout(connect=timeout, read=timeout),
        )
        if self.tls == "starttls":
            try:
                client.starttls(self.ssl_context())
            except BaseException:
                client.shutdown()
                raise
        return client


def _close(client: Any) -> None:  # noqa: ANN401 - untyped lib
    try:
        client.logout()
    except (IMAPClientError, OSError):
        with contextlib.suppress(OSError):
            client.shutdown()


def imap_login_works(
    imap_url: str, user: str, password: str, *, timeout: float = 10.0
) -> bool:
    """True if the server accepts the login, False if it refuses it.

    An unreachable server raises MailStoreError: "refused" and "could not ask" differ.
    """
    endpoint = ImapEndpoint.parse(imap_url)
    try:
        client = endpoint.connect(timeout)
    except (IMAPClientError, OSError) as exc:
        msg = f"cannot reach {endpoint.host}:{endpoint.port} to try {user!r}: {exc}"
        raise MailStoreError(msg) from exc
    try:
        client.login(user, password)
    except LoginError:
        return False
    except (IMAPClientError, OSError) as exc:
        msg = f"the login of {user!r} at {endpoint.host}:{endpoint.port} failed: {exc}"
        raise MailStoreError(msg) from exc
    finally:
        _close(client)
    return True


def _text(value: object) -> str:
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return str(value)


class _AlreadyDestroyedError(Exception):
    pass


class DovecotMailStore:
    """The provider's Dovecot: passwords through its passwd-file, content over IMAP.

    ``destroy`` logs in as ``address*master`` and deletes every folder but INBOX
    (children first, ``\\Noselect`` containers too), unsubscribes everything,
    expunges INBOX, checks that nothing is left, and only then removes the
    passwd line.  The line going last makes a retry after a crash redo the
    purge, and an address without a line counts as already destroyed (no
    pointless failed master logins, which Dovecot penalises and fail2ban bans).

    Dovecot keeps headers (Subject, From, Message-ID) of expunged INBOX mail in
    INBOX's ``dovecot.index.cache`` until it purges that file, which IMAP cannot
    ask for and which small mailboxes may never reach.  Where the engine shares
    Dovecot's file system, ``home_of`` (address -> home directory) makes destroy
    remove the home as well.
    """

    def __init__(
        self,
        imap_url: str,
        master_user: str,
        master_password: str,
        passwd_file: Path,
        *,
        master_separator: str = "*",
        timeout: float = _DEFAULT_TIMEOUT,
        home_of: Callable[[str], Path] | None = None,
        passwd_owner: tuple[int, int] | None = None,
    ) -> None:
        self.endpoint = ImapEndpoint.parse(imap_url)
        if not master_separator or len(master_separator) != 1:
            raise ValueError("the master separator must be one character")
        if (
            not master_user
            or not _PRINTABLE_ASCII.fullmatch(master_user)
            or master_separator in master_user
            or ":" in master_user
        ):
            raise ValueError(
                "the master user must be printable ASCII without ':', spaces or "
                f"{master_separator!r}"
            )
        if not master_password:
            raise ValueError("the master password is empty")
        self.master_user = master_user
        self._master_password = master_password
        self.separator = master_separator
        self.timeout = timeout
        self.passwd = PasswdFile(passwd_file, owner=passwd_owner)
        self._home_of = home_of

    def __repr__(self) -> str:  # no password, even by accident
        return (
            f"DovecotMailStore(host={self.endpoint.host!r}, port={self.endpoint.port}, "
            f"master_user={self.master_user!r}, passwd_file={str(self.passwd.path)!r})"
        )

    def login_name(self, address: str) -> str:
        key = normalise_address(address)
        if self.separator in key:
            raise ValueError(
                f"the address {address!r} contains {self.separator!r}, Dovecot's master "
                "user separator: it could never log in"
            )
        return key

    def set_password(self, address: str, encoded: str) -> None:
        self.set_passwords({address: encoded})

    def set_passwords(self, entries: Mapping[str, str]) -> None:
        """Many addresses in one passwd-file rewrite (bulk creation)."""
        for address in entries:
            self.login_name(address)
        try:
            self.passwd.update(set_entries=entries)
        except OSError as exc:
            names = _some(sorted(entries))
            msg = f"cannot write the password of {names} to {self.passwd.path}: {exc}"
            raise MailStoreError(msg) from exc

    def wait_until_visible(self) -> None:
        """Sleep until Dovecot is certain to see the last password change (<= 1 s)."""
        self.passwd.wait_until_visible()

    def destroy(self, address: str) -> None:
        user = self.login_name(address)
        try:
            if self.passwd.contains(user):
                self._purge(user)
        except _AlreadyDestroyedError:
            pass
        except (IMAPClientError, OSError) as exc:
            msg = f"destroying the mailbox of {user} failed: {exc}"
            raise MailStoreError(msg) from exc
        if self._home_of is not None:
            self._remove_home(user)
        try:
            self.passwd.remove(user)
        except OSError as exc:
            msg = f"cannot remove {user} from {self.passwd.path}: {exc}"
            raise MailStoreError(msg) from exc

    def _remove_home(self, user: str) -> None:
        assert self._home_of is not None  # noqa: S101 - narrowed by the caller
        home = self._home_of(user)
        try:
            shutil.rmtree(home)
        except FileNotFoundError:
            pass
        except OSError as exc:
            msg = f"cannot remove the home of {user} ({home}): {exc}"
            raise MailStoreError(msg) from exc

    def _master_login(self, user: str) -> Any:  # noqa: ANN401 - untyped lib
        login = f"{user}{self.separator}{self.master_user}"
        for attempt in (1, 2):
            client = self.endpoint.connect(self.timeout)
            try:
                client.login(login, self._master_password)
            except LoginError as exc:
                _close(client)
                if not self.passwd.contains(user):
                    raise _AlreadyDestroyedError from None
                if attempt == 1:
                    # The line may be newer than Dovecot's copy of the file.
                    now = time.time()
                    time.sleep(math.floor(now) + 1 + _CLOCK_MARGIN - now)
                    continue
                msg = (
                    f"Dovecot refused the master login for {user} ({_text(exc)}); check "
                    f"{ENV_MASTER_USER}, {ENV_MASTER_PASSWORD} and that Dovecot reads "
                    f"{self.passwd.path}"
                )
                raise MailStoreError(msg) from None
            except BaseException:
                _close(client)
                raise
            return client
        raise AssertionError("unreachable")  # pragma: no cover

    def _purge(self, user: str) -> None:
        client = self._master_login(user)
        try:
            foreign = _foreign_prefixes(client)
            folders = self._delete_folders(client, user, foreign)
            self._unsubscribe_all(client, foreign)
            messages = self._empty_inbox(client, user)
            _check_empty(client, user, foreign)
            client.logout()
        except BaseException:
            with contextlib.suppress(OSError):
                client.shutdown()
            raise
        log.info(
            "destroyed the mailbox of %s: %d folder(s), %d INBOX message(s)",
            user,
            folders,
            messages,
        )

    def _delete_folders(self, client: Any, user: str, foreign: tuple[str, ...]) -> int:  # noqa: ANN401
        deleted = 0
        last_error = ""
        for _ in range(_DELETE_PASSES):
            folders = _own_folders(client, foreign)
            if not folders:
                return deleted
            # A child's name is longer than its parent's: deepest first.
            for name in sorted(folders, key=lambda name: (-len(name), name)):
                try:
                    client.delete_folder(name)
                    deleted += 1
                except IMAPClientError as exc:
                    last_error = _text(exc)
        left = len(_own_folders(client, foreign))
        if left:
            msg = f"cannot delete {left} folder(s) of {user}: {last_error}"
            raise MailStoreError(msg)
        return deleted

    @staticmethod
    def _unsubscribe_all(client: Any, foreign: tuple[str, ...]) -> None:  # noqa: ANN401
        # DELETE leaves the name subscribed; subscriptions name the old folders.
        for _flags, _delimiter, name in client.list_sub_folders():
            text = _text(name)
            if text.upper() != _INBOX and not text.startswith(foreign):
                with contextlib.suppress(IMAPClientError):
                    client.unsubscribe_folder(name)

    @staticmethod
    def _empty_inbox(client: Any, user: str) -> int:  # noqa: ANN401
        expunged = 0
        for _ in range(_EXPUNGE_PASSES):  # mail may arrive meanwhile
            count = _select_count(client, _INBOX)
            if not count:
                return expunged
            client.add_flags("1:*", [b"\\Deleted"], silent=True)  # UID STORE 1:*
            client.expunge()
            expunged += count
        if _select_count(client, _INBOX):
            msg = f"INBOX of {user} keeps receiving mail; expunge did not empty it"
            raise MailStoreError(msg)
        return expunged


def _foreign_prefixes(client: Any) -> tuple[str, ...]:  # noqa: ANN401
    """Prefixes of the other users' and shared namespaces: never ours to delete."""
    if not client.has_capability("NAMESPACE"):
        return ()
    namespaces = client.namespace()
    prefixes = [
        _text(prefix)
        for group in (namespaces.other, namespaces.shared)
        for prefix, _delimiter in group or ()
    ]
    return tuple(prefix for prefix in prefixes if prefix)


def _own_folders(client: Any, foreign: tuple[str, ...]) -> list[Any]:  # noqa: ANN401
    names = []
    for flags, delimiter, name in client.list_folders():
        text = _text(name)
        lowered = {flag.lower() for flag in flags}
        if text.upper() == _INBOX or b"\\nonexistent" in lowered:
            continue
        # A namespace's root ("shared") is listed without its trailing delimiter.
        if (text + _text(delimiter or "")).startswith(foreign):
            continue
        names.append(name)
    return names


def _check_empty(client: Any, user: str, foreign: tuple[str, ...]) -> None:  # noqa: ANN401
    left = _own_folders(client, foreign)
    remaining = _select_count(client, _INBOX)
    if left or remaining:
        msg = (
            f"destroying the mailbox of {user} left {len(left)} folder(s) and "
            f"{remaining} INBOX message(s)"
        )
        raise MailStoreError(msg)


def _some(names: list[str], shown: int = 3) -> str:
    return ", ".join(names[:shown]) + (", ..." if len(names) > shown else "")


def _select_count(client: Any, folder: str) -> int:  # noqa: ANN401
    return int(client.select_folder(folder)[b"EXISTS"])


# --------------------------------------------------------------------------
# configuration


def mail_store_from_env(env: Mapping[str, str], home: Path) -> MailStore:
    """The Dovecot named by MAILHOST_IMAP_*, or the embedded maildirs under home/mail."""
    url = (env.get(ENV_URL) or "").strip()
    others = (ENV_MASTER_USER, ENV_MASTER_PASSWORD, ENV_PASSWD_FILE)
    if not url:
        stray = [name for name in others if env.get(name)]
        if stray:
            raise ConfigurationError(
                f"{', '.join(stray)} set but {ENV_URL} is not; set {ENV_URL} to use "
                "that Dovecot, or unset them for the embedded maildir store"
            )
        return MaildirMailStore(home / "mail")
    try:
        ImapEndpoint.parse(url)
    except ValueError as exc:
        raise ConfigurationError(f"{ENV_URL}: {exc}") from None
    missing = [name for name in others if not env.get(name)]
    if missing:
        raise ConfigurationError(f"{ENV_URL} is set but {', '.join(missing)} is not")
    master_user = env[ENV_MASTER_USER]
    passwd_file = Path(env[ENV_PASSWD_FILE])
    if not passwd_file.is_absolute():
        raise ConfigurationError(
            f"{ENV_PASSWD_FILE} must be an absolute path (the file Dovecot reads), "
            f"not {str(passwd_file)!r}"
        )
    if not passwd_file.parent.is_dir():
        raise ConfigurationError(
            f"{ENV_PASSWD_FILE}: the folder {str(passwd_file.parent)!r} does not exist"
        )
    try:
        return DovecotMailStore(url, master_user, env[ENV_MASTER_PASSWORD], passwd_file)
    except ValueError as exc:
        raise ConfigurationError(f"{ENV_MASTER_USER}: {exc}") from None
