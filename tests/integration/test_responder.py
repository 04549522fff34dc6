"""Auto-responders end to end (RSP-1..RSP-8, ADR-12).

Replies go through a real SMTP server (the sink on loopback) and are read back from it;
time is a :class:`ManualClock` so 7-day windows and DST nights pass in milliseconds; the
``mailhost deliver`` pipe transport runs as a real process on a table of real-world
messages; one test runs the same flow on PostgreSQL.
"""

from __future__ import annotations

import base64
import email.policy
import json
import re
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from email.parser import BytesParser
from pathlib import Path
from uuid import UUID

import pytest

from application.authorization import OPERATOR
from application.responders import Responders
from domain.address import EmailAddress
from domain.errors import InvalidInput, NotFound, NotPermitted
from domain.permissions import Permission
from domain.replyplan import Check, Decision, auto_reply_id, reply_message_id
from infrastructure.bootstrap import Engine
from tests.integration.clisupport import mailhost_bytes
from tests.integration.support import (
    ORG,
    ManualClock,
    engine,
    with_unassigned_address,
    with_user,
)
from tests.servers import ReceivedMessage, SmtpSink

REPO = Path(__file__).resolve().parents[2]
DOMAIN = "example.org"
ADMIN = "admin@example.net"  # the organisation's first user: its admin
BOB = "bob@example.net"  # a member, user of INFO (service defaults: every permission)
CAROL = "carol@example.net"  # a member, not a user of INFO
INFO = f"info@{DOMAIN}"
OFFICE = f"office@{DOMAIN}"
T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)  # a Monday
# What the pipe tests give as --received-at: the MTA's time, a few minutes before this
# host's clock (a received_at more than 7 days old is refused, RSP-4).
RECENT = (datetime.now(UTC) - timedelta(minutes=5)).isoformat(timespec="seconds")
AWAY = "I am away until Monday. Urgent matters: office@example.org."


# -- helpers ------------------------------------------------------------------------------


def active_body(responders: Responders, address: str) -> str:
    """The body of the address's active message; the address must have one switched on."""
    responder = responders.get(address)
    assert responder is not None
    active = responder.config().active
    assert active is not None
    return active.body


def mail(
    *,
    sender: str,
    to: str = INFO,
    subject: str = "Quarterly report",
    message_id: str = "<q3-report.2@example.net>",
    headers: tuple[str, ...] = (),
) -> bytes:
    """An RFC 5322 message as an MTA hands it over (CRLF line ends)."""
    lines = [
        (
            "Received: from mx.example.net (mx.example.net [192.0.2.25])"
            f"\r\n\tby mx.{DOMAIN} with ESMTPS; Mon, 2 Mar 2026 10:00:00 +0100"
        ),
        f"From: Sender <{sender}>",
        f"To: {to}",
        f"Subject: {subject}",
        "Date: Mon, 2 Mar 2026 10:00:00 +0100",
        f"Message-ID: {message_id}",
        "MIME-Version: 1.0",
        "Content-Type: text/plain; charset=utf-8",
        *headers,
    ]
    return (
        "\r\n".join(lines) + "\r\n\r\nHello,\r\nthe figures are attached.\r\n"
    ).encode()


def replies(sink: SmtpSink) -> list[ReceivedMessage]:
    """The auto-replies the sink received (verification mail is not one)."""
    return [m for m in sink.messages if m.message["Auto-Submitted"] == "auto-replied"]


def account_id(e: Engine, login: str) -> UUID:
    return e.host.accounts.get(login).id


@dataclass(frozen=True)
class World:
    e: Engine
    clock: ManualClock
    smtp: SmtpSink

    def deliver(
        self, sender: str, at: datetime | None = None, raw: bytes | None = None
    ) -> Decision:
        """Deliver at ``at`` (the clock moves there) and let the send job run."""
        if at is not None:
            self.clock.at = at
        decision = self.e.host.responders.deliver(
            INFO, sender, raw if raw is not None else mail(sender=sender)
        )
        self.e.host.settle()
        return decision

    def away(self) -> Responders:
        """INFO answering with "Holidays" (AWAY); its responders, for the test to use."""
        responders = self.e.host.responders
        responders.add(INFO, "Holidays", body=AWAY, by=OPERATOR)
        responders.activate(INFO, "Holidays", by=OPERATOR)
        return responders


@pytest.fixture
def world(tmp_path: Path, smtp: SmtpSink) -> Iterator[World]:
    clock = ManualClock(T0 - timedelta(days=1))
    with engine(tmp_path / "home", {"MAILHOST_SMTP_URL": smtp.url}, clock=clock) as e:
        with_user(e, ADMIN)
        with_user(e, BOB)
        with_user(e, CAROL)
        e.host.services.create(ORG, DOMAIN, quota=5, by=OPERATOR)
        e.host.addresses.create_for_users(INFO, [BOB], by=OPERATOR)
        yield World(e, clock, smtp)


# -- the reply through a real SMTP server (RSP-8) ---------------------------------------------


def test_the_reply_reaches_the_smtp_server_once_with_rfc3834_headers(
    world: World,
) -> None:
    # rule RSP-8, rule RSP-4
    r = world.away()
    sender = "Bob.Smith@Example.NET"
    raw = mail(
        sender=sender,
        headers=(
            "In-Reply-To: <q3-report.1@example.net>",
            "References: <q3-root@example.net>\r\n <q3-report.1@example.net>",
        ),
    )
    decision = world.deliver(sender, T0, raw)
    assert decision.reply, decision
    assert decision.check is Check.REPLY
    assert decision.reason.startswith("RSP-4:")
    [reply] = world.smtp.messages
    assert reply.mail_from in {"", "<>"}  # MAIL FROM:<>, RFC 3834 3.3
    # The envelope sender: its local part keeps its case (RFC 5321 2.4), the domain
    # is case-insensitive and written normalised.
    assert reply.rcpt_tos == ["Bob.Smith@example.net"]
    m = reply.message
    assert m["From"] == INFO
    # The display name of the From whose address is the envelope sender (Pigeonhole).
    assert m["To"] == "Sender <Bob.Smith@example.net>"
    assert m["Auto-Submitted"] == "auto-replied"
    assert m["In-Reply-To"] == "<q3-report.2@example.net>"
    assert m["References"].split() == [
        "<q3-root@example.net>",
        "<q3-report.1@example.net>",
        "<q3-report.2@example.net>",
    ]
    assert m["Subject"] == "Auto: Quarterly report"
    assert AWAY in m.get_content()
    # A Message-ID derived from the decision alone: recognisable when sent again.
    expected_id = reply_message_id(INFO, sender.casefold(), "holidays", 1, T0)
    assert m["Message-ID"] == expected_id
    assert decision.as_dict()["message_id"] == expected_id
    # The send job delivered again (a broker redelivery) sends nothing more.
    assert decision.plan is not None
    assert r.send_reply(auto_reply_id(decision.plan)) is False
    world.e.host.settle()
    time.sleep(0.2)
    assert len(world.smtp.messages) == 1
    [entry] = r.history(INFO)
    assert (entry.sender, entry.message, entry.message_id, entry.sent) == (
        "Bob.Smith@example.net",
        "Holidays",
        expected_id,
        True,
    )


