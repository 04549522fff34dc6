"""``mailhost lmtp --processes N``: a decider that dies costs its clients a 421, not silence.

A real listener with two deciders; the deciders are found as the listener's children
running ``infrastructure.lmtpdecider`` and killed by their own pids.
"""

from __future__ import annotations

import os
import signal
import smtplib
import time
from pathlib import Path
from typing import TYPE_CHECKING

from infrastructure.lmtpdecider import CODE
from tests.integration import lmtpsupport as support

if TYPE_CHECKING:
    from tests.integration.lmtpsupport import RunningListener
    from tests.servers import SmtpSink

RESTART_TIMEOUT_S = 120.0


def deciders(running: RunningListener) -> list[int]:
    """The pids of the listener's decider processes now."""
    listed = Path(f"/proc/{running.pid}/task/{running.pid}/children").read_text()
    found = []
    for pid in map(int, listed.split()):
        with_args = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        if CODE.encode() in with_args:
            found.append(pid)
    return found


def _served_again(running: RunningListener) -> smtplib.LMTP:
    """A greeted client, once a decider is ready again (the parent says 421 till then)."""
    deadline = time.monotonic() + RESTART_TIMEOUT_S
    while True:
        try:
            return running.client()
        except (AssertionError, smtplib.SMTPException, OSError):
            assert time.monotonic() < deadline, running.output()
            time.sleep(0.2)


def test_a_dead_decider_says_421_and_is_started_again(
    tmp_path: Path, smtp: SmtpSink
) -> None:
    seeded = support.SeededHome.create(tmp_path, {"MAILHOST_SMTP_URL": smtp.url})
    with seeded.listener("--processes", "2") as running:
        before = deciders(running)
        assert len(before) == 2
        client = running.client()
        assert client.docmd("MAIL FROM:<gus@example.net>")[0] == 250
        assert client.docmd(f"RCPT TO:<{support.INFO}>")[0] == 250
        assert client.docmd("DATA")[0] == 354
        client.send(support.dot_stuffed(support.message("gus@example.net", 1))[:20])
        for pid in before:  # whichever holds the session, it dies
            os.kill(pid, signal.SIGKILL)
        code, text = client.getreply()
        assert (code, text[:5]) == (421, b"4.3.0")  # the MTA tries again later
        support.quietly_close(client)
        again = _served_again(running)
        [reply] = support.transaction(
            again,
            "gus@example.net",
            [support.INFO],
            support.message("gus@example.net", 1),
        )
        assert (
            support.decided(support.INFO, reply)["reply"] is True
        )  # nothing was recorded before
        support.quietly_close(again)
        assert set(deciders(running)).isdisjoint(before)
        smtp.wait_for(1)
        assert running.terminate() == 0
    assert "starting it again" in running.output()
    assert len(smtp.messages) == 1
