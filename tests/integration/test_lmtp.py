"""``mailhost lmtp`` as an MTA sees it: a real listener process, replies at the real sink.

Each test starts the console script on a port the kernel picks (or a unix socket) with
the SMTP sink as its mail server, so a decided reply really leaves by the listener's own
relay and is counted by its Message-ID.
"""

from __future__ import annotations

import socket
import stat
import threading
from collections import Counter
from typing import TYPE_CHECKING

import psycopg
import pytest
from psycopg import sql

from infrastructure.cli import main
from infrastructure.lmtpwire import MAX_REPLY_LINE, decided_reply, parse_decided
from tests.integration.lmtpsupport import (
    INFO,
    SeededHome,
    decided,
    dot_stuffed,
    message,
    quietly_close,
    transaction,
)

if TYPE_CHECKING:
    from pathlib import Path

    from tests.servers import RunningPostgres, SmtpSink

UNKNOWN = "nobody@example.org"


@pytest.fixture
def seeded(tmp_path: Path, smtp: SmtpSink) -> SeededHome:
    """A home where info@example.org answers everyone, its replies sent to the sink."""
    return SeededHome.create(tmp_path, {"MAILHOST_SMTP_URL": smtp.url})


def test_one_reply_per_recipient_mixed_outcomes(
    smtp: SmtpSink, seeded: SeededHome
) -> None:
    # RFC 2033 section 4.2: one reply per accepted RCPT, in RCPT order; rule RSP-4
    with seeded.listener() as running:
        lmtp = running.client()
        first = transaction(
            lmtp,
            "bob@example.net",
            [INFO, UNKNOWN, "not an address"],
            message("bob@example.net", 1),
        )
        # The malformed RCPT is refused at RCPT time and gets no reply after DATA.
        assert first[0][0] == 553
        assert first[0][1].startswith("5.1.3")
        answer = decided(INFO, first[1])
        assert answer["reply"] is True
        assert answer["check"] == "reply"
        assert answer["rule"] == "RSP-4"
        assert answer["queued"] is True
        unknown = decided(UNKNOWN, first[2])
        assert unknown["reply"] is False
        assert unknown["check"] == "unknown-address"
        assert len(first) == 3
        # The same sender again in the same connection: its window holds (RSP-4).
        again = transaction(
            lmtp, "bob@example.net", [INFO], message("bob@example.net", 2)
        )
        assert decided(INFO, again[0])["check"] == "replied-recently"
        quietly_close(lmtp)
        [sent] = smtp.wait_for(1)
        assert sent.message["Message-ID"] == answer["message_id"]
        assert sent.rcpt_tos == ["bob@example.net"]
        assert sent.message["Auto-Submitted"] == "auto-replied"
        assert running.terminate() == 0
    assert len(smtp.messages) == 1
    assert "Hello." not in running.output()  # never a message body in the log


def test_unix_socket_replaces_a_stale_one_and_is_0660(
    tmp_path: Path, smtp: SmtpSink, seeded: SeededHome
) -> None:
    path = tmp_path / "lmtp.sock"
    stale = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    stale.bind(str(path))
    stale.close()  # a crashed listener's socket file: nobody answers on it
    with seeded.listener(where=("--socket", str(path))) as running:
        assert running.listen == f"unix:{path}"
        assert stat.S_IMODE(path.stat().st_mode) == 0o660
        lmtp = running.client()
        [reply] = transaction(
            lmtp, "carol@example.net", [INFO], message("carol@example.net", 1)
        )
        assert decided(INFO, reply)["reply"] is True
        quietly_close(lmtp)
        smtp.wait_for(1)
        assert running.terminate() == 0
    assert not path.exists()
    assert not running.ready_file.exists()


def test_a_live_socket_is_never_taken_over(tmp_path: Path, seeded: SeededHome) -> None:
    path = tmp_path / "lmtp.sock"
    with seeded.listener(where=("--socket", str(path))) as running:
        second = seeded.listener(where=("--socket", str(path)))
        with pytest.raises(AssertionError, match="already running"), second:
            pass
        lmtp = running.client()  # the first listener still answers on its socket
        quietly_close(lmtp)


