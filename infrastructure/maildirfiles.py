"""Maildir folders and message files as Dovecot lays them out with ``LAYOUT=fs``.

INBOX is the maildir itself; a folder ``a/b`` is the directory ``a/b`` below it, each
part in modified UTF-7 (Dovecot's default ``mailbox_list_utf8 = no``); a folder that
holds messages has ``cur``, ``new`` and ``tmp``, a container (``\\Noselect``) has not.
Flags are the letters after ``:2,`` in a file name, keywords the lower-case letters
``a``-``z`` indexed by the folder's ``dovecot-keywords``; the internal date is the file's
mtime. The key of a stored file is computed exactly as Dovecot serves it over IMAP:
header block up to and including the first empty line (the whole file when there is
none), size counted with CRLF line ends (``W=`` in the name when present).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import secrets
import socket
import time
from collections.abc import Iterable, Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Final

from imapclient import imap_utf7

from domain.importplan import MessageKey, message_key

__all__ = [
    "KEYWORDS_FILE",
    "MaildirFolder",
    "folder_directory",
    "header_and_vsize",
    "vsize_of",
]

KEYWORDS_FILE: Final = "dovecot-keywords"
SUBSCRIPTIONS_FILE: Final = "subscriptions"
MAILDIR_SUBDIRS: Final = ("cur", "new", "tmp")
_MAX_KEYWORDS: Final = 26
_READ: Final = 64 * 1024
_SYSTEM_LETTERS: Final = {
    "\\draft": "D",
    "\\flagged": "F",
    "\\answered": "R",
    "\\seen": "S",
    "\\deleted": "T",
}
_LETTER_FLAGS: Final = {
    "D": "\\Draft",
    "F": "\\Flagged",
    "R": "\\Answered",
    "S": "\\Seen",
    "T": "\\Deleted",
}
_VSIZE: Final = re.compile(r",W=(\d+)")


def encode_part(part: str) -> str:
    return bytes(imap_utf7.encode(part)).decode("ascii")


def decode_part(part: str) -> str:
    return str(imap_utf7.decode(part.encode("ascii", "replace")))


def folder_directory(maildir: Path, path: Sequence[str]) -> Path:
    """Where Dovecot (``LAYOUT=fs``) keeps the folder of these path parts."""
    if tuple(path) == ("INBOX",) or not path:
        return maildir
    return maildir.joinpath(*(encode_part(part) for part in path))


def vsize_of(data: bytes) -> int:
    """Size with every bare LF counted as CRLF: RFC822.SIZE of these bytes."""
    return len(data) + data.count(b"\n") - data.count(b"\r\n")


def header_and_vsize(path: Path) -> tuple[bytes, int]:
    """The header block and the CRLF size of a message file, reading it as a stream."""
    match = _VSIZE.search(path.name)
    header = bytearray()
    vsize = 0
    in_header = True
    with path.open("rb") as file:
        for line in file:
            if in_header:
                header += line
                in_header = line not in {b"\n", b"\r\n"}
            if match is not None:
                if not in_header:
                    break
                continue
            bare_lf = line.endswith(b"\n") and not line.endswith(b"\r\n")
            vsize += len(line) + bare_lf
    return bytes(header), int(match.group(1)) if match is not None else vsize


def file_key(path: Path) -> MessageKey:
    header, vsize = header_and_vsize(path)
    return message_key(header, vsize)


def read_keywords(directory: Path) -> dict[int, str]:
    try:
        text = (directory / KEYWORDS_FILE).read_text("utf-8", "replace")
    except FileNotFoundError:
        return {}
    keywords: dict[int, str] = {}
    for line in text.splitlines():
        index, _, name = line.partition(" ")
        if index.isdigit() and name and int(index) < _MAX_KEYWORDS:
            keywords[int(index)] = name
    return keywords


def write_atomically(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    tmp.write_bytes(data)
    tmp.replace(path)


class MaildirFolder:
    """One maildir folder: its message files, flags and keywords."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self._keywords: dict[int, str] | None = None
        self._counter = 0

    @property
    def exists(self) -> bool:
        return (self.directory / "cur").is_dir()

    def files(self) -> list[Path]:
        """Message files of new/ then cur/, each once, in name (delivery) order."""
        found: dict[str, Path] = {}
        for sub in ("new", "cur"):
            with contextlib.suppress(FileNotFoundError):
                for entry in os.scandir(self.directory / sub):
                    if entry.is_file() and not entry.name.startswith("."):
                        found[entry.name.split(":", 1)[0]] = Path(entry.path)
        return [found[base] for base in sorted(found)]

    def state(self) -> str:
        """The count and a digest of the message files' unique names (the part before
        ``:``, which a flag change leaves alone): any message added or removed changes
        it, and it costs two directory listings."""
        names = [path.name.split(":", 1)[0] for path in self.files()]
        digest = hashlib.sha256(
            "\n".join(names).encode("utf-8", "surrogateescape")
        ).hexdigest()
        return f"maildir {len(names)} {digest[:32]}"

    def keys(self) -> list[MessageKey]:
        keys: list[MessageKey] = []
        for path in self.files():
            key = self._key_of(path)
            if key is not None:
                keys.append(key)
        return keys

    def _key_of(self, path: Path) -> MessageKey | None:
        try:
            return file_key(path)
        except FileNotFoundError:  # moved from new/ to cur/ meanwhile
            base = path.name.split(":", 1)[0]
            for moved in (self.directory / "cur").glob(f"{base}:*"):
                return file_key(moved)
            return None

    def flags_of(self, path: Path) -> tuple[str, ...]:
        _, _, info = path.name.partition(":2,")
        keywords = self.keywords()
        flags = [_LETTER_FLAGS[letter] for letter in info if letter in _LETTER_FLAGS]
        flags += [
            keywords[ord(letter) - ord("a")]
            for letter in info
            if "a" <= letter <= "z" and ord(letter) - ord("a") in keywords
        ]
        return tuple(flags)

    @staticmethod
    def internal_date(path: Path) -> datetime:
        return datetime.fromtimestamp(path.stat().st_mtime, UTC)

    def keywords(self) -> dict[int, str]:
        if self._keywords is None:
            self._keywords = read_keywords(self.directory)
        return self._keywords

    def _letters(self, flags: Iterable[str]) -> str:
        """The info letters of flags, adding unknown keywords to dovecot-keywords."""
        letters = set()
        keywords = self.keywords()
        index_of = {name: index for index, name in keywords.items()}
        added = False
        for flag in flags:
            system = _SYSTEM_LETTERS.get(flag.lower())
            if system is not None:
                letters.add(system)
                continue
            if flag.startswith("\\"):
                continue  # \Recent and unknown system flags have no letter
            if flag not in index_of:
                free = [i for i in range(_MAX_KEYWORDS) if i not in keywords]
                if not free:
                    continue  # maildir holds 26 keywords per folder, as Dovecot
                keywords[free[0]] = flag
                index_of[flag] = free[0]
                added = True
            letters.add(chr(ord("a") + index_of[flag]))
        if added:
            text = "".join(f"{index} {keywords[index]}\n" for index in sorted(keywords))
            write_atomically(self.directory / KEYWORDS_FILE, text.encode())
        return "".join(sorted(letters))

    def store(self, raw: bytes, flags: Sequence[str], internal_date: datetime) -> Path:
        """Write tmp/ then rename into cur/: a reader sees the whole file or nothing."""
        letters = self._letters(flags)
        now = time.time()
        self._counter += 1
        host = socket.gethostname().replace("/", r"\057").replace(":", r"\072")
        unique = (
            f"{int(now)}.M{int(now * 1e6) % 1_000_000:06d}P{os.getpid()}"
            f"Q{self._counter}R{secrets.token_hex(4)}.{host}"
        )
        name = f"{unique},S={len(raw)},W={vsize_of(raw)}"
        tmp = self.directory / "tmp" / name
        with tmp.open("xb") as file:
            file.write(raw)
        stamp = internal_date.timestamp()
        os.utime(tmp, (stamp, stamp))
        final = self.directory / "cur" / f"{name}:2,{letters}"
        tmp.rename(final)
        return final