def test_a_verified_alternative_sender_and_the_messages_own_subject(
    world: World,
) -> None:
    # rule RSP-2, rule RSP-8
    r = world.e.host.responders
    with pytest.raises(NotPermitted, match="not been verified"):
        r.add(INFO, "Away", body=AWAY, sender=OFFICE, by=OPERATOR)
    r.request_sender_verification(INFO, OFFICE, by=OPERATOR)
    [verification] = world.smtp.wait_for(1)
    assert verification.rcpt_tos == [OFFICE]
    found = re.search(r"Code: (\d+)", verification.message.get_content())
    assert found is not None
    code = found.group(1)
    wrong = "0" * len(code) if code != "0" * len(code) else "1" * len(code)
    home = world.e.settings.home
    stored = b"".join(
        p.read_bytes()
        for p in [*home.glob("events.sqlite*"), *home.glob("views.sqlite*")]
    )
    digest = world.e.host.responders.verification._code_digest(
        INFO, EmailAddress.parse(OFFICE), code
    )
    # rule SEC-6: neither the code nor its digest is in the log or the read models
    assert b"SenderVerificationRequested" in stored
    assert code.encode() not in stored
    assert digest.encode() not in stored
    assert r.confirm_sender(INFO, OFFICE, wrong, by=OPERATOR) is False
    assert r.confirm_sender(INFO, OFFICE, code, by=OPERATOR) is True
    r.add(
        INFO, "Away", body=AWAY, sender=OFFICE, subject="Out of the office", by=OPERATOR
    )
    r.activate(INFO, "Away", by=OPERATOR)
    world.smtp.clear()
    assert world.deliver(BOB, T0).reply
    [reply] = world.smtp.messages
    assert reply.mail_from in {"", "<>"}
    assert reply.rcpt_tos == [BOB]
    assert reply.message["From"] == OFFICE
    assert reply.message["To"] == f"Sender <{BOB}>"
    assert reply.message["Subject"] == "Out of the office"
    assert reply.message["Auto-Submitted"] == "auto-replied"


# -- the 7-day window (RSP-4, RSP-5) --------------------------------------------------------


def test_one_reply_per_sender_per_seven_days(world: World) -> None:
    # rule RSP-4
    world.away()
    first = "Bob.Smith@Example.NET"
    assert world.deliver(first, T0).reply
    again = world.deliver("bob.smith@example.net", T0 + timedelta(days=2))
    assert not again.reply  # compared case-insensitively
    assert again.check is Check.REPLIED_RECENTLY
    assert again.reason.startswith("RSP-4:")
    assert world.deliver("dave@example.net", T0 + timedelta(days=2)).reply
    # Suppressed mail does not move the window: 7 days after the reply, not the last mail.
    late = T0 + timedelta(days=7) - timedelta(seconds=1)
    assert not world.deliver("BOB.SMITH@example.net", late).reply
    assert world.deliver("bob.smith@EXAMPLE.net", T0 + timedelta(days=7)).reply
    assert not world.deliver(first, T0 + timedelta(days=8)).reply
    sent = replies(world.smtp)
    assert [m.rcpt_tos for m in sent] == [
        ["Bob.Smith@example.net"],
        ["dave@example.net"],
        ["bob.smith@example.net"],
    ]
    assert len({m.message["Message-ID"] for m in sent}) == 3


def test_reset_answers_again_and_editing_alone_does_not(world: World) -> None:
    # rule RSP-5, rule RSP-4
    r = world.away()
    hour = timedelta(hours=1)
    assert world.deliver(BOB, T0).reply
    r.edit(INFO, "Holidays", body="Back on Tuesday instead.", by=OPERATOR)
    edited = world.deliver(BOB, T0 + hour)
    assert not edited.reply
    assert edited.check is Check.REPLIED_RECENTLY
    r.reset(INFO, "Holidays", by=OPERATOR)
    assert world.deliver(BOB, T0 + 2 * hour).reply
    assert not world.deliver(BOB, T0 + 3 * hour).reply
    r.edit(INFO, "Holidays", body="Back on Wednesday.", reset_memory=True, by=OPERATOR)
    assert world.deliver(BOB, T0 + 4 * hour).reply
    bodies = [m.message.get_content().strip() for m in replies(world.smtp)]
    assert bodies == [AWAY, "Back on Tuesday instead.", "Back on Wednesday."]


# -- schedules in the mailbox zone across DST (RSP-6) ----------------------------------------


def test_a_date_only_end_covers_the_whole_local_day_across_dst(world: World) -> None:
    # rule RSP-6, rule RSP-2
    # Europe/Zurich moves to summer time on 2026-03-29 at 02:00: that local day lasts
    # 23 hours, from 2026-03-28T23:00Z to 2026-03-29T22:00Z.
    r = world.e.host.responders
    world.clock.at = datetime(2026, 3, 20, 12, 0, tzinfo=UTC)
    r.add(
        INFO,
        "Easter",
        body=AWAY,
        start=date(2026, 3, 28),
        end=date(2026, 3, 29),
        time_zone="Europe/Zurich",
        by=OPERATOR,
    )
    r.activate(INFO, "Easter", by=OPERATOR)
    probes = [
        (datetime(2026, 3, 27, 22, 59, 59, tzinfo=UTC), False),  # Fri 23:59:59 CET
        (datetime(2026, 3, 27, 23, 0, tzinfo=UTC), True),  # Sat 00:00 CET
        (datetime(2026, 3, 29, 0, 59, 59, tzinfo=UTC), True),  # Sun 01:59:59 CET
        (datetime(2026, 3, 29, 1, 0, tzinfo=UTC), True),  # Sun 03:00 CEST
        (datetime(2026, 3, 29, 21, 59, 59, tzinfo=UTC), True),  # Sun 23:59:59 CEST
        (datetime(2026, 3, 29, 22, 0, tzinfo=UTC), False),  # Mon 00:00 CEST
        (datetime(2026, 3, 29, 22, 30, tzinfo=UTC), False),  # a +01:00 reading: in
    ]
    for n, (at, expected) in enumerate(probes):
        decision = world.deliver(f"client{n}@example.net", at)
        assert decision.reply is expected, (at, decision)
        if not expected:
            assert decision.check is Check.SCHEDULE
            assert decision.reason.startswith("RSP-6:")
    assert sorted(m.rcpt_tos[0] for m in replies(world.smtp)) == [
        f"client{n}@example.net" for n in (1, 2, 3, 4)
    ]
    world.clock.at = datetime(2026, 3, 29, 12, 0, tzinfo=UTC)
    status = r.status(INFO)
    assert status is not None
    assert status.time_zone == "Europe/Zurich"
    assert status.next_change == datetime(2026, 3, 29, 22, 0, tzinfo=UTC)


# -- one active message (RSP-1) ---------------------------------------------------------------


