"""Hostile input on the LMTP wire: the right status, bounded memory, nothing half-recorded.

A real ``mailhost lmtp`` process (replies go to its outbox); its memory is read from
/proc after the attack, never timed.
"""

from __future__ import annotations

import random
import socket
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from tests.integration.lmtpsupport import (
    INFO,
    SeededHome,
    decided,
    message,
    quietly_close,
    transaction,
)

if TYPE_CHECKING:
    from tests.integration.lmtpsupport import RunningListener

MIB = 1024 * 1024
LIMIT = MIB


@pytest.fixture
def seeded(tmp_path: Path) -> SeededHome:
    return SeededHome.create(tmp_path)


def _still_serves(running: RunningListener, sender: str) -> None:
    lmtp = running.client()
    [reply] = transaction(lmtp, sender, [INFO], message(sender, "check"))
    assert decided(INFO, reply)["reply"] is True
    quietly_close(lmtp)


def _greeting(sock: socket.socket) -> bytes:
    data = b""
    while not data.endswith(b"\r\n"):
        chunk = sock.recv(4096)
        if not chunk:
            break
        data += chunk
    return data


def test_over_size_is_552_per_recipient_and_memory_stays_bounded(
    seeded: SeededHome,
) -> None:
    # RFC 1870: SIZE advertised and enforced while reading; RFC 2033 section 4.2
    before = seeded.events()
    with seeded.listener("--max-size", str(LIMIT)) as running:
        lmtp = running.client()
        assert f"SIZE {LIMIT}".encode() in lmtp.docmd("LHLO", "mta.test")[1]
        # A declared size over the limit is refused at MAIL.
        code, _ = lmtp.docmd(f"MAIL FROM:<big@example.net> SIZE={LIMIT + 1}")
        assert code == 552
        baseline = running.rss_kib()
        assert lmtp.docmd("MAIL FROM:<big@example.net>")[0] == 250
        assert lmtp.docmd(f"RCPT TO:<{INFO}>")[0] == 250
        assert lmtp.docmd("RCPT TO:<other@example.org>")[0] == 250
        assert lmtp.docmd("DATA")[0] == 354
        lmtp.send(message("big@example.net", 1, body=b""))
        line = b"x" * 998 + b"\r\n"
        block = line * 1024  # about 1 MB
        for _ in range(50):
            lmtp.send(block)
        lmtp.send(b"y" * (3 * MIB) + b"\r\n")  # one line far longer than any limit
        lmtp.send(b".\r\n")
        replies = [lmtp.getreply() for _ in range(2)]
        assert [code for code, _ in replies] == [552, 552]
        assert replies[0][1].startswith(f"5.3.4 <{INFO}>".encode())
        grown = running.rss_kib() - baseline
        assert grown < 20 * 1024, f"the listener grew by {grown} KiB reading 53 MB"
        _still_serves(running, "after-big@example.net")
        quietly_close(lmtp)
    assert seeded.events() > before  # the check above recorded; the 552 did not:
    assert len(seeded.outbox()) == 1


def test_malformed_envelope_gets_its_status_and_the_session_goes_on(
    seeded: SeededHome,
) -> None:
    # RFC 5321 section 4.1.1, RFC 2033 section 4.1 (LHLO, not HELO/EHLO)
    before = seeded.events()
    with seeded.listener() as running:
        lmtp = running.client()
        assert lmtp.docmd("HELO", "x")[0] == 500
        assert lmtp.docmd("EHLO", "x")[0] == 500
        assert lmtp.docmd(f"RCPT TO:<{INFO}>")[0] == 503  # no MAIL yet
        assert lmtp.docmd("DATA")[0] == 503
        assert lmtp.docmd("MAIL FROM:<a\x1b[31m@example.net>")[0] in {501, 553}
        assert lmtp.docmd("MAIL FROM:<" + "a" * 300 + "@example.net>")[0] in {500, 553}
        assert lmtp.docmd("MAIL FROM:<bob@example.net>")[0] == 250
        assert lmtp.docmd("MAIL FROM:<bob@example.net>")[0] == 503  # nested
        assert lmtp.docmd("RCPT TO:<no-at-sign>")[0] == 553
        assert lmtp.docmd("RCPT TO:<a@b@c>")[0] == 553
        assert lmtp.docmd("RCPT TO:<x\x00y@example.org>")[0] == 553
        assert lmtp.docmd("DATA")[0] == 503  # no accepted recipient
        assert lmtp.docmd("X" * 5000)[0] == 500  # an over-long command line
        assert lmtp.docmd("RSET")[0] == 250
        [reply] = transaction(
            lmtp, "bob@example.net", [INFO], message("bob@example.net", 1)
        )
        assert decided(INFO, reply)["reply"] is True
        # A sender without a domain is the decision's to judge: no reply (RSP-7).
        [reply] = transaction(lmtp, "bob", [INFO], message("bob", 2))
        assert decided(INFO, reply)["check"] == "invalid-sender"
        quietly_close(lmtp)
        assert "\x1b" not in running.output()
    assert seeded.events() > before
    assert len(seeded.outbox()) == 1


