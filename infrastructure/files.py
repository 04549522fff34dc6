"""The engine's files are private to its user: the home 0700, every file in it 0600.

The home holds the secret key, the credential store, the event log (names, logins,
places), the read models and the outbox (mails with codes). Creating them private is not
enough: a home made earlier by hand (``mkdir``, umask 022) or by an older release keeps
0755 and 0644 for ever, so every start-up also narrows what exists and belongs to us.
"""

from __future__ import annotations

import contextlib
import os
import stat
from pathlib import Path

from infrastructure.settings import Settings

PRIVATE_DIR = 0o700
PRIVATE_FILE = 0o600
SQLITE_FILES = ("events.sqlite", "views.sqlite", "credentials.sqlite")
SIDECARS = ("", "-wal", "-shm", "-journal")
OTHER_FILES = ("secret.key",)


def secure_home(settings: Settings) -> None:
    """Make the home and its files private; create the event store file 0600.

    Called at start-up before the log opens: SQLite gives its -wal and -shm files the
    mode of the database file, so a 0600 database keeps its journal 0600 too.
    """
    home = settings.home
    home.mkdir(mode=PRIVATE_DIR, parents=True, exist_ok=True)
    _narrow(home, PRIVATE_DIR)
    if not settings.uses_postgres:
        events = _file_path(settings.events_file) or home / "events.sqlite"
        events.parent.mkdir(mode=PRIVATE_DIR, parents=True, exist_ok=True)
        create_private(events)
        # The operator's own SQLITE_DBNAME elsewhere keeps what they chose for it.
        if events.parent == home:
            for suffix in SIDECARS:
                _narrow(events.with_name(events.name + suffix), PRIVATE_FILE)
    for name in SQLITE_FILES:
        for suffix in SIDECARS:
            _narrow(home / f"{name}{suffix}", PRIVATE_FILE)
    for name in OTHER_FILES:
        _narrow(home / name, PRIVATE_FILE)
    secure_outbox(settings.outbox)


def secure_outbox(folder: Path) -> None:
    """The outbox 0700 and each mail in it 0600 (mails carry codes and addresses)."""
    _narrow(folder, PRIVATE_DIR)
    if not _owned_dir(folder):
        return
    for path in folder.iterdir():
        _narrow(path, PRIVATE_FILE)


def create_private(path: Path) -> None:
    """An empty file made 0600 (whatever the umask) unless it exists already.

    An existing file is never opened: closing any descriptor of a file drops every
    POSIX lock this process holds on it, and SQLite keeps a shared lock on an open
    database so that no other process takes itself for the last one and deletes the
    WAL under this process's connections (SQLite's "disk I/O error").
    """
    with contextlib.suppress(FileExistsError):
        os.close(os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL, PRIVATE_FILE))


def _file_path(events_file: Path) -> Path | None:
    """The event log's file; None for SQLite's in-memory names and URIs."""
    name = str(events_file)
    if name == ":memory:" or name.startswith("file:"):
        return None
    return events_file


def _owned_dir(path: Path) -> bool:
    try:
        info = path.lstat()
    except FileNotFoundError:
        return False
    return stat.S_ISDIR(info.st_mode) and info.st_uid == os.getuid()


def _narrow(path: Path, mode: int) -> None:
    """Remove group and other bits from what exists and is ours; leave the rest alone.

    Symbolic links are not followed: a link planted in the home must not make the engine
    change the mode of a file elsewhere.
    """
    try:
        info = path.lstat()
    except FileNotFoundError:
        return
    if stat.S_ISLNK(info.st_mode) or info.st_uid != os.getuid():
        return
    if stat.S_IMODE(info.st_mode) & ~mode:
        path.chmod(stat.S_IMODE(info.st_mode) & mode)
