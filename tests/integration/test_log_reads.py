"""Read-only loads (``MailHostLog.read``): the cached object itself, never changed by a decision.

The LMTP listener opens its engine with the aggregate cache (``open_engine(cached=True)``);
``read`` hands out the cached aggregate without the deep copy ``load`` makes. That is only
sound while nothing mutates what ``read`` returned: a mutated cached object would be the
state every later load starts from, without any event saved. These tests run the real
delivery decision on a cached engine and check the service, mailbox and responder it read
are, afterwards, the very objects still cached and exactly as they were.
"""

from __future__ import annotations

from copy import deepcopy
from typing import TYPE_CHECKING

import pytest

from application.authorization import OPERATOR
from application.mailservices import split_address
from domain.autoreply import window_id_for
from domain.mailbox import Mailbox
from domain.mailservice import MailService, service_id
from domain.replywindow import ReplyWindow
from domain.responder import AutoResponder
from domain.responderpolicy import responder_id
from infrastructure.bootstrap import Engine, open_engine
from tests.integration.support import with_active_responder

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

    from eventsourcing.domain import Aggregate

INFO = "info@example.org"
# Enough that the hour's cap never decides here: the decisions below are about windows.
ENV = {"MAILHOST_RESPONDER_HOURLY_CAP": "1000"}


@pytest.fixture
def cached(tmp_path: Path) -> Iterator[Engine]:
    opened = open_engine(tmp_path / "home", ENV, background=False, cached=True)
    try:
        with_active_responder(opened, INFO)
        yield opened
    finally:
        opened.close()


def message(sender: str, n: int, to: str = INFO) -> bytes:
    return (
        f"From: <{sender}>\r\nTo: {to}\r\nSubject: question {n}\r\n"
        f"Message-ID: <q{n}@example.net>\r\n\r\nHello.\r\n"
    ).encode()


def read_only(opened: Engine) -> list[Aggregate]:
    """What the decision reads without a copy: the service, the mailbox, the responder."""
    services = opened.host.services
    service, mailbox = services.read_mailbox(INFO)
    log = opened.host.log
    responder = log.read(responder_id(mailbox.address), AutoResponder, "responder")
    return [service, mailbox, responder]


def test_read_is_the_cached_object_and_load_a_private_copy(cached: Engine) -> None:
    log = cached.host.log
    sid = service_id(split_address(INFO)[1])
    first = log.read(sid, MailService, "service")
    assert log.read(sid, MailService, "service") is first
    copy = log.load(sid, MailService, "service")
    assert copy is not first
    assert copy == first


def test_decisions_leave_what_they_read_unchanged(cached: Engine) -> None:
    # rule RSP-4, rule RSP-9: replies, suppressed repeats and a subaddress delivery
    # all decide on the cached service, mailbox and responder and must not touch them.
    before = read_only(cached)
    snapshots = [deepcopy(aggregate) for aggregate in before]
    deliver = cached.host.responders.deliver
    decisions = [
        deliver(INFO, "bob@example.net", message("bob@example.net", 1)),
        deliver(INFO, "bob@example.net", message("bob@example.net", 2)),
        deliver(INFO, "eve@example.net", message("eve@example.net", 3)),
        deliver("info+tag@example.org", "ida@example.net", message("ida@x.net", 4)),
    ]
    assert [d.reply for d in decisions] == [True, False, True, True]
    after = read_only(cached)
    for held, now, snapshot in zip(before, after, snapshots, strict=True):
        assert now is held, f"{type(held).__name__} left the cache"
        assert not held.pending_events, f"a command ran on the read {held!r}"
        assert held.version == snapshot.version
        assert held == snapshot, f"{type(held).__name__} changed in place"


def test_what_is_recorded_on_is_a_copy_and_saved(cached: Engine) -> None:
    # rule RSP-4: the window is recorded on by the decision, so it is loaded as a copy
    # and saved; the cached object only moves on by fast-forwarding the saved events.
    log = cached.host.log
    config = read_only(cached)[2]
    assert isinstance(config, AutoResponder)
    wid = window_id_for(config.config(), "bob@example.net")
    assert wid is not None
    deliver = cached.host.responders.deliver
    deliver(INFO, "bob@example.net", message("bob@example.net", 1))
    held = log.read(wid, ReplyWindow, "window")
    deliver(INFO, "bob@example.net", message("bob@example.net", 2))
    window = log.read(wid, ReplyWindow, "window")
    assert window is held
    replayed: ReplyWindow = log.repository.get(wid, version=window.version)
    assert window == replayed
    assert window.version == 2  # opened, one reply recorded: nothing more in place


def test_read_follows_a_change_saved_by_a_command(cached: Engine) -> None:
    # rule RSP-4: a deactivated responder stops replying on the very next decision, so
    # the cached object a read returned is fast-forwarded, not stale.
    log = cached.host.log
    _, mailbox = cached.host.services.read_mailbox(INFO)
    rid = responder_id(mailbox.address)
    held = log.read(rid, AutoResponder, "responder")
    assert held.active is not None
    cached.host.responders.deactivate(INFO, by=OPERATOR)
    assert log.read(rid, AutoResponder, "responder").active is None
    decision = cached.host.responders.deliver(
        INFO, "bob@example.net", message("bob@example.net", 1)
    )
    assert not decision.reply


def test_read_without_the_cache_is_a_fresh_replay(tmp_path: Path) -> None:
    opened = open_engine(tmp_path / "home", ENV, background=False)
    try:
        with_active_responder(opened, INFO)
        log = opened.host.log
        _, mailbox = opened.host.services.read_mailbox(INFO)
        again = log.read(mailbox.id, Mailbox, "mailbox")
        assert again is not mailbox
        assert again == mailbox
    finally:
        opened.close()