def test_activating_one_message_deactivates_the_other(world: World) -> None:
    # rule RSP-1
    r = world.e.host.responders
    r.add(INFO, "Holidays", body="On holiday.", by=OPERATOR)
    r.add(INFO, "Training", body="At a training course.", by=OPERATOR)
    r.activate(INFO, "Holidays", by=OPERATOR)
    first = world.deliver("a@example.net", T0)
    assert first.as_dict()["message"] == "Holidays"
    r.activate(INFO, "Training", by=OPERATOR)
    second = world.deliver("b@example.net", T0 + timedelta(minutes=1))
    assert second.as_dict()["message"] == "Training"
    status = r.status(INFO)
    assert status is not None
    assert status.active == "Training"
    assert [(m.name, m.active) for m in status.messages] == [
        ("Holidays", False),
        ("Training", True),
    ]
    r.deactivate(INFO, by=OPERATOR)
    off = world.deliver("c@example.net", T0 + timedelta(minutes=2))
    assert not off.reply
    assert off.check is Check.NO_ACTIVE_MESSAGE
    assert off.reason.startswith("RSP-1:")
    assert [m.message.get_content().strip() for m in replies(world.smtp)] == [
        "On holiday.",
        "At a training course.",
    ]


# -- who may manage it (RSP-3, ORG-3) ---------------------------------------------------------


def test_managing_needs_the_permission_and_a_withdrawal_is_enforced(
    world: World,
) -> None:
    # rule RSP-3, rule ORG-3
    e = world.e
    r = e.host.responders
    admin, bob, carol = (account_id(e, x) for x in (ADMIN, BOB, CAROL))
    r.add(INFO, "Holidays", body=AWAY, by=bob)  # the service default grants it
    r.activate(INFO, "Holidays", by=bob)
    with pytest.raises(NotPermitted):  # not a user of the address
        r.add(INFO, "Carol's", body=AWAY, by=carol)
    e.host.addresses.set_permission(
        INFO, BOB, Permission.MANAGE_RESPONDER, allowed=False, by=OPERATOR
    )
    head = e.runner.log_position()
    refused: list[Callable[[], object]] = [
        lambda: r.add(INFO, "Other", body=AWAY, by=bob),
        lambda: r.edit(INFO, "Holidays", body="changed", by=bob),
        lambda: r.deactivate(INFO, by=bob),
        lambda: r.reset(INFO, "Holidays", by=bob),
        lambda: r.delete(INFO, "Holidays", by=bob),
        lambda: r.request_sender_verification(INFO, OFFICE, by=bob),
    ]
    for command in refused:
        with pytest.raises(NotPermitted):
            command()
    assert e.runner.log_position() == head  # nothing recorded
    assert world.smtp.messages == []  # no verification code mailed either
    r.edit(INFO, "Holidays", body="Edited by the admin.", by=admin)  # the admin may
    with pytest.raises(NotPermitted):  # members manage no templates (ADR-12)
        r.save_template(DOMAIN, "Closed", body="Closed.", by=bob)
    e.host.addresses.set_permission(
        INFO, BOB, Permission.MANAGE_RESPONDER, allowed=None, by=OPERATOR
    )
    r.deactivate(INFO, by=bob)  # back to the service default, which grants it
    e.host.services.set_default_permissions(DOMAIN, [Permission.SEND], by=OPERATOR)
    with pytest.raises(NotPermitted):
        r.activate(INFO, "Holidays", by=bob)
    r.activate(INFO, "Holidays", by=admin)
    assert active_body(r, INFO) == "Edited by the admin."


# -- templates (ADR-12) -----------------------------------------------------------------------


def test_a_template_applied_in_bulk_to_every_mailbox_and_activated(
    world: World,
) -> None:
    # rule ADR-12, rule RSP-1
    e = world.e
    r = e.host.responders
    e.host.addresses.create_unassigned(f"sales@{DOMAIN}", by=OPERATOR)
    e.host.addresses.create_unassigned(f"ops@{DOMAIN}", by=OPERATOR)
    e.host.addresses.create_redirect(f"team@{DOMAIN}", [INFO], by=OPERATOR)
    r.add(INFO, "Own", body="Mine.", by=OPERATOR)
    r.activate(INFO, "Own", by=OPERATOR)
    r.save_template(
        DOMAIN, "Closed", body="Closed until January.", subject="Closed", by=OPERATOR
    )
    assert r.apply_template(DOMAIN, "Closed", activate=True, by=OPERATOR) == 3
    e.host.settle()
    mailboxes = [INFO, f"sales@{DOMAIN}", f"ops@{DOMAIN}"]
    world.clock.at = T0
    for n, address in enumerate(mailboxes):
        status = r.status(address)
        assert status is not None
        assert status.active == "Closed", address
        decision = e.host.responders.deliver(
            address, BOB, mail(sender=BOB, to=address), T0 + timedelta(minutes=n)
        )
        assert decision.reply, (address, decision)
    world.clock.at = T0 + timedelta(hours=1)
    e.host.settle()
    sent = replies(world.smtp)
    assert sorted(m.message["From"] for m in sent) == sorted(mailboxes)
    assert {m.message["Subject"] for m in sent} == {"Closed"}
    assert {m.message.get_content().strip() for m in sent} == {"Closed until January."}
    assert r.status(f"team@{DOMAIN}") is None  # a redirect has no responder
    own = r.get(INFO)
    assert own is not None
    assert set(own.messages) == {"own", "closed"}  # the user's own message is kept


def test_an_edited_template_can_be_applied_in_bulk_again(world: World) -> None:
    # rule ADR-12
    # Found failing with InvalidInput "already active" (the bulk apply stopped at the
    # first mailbox where the template was active); fixed in c516117.
    e = world.e
    r = e.host.responders
    r.save_template(DOMAIN, "Closed", body="Closed until January.", by=OPERATOR)
    assert r.apply_template(DOMAIN, "Closed", activate=True, by=OPERATOR) == 1
    e.host.addresses.create_unassigned(
        f"sales@{DOMAIN}", by=OPERATOR
    )  # a mailbox created later
    r.save_template(DOMAIN, "Closed", body="Closed until February.", by=OPERATOR)
    assert r.apply_template(DOMAIN, "Closed", activate=True, by=OPERATOR) == 2
    for address in (INFO, f"sales@{DOMAIN}"):
        assert active_body(r, address) == "Closed until February."


# -- `mailhost deliver` as an MTA pipe transport (RSP-7) -------------------------------------


def mailhost(
    home: Path, *args: str, stdin: bytes = b"", smtp_url: str | None = None
) -> subprocess.CompletedProcess[bytes]:
    """Embedded (no broker): the process sends its own reply, to ``smtp_url`` if any."""
    return mailhost_bytes(
        *args, stdin=stdin, home=home, env={"MAILHOST_SMTP_URL": smtp_url}
    )


def deliver_to_info(
    home: Path, sender: str, *options: str, stdin: bytes, smtp_url: str | None = None
) -> subprocess.CompletedProcess[bytes]:
    """``mailhost deliver`` of a message from ``sender`` to INFO, as the MTA pipes it."""
    return mailhost(
        home,
        *("deliver", "--recipient", INFO, "--sender", sender, *options),
        stdin=stdin,
        smtp_url=smtp_url,
    )


