"""The thin client's LMTP client (``infrastructure.lmtpclient``), on real sockets.

Against a scripted server (a thread on 127.0.0.1 that replies what each test says:
multi-line replies, 4xx, a connection dropped mid-reply, a line without end) and
against the real ``mailhost lmtp`` process. Reply grammar: RFC 5321 section 4.2;
dot-stuffing: section 4.5.2; one reply per recipient after DATA: RFC 2033 section 4.2.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from infrastructure import entrypoint
from infrastructure.lmtpclient import (
    MAX_LINE,
    MAX_LINES,
    Client,
    LmtpError,
    crlf,
    dot_stuffed,
    extensions,
    reply_line,
)
from infrastructure.lmtpwire import parse_decided
from tests.integration.lmtpsupport import (
    INFO,
    REPO,
    SeededHome,
    message,
)

TIMEOUT_S = 30.0
# One step of a script: the server reads one line (None: reads nothing), then sends
# the bytes (None: closes the connection).
Step = tuple[bool, bytes | None]


class Scripted:
    """A one-connection server that plays a script and records the lines it read."""

    def __init__(self, script: list[Step]) -> None:
        self.script = script
        self.read: list[bytes] = []
        self._server = socket.create_server(("127.0.0.1", 0))
        self.port: int = self._server.getsockname()[1]
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        conn, _ = self._server.accept()
        with conn, conn.makefile("rb") as lines:
            for reads, send in self.script:
                if reads:
                    self.read.append(lines.readline())
                if send is None:
                    return
                conn.sendall(send)
            lines.read()  # until the client closes

    def stop(self) -> None:
        self._thread.join(TIMEOUT_S)
        self._server.close()


@contextmanager
def scripted(*script: Step) -> Iterator[tuple[Scripted, Client]]:
    server = Scripted(list(script))
    client = Client.connect(("127.0.0.1", server.port), TIMEOUT_S)
    try:
        yield server, client
    finally:
        client.close()
        server.stop()


def test_a_multi_line_reply_is_one_reply() -> None:
    # RFC 5321 section 4.2.1: "250-" lines continue, "250 " ends; text as smtplib's
    lhlo = b"250-mx.test\r\n250-SIZE 1000\r\n250-PIPELINING\r\n250 SMTPUTF8\r\n"
    with scripted((False, b"220 mx.test LMTP\r\n"), (True, lhlo)) as (server, client):
        assert client.reply().code == 220
        hello = client.command("LHLO here")
        assert (hello.code, hello.lines[0]) == (250, "mx.test")
        assert extensions(hello) == {"size": "1000", "pipelining": "", "smtputf8": ""}
    assert server.read == [b"LHLO here\r\n"]


def test_a_bare_code_and_a_bare_lf_end_a_reply() -> None:
    # section 4.2: the text is optional; a sloppy peer's LF alone still ends the line
    with scripted((False, b"250\n")) as (_, client):
        reply = client.reply()
        assert (reply.code, reply.text) == (250, "")


def test_a_temporary_failure_is_a_reply_not_an_error() -> None:
    # section 4.2.1: 4yz is transient; the caller decides what it means
    script = ((False, b"220 ok\r\n"), (True, b"451 4.3.0 try again later\r\n"))
    with scripted(*script) as (_, client):
        client.reply()
        reply = client.command("MAIL FROM:<a@x.test>")
        assert (reply.code, reply.text) == (451, "4.3.0 try again later")


@pytest.mark.parametrize(
    "reply",
    [
        b"250-first\r\n451 second\r\n",  # codes differ within one reply
        b"25x oops\r\n",
        b"hello\r\n",
        b"999 not a code\r\n",
        b"250_text\r\n",
    ],
)
def test_a_broken_reply_is_a_protocol_error(reply: bytes) -> None:
    with scripted((False, reply)) as (_, client), pytest.raises(LmtpError):
        client.reply()


def test_a_connection_dropped_mid_reply_is_a_protocol_error() -> None:
    # the listener went away: the caller's EX_TEMPFAIL, never a hang
    dropped = ((False, b"250-half a reply\r\n250-"), (False, None))
    with scripted(*dropped) as (_, client), pytest.raises(LmtpError, match="closed"):
        client.reply()


def test_a_reply_that_never_ends_is_bounded() -> None:
    # a line longer than MAX_LINE, or more than MAX_LINES lines: an error, not memory
    endless = b"250 " + b"x" * (MAX_LINE * 4)
    with (
        scripted((False, endless)) as (_, client),
        pytest.raises(LmtpError, match="long"),
    ):
        client.reply()
    many = b"250-x\r\n" * (MAX_LINES + 1)
    with (
        scripted((False, many)) as (_, client),
        pytest.raises(LmtpError, match="lines"),
    ):
        client.reply()


def test_data_sends_the_message_dot_stuffed_in_one_transaction() -> None:
    # section 4.5.2: a leading "." doubled, then CRLF "." CRLF; DATA refused: no body
    script = ((True, b"354 go ahead\r\n"), (False, b"250 2.0.0 <a@x> done\r\n"))
    with scripted(*script) as (server, client):
        reply = client.data(b".hidden\r\nline\r\n..two\r\nlast")
        assert (reply.code, reply.text) == (250, "2.0.0 <a@x> done")
    assert server.read == [b"DATA\r\n"]
    with scripted((True, b"503 5.5.1 need RCPT\r\n")) as (server, client):
        assert client.data(b"never sent\r\n").code == 503


def test_pipelined_commands_go_in_one_write_and_replies_come_in_order() -> None:
    # RFC 2920 section 3.1: MAIL, RCPT and DATA in one group, DATA last
    script = (
        (True, b"250 2.1.0 ok\r\n"),
        (True, b"250 2.1.5 ok\r\n"),
        (True, b"354 go ahead\r\n"),
    )
    with scripted(*script) as (server, client):
        replies = client.pipelined(["MAIL FROM:<a@x>", "RCPT TO:<b@x>", "DATA"])
        assert [reply.code for reply in replies] == [250, 250, 354]
    assert server.read == [b"MAIL FROM:<a@x>\r\n", b"RCPT TO:<b@x>\r\n", b"DATA\r\n"]


LHLO = b"250-mx.test\r\n250-PIPELINING\r\n250-SIZE 1000\r\n250 8BITMIME\r\n"


PIPE = (sys.executable, "-S", str(REPO / "infrastructure" / "mtapipe.py"))


def deliver_to(
    *after_lhlo: Step,
) -> tuple[subprocess.CompletedProcess[bytes], list[bytes]]:
    """``mailhost deliver`` (the fastest start) at a scripted server that greets, answers
    LHLO, then plays ``after_lhlo``; the outcome and the lines the server read."""
    server = Scripted([(False, b"220 mx.test\r\n"), (True, LHLO), *after_lhlo])
    env = {**os.environ, "MAILHOST_LMTP": f"127.0.0.1:{server.port}"}
    result = subprocess.run(
        [*PIPE, "deliver", "--recipient", "b@x.test", "--sender", "a@x.test"],
        input=b"Subject: hi\r\n\r\nbody\r\n",
        capture_output=True,
        env=env,
        timeout=TIMEOUT_S,
        check=False,
    )
    server.stop()
    return result, server.read


def test_a_temporary_refusal_of_mail_exits_tempfail() -> None:
    # RFC 5321 section 4.2.1: 4yz, nothing decided: EX_TEMPFAIL, the MTA retries
    result, read = deliver_to(
        (True, b"451 4.3.0 store unreachable\r\n"),
        (True, b"503 5.5.1 no sender\r\n"),
        (True, b"503 5.5.1 no recipient\r\n"),
        (True, b"221 bye\r\n"),
    )
    assert result.returncode == entrypoint.EX_TEMPFAIL, result.stderr
    assert result.stderr.startswith(
        b"mailhost: temporary failure, nothing decided: 4.3.0"
    )
    assert read[-1] == b"QUIT\r\n"


def test_a_354_after_a_refused_recipient_ends_an_empty_message() -> None:
    # RFC 2920 section 3.1 forbids it; if a server does, nothing of the message is sent
    result, read = deliver_to(
        (True, b"250 2.1.0 ok\r\n"),
        (True, b"550 5.1.1 <b@x.test> unknown address\r\n"),
        (True, b"354 go ahead anyway\r\n"),
        (True, b"554 5.5.1 no valid recipients\r\n"),
        (True, b"221 bye\r\n"),
    )
    assert result.returncode == entrypoint.EX_NOUSER, result.stderr
    assert read[-2:] == [b".\r\n", b"QUIT\r\n"]
    assert read[1].startswith(b"MAIL FROM:<a@x.test> SIZE=")


def test_the_wire_form_of_a_message() -> None:
    assert crlf(b"a\nb\rc\r\nd\r\r\n") == b"a\r\nb\r\nc\r\nd\r\n\r\n"
    assert dot_stuffed(b".a\r\n.\r\nb") == b"..a\r\n..\r\nb\r\n.\r\n"
    assert dot_stuffed(b"") == b".\r\n"
    assert reply_line(b"250-SIZE 10") == (250, True, "SIZE 10")


def test_only_ip_literals_are_connected_to() -> None:
    # a name would be resolved at connect: the listener's address is never a name
    with pytest.raises(ValueError, match="not an IP"):
        Client.connect(("localhost", 24), TIMEOUT_S)


def test_a_real_listener_answers_the_dialogue(tmp_path: Path) -> None:
    # RFC 2033 section 4.2: one reply per accepted recipient after DATA, the decision
    where = ("--socket", str(tmp_path / "lmtp.sock"))
    with SeededHome.create(tmp_path).listener(where=where) as running:
        client = Client.connect(running.listen.removeprefix("unix:"), TIMEOUT_S)
        try:
            assert client.reply().code == 220
            offered = extensions(client.command("LHLO client.test"))
            assert {"size", "pipelining", "8bitmime"} <= offered.keys()
            assert client.command("MAIL FROM:<hal@example.net>").code == 250
            assert client.command(f"RCPT TO:<{INFO}>").code == 250
            reply = client.data(crlf(message("hal@example.net", 1)))
            assert reply.code == 250, reply
            assert parse_decided(INFO, reply.text)["reply"] is True
            assert client.command("QUIT").code == 221
        finally:
            client.close()
        assert running.terminate() == 0
