"""What an import copies: message keys, the multiset rule (IMP-3), where a folder goes.

A key must be stronger than Message-ID (distinct messages share ids, some have none)
and the same whichever side computes it, so it is a digest of the header block with
line endings made CRLF (as IMAP serves them) plus the RFC 822 size.

Duplicates are compared as multisets: a key present twice in the source and once in
the destination is copied once more, so byte-identical twins arrive as twins, and a
second run over the same source copies nothing (engineering notes: imapsync's defaults
lost twins; Message-ID dedup lost distinct messages sharing an id).
"""

from __future__ import annotations

import hashlib
import re
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
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


# The uses whose folders hold messages of their own; \All and \Flagged are views over
# the other folders (Gmail's All Mail, a virtual flagged folder) and are never mapped
# onto a destination's view, where an APPEND would be refused or land twice.
MAPPED_USES = frozenset(
    {
        SpecialUse.ARCHIVE,
        SpecialUse.DRAFTS,
        SpecialUse.JUNK,
        SpecialUse.SENT,
        SpecialUse.TRASH,
    }
)

# Names clients and servers give these folders when the server has no SPECIAL-USE
# (Outlook/Exchange, Apple Mail, Thunderbird, Yahoo, GMX, localised defaults).
# Compared case-folded, on a top-level folder or a child of INBOX or [Gmail].
WELL_KNOWN_NAMES: Mapping[str, SpecialUse] = {
    name.casefold(): use
    for use, names in {
        SpecialUse.SENT: (
            "Sent",
            "Sent Items",
            "Sent Messages",
            "Sent Mail",
            "Sent-Mail",
            "Gesendet",
            "Gesendete Elemente",
            "Gesendete Objekte",
            "Envoyés",
            "Éléments envoyés",
            "Messages envoyés",
            "Posta inviata",
            "Elementi inviati",
            "Enviados",
        ),
        SpecialUse.TRASH: (
            "Trash",
            "Deleted Items",
            "Deleted Messages",
            "Deleted",
            "Bin",
            "Papierkorb",
            "Gelöschte Elemente",
            "Corbeille",
            "Éléments supprimés",
            "Cestino",
            "Elementi eliminati",
            "Papelera",
        ),
        SpecialUse.DRAFTS: (
            "Drafts",
            "Draft",
            "Entwürfe",
            "Brouillons",
            "Bozze",
            "Borradores",
        ),
        SpecialUse.JUNK: (
            "Junk",
            "Spam",
            "Bulk Mail",
            "Bulk",
            "Junk E-mail",
            "Junk Email",
            "Junk Mail",
            "Spamverdacht",
            "Courrier indésirable",
            "Indésirables",
            "Posta indesiderata",
            "Correo no deseado",
        ),
        SpecialUse.ARCHIVE: ("Archive", "Archives", "Archiv"),
    }.items()
    for name in names
}

# Parents under which a well-known name still names the account's own folder
# (Courier-style "INBOX.Sent", Gmail's "[Gmail]/Sent Mail").
_SPECIAL_PARENTS = frozenset({"inbox", "[gmail]", "[google mail]"})

INBOX = "INBOX"


@frozen
class MessageKey:
    digest: str
    size: int


def message_key(header: bytes, size: int) -> MessageKey:
    """The key of a message from its header block and its RFC822.SIZE."""
    normalised = _LINE_END.sub(b"\r\n", header)
    return MessageKey(hashlib.sha256(normalised).hexdigest(), size)


def copies_needed(
    source: Sequence[MessageKey], present: Iterable[MessageKey]
) -> list[int]:
    """Indexes into ``source`` of the messages to copy, ascending (rule IMP-3).

    For each key, ``count in source - count present`` occurrences (never negative),
    the LAST ones in source order: an in-order copy that is killed after any prefix has
    added exactly the first chosen ones, so recomputing against the destination then
    chooses exactly the rest (IMP-2).
    """
    skip = Counter(present)
    chosen = []
    for index, key in enumerate(source):
        if skip[key] > 0:
            skip[key] -= 1
        else:
            chosen.append(index)
    return chosen


@frozen
class SourceFolder:
    """A folder as the source lists it: ``name`` decoded, ``path`` split on its separator."""

    name: str
    path: tuple[str, ...]
    selectable: bool = True
    special_use: SpecialUse | None = None


def split_name(name: str, separator: str | None) -> tuple[str, ...]:
    """A decoded folder name as path parts; a flat server (no separator) has one part."""
    if not separator:
        return (name,)
    return tuple(name.split(separator))


def is_inbox(path: Sequence[str]) -> bool:
    """INBOX is case-insensitive (RFC 3501 5.1), every other name is not."""
    return len(path) == 1 and path[0].casefold() == INBOX.casefold()


def special_use_of(folder: SourceFolder, *, guess: bool = True) -> SpecialUse | None:
    """The folder's special use: its flag, else (``guess``) a well-known name.

    Pass ``guess=False`` when the source advertises SPECIAL-USE: its flags are then the
    whole truth, and a user's own folder named "Spam" stays theirs.
    """
    if folder.special_use is not None:
        return folder.special_use
    if not guess or not folder.path:
        return None
    *parents, last = folder.path
    if len(parents) > 1 or (parents and parents[0].casefold() not in _SPECIAL_PARENTS):
        return None
    return WELL_KNOWN_NAMES.get(last.casefold())


def destination_path(
    folder: SourceFolder,
    destination_special: Mapping[SpecialUse, tuple[str, ...]],
    *,
    guess: bool = True,
) -> tuple[str, ...]:
    """Where a source folder's messages go, as path parts (IMP-1).

    INBOX (any case) is the INBOX; a Sent, Trash, Drafts, Junk or Archive folder goes
    to the destination's own folder for that use when it has one; everything else keeps
    its path parts, which the destination joins with its own separator (so the
    hierarchy separator is translated). A child of INBOX keeps INBOX as its parent.
    """
    if is_inbox(folder.path):
        return (INBOX,)
    use = special_use_of(folder, guess=guess)
    if use in MAPPED_USES:
        own = destination_special.get(use)
        if own:
            return own
    if folder.path and is_inbox(folder.path[:1]):
        return (INBOX, *folder.path[1:])
    return folder.path


__all__ = [
    "INBOX",
    "MAPPED_USES",
    "WELL_KNOWN_NAMES",
    "MessageKey",
    "SourceFolder",
    "SpecialUse",
    "copies_needed",
    "destination_path",
    "is_inbox",
    "message_key",
    "special_use_of",
    "split_name",
]
