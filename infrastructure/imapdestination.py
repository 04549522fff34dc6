"""An import's destination mailbox on the provider's Dovecot, over one IMAP connection.

Appends use MULTIAPPEND (RFC 3502) in batches where the server advertises it: one
save-and-commit per batch instead of per message. A NO refuses a whole MULTIAPPEND,
so a refused batch is appended again one message at a time, and only the messages the
server refuses then are reported, each with its reason.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any, Final

from imapclient.exceptions import IMAPClientAbortError, IMAPClientError

from application.importports import (
    DestinationError,
    FolderRefused,
    ImportSourceError,
    SourceMessage,
)
from domain.importplan import MessageKey, SpecialUse
from domain.text import neutralise
from infrastructure.imap import as_text, close_connection
from infrastructure.imaplogin import as_source_error
from infrastructure.imapsource import (
    BATCH_BYTES,
    folder_state,
    folder_tree,
    read_keys,
    uid_batches,
)
from infrastructure.importnames import store_path

__all__ = ["ImapDestinationMailbox", "destination_error"]

# RFC 3501 flag: "\" atom or atom; a keyword with an atom-special cannot be sent.
_FLAG: Final = re.compile(r"\\?[^\x00-\x20\x7f(){%*\"\\\]]+")
_TOO_LARGE: Final = ("[LIMIT]", "[TOOBIG]", "TOO LARGE", "TOO BIG")
_DEFAULT_BATCH: Final = 100


def destination_error(
    exc: BaseException, where: str, *, login: bool = False
) -> DestinationError:
    """A failure talking to the provider's Dovecot: the destination's, never the source's
    (a lost connection is still worth retrying)."""
    mapped = as_source_error(exc, where, login=login)
    return DestinationError(
        "destination_failed", mapped.detail, transient=mapped.transient
    )


def _sendable(flags: Sequence[str]) -> list[str]:
    return [
        flag for flag in flags if _FLAG.fullmatch(flag) and flag.lower() != "\\recent"
    ]


def _refusal(said: str) -> str:
    upper = said.upper()
    return (
        "too_large" if any(code in upper for code in _TOO_LARGE) else "message_refused"
    )


class ImapDestinationMailbox:
    """``DestinationMailbox`` on a master login; folder names in the server's separator."""

    def __init__(
        self,
        client: Any,  # noqa: ANN401 - imapclient is untyped
        where: str,
        *,
        multiappend: bool,
        batch_messages: int = _DEFAULT_BATCH,
        batch_bytes: int = BATCH_BYTES,
    ) -> None:
        self.client = client
        self.where = where
        self.multiappend = multiappend
        self.batch_messages = batch_messages
        self.batch_bytes = batch_bytes
        self.append_limit = _append_limit(client)
        self._listed: dict[tuple[str, ...], bool] | None = None
        self.delimiter = "/"
        self.prefix = ""
        self._call(self._namespace)

    def __repr__(self) -> str:
        return f"ImapDestinationMailbox({self.where!r})"

    def _call(self, action: Any, *args: Any) -> Any:  # noqa: ANN401 - imapclient is untyped
        try:
            return action(*args)
        except ImportSourceError:
            raise
        except (IMAPClientError, OSError, EOFError) as exc:
            raise destination_error(exc, f"{self.where} (destination)") from None

    def _namespace(self) -> None:
        listed = self.client.list_folders("", "")
        if listed and listed[0][1]:
            self.delimiter = as_text(listed[0][1])
        if self.client.has_capability("NAMESPACE"):
            personal = self.client.namespace().personal or ()
            if personal:
                self.prefix = as_text(personal[0][0])

    def name(self, path: Sequence[str]) -> str:
        stored = store_path(path, self.delimiter)
        if stored == ("INBOX",):
            return "INBOX"
        return self.prefix + self.delimiter.join(stored)

    def _folders(self) -> dict[tuple[str, ...], bool]:
        if self._listed is None:
            listed = self._call(self.client.list_folders)
            self._listed = {
                tuple(folder.name.split(self.delimiter)): folder.selectable
                for folder in folder_tree(listed)
            }
        return self._listed

    def _exists(self, name: str) -> bool | None:
        """True selectable, False a container, None missing."""
        return self._folders().get(tuple(name.split(self.delimiter)))

    def special_folders(self) -> Mapping[SpecialUse, tuple[str, ...]]:
        listed = self._call(self.client.list_folders)
        special: dict[SpecialUse, tuple[str, ...]] = {}
        for folder in folder_tree(listed):
            if folder.special_use is not None and folder.special_use not in special:
                name = folder.name.removeprefix(self.prefix)
                special[folder.special_use] = tuple(name.split(self.delimiter))
        return special

    def ensure_folder(self, path: tuple[str, ...], *, container: bool = False) -> None:
        name = self.name(path)
        state = self._exists(name)
        if state is True or (container and state is False):
            return
        # "name/" asks for a folder that only holds folders (RFC 3501 CREATE).
        target = name + self.delimiter if container else name
        try:
            self.client.create_folder(target)
            if not container:
                self.client.subscribe_folder(name)
        except IMAPClientAbortError as exc:
            raise destination_error(exc, f"{self.where} (destination)") from None
        except IMAPClientError as exc:
            self._listed = None  # created meanwhile by someone else is fine
            state = self._exists(name)
            if not (state is True or (container and state is False)):
                said = neutralise(as_text(exc), max_length=120)
                shown = neutralise(name, max_length=80)
                detail = f"{self.where}: cannot create {shown!r}: {said}"
                raise FolderRefused(detail) from None
        except OSError as exc:
            raise destination_error(exc, f"{self.where} (destination)") from None
        self._listed = None

    def keys(self, path: tuple[str, ...]) -> list[MessageKey]:
        name = self.name(path)
        if not self._exists(name):
            return []
        self._call(lambda: self.client.select_folder(name, readonly=True))
        keys: list[tuple[int, MessageKey]] = self._call(read_keys, self.client)
        return [key for _uid, key in keys]

    def state(self, path: tuple[str, ...]) -> str:
        name = self.name(path)
        if not self._exists(name):
            return ""
        return str(self._call(folder_state, self.client, name))

    def append(
        self, path: tuple[str, ...], messages: Sequence[SourceMessage]
    ) -> list[str | None]:
        name = self.name(path)
        if not self._exists(name):
            self.ensure_folder(path)
        results: list[str | None] = []
        sized = [(index, len(message.raw)) for index, message in enumerate(messages)]
        for batch in uid_batches(sized, self.batch_bytes, self.batch_messages):
            chosen = [messages[index] for index in batch]
            results.extend(self._call(self._append_batch, name, chosen))
        return results

    def _append_batch(self, name: str, batch: list[SourceMessage]) -> list[str | None]:
        if self.append_limit is not None and any(
            len(message.raw) > self.append_limit for message in batch
        ):
            return [self._append_one(name, message) for message in batch]
        if self.multiappend and len(batch) > 1:
            typ, _data = self.client.multiappend(
                name,
                [
                    {
                        "msg": message.raw,
                        "flags": _sendable(message.flags),
                        "date": message.internal_date,
                    }
                    for message in batch
                ],
            )
            if typ == "OK":
                return [None] * len(batch)
        return [self._append_one(name, message) for message in batch]

    def _append_one(self, name: str, message: SourceMessage) -> str | None:
        if self.append_limit is not None and len(message.raw) > self.append_limit:
            return "too_large"
        try:
            self.client.append(
                name, message.raw, _sendable(message.flags), message.internal_date
            )
        except IMAPClientAbortError:
            raise
        except IMAPClientError as exc:
            return _refusal(as_text(exc))
        return None

    def close(self) -> None:
        close_connection(self.client)


def _append_limit(client: Any) -> int | None:  # noqa: ANN401 - imapclient is untyped
    """RFC 7889 APPENDLIMIT=n: messages above it are refused without sending them."""
    for capability in client.capabilities():
        text = as_text(capability)
        if text.upper().startswith("APPENDLIMIT=") and text[12:].isdigit():
            return int(text[12:])
    return None