def crlf(text: str) -> bytes:
    return text.replace("\n", "\r\n").encode()


@dataclass(frozen=True)
class Row:
    name: str
    sender: str  # the envelope sender (--sender)
    raw: bytes
    check: Check


ORDINARY = crlf(
    """\
Received: from mail.example.net by mx.example.org; Mon, 1 Jun 2026 10:00:00 +0200
From: "Jane Roe" <jane.roe@example.net>
To: "Info" <info@example.org>
Subject: Offer request
Date: Mon, 1 Jun 2026 09:59:58 +0200
Message-ID: <offer-17@example.net>
MIME-Version: 1.0
Content-Type: text/plain; charset=utf-8

Could you send me an offer?
"""
)

ROWS = [
    Row("ordinary", "jane.roe@example.net", ORDINARY, Check.REPLY),
    Row(
        "ordinary, in Cc, upper case, Auto-Submitted: no",
        "raj@example.com",
        crlf(
            """\
From: Raj <raj@example.com>
To: Sales <sales@example.com>
Cc: "Info" <INFO@Example.ORG>, someone@example.com
Subject: Re: delivery dates
Auto-Submitted: no
Message-ID: <dates-3@example.com>

See below.
"""
        ),
        Check.REPLY,
    ),
    Row(
        "newsletter addressed to the address (List-Id, List-Unsubscribe)",
        "news@shop.example.com",
        crlf(
            """\
From: Shop <news@shop.example.com>
To: info@example.org
Subject: Our summer deals
List-Id: Shop news <news.shop.example.com>
List-Unsubscribe: <https://shop.example.com/u/123>, <mailto:unsub@shop.example.com>
List-Unsubscribe-Post: List-Unsubscribe=One-Click
Message-ID: <deals-2026@shop.example.com>

Deals.
"""
        ),
        Check.MAILING_LIST,
    ),
    Row(
        "Mailman list copy (VERP -bounces return path)",
        "dev-bounces+info=example.org@lists.example.net",
        crlf(
            """\
From: Guido <guido@example.net>
To: dev@lists.example.net
Subject: [dev] release plan
List-Id: Developers <dev.lists.example.net>
List-Post: <mailto:dev@lists.example.net>
Precedence: list
Message-ID: <plan-1@example.net>

Plan.
"""
        ),
        Check.SYSTEM_SENDER,
    ),
    Row(
        "bounce with a null return path (empty --sender)",
        "",
        crlf(
            """\
From: Mail Delivery System <MAILER-DAEMON@mx.example.net>
To: info@example.org
Subject: Undelivered Mail Returned to Sender
Auto-Submitted: auto-replied
Content-Type: multipart/report; report-type=delivery-status; boundary="b1"
MIME-Version: 1.0

--b1
Content-Type: text/plain

The mail could not be delivered.
--b1--
"""
        ),
        Check.NULL_SENDER,
    ),
    Row(
        "bounce with return path <>",
        "<>",
        crlf(
            """\
From: postmaster@mx.example.net
To: info@example.org
Subject: Delivery Status Notification (Failure)
Message-ID: <dsn-9@mx.example.net>

Failed.
"""
        ),
        Check.NULL_SENDER,
    ),
    Row(
        "bounce from MAILER-DAEMON with a return path",
        "MAILER-DAEMON@mx.example.net",
        crlf(
            """\
From: Mail Delivery Subsystem <MAILER-DAEMON@mx.example.net>
To: info@example.org
Subject: Returned mail: see transcript for details

Failed.
"""
        ),
        Check.SYSTEM_SENDER,
    ),
    Row(
        "another auto-responder's reply",
        "carol@example.com",
        crlf(
            """\
From: Carol <carol@example.com>
To: info@example.org
Subject: Auto: Offer request
Auto-Submitted: auto-replied
In-Reply-To: <offer-17@example.net>
Message-ID: <auto-reply.1@example.com>

I am on holiday.
"""
        ),
        Check.AUTO_SUBMITTED,
    ),
    Row(
        "bulk mail (Precedence: bulk)",
        "offers@shop.example.net",
        crlf(
            """\
From: Offers <offers@shop.example.net>
To: info@example.org
Subject: 50% off
Precedence: bulk
Message-ID: <promo-77@shop.example.net>

Buy now.
"""
        ),
        Check.PRECEDENCE,
    ),
    Row(
        "Bcc'd copy: the address is in neither To nor Cc",
        "peter@example.net",
        crlf(
            """\
From: Peter <peter@example.net>
To: Board <board@example.net>
Cc: auditor@example.net
Subject: Minutes
Message-ID: <minutes-4@example.net>

Minutes attached.
"""
        ),
        Check.NOT_A_RECIPIENT,
    ),
    Row(
        "flagged as spam by SpamAssassin",
        "winner@lottery.example",
        crlf(
            """\
From: Lottery <winner@lottery.example>
To: info@example.org
Subject: You won
X-Spam-Flag: YES
X-Spam-Status: Yes, score=14.2 required=5.0 tests=BAYES_99,URIBL_BLACK
Message-ID: <won@lottery.example>

Claim it.
"""
        ),
        Check.SPAM,
    ),
    Row(
        "Outlook asks for no out-of-office reply",
        "scheduler@example.net",
        crlf(
            """\
From: Scheduler <scheduler@example.net>
To: info@example.org
Subject: Accepted: weekly meeting
X-Auto-Response-Suppress: DR, RN, NRN, OOF, AutoReply
Message-ID: <meeting-5@example.net>

Accepted.
"""
        ),
        Check.RESPONSE_SUPPRESSED,
    ),
    Row(
        "the sender asks for no out-of-office reply (OOF)",
        "colleague@example.net",
        crlf(
            """\
From: Colleague <colleague@example.net>
To: info@example.org
Subject: Status
X-Auto-Response-Suppress: OOF
Message-ID: <status-8@example.net>

Status.
"""
        ),
        Check.RESPONSE_SUPPRESSED,
    ),
    Row(
        "a no-reply sender",
        "no-reply@accounts.example.com",
        crlf(
            """\
From: Accounts <no-reply@accounts.example.com>
To: info@example.org
Subject: Your invoice
Message-ID: <invoice-1@accounts.example.com>

Invoice.
"""
        ),
        Check.SYSTEM_SENDER,
    ),
]


def make_pipe_home(home: Path) -> Path:
    """An engine folder with INFO and an active responder without schedule."""
    with engine(home, background=False) as e:
        with_user(e, ADMIN)
        with_user(e, BOB)
        e.host.services.create(ORG, DOMAIN, quota=5, by=OPERATOR)
        e.host.addresses.create_for_users(INFO, [BOB], by=OPERATOR)
        e.host.responders.add(INFO, "Holidays", body=AWAY, by=OPERATOR)
        e.host.responders.activate(INFO, "Holidays", by=OPERATOR)
    return home


