"""Dovecot's passwd-file, kept in step with the engine's credential store.

One line per address, holding the same hash the engine keeps
(``{ARGON2ID}$argon2id$...``), never a password.

Dovecot re-reads a passwd-file by itself, but it stats the file at most once per
wall-clock second and only notices a changed mtime (whole seconds) or size.  A
change is therefore visible to logins from the next wall-clock second on;
``wait_until_visible`` sleeps that long.  Writes push the mtime past the previous
one so that two writes within one second can never look unchanged.
"""

from __future__ import annotations

import contextlib
import fcntl
import math
import os
import re
import tempfile
import threading
import time
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Final

__all__ = [
    "PRINTABLE_ASCII",
    "PasswdFile",
    "dovecot_encoding",
    "normalise_address",
    "sleep_until_second_after",
]

# Dovecot's passwd-file: user:password:uid:gid:gecos:home:shell:extra_fields.
_EMPTY_FIELDS: Final = "::::::"
_SCHEME = re.compile(r"\{([A-Z0-9][A-Z0-9._-]*)\}.", re.IGNORECASE)
_PLAINTEXT_SCHEMES: Final = frozenset({"PLAIN", "CLEAR", "CLEARTEXT", "PLAIN-TRUNC"})
_ARGON2_PREFIXES: Final = (("$argon2id$", "{ARGON2ID}"), ("$argon2i$", "{ARGON2I}"))
_STAMP_FIELDS: Final = 2  # a line of the lock file: "<mtime seconds> <size>"
# What a passwd-file field may hold: no space, control, ':' is checked apart.
PRINTABLE_ASCII: Final = re.compile(r"[\x21-\x7e]+")
# Dovecot's clock and ours are the same clock; this only covers rounding.
_CLOCK_MARGIN: Final = 0.01


def sleep_until_second_after(moment: float) -> None:
    """Sleep into the wall-clock second after ``moment``: Dovecot has re-read the file then."""
    delay = math.floor(moment) + 1 + _CLOCK_MARGIN - time.time()
    if delay > 0:
        time.sleep(delay)


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
    if not PRINTABLE_ASCII.fullmatch(address):
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
    if not PRINTABLE_ASCII.fullmatch(encoded) or ":" in encoded:
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
        if self._last_write is not None:
            sleep_until_second_after(self._last_write)

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
        if len(fields) == _STAMP_FIELDS and all(field.isdigit() for field in fields):
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
