"""How a source folder's path parts become names an import destination can hold.

One rule for both stores (maildirs and Dovecot over IMAP), so a folder lands under the
same name whichever store the provider runs.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

__all__ = ["folder_part", "store_path"]

# Names Dovecot's maildir refuses as a part ("Contains reserved name").
_RESERVED: Final = frozenset({"cur", "new", "tmp"})


def folder_part(part: str, separator: str) -> str:
    """A source folder name part as the destination can hold it, the same on both stores.

    The destination's separator inside a part would split it, so it becomes ``_``;
    Dovecot refuses a leading ``~``, the maildir names ``cur``, ``new``, ``tmp``, and
    ``.``/``..``/empty parts, which get a ``_`` in front.
    """
    cleaned = part.replace(separator, "_") if separator else part
    if not cleaned or cleaned.startswith("~") or cleaned in _RESERVED:
        return "_" + cleaned
    if cleaned in {".", ".."}:
        return "_" + cleaned
    return cleaned


def store_path(path: Sequence[str], separator: str) -> tuple[str, ...]:
    if not path or (len(path) == 1 and path[0].upper() == "INBOX"):
        return ("INBOX",)
    parts = [folder_part(part, separator) for part in path]
    if parts[0].upper() == "INBOX":
        parts[0] = "INBOX"
    return tuple(parts)
