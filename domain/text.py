"""Text rules shared by every name, subject, signature and display name.

Two kinds of text reach the engine. Text a user types as a value of their own (a name, a
subject, a signature) is *checked*: control characters and line separators are refused,
so what is saved can always be used later. Text that merely came from outside (a browser's
User-Agent, a place from geolocation, a subject of a message received) is *neutralised*
before it reaches a mail or a terminal: it cannot be refused, because it was never the
user's choice, and it must not carry links, escape sequences or unbounded length into a
message the provider signs with its own name (ADV-5).
"""

from __future__ import annotations

import re
import unicodedata

from domain.errors import InvalidInput

# RFC 5322 2.1.1: a header line is at most 998 characters.
MAX_HEADER_LINE = 998

# Unicode categories no stored line may hold: controls (C0, C1, DEL), format characters
# (bidi overrides, zero-width joiners), line and paragraph separators, unassigned and
# private-use code points, and lone surrogates (from undecodable input).
_FORBIDDEN = frozenset({"Cc", "Cf", "Zl", "Zp", "Co", "Cn", "Cs"})
_MULTILINE_ALLOWED = frozenset({"\n", "\t"})

# What a mail client or terminal may turn into a link: a scheme, a "www." host, a dotted
# host name (clients link "evil.com" alone), or any word holding "://" whatever precedes
# it. Each alternative runs to the end of the word, so nothing of a link is left over.
_URL_LIKE = re.compile(
    r"(?i)\b(?:[a-z][a-z0-9+.-]*://|www\.|mailto:)\S*"
    r"|\b[a-z0-9-]+(?:\.[a-z0-9-]+)*\.[a-z]{2,}\b\S*"
    r"|\S*://\S*"
)
LINK_REMOVED = "[link removed]"


def forbidden_character(value: str, *, multiline: bool = False) -> str | None:
    """The first character a stored text may not hold, named, or None."""
    for char in value:
        if multiline and char in _MULTILINE_ALLOWED:
            continue
        if unicodedata.category(char) in _FORBIDDEN:
            return f"U+{ord(char):04X}"
    return None


def clean_line(value: str, *, field: str, max_length: int) -> str:
    """One line of a user's own text: blanks collapsed, bounded, printable.

    Refuses rather than repairs: a user who typed a control character should hear so,
    and a value that is saved must be usable everywhere it is later applied.
    """
    bad = forbidden_character(value)
    if bad is not None:
        raise InvalidInput(f"{field} contains a control character ({bad})")
    text = " ".join(value.split())
    if len(text) > max_length:
        raise InvalidInput(f"{field} is longer than {max_length} characters")
    return text


def required_line(
    value: str, *, field: str, max_length: int, empty: str | None = None
) -> str:
    """A one-line text that must say something: :func:`clean_line`, and not blank.

    ``empty`` is the refusal of a blank value when ``field is empty`` says too little.
    """
    text = clean_line(value, field=field, max_length=max_length)
    if not text:
        raise InvalidInput(empty or f"{field} is empty")
    return text


def clean_block(value: str, *, field: str, max_length: int) -> str:
    """Several lines of a user's own text (a signature, a reply body)."""
    text = value.replace("\r\n", "\n").replace("\r", "\n")
    bad = forbidden_character(text, multiline=True)
    if bad is not None:
        raise InvalidInput(f"{field} contains a control character ({bad})")
    if len(text) > max_length:
        raise InvalidInput(f"{field} is longer than {max_length} characters")
    return text


def neutralise(value: str, *, max_length: int = 120) -> str:
    """Outside text made safe to show: no controls, no link-like text, bounded.

    Forbidden characters become spaces (so words stay apart), link-like runs become
    "[link removed]", and an over-long value is cut with an ellipsis.
    """
    if max_length < 1:
        msg = f"max_length must be at least 1, not {max_length}"
        raise ValueError(msg)
    text = "".join(" " if unicodedata.category(c) in _FORBIDDEN else c for c in value)
    text = " ".join(_URL_LIKE.sub(LINK_REMOVED, text).split())
    if len(text) > max_length:
        text = text[: max_length - 1].rstrip() + "\u2026"
    return text


def printable(value: str) -> str:
    """Text for a terminal with its layout kept, each forbidden character shown as a code.

    A command's own output (tables, paths, the operator's configuration) is not outside
    text to be rewritten or cut, but a character a terminal obeys (ESC, BEL, a bidi
    override) must never reach it, whatever message carried it; lone surrogates from
    undecodable input would also make the write itself fail. Outside values in the
    output are neutralised first; this is the last step before the terminal.
    """
    if forbidden_character(value, multiline=True) is None:
        return value
    return "".join(
        c
        if c in _MULTILINE_ALLOWED or unicodedata.category(c) not in _FORBIDDEN
        else _code(c)
        for c in value
    )


def _code(char: str) -> str:
    code = ord(char)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"  # noqa: PLR2004 - one byte