def test_reject_unknown_says_550(seeded: SeededHome) -> None:
    with seeded.listener("--reject-unknown") as running:
        lmtp = running.client()
        replies = transaction(
            lmtp, "dan@example.net", [UNKNOWN, INFO], message("dan@example.net", 1)
        )
        assert replies[0] == (550, f"5.1.1 <{UNKNOWN}> unknown address")
        assert decided(INFO, replies[1])["reply"] is True
        quietly_close(lmtp)


@pytest.mark.parametrize("processes", ["1", "2"])
def test_four_connections_one_reply_per_sender_window(
    tmp_path: Path, smtp: SmtpSink, processes: str
) -> None:
    # rule RSP-9: concurrent decisions for one sender record one reply, in one
    # process or across deciders (issue 13: the peer sent 101 duplicates); rule RSP-4
    seeded = SeededHome.create(
        tmp_path,
        {"MAILHOST_SMTP_URL": smtp.url, "MAILHOST_RESPONDER_HOURLY_CAP": "1000"},
    )
    senders = [f"s{n}@example.net" for n in range(10)]
    results: list[list[dict[str, object]]] = [[] for _ in range(4)]
    errors: list[BaseException] = []

    def deliver(slot: int) -> None:
        try:
            lmtp = clients[slot]
            for n in range(50):
                sender = senders[n % len(senders)]
                raw = message(sender, f"{slot}-{n}")
                [reply] = transaction(lmtp, sender, [INFO], raw)
                results[slot].append(decided(INFO, reply))
            quietly_close(lmtp)
        except BaseException as e:  # noqa: BLE001 - reported by the test thread
            errors.append(e)

    with seeded.listener("--workers", "4", "--processes", processes) as running:
        clients = [running.client() for _ in range(4)]  # all open: spread evenly
        threads = [threading.Thread(target=deliver, args=(i,)) for i in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert not errors, errors
        everything = [d for slot in results for d in slot]
        assert len(everything) == 200
        replied = [d for d in everything if d["reply"]]
        assert sorted(str(d["to"]) for d in replied) == sorted(senders)
        assert {d["check"] for d in everything if not d["reply"]} == {
            "replied-recently"
        }
        smtp.wait_for(len(senders))
        assert running.terminate() == 0  # settles: every queued reply has left
    if processes == "2":  # two connections each: both decided
        assert "[decider 0]: info: decided" in running.output()
        assert "[decider 1]: info: decided" in running.output()
    ids = Counter(m.message["Message-ID"] for m in smtp.messages)
    assert len(ids) == len(senders)
    assert set(ids.values()) == {1}
    assert sorted(m.rcpt_tos[0] for m in smtp.messages) == sorted(senders)


def test_sigterm_lets_the_transaction_in_flight_finish(
    smtp: SmtpSink, seeded: SeededHome
) -> None:
    with seeded.listener() as running:
        lmtp = running.client()
        idle = running.client()
        assert lmtp.docmd("MAIL FROM:<erin@example.net>")[0] == 250
        assert lmtp.docmd(f"RCPT TO:<{INFO}>")[0] == 250
        assert lmtp.docmd("DATA")[0] == 354
        data = dot_stuffed(message("erin@example.net", 1))
        lmtp.send(data[:20])
        running.proc.send_signal(15)
        # The listening socket closes first: once a new client is refused, the
        # listener is stopping, and the transaction is still in flight.
        while True:
            try:
                probe = running.raw_socket()
            except (ConnectionRefusedError, ConnectionResetError):
                break  # refused, or reset in the backlog of a socket being closed
            probe.close()
        # A session between transactions is told 421 at once (RFC 5321 section 3.8).
        assert idle.getreply()[0] == 421
        lmtp.send(data[20:])
        assert decided(INFO, lmtp.getreply())["reply"] is True
        assert lmtp.getreply()[0] == 421
        assert running.proc.wait(60) == 0
    [sent] = smtp.wait_for(1)
    assert sent.rcpt_tos == ["erin@example.net"]


def test_store_unreachable_is_451_per_recipient_and_nothing_recorded(
    tmp_path: Path,
    smtp: SmtpSink,
    postgres_server: RunningPostgres,
    postgres_env: dict[str, str],
) -> None:
    seeded = SeededHome.create(
        tmp_path,
        postgres_env,
        {"MAILHOST_SMTP_URL": smtp.url, "POSTGRES_CONNECT_TIMEOUT": "2"},
    )
    before = seeded.events()
    database = postgres_env["POSTGRES_DBNAME"]
    with seeded.listener() as running:
        lmtp = running.client()
        _connections(postgres_server, database, allow=False)
        try:
            replies = transaction(
                lmtp, "fay@example.net", [INFO, UNKNOWN], message("fay@example.net", 1)
            )
        finally:
            _connections(postgres_server, database, allow=True)
        assert [code for code, _ in replies] == [451, 451]
        assert replies[0][1] == f"4.3.0 <{INFO}> temporary failure, nothing decided"
        assert seeded.events() == before  # nothing half-recorded
        # The MTA retries later: the store is back, one reply.
        [again] = transaction(
            lmtp, "fay@example.net", [INFO], message("fay@example.net", 1)
        )
        assert decided(INFO, again)["reply"] is True
        quietly_close(lmtp)
        # The sender process may have tried while the store was down: its job is
        # retried after the retry delay (15 s), so allow more than one round.
        smtp.wait_for(1, timeout=90)
        assert running.terminate() == 0
    assert len(smtp.messages) == 1


def _connections(server: RunningPostgres, database: str, *, allow: bool) -> None:
    """The database refuses (or takes again) connections; its sessions are cut."""
    with psycopg.connect(server.conninfo(), autocommit=True) as conn:
        conn.execute(
            sql.SQL("ALTER DATABASE {} WITH ALLOW_CONNECTIONS {}").format(
                sql.Identifier(database), sql.SQL("true" if allow else "false")
            )
        )
        if not allow:
            conn.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s",
                (database,),
            )


