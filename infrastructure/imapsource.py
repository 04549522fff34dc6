"""Reading a mailbox from any IMAP server for an import, with imapclient.

Connecting and logging in is ``infrastructure.imaplogin``. Folders are opened read-only
(EXAMINE) and bodies fetched with ``BODY.PEEK``, so the import never changes the source.
Bodies are fetched in batches bounded in bytes and messages: memory stays flat whatever
the mailbox holds. What the server may make the adapter wait for or hold is bounded
(``infrastructure.imapguard``): each answer has a deadline and a line cap, and no literal
above ``max_message`` bytes (``MAX_MESSAGE_BYTES``, 256 MiB) is read; a body literal
may not exceed the size the keys pass announced by more than ``_SIZE_SLACK``.

An answer the adapter cannot read (a size missing, NIL or negative, a folder name that
is not modified UTF-7) is ``source_refused``, never an exception the worker would retry
for ever.

imapclient logs every server line at DEBUG on ``imapclient.imaplib``, and a server may
echo the password: building the source sets that logger to WARNING (and the adapter's
connections stop imaplib's own formatting of those lines).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any, Final

from imapclient.datetime_util import parse_to_datetime
from imapclient.exceptions import IMAPClientAbortError, IMAPClientError

from application.importports import (
    MAX_MESSAGE_BYTES,
    FolderTotal,
    ImportSourceError,
    SourceMessage,
)
from domain.importplan import MessageKey, SourceFolder, message_key
from domain.importsource import ImportSource, is_loopback
from domain.text import neutralise
from infrastructure.imap import DEFAULT_TIMEOUT, as_text, close_connection
from infrastructure.imapfetch import fetch_uids
from infrastructure.imapfolders import folder_tree
from infrastructure.imaplogin import as_source_error, connect

__all__ = [
    "BATCH_BYTES",
    "BATCH_MESSAGES",
    "ImapMailSource",
    "ImapSourceMailbox",
    "as_source_error",
    "folder_state",
    "folder_tree",
    "is_loopback",
    "read_keys",
    "uid_batches",
]

BATCH_BYTES: Final = 8 * 1024 * 1024
BATCH_MESSAGES: Final = 200
# Headers are small; a bigger batch saves round trips without much memory.
_KEY_BATCH: Final = 500
_SIZE_BATCH: Final = 2000
_HEADER: Final = b"BODY[HEADER]"
_BODY: Final = b"BODY[]"
_SIZE: Final = b"RFC822.SIZE"
_BODY_ITEMS: Final[tuple[str, ...]] = ("BODY.PEEK[]", "FLAGS", "INTERNALDATE")
# A body may differ from its RFC822.SIZE by line ends a server counts its own way.
_SIZE_SLACK: Final = 64 * 1024
# What a server answer can hold that the adapter cannot read: a malformed answer.
_MALFORMED: Final = (ValueError, TypeError, KeyError, IndexError, AttributeError)


def _fetch(
    client: Any,  # noqa: ANN401 - imapclient is untyped
    uids: Sequence[int],
    items: Sequence[str],
    max_literal: int = MAX_MESSAGE_BYTES,
) -> dict[int, Any]:
    """UID FETCH (runs of UIDs as ranges, so thousands fit a line); strays dropped."""
    return fetch_uids(client, uids, items, max_literal=max_literal)


def _literal(data: dict[bytes, Any], name: bytes, uid: int) -> bytes:
    value = data.get(name)
    if not isinstance(value, bytes):
        raise IMAPClientError(f"the server sent no {name.decode()} for UID {uid}")
    return value


def _number(data: dict[bytes, Any], name: bytes, uid: int) -> int:
    value = data.get(name)
    if not isinstance(value, bytes) or not value.isdigit():
        raise IMAPClientError(f"the server sent no {name.decode()} for UID {uid}")
    return int(value)


def _key_of(uid: int, data: dict[bytes, Any]) -> MessageKey:
    return message_key(_literal(data, _HEADER, uid), _number(data, _SIZE, uid))


def all_uids(client: Any) -> list[int]:  # noqa: ANN401 - imapclient is untyped
    return sorted(int(uid) for uid in client.search(["ALL"]))


def read_keys(
    client: Any,  # noqa: ANN401 - imapclient is untyped
    batch: int = _KEY_BATCH,
    max_literal: int = MAX_MESSAGE_BYTES,
) -> list[tuple[int, MessageKey]]:
    """(UID, key) of every message of the selected folder in UID order, headers only."""
    keys: list[tuple[int, MessageKey]] = []
    uids = all_uids(client)
    for start in range(0, len(uids), batch):
        chunk = uids[start : start + batch]
        found = _fetch(client, chunk, ["BODY.PEEK[HEADER]", "RFC822.SIZE"], max_literal)
        keys.extend((uid, _key_of(uid, found[uid])) for uid in chunk if uid in found)
    return keys


_STATE_ITEMS: Final = (b"UIDVALIDITY", b"UIDNEXT", b"MESSAGES")


def folder_state(client: Any, name: str) -> str:  # noqa: ANN401 - imapclient is untyped
    """STATUS (UIDVALIDITY UIDNEXT MESSAGES) as one string; "" when one is missing.

    RFC 3501: an appended message gets a UID of at least UIDNEXT (which then grows),
    an expunge lowers MESSAGES unless an append came with it, and a folder whose UIDs
    were renumbered has a new UIDVALIDITY: equal strings, the same messages.
    """
    try:
        status = client.folder_status(name, [item.decode() for item in _STATE_ITEMS])
    except IMAPClientAbortError:
        raise
    except IMAPClientError:  # no STATUS, or not for this folder: no shortcut
        return ""
    values = [status.get(item) for item in _STATE_ITEMS]
    if not all(
        isinstance(v, int) or (isinstance(v, bytes) and v.isdigit()) for v in values
    ):
        return ""
    return "imap " + " ".join(str(int(v)) for v in values)


def uid_batches(
    sizes: Sequence[tuple[int, int]], max_bytes: int, max_messages: int
) -> Iterator[list[int]]:
    """UIDs grouped in order, each group under both bounds (a huge message goes alone)."""
    batch: list[int] = []
    total = 0
    for uid, size in sizes:
        if batch and (total + size > max_bytes or len(batch) >= max_messages):
            yield batch
            batch, total = [], 0
        batch.append(uid)
        total += size
    if batch:
        yield batch


def _flags(raw: Sequence[bytes | str]) -> tuple[str, ...]:
    flags = (as_text(flag) for flag in raw)
    return tuple(flag for flag in flags if flag.lower() != "\\recent")


def _aware(value: datetime) -> datetime:
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


def _internal_date(data: dict[bytes, Any], uid: int) -> datetime:
    value = data.get(b"INTERNALDATE")
    try:
        return _aware(
            parse_to_datetime(_literal(data, b"INTERNALDATE", uid), normalise=False)
        )
    except ValueError:
        detail = f"unreadable INTERNALDATE {value!r:.60} for UID {uid}"
        raise IMAPClientError(detail) from None


def source_message(
    uid: int, data: dict[bytes, Any], key: MessageKey | None = None
) -> SourceMessage:
    """The message of a FETCH answer; ``key`` known from the keys pass, else computed."""
    flags = data.get(b"FLAGS") or ()
    return SourceMessage(
        uid=uid,
        raw=_literal(data, _BODY, uid),
        flags=_flags([f for f in flags if isinstance(f, bytes)]),
        internal_date=_internal_date(data, uid),
        key=key if key is not None else _key_of(uid, data),
    )


class ImapSourceMailbox:
    """One logged-in connection to the source; ``SourceMailbox`` of the import ports."""

    def __init__(
        self,
        client: Any,  # noqa: ANN401 - imapclient is untyped
        where: str,
        *,
        batch_bytes: int = BATCH_BYTES,
        batch_messages: int = BATCH_MESSAGES,
        max_message: int = MAX_MESSAGE_BYTES,
    ) -> None:
        self.client = client
        self.where = where
        self.batch_bytes = batch_bytes
        self.batch_messages = batch_messages
        self.max_message = max_message
        # The last keys pass: (folder, UIDVALIDITY) and each UID's key. A UID names one
        # immutable message while UIDVALIDITY holds, so ``fetch`` reuses sizes and keys
        # instead of asking for them again.
        self._known: tuple[str, object] | None = None
        self._known_keys: dict[int, MessageKey] = {}

    def __repr__(self) -> str:
        return f"ImapSourceMailbox({self.where!r})"

    def folders(self) -> list[SourceFolder]:
        with self._mapped(None):
            listed = self.client.list_folders()
            foreign = _foreign_prefixes(self.client)
            return folder_tree(listed, foreign)

    def total(self, folder: SourceFolder) -> FolderTotal:
        if not folder.selectable:
            return FolderTotal(messages=0, size=0)
        with self._mapped(folder):
            if self.client.has_capability("STATUS=SIZE"):
                status = self.client.folder_status(folder.name, ["MESSAGES", "SIZE"])
                return FolderTotal(
                    messages=_count(status, b"MESSAGES"), size=_count(status, b"SIZE")
                )
            self._examine(folder)
            sizes = self._sizes(all_uids(self.client))
        return FolderTotal(messages=len(sizes), size=sum(size for _, size in sizes))

    def keys(self, folder: SourceFolder) -> list[tuple[int, MessageKey]]:
        if not folder.selectable:
            return []
        self._known, self._known_keys = None, {}
        with self._mapped(folder):
            validity = self._examine(folder)
            keys = read_keys(self.client, max_literal=self.max_message)
        if validity is not None:
            self._known, self._known_keys = (folder.name, validity), dict(keys)
        return keys

    def fetch(
        self, folder: SourceFolder, uids: Sequence[int]
    ) -> Iterator[SourceMessage]:
        if not uids:
            return
        with self._mapped(folder):
            validity = self._examine(folder)
            known = (
                self._known_keys
                if validity is not None and self._known == (folder.name, validity)
                else {}
            )
            if all(uid in known for uid in uids):
                present = [(uid, known[uid].size) for uid in uids]
                items = _BODY_ITEMS
            else:  # no keys pass for this folder: sizes and headers asked for
                sizes = dict(self._sizes(uids))
                present = [(uid, sizes[uid]) for uid in uids if uid in sizes]
                items, known = (*_BODY_ITEMS, "BODY.PEEK[HEADER]", "RFC822.SIZE"), {}
            size_of = dict(present)
            for batch in uid_batches(present, self.batch_bytes, self.batch_messages):
                # No literal longer than the largest size announced (and the cap).
                largest = max(size_of[uid] for uid in batch)
                cap = min(self.max_message, largest + _SIZE_SLACK)
                found = _fetch(self.client, batch, items, cap)
                for uid in batch:
                    if uid in found:  # expunged meanwhile: skipped
                        yield source_message(uid, found.pop(uid), known.get(uid))

    def state(self, folder: SourceFolder) -> str:
        if not folder.selectable:
            return ""
        with self._mapped(folder):
            return folder_state(self.client, folder.name)

    def close(self) -> None:
        close_connection(self.client)

    @contextmanager
    def _mapped(self, folder: SourceFolder | None) -> Iterator[None]:
        """Every failure inside as an ``ImportSourceError`` with its named reason."""
        try:
            yield
        except ImportSourceError:
            raise
        except (IMAPClientError, OSError, EOFError) as exc:
            if folder is None:
                raise as_source_error(exc, self.where) from None
            raise self._folder_error(exc, folder) from None
        except _MALFORMED as exc:
            where = self.where if folder is None else self._where(folder)
            detail = f"{where}: an answer the import cannot read: {_said(exc)}"
            raise ImportSourceError("source_refused", detail, transient=False) from None

    def _where(self, folder: SourceFolder) -> str:
        return f"{self.where} folder {neutralise(folder.name, max_length=80)!r}"

    def _examine(self, folder: SourceFolder) -> object:
        """EXAMINE the folder; its UIDVALIDITY, or None when the server gave none."""
        try:
            answer = self.client.select_folder(folder.name, readonly=True)
            return answer.get(b"UIDVALIDITY")
        except IMAPClientAbortError:
            raise
        except IMAPClientError as exc:
            raise self._folder_error(exc, folder) from None

    def _sizes(self, uids: Sequence[int]) -> list[tuple[int, int]]:
        sizes: list[tuple[int, int]] = []
        for start in range(0, len(uids), _SIZE_BATCH):
            chunk = uids[start : start + _SIZE_BATCH]
            found = _fetch(self.client, chunk, ["RFC822.SIZE"])
            sizes.extend(
                (uid, _number(found[uid], _SIZE, uid)) for uid in chunk if uid in found
            )
        return sizes

    def _folder_error(
        self, exc: BaseException, folder: SourceFolder
    ) -> ImportSourceError:
        if isinstance(exc, IMAPClientError) and not isinstance(
            exc, IMAPClientAbortError
        ):
            said = _said(exc)
            if "NONEXISTENT" in said.upper() or "exist" in said.lower():
                return ImportSourceError(
                    "folder_vanished",
                    f"{self._where(folder)} is gone: {said}",
                    transient=False,
                )
        return as_source_error(exc, self._where(folder))


def _said(exc: BaseException) -> str:
    text = as_text(exc.args[0]) if exc.args else type(exc).__name__
    return neutralise(text, max_length=200)


def _count(status: dict[bytes, Any], name: bytes) -> int:
    value = status.get(name)
    if isinstance(value, int) and value >= 0:
        return value
    if isinstance(value, bytes) and value.isdigit():
        return int(value)
    raise IMAPClientError(f"the server sent no {name.decode()} in STATUS")


def _foreign_prefixes(client: Any) -> tuple[str, ...]:  # noqa: ANN401 - imapclient is untyped
    """Other users' and shared namespaces: not this mailbox, never imported."""
    if not client.has_capability("NAMESPACE"):
        return ()
    spaces = client.namespace()
    prefixes = (
        as_text(prefix)
        for group in (spaces.other, spaces.shared)
        for prefix, _delimiter in group or ()
    )
    return tuple(prefix for prefix in prefixes if prefix)


class ImapMailSource:
    """``MailSource``: connects per ``ImportSource``; holds no secret itself."""

    def __init__(
        self,
        *,
        timeout: float = DEFAULT_TIMEOUT,
        batch_bytes: int = BATCH_BYTES,
        batch_messages: int = BATCH_MESSAGES,
        max_message: int = MAX_MESSAGE_BYTES,
    ) -> None:
        self.timeout = timeout
        self.batch_bytes = batch_bytes
        self.batch_messages = batch_messages
        self.max_message = max_message
        # imapclient logs every server line here at DEBUG, an echoed password too.
        logging.getLogger("imapclient.imaplib").setLevel(logging.WARNING)

    def open(self, source: ImportSource, password: str) -> ImapSourceMailbox:
        client = connect(source, password, self.timeout, self.max_message)
        return ImapSourceMailbox(
            client,
            f"{source.host}:{source.port}",
            batch_bytes=self.batch_bytes,
            batch_messages=self.batch_messages,
            max_message=self.max_message,
        )
