"""Reading a mailbox from any IMAP server for an import, with imapclient.

The connection follows the ``ImportSource``: implicit TLS or mandatory STARTTLS with the
certificate and host name verified (against ``ca_file`` alone when one is given), plain
text only on loopback or when explicitly insecure. Folders are opened read-only
(EXAMINE) and bodies fetched with ``BODY.PEEK``, so the import never changes the source.
Bodies are fetched in batches bounded in bytes and messages: memory stays flat whatever
the mailbox holds.
"""

from __future__ import annotations

import ipaddress
import ssl
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from typing import Any, Final

from imapclient import IMAPClient, SocketTimeout
from imapclient.datetime_util import parse_to_datetime
from imapclient.exceptions import (
    CapabilityError,
    IMAPClientAbortError,
    IMAPClientError,
    LoginError,
)

from application.importports import FolderTotal, ImportSourceError, SourceMessage
from domain.importplan import MessageKey, SourceFolder, message_key
from domain.importsource import ImportSource, Security
from domain.text import neutralise
from infrastructure.imap import DEFAULT_TIMEOUT, as_text, close_connection
from infrastructure.imapfetch import fetch_uids
from infrastructure.imapfolders import folder_tree

__all__ = [
    "BATCH_BYTES",
    "BATCH_MESSAGES",
    "ImapMailSource",
    "ImapSourceMailbox",
    "as_source_error",
    "folder_tree",
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


def is_loopback(host: str) -> bool:
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _server_text(exc: BaseException, password: str | None = None) -> str:
    """What the server or library said, safe to keep: never the password, no controls."""
    text = as_text(exc.args[0]) if exc.args else type(exc).__name__
    if password:
        text = text.replace(password, "***")
    return neutralise(text, max_length=200)


def as_source_error(
    exc: BaseException, where: str, password: str | None = None
) -> ImportSourceError:
    """The named reason for a failure while talking to ``where`` (host:port)."""
    said = _server_text(exc, password)
    if isinstance(exc, ssl.SSLError | ssl.CertificateError):
        return ImportSourceError(
            "tls_failed", f"{where}: TLS failed: {said}", transient=False
        )
    if isinstance(exc, LoginError):
        if "UNAVAILABLE" in said.upper():  # RFC 5530: the server's auth is down
            return ImportSourceError(
                "unreachable", f"{where}: login unavailable: {said}", transient=True
            )
        return ImportSourceError(
            "authentication_failed", f"{where}: login refused: {said}", transient=False
        )
    if isinstance(exc, IMAPClientAbortError | OSError | EOFError):
        return ImportSourceError(
            "unreachable", f"{where}: connection lost: {said}", transient=True
        )
    return ImportSourceError("source_refused", f"{where}: {said}", transient=False)


def _ssl_context(source: ImportSource, where: str) -> ssl.SSLContext:
    try:
        return ssl.create_default_context(cafile=source.ca_file)
    except (OSError, ssl.SSLError) as exc:
        detail = (
            f"{where}: cannot use the CA file {source.ca_file!r}: {_server_text(exc)}"
        )
        raise ImportSourceError("tls_failed", detail, transient=False) from None


def connect(source: ImportSource, password: str, timeout: float) -> Any:  # noqa: ANN401 - imapclient is untyped
    """A logged-in IMAPClient, or ImportSourceError naming why not."""
    where = f"{source.host}:{source.port}"
    if source.security is Security.NONE and not (
        source.insecure or is_loopback(source.host)
    ):
        detail = f"{where}: plain text is refused off loopback; use tls or starttls"
        raise ImportSourceError("tls_failed", detail, transient=False)
    context = None if source.security is Security.NONE else _ssl_context(source, where)
    try:
        client = IMAPClient(
            source.host,
            port=source.port,
            ssl=source.security is Security.TLS,
            ssl_context=context,
            timeout=SocketTimeout(connect=timeout, read=timeout),
        )
    except (IMAPClientError, OSError, EOFError) as exc:
        raise as_source_error(exc, where) from None
    try:
        if source.security is Security.STARTTLS:
            if not client.has_capability("STARTTLS"):
                detail = f"{where}: the server does not offer STARTTLS"
                raise ImportSourceError("tls_failed", detail, transient=False)  # noqa: TRY301 - closed below
            client.starttls(context)
        client.login(source.user, password)
    except ImportSourceError:
        close_connection(client)
        raise
    except CapabilityError:
        close_connection(client)
        detail = f"{where}: the server does not offer STARTTLS"
        raise ImportSourceError("tls_failed", detail, transient=False) from None
    except (IMAPClientError, OSError, EOFError) as exc:
        close_connection(client)
        raise as_source_error(exc, where, password) from None
    client.normalise_times = False  # aware datetimes, not local naive ones
    return client


def _fetch(client: Any, uids: Sequence[int], items: Sequence[str]) -> dict[int, Any]:  # noqa: ANN401 - imapclient is untyped
    """UID FETCH (runs of UIDs as ranges, so thousands fit a line); strays dropped."""
    return fetch_uids(client, uids, items)


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


def read_keys(client: Any, batch: int = _KEY_BATCH) -> list[tuple[int, MessageKey]]:  # noqa: ANN401 - imapclient is untyped
    """(UID, key) of every message of the selected folder in UID order, headers only."""
    keys: list[tuple[int, MessageKey]] = []
    uids = all_uids(client)
    for start in range(0, len(uids), batch):
        chunk = uids[start : start + batch]
        found = _fetch(client, chunk, ["BODY.PEEK[HEADER]", "RFC822.SIZE"])
        keys.extend((uid, _key_of(uid, found[uid])) for uid in chunk if uid in found)
    return keys


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
    ) -> None:
        self.client = client
        self.where = where
        self.batch_bytes = batch_bytes
        self.batch_messages = batch_messages
        # The last keys pass: (folder, UIDVALIDITY) and each UID's key. A UID names one
        # immutable message while UIDVALIDITY holds, so ``fetch`` reuses sizes and keys
        # instead of asking for them again.
        self._known: tuple[str, object] | None = None
        self._known_keys: dict[int, MessageKey] = {}

    def __repr__(self) -> str:
        return f"ImapSourceMailbox({self.where!r})"

    def folders(self) -> list[SourceFolder]:
        try:
            listed = self.client.list_folders()
            foreign = _foreign_prefixes(self.client)
        except (IMAPClientError, OSError, EOFError) as exc:
            raise as_source_error(exc, self.where) from None
        return folder_tree(listed, foreign)

    def total(self, folder: SourceFolder) -> FolderTotal:
        if not folder.selectable:
            return FolderTotal(messages=0, size=0)
        try:
            if self.client.has_capability("STATUS=SIZE"):
                status = self.client.folder_status(folder.name, ["MESSAGES", "SIZE"])
                return FolderTotal(
                    messages=int(status[b"MESSAGES"]), size=int(status[b"SIZE"])
                )
            self._examine(folder)
            sizes = self._sizes(all_uids(self.client))
        except ImportSourceError:
            raise
        except (IMAPClientError, OSError, EOFError) as exc:
            raise self._folder_error(exc, folder) from None
        return FolderTotal(messages=len(sizes), size=sum(size for _, size in sizes))

    def keys(self, folder: SourceFolder) -> list[tuple[int, MessageKey]]:
        if not folder.selectable:
            return []
        self._known, self._known_keys = None, {}
        try:
            validity = self._examine(folder)
            keys = read_keys(self.client)
        except ImportSourceError:
            raise
        except (IMAPClientError, OSError, EOFError) as exc:
            raise self._folder_error(exc, folder) from None
        if validity is not None:
            self._known, self._known_keys = (folder.name, validity), dict(keys)
        return keys

    def fetch(
        self, folder: SourceFolder, uids: Sequence[int]
    ) -> Iterator[SourceMessage]:
        if not uids:
            return
        try:
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
            for batch in uid_batches(present, self.batch_bytes, self.batch_messages):
                found = _fetch(self.client, batch, items)
                for uid in batch:
                    if uid in found:  # expunged meanwhile: skipped
                        yield source_message(uid, found.pop(uid), known.get(uid))
        except ImportSourceError:
            raise
        except (IMAPClientError, OSError, EOFError) as exc:
            raise self._folder_error(exc, folder) from None

    def close(self) -> None:
        close_connection(self.client)

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
            sizes.extend((uid, int(found[uid][_SIZE])) for uid in chunk if uid in found)
        return sizes

    def _folder_error(
        self, exc: BaseException, folder: SourceFolder
    ) -> ImportSourceError:
        shown = neutralise(folder.name, max_length=80)
        if isinstance(exc, IMAPClientError) and not isinstance(
            exc, IMAPClientAbortError
        ):
            said = _server_text(exc)
            if "NONEXISTENT" in said.upper() or "exist" in said.lower():
                return ImportSourceError(
                    "folder_vanished",
                    f"{self.where}: the folder {shown!r} is gone: {said}",
                    transient=False,
                )
        return as_source_error(exc, f"{self.where} folder {shown!r}")


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
    ) -> None:
        self.timeout = timeout
        self.batch_bytes = batch_bytes
        self.batch_messages = batch_messages

    def open(self, source: ImportSource, password: str) -> ImapSourceMailbox:
        client = connect(source, password, self.timeout)
        return ImapSourceMailbox(
            client,
            f"{source.host}:{source.port}",
            batch_bytes=self.batch_bytes,
            batch_messages=self.batch_messages,
        )
