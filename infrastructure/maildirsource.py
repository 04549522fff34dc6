"""Reading an address hosted in the embedded maildir store as an import source (IMP-5).

With no IMAP server there is nothing to log in to: the application verifies the
address's password against its own records before it asks, so ``open`` only opens the
address's maildir. UIDs are the files' positions in delivery (name) order, fixed for
the life of one opened mailbox, so ``keys`` and ``fetch`` agree.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path

from application.importports import FolderTotal, ImportSourceError, SourceMessage
from domain.importplan import MessageKey, SourceFolder, message_key
from domain.importsource import ImportSource
from domain.text import neutralise
from infrastructure.maildir import MaildirMailStore
from infrastructure.maildirfiles import (
    MaildirFolder,
    folder_directory,
    header_and_vsize,
    walk_folders,
)

__all__ = ["MaildirMailSource", "MaildirSourceMailbox"]


class MaildirMailSource:
    """``MailSource`` over the embedded store: ``source.user`` is the hosted address."""

    def __init__(self, store: MaildirMailStore) -> None:
        self.store = store

    def __repr__(self) -> str:
        return f"MaildirMailSource({str(self.store.root)!r})"

    def open(self, source: ImportSource, password: str) -> MaildirSourceMailbox:
        del password  # verified by the application (IMP-5)
        return self.open_address(source.user)

    def open_address(self, address: str) -> MaildirSourceMailbox:
        maildir = self.store.maildir(address)
        if not (maildir / "cur").is_dir():
            shown = neutralise(address, max_length=80)
            detail = f"{shown} has no mailbox in the embedded store"
            raise ImportSourceError("source_refused", detail, transient=False)
        return MaildirSourceMailbox(maildir)


class MaildirSourceMailbox:
    def __init__(self, maildir: Path) -> None:
        self.maildir = maildir
        self._files: dict[tuple[str, ...], list[Path]] = {}

    def __repr__(self) -> str:
        return f"MaildirSourceMailbox({str(self.maildir)!r})"

    def folders(self) -> list[SourceFolder]:
        found = [SourceFolder(name="INBOX", path=("INBOX",))]
        found += [
            SourceFolder(name="/".join(path), path=path, selectable=selectable)
            for path, selectable in walk_folders(self.maildir)
        ]
        return sorted(
            found, key=lambda folder: (folder.path[0].upper() != "INBOX", folder.path)
        )

    def _folder(self, folder: SourceFolder) -> MaildirFolder:
        return MaildirFolder(folder_directory(self.maildir, folder.path))

    def _listing(self, folder: SourceFolder, *, fresh: bool) -> list[Path]:
        if fresh or folder.path not in self._files:
            maildir_folder = self._folder(folder)
            if not maildir_folder.exists:
                shown = neutralise(folder.name, max_length=80)
                detail = f"the folder {shown!r} is gone"
                raise ImportSourceError("folder_vanished", detail, transient=False)
            self._files[folder.path] = maildir_folder.files()
        return self._files[folder.path]

    def total(self, folder: SourceFolder) -> FolderTotal:
        if not folder.selectable:
            return FolderTotal(messages=0, size=0)
        sizes = [size for _uid, size in self._sized(folder)]
        return FolderTotal(messages=len(sizes), size=sum(sizes))

    def _sized(self, folder: SourceFolder) -> list[tuple[int, int]]:
        sized = []
        for uid, key in self.keys(folder):
            sized.append((uid, key.size))
        return sized

    def keys(self, folder: SourceFolder) -> list[tuple[int, MessageKey]]:
        if not folder.selectable:
            return []
        keys: list[tuple[int, MessageKey]] = []
        for uid, path in enumerate(self._listing(folder, fresh=True), start=1):
            try:
                header, vsize = header_and_vsize(path)
            except FileNotFoundError:
                continue  # expunged, or moved to cur/ meanwhile: read next time
            keys.append((uid, message_key(header, vsize)))
        return keys

    def fetch(
        self, folder: SourceFolder, uids: Sequence[int]
    ) -> Iterator[SourceMessage]:
        files = self._listing(folder, fresh=False)
        maildir_folder = self._folder(folder)
        for uid in uids:
            if not 1 <= uid <= len(files):
                continue
            path = files[uid - 1]
            try:
                header, vsize = header_and_vsize(path)
                raw = path.read_bytes()
                date = maildir_folder.internal_date(path)
            except FileNotFoundError:
                continue  # expunged meanwhile: skipped, as over IMAP
            yield SourceMessage(
                uid=uid,
                raw=raw,
                flags=maildir_folder.flags_of(path),
                internal_date=date,
                key=message_key(header, vsize),
            )

    def state(self, folder: SourceFolder) -> str:
        maildir_folder = self._folder(folder)
        if not folder.selectable or not maildir_folder.exists:
            return ""
        return maildir_folder.state()

    def close(self) -> None:
        self._files.clear()
