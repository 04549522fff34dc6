"""The FETCH reader of the import: what a server may answer, read as imapclient would."""

from __future__ import annotations

import io
from typing import Any

import pytest
from imapclient.exceptions import IMAPClientAbortError, IMAPClientError

from infrastructure.imapfetch import fetch_uids, uid_set


class _Imap:
    """Just what fetch_uids uses of imaplib.IMAP4: a tag, send, readline, read."""

    def __init__(self, answer: bytes) -> None:
        self.file = io.BytesIO(answer)
        self.sent: list[bytes] = []
        self.tagged_commands: dict[bytes, Any] = {}

    def _new_tag(self) -> bytes:
        self.tagged_commands[b"T1"] = None
        return b"T1"

    def send(self, data: bytes) -> None:
        self.sent.append(data)

    def readline(self) -> bytes:
        return self.file.readline()

    def read(self, size: int) -> bytes:
        return self.file.read(size)


class _Client:
    def __init__(self, answer: bytes) -> None:
        self._imap = _Imap(answer)


def _fetch(answer: bytes, uids: list[int]) -> dict[int, dict[bytes, Any]]:
    return fetch_uids(_Client(answer), uids, ["BODY.PEEK[]", "FLAGS"])


def test_uid_sets_join_runs() -> None:
    assert uid_set([5, 1, 2, 3, 7, 8, 10]) == b"1:3,5,7:8,10"
    assert uid_set([4]) == b"4"


def test_the_usual_answer_and_one_with_items_after_the_literal() -> None:
    answer = (
        b'* 1 FETCH (UID 7 FLAGS (\\Seen $Work) INTERNALDATE "01-Jan-2001 10:00:00 +0000"'
        b" RFC822.SIZE 5 BODY[] {5}\r\nhello)\r\n"
        b"* 2 FETCH (UID 8 BODY[] {3}\r\nabc FLAGS (NIL \\Flagged) BODY[HEADER] {2}\r\n"
        b"ab)\r\n"
        b"* 3 EXPUNGE\r\n"
        b"T1 OK done\r\n"
    )
    client = _Client(answer)
    found = fetch_uids(client, [7, 8], ["BODY.PEEK[]"])
    assert client._imap.sent == [b"T1 UID FETCH 7:8 (BODY.PEEK[])\r\n"]
    assert found[7] == {
        b"UID": b"7",
        b"FLAGS": [b"\\Seen", b"$Work"],
        b"INTERNALDATE": b"01-Jan-2001 10:00:00 +0000",
        b"RFC822.SIZE": b"5",
        b"BODY[]": b"hello",
    }
    assert found[8] == {
        b"UID": b"8",
        b"BODY[]": b"abc",
        b"FLAGS": [None, b"\\Flagged"],
        b"BODY[HEADER]": b"ab",
    }


def test_the_grammar_reads_other_orders_quoted_bodies_and_merges_answers() -> None:
    answer = (
        b'* 1 FETCH (FLAGS () BODY[] "a \\"q\\" b" UID 3)\r\n'
        b"* 1 FETCH (UID 3 FLAGS (\\Seen))\r\n"
        b"* 9 FETCH (UID 99 BODY[] {1}\r\nx)\r\n"  # a stray: not asked for
        b"* 2 FETCH (FLAGS (\\Seen))\r\n"  # no UID: unsolicited
        b"T1 OK done\r\n"
    )
    assert _fetch(answer, [3]) == {
        3: {b"FLAGS": [b"\\Seen"], b"BODY[]": b'a "q" b', b"UID": b"3"}
    }


@pytest.mark.parametrize(
    ("answer", "error"),
    [
        (b"T1 NO [NONEXISTENT] gone\r\n", IMAPClientError),
        (b"* BYE shutting down\r\n", IMAPClientAbortError),
        (b"* 1 FETCH (UID 1 BODY[] {10}\r\nabc", IMAPClientAbortError),
        (b"* 1 FETCH (UID 1 BODY[] {3}\r\nabc", IMAPClientAbortError),
        (b"* 1 FETCH (UID 1 FLAGS (\\Seen)\r\nT1 OK\r\n", IMAPClientError),
        (b"* 1 FETCH (UID 1 FLAGS)\r\nT1 OK\r\n", IMAPClientError),
        (b"", IMAPClientAbortError),
    ],
)
def test_refusals_and_broken_answers_raise_what_imapclient_raises(
    answer: bytes, error: type[Exception]
) -> None:
    with pytest.raises(error):
        _fetch(answer, [1])