def test_a_reply_line_fits_512_octets_shortening_only_the_reason() -> None:
    # RFC 5321 section 4.5.3.1.5: a reply line is at most 512 octets, CRLF included
    recipient = "a" * 60 + "@" + "b" * 180 + ".example"
    decision = {
        "reply": True,
        "reason": "RSP-4: reply with '" + "x" * 400 + "'",
        "rule": "RSP-4",
        "check": "reply",
        "to": "s" * 60 + "@example.net",
        "message_id": "<auto-reply.0123456789abcdef@example.org>",
    }
    [line] = decided_reply(recipient, decision)
    assert len(line.encode()) + 2 <= MAX_REPLY_LINE
    back = parse_decided(recipient, line.removeprefix("250 "))
    assert {k: v for k, v in back.items() if k != "reason"} == {
        k: v for k, v in decision.items() if k != "reason"
    }
    assert str(back["reason"]).startswith("RSP-4: reply with")
    # Non-ASCII addresses escape six-fold: the JSON continues on more lines.
    wide = {
        **decision,
        "to": "\u00e9" * 64 + "@example.net",
        "from": "\u00e9" * 64 + "@x.org",
    }
    lines = decided_reply(recipient, wide)
    assert len(lines) > 1
    assert all(len(line.encode()) + 2 <= MAX_REPLY_LINE for line in lines)
    assert all(line.startswith("250-") for line in lines[:-1])
    assert lines[-1].startswith("250 ")
    text = "\n".join(line[4:].strip(" \t") for line in lines)  # as smtplib joins them
    again = parse_decided(recipient, text)
    assert again["to"] == wide["to"]
    assert again["from"] == wide["from"]


@pytest.mark.parametrize(
    ("argv", "says"),
    [
        (["--listen", "192.0.2.1:2424"], "not a loopback address"),
        (["--listen", "mail.example:24"], "not an IP address"),
        (["--socket", "relative.sock"], "absolute"),
        ([], "give --listen"),
        (["--listen", "127.0.0.1:0", "--workers", "0"], "--workers"),
        (["--listen", "127.0.0.1:0", "--max-size", "999999999999"], "--max-size"),
    ],
)
def test_bad_options_exit_2_before_any_engine(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    argv: list[str],
    says: str,
) -> None:
    monkeypatch.delenv("MAILHOST_LMTP", raising=False)
    home = tmp_path / "home"
    with pytest.raises(SystemExit) as exited:
        raise SystemExit(main(["lmtp", "--home", str(home), *argv]))
    assert exited.value.code == 2
    assert says in capsys.readouterr().err
    assert not home.exists()  # nothing opened, nothing written
