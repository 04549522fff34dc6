"""UID FETCH on an imapclient connection, read and parsed without imapclient's parser.

An import reads every header twice and every body once; imapclient's character-by-
character response lexer and imaplib's per-line bookkeeping were most of the time the
import spent in Python. This sends the command on the same connection and reads the
answer straight from its buffered socket: a line, a literal of the announced size, the
line after it, and a small token grammar (numbers, atoms, quoted strings, NIL,
parenthesised lists, literals) that is everything a FETCH answer holds. Answers other
than FETCH (EXPUNGE, EXISTS, OK...) are skipped; a BYE or a tagged NO/BAD raises the
exceptions imapclient itself raises, so callers map errors exactly as before.

A server cannot make the reader hold more than it should: a literal above
``max_literal`` is refused unread (``LiteralTooLarge``, the connection is unusable
after it), and more than ``MAX_OTHER_LINES`` answers that are not FETCH ends the read
(``AnswerTooLong``). The deadline of the whole answer is the connection's guard
(``infrastructure.imapguard``), which these reads go through.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any, Final

from imapclient.exceptions import IMAPClientAbortError, IMAPClientError

from application.importports import MAX_MESSAGE_BYTES
from infrastructure.imapguard import AnswerTooLong, LiteralTooLarge

__all__ = ["MAX_OTHER_LINES", "fetch_uids", "uid_set"]

# One token of a FETCH answer's text (literals are announced at a line's end).
_TOKEN: Final = re.compile(
    rb' *(?:(?P<open>\()|(?P<close>\))|"(?P<quoted>(?:[^"\\]|\\.)*)"'
    rb'|\{(?P<literal>\d+)\}$|(?P<atom>[^ ()"{]+))'
)
_UNTAGGED: Final = re.compile(rb"\* (\d+) FETCH \(")
_UNQUOTE: Final = re.compile(rb"\\(.)")
# "* n FETCH (UID u [NAME number | FLAGS (atoms) | INTERNALDATE "date"]... BODY[...] {n}"
# then ")": what Dovecot and most servers send for our items; anything else is read
# by the token grammar.
_SIMPLE: Final = re.compile(
    rb"\* \d+ FETCH \(UID (\d+)((?: [A-Z0-9.]+ (?:\d+|\([^()\"{}]*\)|\"[^\"\\]*\"))*"
    rb" BODY\[[A-Z]*\]) \{(\d+)\}$",
    re.IGNORECASE,
)
_SIMPLE_ITEM: Final = re.compile(
    rb' ([A-Z0-9.]+) (?:(\d+)|\(([^()"{}]*)\)|"([^"\\]*)")', re.IGNORECASE
)
_MAX_DEPTH: Final = 8
# Untagged answers other than FETCH (EXISTS, EXPUNGE, OK...) one FETCH may carry.
MAX_OTHER_LINES: Final = 10_000


def uid_set(uids: Sequence[int]) -> bytes:
    """The UIDs as an IMAP sequence set, runs of consecutive UIDs as ``a:b``."""
    parts: list[str] = []
    ordered = sorted(set(uids))
    start = prev = ordered[0]
    for uid in ordered[1:]:
        if uid == prev + 1:
            prev = uid
            continue
        parts.append(f"{start}:{prev}" if prev != start else str(start))
        start = prev = uid
    parts.append(f"{start}:{prev}" if prev != start else str(start))
    return ",".join(parts).encode("ascii")


class _Reader:
    """The answer lines of one command, literals spliced in as tokens."""

    def __init__(self, imap: Any, max_literal: int) -> None:  # noqa: ANN401 - imaplib.IMAP4 is untyped here
        self.imap = imap
        self.max_literal = max_literal

    def line(self) -> bytes:
        line: bytes = self.imap.readline()
        if not line:
            raise IMAPClientAbortError("socket error: EOF")
        if not line.endswith(b"\r\n"):
            raise IMAPClientAbortError("socket error: unterminated line")
        return line[:-2]

    def literal(self, size: int) -> bytes:
        if size > self.max_literal:
            raise LiteralTooLarge(size, self.max_literal)
        data: bytes = self.imap.read(size)
        if len(data) != size:
            raise IMAPClientAbortError("socket error: EOF in a literal")
        return data

    def values(self, text: bytes, stack: list[list[Any]] | None = None) -> list[Any]:
        """The parenthesised list that ``text`` opens (or that ``stack`` holds open),
        read on over literals and lines."""
        stack = [] if stack is None else stack  # else text[0] opens the answer
        pos = 0
        while True:
            match = _TOKEN.match(text, pos)
            if match is None or match.end() == pos:
                if text[pos:].strip(b" "):
                    raise IMAPClientError(
                        f"unreadable FETCH answer near {text[pos : pos + 40]!r}"
                    )
                raise IMAPClientError("unterminated FETCH answer")
            pos = match.end()
            kind = match.lastgroup
            if kind == "open":
                if len(stack) > _MAX_DEPTH:
                    raise IMAPClientError("FETCH answer nested too deep")
                stack.append([])
            elif not stack:
                raise IMAPClientError("FETCH answer without its list")
            elif kind == "close":
                done = stack.pop()
                if not stack:
                    return done
                stack[-1].append(done)
            else:
                text, pos = self._scalar(match, stack[-1], text, pos)

    def _scalar(
        self, match: re.Match[bytes], into: list[Any], text: bytes, pos: int
    ) -> tuple[bytes, int]:
        """Append a string, literal or atom; where reading goes on (a literal ends the
        line: the next one follows it)."""
        kind = match.lastgroup
        if kind == "quoted":
            into.append(_UNQUOTE.sub(rb"\1", match.group("quoted")))
        elif kind == "literal":
            into.append(self.literal(int(match.group("literal"))))
            return self.line(), 0
        else:
            atom = match.group("atom")
            into.append(None if atom.upper() == b"NIL" else atom)
        return text, pos


def _items(values: list[Any]) -> dict[bytes, Any]:
    """``NAME value`` pairs, names upper-cased (``BODY[HEADER]``, ``RFC822.SIZE``...)."""
    if len(values) % 2:
        raise IMAPClientError("odd FETCH item list")
    items: dict[bytes, Any] = {}
    for index in range(0, len(values), 2):
        name = values[index]
        if not isinstance(name, bytes):
            raise IMAPClientError("FETCH item without a name")
        items[name.upper()] = values[index + 1]
    return items


def fetch_uids(
    client: Any,  # noqa: ANN401 - imapclient is untyped
    uids: Sequence[int],
    items: Sequence[str],
    *,
    max_literal: int = MAX_MESSAGE_BYTES,
) -> dict[int, dict[bytes, Any]]:
    """``UID FETCH`` of ``uids``: each wanted UID's items (strays and answers without a
    UID dropped; two answers for one UID merged). Values are raw: bytes for atoms,
    strings and literals, lists for parenthesised ones, None for NIL."""
    if not uids:
        return {}
    imap = client._imap  # noqa: SLF001 - the connection imapclient itself talks on
    wanted = set(uids)
    tag: bytes = imap._new_tag()  # noqa: SLF001 - keeps imaplib's tag sequence
    imap.tagged_commands.pop(tag, None)
    command = b"%s UID FETCH %s (%s)\r\n" % (
        tag,
        uid_set(uids),
        " ".join(items).encode("ascii"),
    )
    imap.send(command)
    reader = _Reader(imap, max_literal)
    found: dict[int, dict[bytes, Any]] = {}
    others = 0
    while True:
        line = reader.line()
        if line.startswith(tag + b" "):
            status, _, said = line[len(tag) + 1 :].partition(b" ")
            if status.upper() != b"OK":
                text = said.decode("utf-8", "replace")
                raise IMAPClientError(f"FETCH command error: {status.decode()} {text}")
            return found
        if line.startswith(b"* BYE"):
            raise IMAPClientAbortError(line[2:].decode("utf-8", "replace"))
        fetched = _answer(reader, line)
        if fetched is None:
            others += 1
            if others > MAX_OTHER_LINES:
                raise AnswerTooLong(
                    f"the server sent more than {MAX_OTHER_LINES} other answers in a FETCH"
                )
        uid = None if fetched is None else fetched.get(b"UID")
        if isinstance(uid, bytes) and uid.isdigit() and int(uid) in wanted:
            found.setdefault(int(uid), {}).update(fetched or {})


def _answer(reader: _Reader, line: bytes) -> dict[bytes, Any] | None:
    """The items of a FETCH answer that ``line`` starts; None for any other answer."""
    simple = _SIMPLE.match(line)
    if simple is None:
        head = _UNTAGGED.match(line)
        if head is None:
            if line.endswith(b"}"):  # an unexpected answer with a literal: skip it
                _skip_literals(reader, line)
            return None
        return _items(reader.values(line[head.end() - 1 :]))
    # The usual shape, read without the token grammar.
    fetched = _simple_items(simple.group(2))
    fetched[b"UID"] = simple.group(1)
    name = simple.group(2).rpartition(b" ")[2].upper()
    fetched[name] = reader.literal(int(simple.group(3)))
    rest = reader.line()
    if rest == b")":
        return fetched
    # More items after the literal: the grammar reads on, inside the open list.
    pairs = [part for pair in fetched.items() for part in pair]
    return _items(reader.values(rest, [pairs]))


def _simple_items(text: bytes) -> dict[bytes, Any]:
    """The items before the literal of a ``_SIMPLE`` answer, as the grammar reads them."""
    items: dict[bytes, Any] = {}
    for match in _SIMPLE_ITEM.finditer(text):
        name, number, listed, quoted = match.groups()
        if number is not None:
            items[name.upper()] = number
        elif listed is not None:
            items[name.upper()] = [
                None if atom.upper() == b"NIL" else atom for atom in listed.split()
            ]
        else:
            items[name.upper()] = quoted
    return items


def _skip_literals(reader: _Reader, line: bytes) -> None:
    while True:
        match = re.search(rb"\{(\d+)\}$", line)
        if match is None:
            return
        reader.literal(int(match.group(1)))
        line = reader.line()