def test_too_many_recipients_is_452(seeded: SeededHome) -> None:
    # RFC 5321 section 4.5.3.1.8: 100 recipients taken, the rest 452
    with seeded.listener() as running:
        lmtp = running.client()
        assert lmtp.docmd("MAIL FROM:<bob@example.net>")[0] == 250
        codes = [lmtp.docmd(f"RCPT TO:<r{n}@example.org>")[0] for n in range(101)]
        assert codes == [250] * 100 + [452]
        quietly_close(lmtp)


def test_binary_garbage_costs_nothing_and_records_nothing(seeded: SeededHome) -> None:
    before = seeded.events()
    noise = random.Random(13)  # noqa: S311 - noise, not a secret
    with seeded.listener() as running:
        for round_ in range(20):
            sock = running.raw_socket()
            assert _greeting(sock).startswith(b"220 ")
            garbage = noise.randbytes(noise.randrange(1, 200_000))
            if round_ % 2:
                garbage = garbage.replace(b"\n", b"\r\n")
            sock.settimeout(30)
            try:
                sock.sendall(garbage)
                sock.shutdown(socket.SHUT_WR)
                while sock.recv(65536):
                    pass
            except OSError:
                pass  # the listener may close first: what it must not do is fall over
            finally:
                sock.close()
        assert running.proc.poll() is None
        assert seeded.events() == before
        _still_serves(running, "after-garbage@example.net")
    assert len(seeded.outbox()) == 1


def test_a_client_that_stops_mid_data_records_nothing(seeded: SeededHome) -> None:
    before = seeded.events()
    with seeded.listener() as running:
        for cut in (10, 200):
            lmtp = running.client()
            assert lmtp.docmd("MAIL FROM:<gone@example.net>")[0] == 250
            assert lmtp.docmd(f"RCPT TO:<{INFO}>")[0] == 250
            assert lmtp.docmd("DATA")[0] == 354
            lmtp.send(message("gone@example.net", 1)[:cut])
            lmtp.close()  # no final dot: the message never ended
        # The next session is served only after the listener has read the two ends.
        _still_serves(running, "next@example.net")
        assert seeded.events() > before
    replies = seeded.outbox()
    assert len(replies) == 1
    assert (
        b"gone@example.net" not in replies[0].with_suffix(".envelope.json").read_bytes()
    )


def test_a_thousand_idle_connections_cost_bounded_memory_and_the_next_hears_421(
    seeded: SeededHome,
) -> None:
    # RFC 5321 section 3.8: a server may refuse a session with 421
    with seeded.listener("--max-connections", "1000") as running:
        baseline = running.rss_kib()
        idle = []
        try:
            for _ in range(1000):
                sock = running.raw_socket()
                assert _greeting(sock).startswith(b"220 ")
                idle.append(sock)
            grown = running.rss_kib() - baseline
            assert grown < 100 * 1024, f"1,000 idle sessions cost {grown} KiB"
            extra = running.raw_socket()
            assert _greeting(extra).startswith(b"421 4.3.2")
            extra.close()
            idle.pop().close()
            # The freed slot is taken once the listener has seen that close.
            while True:
                sock = running.raw_socket()
                if _greeting(sock).startswith(b"220 "):
                    sock.close()
                    break
                sock.close()
        finally:
            for sock in idle:
                sock.close()
        _still_serves(running, "after-idle@example.net")