def make_folder(maildir: Path, path: Sequence[str], *, container: bool) -> bool:
    """Create the folder's directory (and cur/new/tmp unless a container); True if new."""
    directory = folder_directory(maildir, path)
    created = not directory.exists()
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    if not container:
        created = created or not (directory / "cur").is_dir()
        for sub in MAILDIR_SUBDIRS:
            (directory / sub).mkdir(mode=0o700, exist_ok=True)
    return created


def subscribe(maildir: Path, path: Sequence[str]) -> None:
    """Add the folder to Dovecot's ``subscriptions`` file (version 2, tab-separated)."""
    entry = "\t".join(encode_part(part) for part in path)
    file = maildir / SUBSCRIPTIONS_FILE
    try:
        lines = file.read_text("utf-8").splitlines()
    except FileNotFoundError:
        lines = ["V\t2", ""]
    if entry in lines[2:]:
        return
    write_atomically(file, ("\n".join([*lines, entry]) + "\n").encode())


def walk_folders(maildir: Path) -> Iterator[tuple[tuple[str, ...], bool]]:
    """(path, selectable) of every folder below the maildir (INBOX not included)."""
    stack: list[tuple[Path, tuple[str, ...]]] = [(maildir, ())]
    while stack:
        directory, parts = stack.pop()
        try:
            entries = sorted(os.scandir(directory), key=lambda entry: entry.name)
        except FileNotFoundError:
            continue
        for entry in reversed(entries):
            if not entry.is_dir() or entry.name.startswith("."):
                continue
            if entry.name in MAILDIR_SUBDIRS:
                continue
            path = (*parts, decode_part(entry.name))
            yield path, (Path(entry.path) / "cur").is_dir()
            stack.append((Path(entry.path), path))