@pytest.fixture(scope="module")
def pipe_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One engine folder for the whole table."""
    return make_pipe_home(tmp_path_factory.mktemp("pipe") / "home")


@pytest.mark.parametrize("row", ROWS, ids=[row.name for row in ROWS])
def test_deliver_pipe_decides_real_world_messages(
    row: Row, pipe_home: Path, smtp: SmtpSink
) -> None:
    # rule RSP-7, rule RSP-4, rule RSP-8
    result = deliver_to_info(
        pipe_home, row.sender, "--received-at", RECENT, stdin=row.raw, smtp_url=smtp.url
    )
    assert result.returncode == 0, result.stderr.decode()
    [line] = result.stdout.decode().splitlines()  # one JSON object per call
    decision = json.loads(line)
    answered = row.check is Check.REPLY
    assert decision["reply"] is answered, decision
    assert decision["check"] == row.check.value, decision
    rule = "RSP-4" if answered else "RSP-7"
    assert decision["rule"] == rule
    assert decision["reason"].startswith(f"{rule}: "), decision
    if answered:
        # The pipe process settles before it exits: the reply is at the server already.
        [reply] = smtp.messages
        assert reply.rcpt_tos == [row.sender]
        assert reply.mail_from in {"", "<>"}
        assert reply.message["Auto-Submitted"] == "auto-replied"
        assert reply.message["Message-ID"] == decision["message_id"]
    else:
        time.sleep(0.1)
        assert smtp.messages == []


@pytest.mark.parametrize(
    ("args", "problem"),
    [
        (("--recipient", f"nobody@{DOMAIN}"), "does not exist"),
        (("--recipient", "info@example.com"), "does not exist"),
        (("--recipient", "not an address"), "not an address|no @domain"),
        (("--received-at", "yesterday"), "not ISO 8601"),
        (("--received-at", "2026-13-01T10:00:00+02:00"), "not ISO 8601"),
        (("--received-at", "2026-06-01T10:00:00"), "needs a UTC offset"),
        # issue 7 items 4 and 15: times no mail queue can explain are bad input
        (("--received-at", "0001-01-01T00:00:00+01:00"), "--received-at .*range"),
        (("--received-at", "0001-01-01T00:00:00+00:00"), "received_at .*7 days"),
        (("--received-at", "1970-01-01T00:00:00+00:00"), "received_at .*7 days"),
        (("--received-at", "9999-12-31T23:59:59-01:00"), "--received-at .*range"),
    ],
    ids=[
        "unknown-local-part",
        "unknown-domain",
        "malformed-recipient",
        "received-at-words",
        "received-at-month-13",
        "received-at-naive",
        "received-at-year-1-overflow",
        "received-at-year-1",
        "received-at-epoch",
        "received-at-year-9999-overflow",
    ],
)
def test_deliver_pipe_refuses_bad_input_with_sysexits(
    args: tuple[str, str], problem: str, pipe_home: Path
) -> None:
    # rule RSP-7; issue 13: 67 (EX_NOUSER) for an unknown address, 65 (EX_DATAERR) else
    defaults = {"--recipient": INFO, "--received-at": RECENT}
    defaults[args[0]] = args[1]
    result = mailhost(
        pipe_home,
        "deliver",
        "--sender",
        "someone.new@example.net",
        *(x for pair in defaults.items() for x in pair),
        stdin=ORDINARY,
    )
    assert result.returncode == (67 if problem == "does not exist" else 65), result
    assert result.stdout == b""  # no decision printed
    err = result.stderr.decode()
    assert err.startswith("mailhost: "), err
    assert re.search(problem, err), err
    assert "Traceback" not in err


def test_deliver_pipe_sends_its_reply_even_with_a_received_at_ahead_of_the_clock(
    tmp_path: Path, smtp: SmtpSink
) -> None:
    # rule RSP-8, rule RSP-4
    # Its own folder: the reply left behind must not reach another test's sink.
    pipe_home = make_pipe_home(tmp_path / "home")
    ahead = (datetime.now(UTC) + timedelta(minutes=2)).isoformat(timespec="seconds")
    result = deliver_to_info(
        pipe_home,
        "skewed.clock@example.net",
        "--received-at",
        ahead,
        stdin=ORDINARY,
        smtp_url=smtp.url,
    )
    if result.returncode == 65:  # refusing a time in the future is a fix too
        assert "future" in result.stderr.decode()
        return
    assert result.returncode == 0, result.stderr.decode()
    decision = json.loads(result.stdout)
    assert decision["reply"] is True
    [reply] = smtp.messages  # the pipe process settles before it exits
    assert reply.rcpt_tos == ["skewed.clock@example.net"]


def test_operator_cli_schedule_across_the_autumn_dst_change(
    tmp_path: Path, smtp: SmtpSink
) -> None:
    # rule RSP-6, rule RSP-1, rule RSP-4, rule RSP-5
    # Europe/Zurich leaves summer time on 2026-10-25 at 03:00: that local day lasts 25
    # hours, from 2026-10-24T22:00Z to 2026-10-25T23:00Z.
    home = tmp_path / "home"
    with engine(home, background=False) as e:
        with_unassigned_address(e, INFO, ADMIN)
    for args in (
        (
            "add",
            INFO,
            "--name",
            "Autumn",
            "--body",
            AWAY,
            "--start",
            "2026-10-25",
            "--end",
            "2026-10-25",
            "--timezone",
            "Europe/Zurich",
        ),
        ("add", INFO, "--name", "Other", "--body", "Other text."),
        ("activate", INFO, "Other"),
        ("activate", INFO, "Autumn"),
    ):
        done = mailhost(home, "responder", *args)
        assert done.returncode == 0, done.stderr.decode()

    def deliver(sender: str, at: str) -> dict[str, object]:
        # In process, on a clock at the probe: the pipe refuses a --received-at more
        # than 7 days before its host's clock (RSP-4), and these probes are fixed dates.
        clock = ManualClock(datetime.fromisoformat(at).astimezone(UTC))
        with engine(home, {"MAILHOST_SMTP_URL": smtp.url}, clock=clock) as e:
            decision = e.host.responders.deliver(INFO, sender, ORDINARY)
            e.host.settle()
        return decision.as_dict()

    probes = [
        ("2026-10-24T23:59:59+02:00", "a", False),  # Saturday, summer time
        ("2026-10-25T00:00:00+02:00", "b", True),
        ("2026-10-25T02:30:00+01:00", "c", True),  # the second 02:30
        ("2026-10-25T23:59:59+01:00", "d", True),  # 22:59:59Z, a +02:00 end: out
        ("2026-10-26T00:00:00+01:00", "e", False),
    ]
    for at, who, expected in probes:
        decision = deliver(f"{who}@example.net", at)
        assert decision["reply"] is expected, (at, decision)
        if not expected:
            assert decision["check"] == "schedule"
            assert str(decision["reason"]).startswith("RSP-6: ")
    assert deliver("b@example.net", "2026-10-25T12:00:00+01:00")["check"] == (
        "replied-recently"
    )
    assert mailhost(home, "responder", "reset", INFO, "Autumn").returncode == 0
    assert deliver("b@example.net", "2026-10-25T13:00:00+01:00")["reply"] is True
    shown = mailhost(home, "responder", "show", INFO, "--json")
    assert shown.returncode == 0, shown.stderr.decode()
    view = json.loads(shown.stdout)
    assert view["time_zone"] == "Europe/Zurich"
    assert view["active"] == "Autumn"
    assert [m["name"] for m in view["messages"] if m["active"]] == ["Autumn"]
    history = view["history"]
    assert [h["sender"] for h in history] == [
        "b@example.net",
        "d@example.net",
        "c@example.net",
        "b@example.net",
    ]
    assert all(h["sent"] for h in history)
    assert sorted(m.rcpt_tos[0] for m in replies(smtp)) == [
        "b@example.net",
        "b@example.net",
        "c@example.net",
        "d@example.net",
    ]


# -- the same flow on PostgreSQL -----------------------------------------------------------------


def test_reply_recorded_and_shown_on_postgres(
    tmp_path: Path, postgres_env: dict[str, str], smtp: SmtpSink
) -> None:
    # rule RSP-4, rule RSP-8, rule RSP-1
    clock = ManualClock(T0 - timedelta(hours=1))
    env = {**postgres_env, "MAILHOST_SMTP_URL": smtp.url}
    with engine(tmp_path / "home", env, clock=clock) as e:
        assert e.settings.uses_postgres
        with_unassigned_address(e, INFO, ADMIN)
        r = e.host.responders
        r.add(INFO, "Holidays", body=AWAY, time_zone="Europe/Zurich", by=OPERATOR)
        r.activate(INFO, "Holidays", by=OPERATOR)
        world = World(e, clock, smtp)
        decision = world.deliver(BOB, T0)
        assert decision.reply
        assert not world.deliver(BOB, T0 + timedelta(days=1)).reply
        [reply] = smtp.messages
        assert reply.rcpt_tos == [BOB]
        assert reply.message["Message-ID"] == decision.as_dict()["message_id"]
        status = r.status(INFO)
        assert status is not None
        assert (status.active, status.time_zone) == ("Holidays", "Europe/Zurich")
        [entry] = r.history(INFO)
        assert (entry.sender, entry.message, entry.at, entry.sent) == (
            BOB,
            "Holidays",
            T0,
            True,
        )
        assert entry.message_id == reply.message["Message-ID"]
    assert not (tmp_path / "home" / "events.sqlite").exists()


def test_a_received_at_a_day_ahead_of_the_clock_is_refused(world: World) -> None:
    # rule RSP-4: a wrong timestamp would start the sender's 7-day window in the future
    head = world.e.runner.log_position()
    with pytest.raises(InvalidInput, match="ahead of this host's clock"):
        world.e.host.responders.deliver(
            INFO, BOB, mail(sender=BOB), world.clock.now() + timedelta(days=2)
        )
    assert world.e.runner.log_position() == head


def test_a_responder_template_applied_when_the_address_is_created(world: World) -> None:
    # rule ADR-12
    e, r = world.e, world.e.host.responders
    r.save_template(
        DOMAIN,
        "Welcome",
        body="Thanks, we will answer soon.",
        subject="Thanks",
        by=OPERATOR,
    )
    created = e.host.addresses.create_unassigned(
        f"contact@{DOMAIN}", responder_template="Welcome", by=OPERATOR
    )
    responder = r.get(created.address)
    assert responder is not None
    assert responder.message("Welcome").body == "Thanks, we will answer soon."
    assert responder.active is None  # saved, not switched on behind the user's back
    with pytest.raises(NotFound):
        e.host.addresses.create_unassigned(
            f"x@{DOMAIN}", responder_template="Missing", by=OPERATOR
        )


# -- hostile and careless input on the delivery path (issue 7) --------------------------------


def test_a_past_dated_delivery_does_not_reopen_the_window(world: World) -> None:
    # rule RSP-4: the 7 days are counted from when the reply was decided (this host's
    # clock), not from the time the MTA wrote; a delivery dated nearly 7 days back
    # used to start a window that had closed by the sender's next mail an hour later.
    r = world.away()
    world.clock.at = T0
    first = r.deliver(INFO, BOB, mail(sender=BOB), T0 - timedelta(days=6, hours=23))
    assert first.reply, first
    world.clock.advance(timedelta(hours=1))
    again = r.deliver(INFO, BOB, mail(sender=BOB), world.clock.now())
    assert again.check is Check.REPLIED_RECENTLY, again
    assert again.rule == "RSP-4"
    world.clock.advance(timedelta(days=7))
    assert r.deliver(INFO, BOB, mail(sender=BOB), world.clock.now()).reply


def test_past_dated_deliveries_count_in_the_hour_they_are_answered(
    world: World,
) -> None:
    # rule RSP-4, rule RSP-7: the hourly cap (20) is the engine's hour; 25 deliveries
    # dated three hours back and 25 current ones used to send 40 replies.
    r = world.away()
    world.clock.at = T0
    decisions = []
    for i in range(50):
        sender = f"sender{i}@example.net"
        received = T0 - timedelta(hours=3) if i < 25 else None
        decisions.append(r.deliver(INFO, sender, mail(sender=sender), received))
    world.e.host.settle()
    cap = world.e.host.responders.policy.hourly_cap
    assert sum(d.reply for d in decisions) == cap
    assert {d.check for d in decisions if not d.reply} == {Check.HOURLY_CAP}
    assert len(replies(world.smtp)) == cap


@pytest.mark.parametrize(
    "received",
    [
        T0 - timedelta(days=8),
        datetime(1, 1, 1, tzinfo=UTC),
        datetime(1970, 1, 1, tzinfo=UTC),
        T0 + timedelta(days=2),
    ],
    ids=["eight-days-back", "year-1", "epoch", "two-days-ahead"],
)
def test_a_received_at_no_queue_explains_is_refused_and_stores_nothing(
    world: World, received: datetime
) -> None:
    # rule RSP-4: issue 7 item 4; refused by name, nothing recorded
    _refused_as_received(world, received)


def _refused_as_received(world: World, received: datetime) -> None:
    """A delivery claiming to have arrived at ``received``: refused, nothing recorded."""
    r = world.away()
    world.clock.at = T0
    head = world.e.runner.log_position()
    with pytest.raises(InvalidInput, match="received_at"):
        r.deliver(INFO, BOB, mail(sender=BOB), received)
    assert world.e.runner.log_position() == head


def test_a_far_end_and_a_zone_change_leave_deliver_and_show_working(
    world: World,
) -> None:
    # rule RSP-6: issue 7 item 5; 9999-12-31T23:59 is refused when saved
    r = world.e.host.responders
    with pytest.raises(InvalidInput, match=r"schedule end .*2100"):
        r.add(INFO, "Far", body=AWAY, end=datetime(9999, 12, 31, 23, 59), by=OPERATOR)  # noqa: DTZ001 - a wall time
    r.add(INFO, "Long", body=AWAY, end=datetime(2100, 12, 31, 23, 59), by=OPERATOR)  # noqa: DTZ001 - a wall time
    r.activate(INFO, "Long", by=OPERATOR)
    r.set_time_zone(INFO, "America/New_York", by=OPERATOR)
    r.set_time_zone(INFO, "Pacific/Kiritimati", by=OPERATOR)
    assert world.deliver(BOB, T0).reply
    status = r.status(INFO)
    assert status is not None
    assert status.active == "Long"


def test_a_subaddressed_recipient_is_delivered_to_its_address(world: World) -> None:
    # rule RSP-7: ann+tag@ is ann@ (RFC 5233); it is an explicit recipient of ann@
    r = world.away()
    world.clock.at = T0
    tagged = f"info+offers@{DOMAIN}"
    decision = r.deliver(tagged, BOB, mail(sender=BOB, to=tagged))
    assert decision.reply, decision
    assert decision.plan is not None
    assert decision.plan.address == INFO
    with pytest.raises(NotFound):
        r.deliver(f"nobody+offers@{DOMAIN}", BOB, mail(sender=BOB, to=tagged))


@pytest.mark.parametrize(
    ("field", "check"),
    [
        ("Auto-Submitted : auto-generated", Check.AUTO_SUBMITTED),
        ("Auto-Submitted\t:auto-replied", Check.AUTO_SUBMITTED),
        ("auto-submitted :  Auto-Notified (RFC 3834)", Check.AUTO_SUBMITTED),
        ("List-Id  : <dev.lists.example.net>", Check.MAILING_LIST),
        ("List-Unsubscribe :\r\n <mailto:leave@lists.example.net>", Check.MAILING_LIST),
        ("Precedence :bulk", Check.PRECEDENCE),
        ("PRECEDENCE\t: junk", Check.PRECEDENCE),
        ("X-Auto-Response-Suppress : OOF, AutoReply", Check.RESPONSE_SUPPRESSED),
    ],
)
def test_obsolete_header_syntax_is_read_as_the_field_it_names(
    world: World, field: str, check: Check
) -> None:
    # rule RSP-7: RFC 5322 4.5 (obs-optional, 4.5.8) allows blanks before the colon; the
    # stdlib parser ended the header block there and the message was answered.
    world.away()
    decision = world.deliver(BOB, T0, mail(sender=BOB, headers=(field,)))
    assert decision.check is check, decision
    assert world.smtp.messages == []


def test_a_header_block_beyond_the_bound_is_not_read_nor_answered(
    world: World,
) -> None:
    # rule RSP-7: issue 7 item 12; decided without parsing it, with a named reason
    world.away()
    padding = tuple(f"X-Padding-{i}: {'x' * 900}" for i in range(400))
    decision = world.deliver(BOB, T0, mail(sender=BOB, headers=padding))
    assert decision.check is Check.OVERSIZED_HEADER, decision
    assert decision.reason.startswith("RSP-7: the header block is larger than")


def test_verification_mails_are_limited_per_address(world: World) -> None:
    # rule RSP-2: issue 7 item 9; counted from the recorded requests, per hour and day
    r = world.e.host.responders
    world.clock.at = T0
    for _ in range(3):
        r.request_sender_verification(INFO, OFFICE, by=OPERATOR)
        world.clock.advance(timedelta(minutes=1))
    with pytest.raises(NotPermitted, match="last hour \\(at most 3\\)"):
        r.request_sender_verification(INFO, OFFICE, by=OPERATOR)
    r.request_sender_verification(
        INFO, f"desk@{DOMAIN}", by=OPERATOR
    )  # another address: its own
    sent = 4
    for _ in range(7):
        world.clock.advance(timedelta(hours=1))
        r.request_sender_verification(INFO, OFFICE, by=OPERATOR)
        sent += 1
    world.clock.advance(timedelta(hours=1))
    with pytest.raises(NotPermitted, match="last day \\(at most 10\\)"):
        r.request_sender_verification(INFO, OFFICE, by=OPERATOR)
    assert len(world.smtp.wait_for(sent)) == sent
    world.clock.advance(timedelta(days=1))
    r.request_sender_verification(INFO, OFFICE, by=OPERATOR)


def secret_rows(e: Engine) -> int:
    import sqlite3  # noqa: PLC0415 - only this helper reads the file behind the port

    with sqlite3.connect(e.settings.home / "credentials.sqlite") as db:
        (count,) = db.execute("SELECT count(*) FROM mh_secrets").fetchone()
    return int(count)


def test_a_refused_verification_leaves_no_code_in_the_credential_store(
    world: World,
) -> None:
    # rule RSP-2, rule RSP-3: issue 7 item 8; the code's digest is taken back
    r = world.e.host.responders
    world.clock.at = T0
    before = secret_rows(world.e)
    carol = account_id(world.e, CAROL)
    with pytest.raises(NotPermitted):
        r.request_sender_verification(INFO, OFFICE, by=carol)
    with pytest.raises(InvalidInput, match="address itself"):
        r.request_sender_verification(INFO, INFO, by=OPERATOR)
    assert secret_rows(world.e) == before
    for _ in range(3):
        r.request_sender_verification(INFO, OFFICE, by=OPERATOR)
    assert secret_rows(world.e) == before + 3
    with pytest.raises(NotPermitted, match="at most 3"):
        r.request_sender_verification(INFO, OFFICE, by=OPERATOR)
    assert secret_rows(world.e) == before + 3


def test_deliver_with_the_mail_server_down_records_queues_and_exits_0(
    tmp_path: Path,
) -> None:
    # rule RSP-8: issue 7 item 13; the decision is recorded, the send job retries
    import socket  # noqa: PLC0415 - a port that nobody listens on

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed = f"smtp://127.0.0.1:{probe.getsockname()[1]}"
    pipe_home = make_pipe_home(tmp_path / "home")
    result = deliver_to_info(
        pipe_home, "jane.roe@example.net", stdin=ORDINARY, smtp_url=closed
    )
    err = result.stderr.decode()
    assert result.returncode == 0, err
    assert "Traceback" not in err
    decision = json.loads(result.stdout)
    assert decision["reply"] is True
    assert decision["queued"] is True
    with engine(pipe_home, background=False) as e:
        e.runner.catch_up()
        [entry] = e.host.responders.history(INFO)
        assert (entry.sender, entry.sent) == ("jane.roe@example.net", False)


def test_deliver_exits_75_when_the_store_cannot_be_reached(tmp_path: Path) -> None:
    # issue 7 item 13: nothing decided, the MTA keeps the message and retries
    import socket  # noqa: PLC0415 - a port that nobody listens on

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = str(probe.getsockname()[1])
    unreachable = {
        "PERSISTENCE_MODULE": "eventsourcing.postgres",
        "POSTGRES_DBNAME": "mailhost",
        "POSTGRES_HOST": "127.0.0.1",
        "POSTGRES_PORT": port,
        "POSTGRES_USER": "mailhost",
        "POSTGRES_PASSWORD": "unused",
        "POSTGRES_CONNECT_TIMEOUT": "5",
    }
    result = mailhost_bytes(
        *("deliver", "--recipient", INFO, "--sender", "jane.roe@example.net"),
        stdin=ORDINARY,
        home=tmp_path / "home",
        env=unreachable,
    )
    err = result.stderr.decode()
    assert result.returncode == 75, err
    assert result.stdout == b""
    assert "Traceback" not in err
    assert err.startswith("mailhost: temporary failure, nothing decided"), err


def test_deliver_reads_a_bounded_message_and_refuses_a_larger_one(
    pipe_home: Path,
) -> None:
    # issue 7 item 12: refused by its size after reading one byte more than the limit
    from application.replydelivery import MAX_MESSAGE_BYTES  # noqa: PLC0415 - the limit this test is about

    result = deliver_to_info(
        pipe_home, "jane.roe@example.net", stdin=ORDINARY + b"x" * MAX_MESSAGE_BYTES
    )
    assert result.returncode == 65, result.stderr.decode()  # EX_DATAERR (issue 13)
    assert b"larger than" in result.stderr


# -- issue 7: identities, bounded history, codes, the reply's time ---------------------------


def test_strasse_and_strasse_with_eszett_get_a_reply_each(world: World) -> None:
    # rule RSP-4: two senders, two windows (case-folding made them one: the second
    # got nothing for 7 days); issue 7 item 7
    world.away()
    eszett, double_s = "straße@example.net", "strasse@example.net"
    assert world.deliver(eszett, T0, mail(sender=eszett)).reply
    second = world.deliver(double_s, T0 + timedelta(minutes=1), mail(sender=double_s))
    assert second.reply, second.reason
    again = world.deliver("STRAßE@example.net", T0 + timedelta(minutes=2))
    assert again.check is Check.REPLIED_RECENTLY
    assert sorted(m.rcpt_tos[0] for m in replies(world.smtp)) == [double_s, eszett]


def test_the_history_shows_when_the_reply_was_decided(world: World) -> None:
    # rule RSP-4: the window starts when the engine decided, and the history says so;
    # the MTA's received_at (here 3 days earlier) only chose the schedule
    r = world.away()
    world.clock.at = T0
    decision = r.deliver(INFO, BOB, mail(sender=BOB), T0 - timedelta(days=3))
    assert decision.reply
    world.e.host.settle()
    world.e.runner.catch_up()
    [entry] = r.history(INFO)
    assert (entry.sender, entry.at) == (BOB, T0)


@pytest.mark.parametrize(
    "limit", [0, -1, 10_001, 10**100, float("nan"), float("inf"), 2.5, True]
)
def test_the_history_limit_is_a_bounded_whole_number(
    world: World, limit: object
) -> None:
    # issue 7 item 15: 10**30 reached SQLite and failed there (OverflowError, exit 1)
    with pytest.raises(InvalidInput, match="limit"):
        world.e.host.responders.history(INFO, limit)  # type: ignore[arg-type]


def test_the_history_limit_accepts_its_bounds(world: World) -> None:
    r = world.e.host.responders
    assert r.history(INFO, 1) == []
    assert r.history(INFO, 10_000) == []


def test_a_malformed_code_is_refused_and_uses_up_no_attempt(world: World) -> None:
    # rule RSP-2: only a code of the mailed form is a guess; anything else is bad input,
    # records nothing, and leaves every attempt to the user (issue 7)
    r = world.e.host.responders
    world.clock.at = T0
    r.request_sender_verification(INFO, OFFICE, by=OPERATOR)
    [verification] = world.smtp.wait_for(1)
    found = re.search(r"Code: (\d+)", verification.message.get_content())
    assert found is not None
    code = found.group(1)
    head = world.e.runner.log_position()
    malformed = [
        code[:-1],
        code + "0",
        code[:4] + "\x00" + code[4:],
        "\x1b[31m" + code,
        "".join(chr(0x0660 + int(d)) for d in code),  # Arabic-Indic digits
        "".join(chr(0xFF10 + int(d)) for d in code),  # fullwidth digits
        code[:4] + "\udcff" + code[4:],
        "1" * 1024 * 1024,
        "",
    ]
    for typed in malformed:
        with pytest.raises(InvalidInput, match="code"):
            r.confirm_sender(INFO, OFFICE, typed, by=OPERATOR)
    assert world.e.runner.log_position() == head
    responder = r.get(INFO)
    assert responder is not None
    pending = responder.pending_senders["office@example.org"]
    assert pending.attempts_left == world.e.host.responders.policy.verification_attempts
    assert r.confirm_sender(INFO, OFFICE, f" {code} ", by=OPERATOR) is True


def test_a_naive_received_at_is_refused_by_name(world: World) -> None:
    # issue 7 item 4: an MTA's time is an instant; without an offset it is no time
    _refused_as_received(world, T0.replace(tzinfo=None))


def test_responder_show_refuses_a_limit_out_of_bounds_with_status_2(
    pipe_home: Path,
) -> None:
    # issue 7 item 15: exit 2 naming the limit, not 1 with an OverflowError
    for limit in ("0", str(10**30)):
        result = mailhost(pipe_home, "responder", "show", INFO, "--limit", limit)
        err = result.stderr.decode()
        assert result.returncode == 2, err
        assert "limit" in err
        assert "Traceback" not in err


def test_a_reply_as_a_client_reads_it_from_the_smtp_server(world: World) -> None:
    # rule RSP-8, issue 13: an Exchange-like long Message-ID threads as a plain msg-id
    # (RFC 5322 3.6.4, RFC 2047 5); the To keeps the sender's name; the From is the
    # alias the message was sent to; the subject is decoded, bounded and re-encoded.
    r = world.e.host.responders
    alias = world.e.host.addresses.add_alias(INFO, "sales", by=OPERATOR)
    r.add(INFO, "Holidays", body=AWAY, by=OPERATOR)
    r.activate(INFO, "Holidays", by=OPERATOR)
    long_id = (
        "<DB9PR08MB7162A1E2C3D4E5F60718293A4B5C6D7E8F90A1B2C3D4E5F6"
        "@DB9PR08MB7162.eurprd08.prod.outlook.com>"
    )
    subject = "=?utf-8?b?" + base64.b64encode(("Überweisung " * 40).encode()).decode()
    raw = mail(
        sender=BOB, to=f"Sales <{alias}>", subject=subject + "?=", message_id=long_id
    )
    raw = raw.replace(b"From: Sender <", b"From: =?utf-8?q?J=C3=BCrg_M=C3=BCller?= <")
    decision = world.deliver(BOB, T0, raw)
    assert decision.reply, decision
    [received] = world.smtp.messages
    assert b"=?" not in b"".join(
        line
        for line in received.data.split(b"\r\n")
        if line.lower().startswith((b"in-reply-to:", b"references:", b"message-id:"))
    )
    seen = BytesParser(policy=email.policy.default).parsebytes(received.data)
    assert seen["In-Reply-To"] == long_id
    assert seen["References"].split() == [long_id]
    [to] = seen["To"].addresses
    assert (to.display_name, to.addr_spec) == ("Jürg Müller", BOB)
    assert seen["From"].addresses[0].addr_spec == alias
    assert seen["Subject"].startswith("Auto: Überweisung Überweisung")
    assert seen["Subject"].endswith("\u2026")
    assert len(seen["Subject"]) <= 256
    assert max(len(line) for line in received.data.split(b"\r\n")) <= 998
    assert decision.as_dict()["from"] == alias
