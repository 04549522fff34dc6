"""``mailhost deliver``'s exit statuses and its bounded read, on fakes (issue 7, 12-13),
and what ``mailhost responder show`` may write to a terminal (issue 7, item 2).

0 once the decision is recorded (``queued`` when the send did not happen before exit),
75 (EX_TEMPFAIL) when nothing was decided, 65 (EX_DATAERR) for bad input and 67
(EX_NOUSER) for an unknown address (issue 13: sysexits.h, not 2); stdin is read only up
to one byte past the size limit.
"""

from __future__ import annotations

import argparse
import io
import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any

import pytest

from application.ports import MessageStatus, ReplyHistoryEntry, ResponderStatus
from domain.errors import InvalidInput, NotFound
from domain.replyplan import Check, Decision
from domain.schedule import Schedule
from infrastructure.cli import deliver as delivercli
from infrastructure.cli import responder as respondercli


class Stdin:
    def __init__(self, size: int) -> None:
        self.buffer = io.BytesIO(b"x" * size)


class FakeEngine:
    def __init__(self, deliver: Any, settle: Any = None) -> None:  # noqa: ANN401 - fakes
        self.closed = False
        self.settle = settle or (lambda _timeout: None)
        responders = SimpleNamespace(
            deliver=deliver, reply_sent=lambda _decision: False
        )
        self.host = SimpleNamespace(responders=responders)

    def drain(self, timeout: float, **_kinds: object) -> int:
        self.settle(timeout)
        return 0

    def close(self) -> None:
        self.closed = True


ARGS = argparse.Namespace(
    home=None, recipient="ann@example.org", sender="bob@example.net", received_at=None
)
REPLY = Decision(reply=True, check=Check.REPLY, reason="RSP-4: reply")


def run(monkeypatch: pytest.MonkeyPatch, engine: FakeEngine, size: int = 10) -> int:
    monkeypatch.setattr("sys.stdin", Stdin(size))
    monkeypatch.setattr(delivercli, "open_engine", lambda *_a, **_k: engine)
    return delivercli._deliver(ARGS)


def test_stdin_is_read_only_one_byte_past_the_limit(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # issue 7 item 12: a 50 MB message cost 644 MB; now at most the limit + 1 byte
    seen: list[int] = []

    def deliver(_r: str, _s: str, raw: bytes, _at: object) -> Decision:
        seen.append(len(raw))
        raise InvalidInput("the message is larger than the limit")

    monkeypatch.setattr(delivercli, "MAX_MESSAGE_BYTES", 1000)
    assert run(monkeypatch, FakeEngine(deliver), size=50_000) == delivercli.EX_DATAERR
    assert seen == [1001]


def test_a_decision_whose_send_is_pending_exits_0_and_says_queued(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # issue 7 item 13: the reply is recorded; the send job retries it
    def settle(_timeout: float) -> None:
        raise TimeoutError("background jobs did not finish in time")

    engine = FakeEngine(lambda *_a: REPLY, settle)
    assert run(monkeypatch, engine) == 0
    out, err = capsys.readouterr()
    decision = json.loads(out)
    assert (decision["reply"], decision["queued"]) == (True, True)
    assert "Traceback" not in err
    assert engine.closed


def test_a_send_still_under_way_at_the_deadline_is_left_to_its_job(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # issue 13: the cold path never waits on a thread past SETTLE_S (a silent mail
    # server); the engine stays open under the send, the job's claim expires and retries
    release = threading.Event()
    engine = FakeEngine(lambda *_a: REPLY, lambda _timeout: release.wait())
    monkeypatch.setattr(delivercli, "SETTLE_S", 0.01)
    try:
        assert run(monkeypatch, engine) == 0
    finally:
        release.set()
    decision = json.loads(capsys.readouterr().out)
    assert (decision["reply"], decision["queued"]) == (True, True)
    assert not engine.closed


def test_nothing_decided_exits_75_bad_input_65_an_unknown_address_67(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # issue 7 item 13: EX_TEMPFAIL only where nothing was recorded
    def down(*_a: object) -> Decision:
        raise ConnectionError("the store is unreachable")

    engine = FakeEngine(down)
    assert run(monkeypatch, engine) == delivercli.EX_TEMPFAIL == 75
    out, err = capsys.readouterr()
    assert out == ""
    assert err.startswith("mailhost: temporary failure, nothing decided")
    assert engine.closed

    def bad(*_a: object) -> Decision:
        raise InvalidInput("received_at is more than 7 days before this host's clock")

    # issue 13: sysexits.h statuses an MTA reads (65 bounces, 67 "no such user")
    assert run(monkeypatch, FakeEngine(bad)) == delivercli.EX_DATAERR == 65
    assert capsys.readouterr().err == (
        "mailhost: received_at is more than 7 days before this host's clock\n"
    )

    def unknown(*_a: object) -> Decision:
        raise NotFound("address nobody@example.org does not exist")

    assert run(monkeypatch, FakeEngine(unknown)) == delivercli.EX_NOUSER == 67
    assert capsys.readouterr().err.endswith("nobody@example.org does not exist\n")


def test_received_at_at_the_calendar_edge_is_bad_input() -> None:
    # issue 7 item 15: 0001-01-01T00:00+01:00 has no UTC instant
    with pytest.raises(InvalidInput, match=r"--received-at .*range"):
        delivercli._received_at("0001-01-01T00:00:00+01:00")


def _show(
    monkeypatch: pytest.MonkeyPatch, history: list[ReplyHistoryEntry], name: str
) -> None:
    status = ResponderStatus(
        "ann@example.org",
        "UTC",
        name,
        None,
        (MessageStatus(name, None, active=True, schedule=Schedule(), generation=1),),
    )
    responders = SimpleNamespace(
        status=lambda _address: status, history=lambda _address, _limit: history
    )
    engine = SimpleNamespace(
        runner=SimpleNamespace(catch_up=lambda: None),
        host=SimpleNamespace(responders=responders),
    )

    @contextmanager
    def engine_for(_args: argparse.Namespace) -> Iterator[SimpleNamespace]:
        yield engine

    monkeypatch.setattr(respondercli, "engine_for", engine_for)
    args = argparse.Namespace(
        home=None, address="ann@example.org", limit=50, json=False
    )
    assert respondercli._show(args) == 0


def test_responder_show_writes_no_control_character_to_the_terminal(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # issue 7 item 2: every line through say(); the sender came from outside (the
    # MTA) and is shown whole when it is an address, neutralised when it is not
    at = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
    history = [
        ReplyHistoryEntry("bob@example.net", "Away\x1b[31m", at, "<r1@x>", sent=True),
        ReplyHistoryEntry(
            "evil\x1b]8;;https://evil.example/\x07@x", "Away", at, "<r2@x>", sent=False
        ),
    ]
    _show(monkeypatch, history, "Away\x9b31m")
    out, _ = capsys.readouterr()
    assert not [c for c in out if c != "\n" and not c.isprintable()], repr(out)
    assert "bob@example.net" in out
    assert "evil.example" not in out
    assert "\\x1b" in out  # the operator sees that something was there


def test_nothing_decided_is_said_on_stderr_without_control_characters(
    capsys: pytest.CaptureFixture[str],
) -> None:
    # issue 7 item 2: the error text may quote outside input
    status = delivercli._not_decided(OSError("down \x1b[2J\x07 at \u202eevil"))
    assert status == delivercli.EX_TEMPFAIL
    out, err = capsys.readouterr()
    assert out == ""
    assert err.startswith("mailhost: temporary failure, nothing decided: OSError")
    assert not [c for c in err if c != "\n" and not c.isprintable()], repr(err)
