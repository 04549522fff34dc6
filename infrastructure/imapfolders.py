"""An IMAP server's LIST answer as the folders of an import: decoded, split, flagged."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

from domain.importplan import SourceFolder, SpecialUse
from infrastructure.imap import as_text

__all__ = ["folder_tree"]

# RFC 6154 attributes, and the XLIST names (Gmail's older extension) for the same uses.
_SPECIAL: Final = {
    **{use.value.lower(): use for use in SpecialUse},
    "\\allmail": SpecialUse.ALL,
    "\\spam": SpecialUse.JUNK,
    "\\starred": SpecialUse.FLAGGED,
}
_UNSELECTABLE: Final = frozenset({"\\noselect", "\\nonexistent"})


def _special_use(flags: Sequence[bytes | str]) -> SpecialUse | None:
    for flag in flags:
        use = _SPECIAL.get(as_text(flag).lower())
        if use is not None:
            return use
    return None


def folder_tree(
    listed: Sequence[tuple[Sequence[bytes | str], bytes | str | None, str]],
    foreign: tuple[str, ...] = (),
) -> list[SourceFolder]:
    """LIST answers as folders, parents before children, missing parents as containers."""
    folders: dict[tuple[str, ...], SourceFolder] = {}
    for flags, delimiter, name in listed:
        text = as_text(name)
        separator = as_text(delimiter) if delimiter else ""
        if foreign and (text + separator).startswith(foreign):
            continue
        path = tuple(text.split(separator)) if separator else (text,)
        if path[0].upper() == "INBOX" and len(path) == 1:
            path = ("INBOX",)
        lowered = {as_text(flag).lower() for flag in flags}
        folders[path] = SourceFolder(
            name=text,
            path=path,
            selectable=not (lowered & _UNSELECTABLE),
            special_use=_special_use(flags),
        )
        for depth in range(1, len(path)):
            parent = path[:depth]
            if parent not in folders:
                folders[parent] = SourceFolder(
                    name=separator.join(parent), path=parent, selectable=False
                )
    # A parent added as a container before the server listed it is replaced above.
    return sorted(
        folders.values(),
        key=lambda folder: (folder.path[0].upper() != "INBOX", folder.path),
    )
