"""What an import copies: message keys, the multiset rule (IMP-3), where a folder goes.

A key must be stronger than Message-ID (distinct messages share ids, some have none)
and the same whichever side computes it, so it is a digest of the header block with
line endings made CRLF (as IMAP serves them) plus the RFC 822 size.
"""

from __future__ import annotations

import hashlib
import re
from enum import StrEnum

from attrs import frozen

_LINE_END = re.compile(rb"\r?\n")


class SpecialUse(StrEnum):
    """RFC 6154 special-use attributes, as LIST reports them."""

    ALL = "\\All"
    ARCHIVE = "\\Archive"
    DRAFTS = "\\Drafts"
    FLAGGED = "\\Flagged"
    JUNK = "\\Junk"
    SENT = "\\Sent"
    TRASH = "\\Trash"


@frozen
class MessageKey:
    digest: str
    size: int


def message_key(header: bytes, size: int) -> MessageKey:
    """The key of a message from its header block and its RFC822.SIZE."""
    normalised = _LINE_END.sub(b"\r\n", header)
    return MessageKey(hashlib.sha256(normalised).hexdigest(), size)


@frozen
class SourceFolder:
    """A folder as the source lists it: ``name`` decoded, ``path`` split on its separator."""

    name: str
    path: tuple[str, ...]
    selectable: bool = True
    special_use: SpecialUse | None = None
