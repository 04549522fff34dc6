"""The mail corpus on a real IMAP server: load it into a user, read a user back.

``load_into`` stores a ``tests.mailcorpus.Corpus`` with its flags and internal dates,
folders joined with the server's own delimiter (imapclient sends names as modified
UTF-7). ``read_multiset`` / ``read_attributes`` give what a user holds in the shape of
``expected_multiset`` / ``expected_attributes``, keys computed the way the import does
(``BODY.PEEK[HEADER]`` and ``RFC822.SIZE``), so a test compares the two with ``==``.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Iterator
from datetime import datetime
from typing import Any

from imapclient import IMAPClient

from domain.importplan import MessageKey, message_key
from tests.mailcorpus import Attributes, Corpus, CorpusMessage, Path

APPEND_BATCH_BYTES = 8 * 1024 * 1024
APPEND_BATCH_MESSAGES = 200
FETCH_BATCH = 500


def delimiter(client: IMAPClient) -> str:
    """The hierarchy delimiter, from ``LIST "" ""``."""
    listed = client.list_folders("", "")
    sep = listed[0][1] if listed else None
    if not sep:
        raise RuntimeError("the server has no hierarchy delimiter")
    return sep.decode() if isinstance(sep, bytes) else str(sep)


def folder_name(path: Path, sep: str) -> str:
    if any(sep in part for part in path):
        raise ValueError(f"a folder part of {path!r} holds the delimiter {sep!r}")
    return sep.join(path)


def load_into(client: IMAPClient, corpus: Corpus) -> int:
    """APPEND every message (MULTIAPPEND where offered); returns the number stored.

    Containers are not created: the server makes them as parents of their children.
    """
    sep = delimiter(client)
    multi = b"MULTIAPPEND" in client.capabilities()
    stored = 0
    for folder in corpus.folders:
        if folder.container:
            continue
        name = folder_name(folder.path, sep)
        if name.upper() != "INBOX" and not client.folder_exists(name):
            client.create_folder(name)
        for batch in _batches(folder):
            if multi:
                client.multiappend(
                    name,
                    [
                        {"msg": m.raw, "flags": m.flags, "date": m.internal_date}
                        for m in batch
                    ],
                )
            else:
                for m in batch:
                    client.append(name, m.raw, m.flags, m.internal_date)
            stored += len(batch)
    return stored


def _batches(messages: Iterable[CorpusMessage]) -> Iterator[list[CorpusMessage]]:
    batch: list[CorpusMessage] = []
    size = 0
    for message in messages:
        if batch and (
            size + len(message.raw) > APPEND_BATCH_BYTES
            or len(batch) >= APPEND_BATCH_MESSAGES
        ):
            yield batch
            batch, size = [], 0
        batch.append(message)
        size += len(message.raw)
    if batch:
        yield batch


def selectable_folders(client: IMAPClient) -> list[tuple[Path, str]]:
    """(path, name) of every folder that can hold messages."""
    sep = delimiter(client)
    found = []
    for flags, _, name in client.list_folders():
        if any(f.lower() in {b"\\noselect", b"\\nonexistent"} for f in flags):
            continue
        text = name.decode() if isinstance(name, bytes) else str(name)
        path = ("INBOX",) if text.upper() == "INBOX" else tuple(text.split(sep))
        found.append((path, text))
    return found


def _fetch_all(client: IMAPClient, name: str) -> Iterator[dict[bytes, Any]]:
    client.select_folder(name, readonly=True)
    uids = sorted(client.search("ALL"))
    for i in range(0, len(uids), FETCH_BATCH):
        chunk = uids[i : i + FETCH_BATCH]
        fetched = client.fetch(
            chunk, ["BODY.PEEK[HEADER]", "RFC822.SIZE", "FLAGS", "INTERNALDATE"]
        )
        for uid in chunk:
            if uid in fetched:
                yield fetched[uid]
    client.unselect_folder()


def _key(data: dict[bytes, Any]) -> MessageKey:
    return message_key(data[b"BODY[HEADER]"], int(data[b"RFC822.SIZE"]))


def read_multiset(client: IMAPClient) -> dict[Path, Counter[MessageKey]]:
    return {
        path: Counter(_key(d) for d in _fetch_all(client, name))
        for path, name in selectable_folders(client)
    }


def read_attributes(client: IMAPClient) -> dict[Path, Counter[Attributes]]:
    """Flags as the server names them (``\\Recent`` left out), dates aware."""
    old = client.normalise_times
    client.normalise_times = False
    try:
        return {
            path: Counter(
                (_key(d), _flags(d[b"FLAGS"]), _aware(d[b"INTERNALDATE"]))
                for d in _fetch_all(client, name)
            )
            for path, name in selectable_folders(client)
        }
    finally:
        client.normalise_times = old


def _flags(flags: Iterable[bytes | str]) -> frozenset[str]:
    names = (f.decode() if isinstance(f, bytes) else f for f in flags)
    return frozenset(n for n in names if n.lower() != "\\recent")


def _aware(value: datetime) -> datetime:
    if value.tzinfo is None:
        raise RuntimeError("the server gave an INTERNALDATE without a time zone")
    return value
