"""The reply as a mail: null path, subject, threading, UTF-8 (RSP-8)."""

from __future__ import annotations

from datetime import UTC, datetime
from email import message_from_bytes, policy
from email.message import EmailMessage
from uuid import uuid4

import pytest

from domain.address import EmailAddress
from domain.incoming import OriginalMessage
from domain.replymail import compose_reply, reply_references, reply_subject
from domain.replyplan import Check
from domain.responder import AutoResponder
from domain.respondermessage import MessageDraft
from tests.unit.autoreply_support import (
    ADDRESS,
    ORDINARY,
    POLICY,
    T0,
    deliver,
    plan_for,
    responder,
)


def test_the_reply_goes_to_the_envelope_sender_from_a_null_path() -> None:
    # rule RSP-8
    plan = plan_for(
        "From: Bob Jones <bob.jones@other.org>",
        "Reply-To: team@other.org",
        f"To: {ADDRESS}",
        "Subject: Lunch?",
        "Message-ID: <lunch-1@other.org>",
        "References: <a@other.org> <b@other.org>",
        "In-Reply-To: <b@other.org>",
        sender="Bob@Other.org",
    )
    reply = compose_reply(plan, date=datetime(2024, 7, 3, 12, tzinfo=UTC))
    assert reply.envelope.mail_from == ""
    assert reply.envelope.rcpt_to == "Bob@other.org"
    m = reply.message
    assert m["To"] == "Bob@other.org"
    assert m["From"] == ADDRESS
    assert m["Auto-Submitted"] == "auto-replied"
    assert m["In-Reply-To"] == "<lunch-1@other.org>"
    assert m["References"] == "<a@other.org> <b@other.org> <lunch-1@other.org>"
    assert m["Subject"] == "Auto: Lunch?"
    assert m["Date"] == "Wed, 03 Jul 2024 12:00:00 +0000"
    assert m["Message-ID"] == plan.message_id
    assert m.get_content() == "I am away until August.\n"
    # The reply read back by any responder (ours included) is not answered: no loop.
    back = deliver(
        m.as_string(),
        sender="",
        config=responder().config(),
    )
    assert back.check is Check.NULL_SENDER
    as_carol = deliver(m.as_string().replace("To: Bob@other.org", f"To: {ADDRESS}"))
    assert as_carol.check is Check.AUTO_SUBMITTED


def test_the_message_subject_and_verified_sender_are_used() -> None:
    # rule RSP-2 (alternative sender), RSP-8
    r = AutoResponder.provision(EmailAddress.parse(ADDRESS), time_zone="UTC", at=T0)
    team = EmailAddress.parse("team@example.org")
    r.request_sender_verification(team, uuid4(), at=T0, policy=POLICY)
    assert r.confirm_sender(team, code_matches=True, at=T0)
    r.save_message(
        MessageDraft(name="Away", body="Away", subject="Out of office", sender=team),
        at=T0,
    )
    r.activate("Away", at=T0)
    plan = plan_for(*ORDINARY, f"To: {ADDRESS}", config=r.config())
    m = compose_reply(plan, date=T0).message
    assert m["From"] == "team@example.org"
    assert m["Subject"] == "Out of office"


@pytest.mark.parametrize(
    ("original", "expected"),
    [
        ("Lunch?", "Auto: Lunch?"),
        ("Re: Lunch?", "Auto: Re: Lunch?"),
        ("Auto: Lunch?", "Auto: Lunch?"),
        ("AUTO: Lunch?", "AUTO: Lunch?"),
        ("  spaced \t out ", "Auto: spaced out"),
        ("Injected\r\nBcc: x@y.org", "Auto: Injected Bcc: x@y.org"),
        # Pigeonhole's default subject for a message without one (issue 13).
        ("", "Automated reply"),
        (None, "Automated reply"),
    ],
)
def test_the_subject_is_derived_without_stacking(
    original: str | None, expected: str
) -> None:
    # rule RSP-8: "Auto: <original>", never "Auto: Auto: "
    assert reply_subject(original) == expected
    assert reply_subject(original, "Mine") == "Mine"


def test_an_encoded_subject_with_line_breaks_cannot_inject_fields() -> None:
    # rule RSP-8: a decoded encoded-word may hold CR LF
    plan = plan_for(
        *ORDINARY[:2], f"To: {ADDRESS}", "Subject: =?utf-8?q?Hi=0D=0ABcc:_x@y.org?="
    )
    m = compose_reply(plan, date=T0).message
    assert m["Subject"] == "Auto: Hi Bcc: x@y.org"
    assert m["Bcc"] is None
    assert b"\r\nBcc:" not in m.as_bytes()


@pytest.mark.parametrize(
    ("original", "expected"),
    [
        (OriginalMessage(message_id="<m@x>"), ("<m@x>",)),
        (
            OriginalMessage(message_id="<m@x>", references=("<a@x>", "<b@x>")),
            ("<a@x>", "<b@x>", "<m@x>"),
        ),
        (
            OriginalMessage(message_id="<m@x>", in_reply_to=("<p@x>",)),
            ("<p@x>", "<m@x>"),
        ),
        (
            OriginalMessage(message_id="<m@x>", in_reply_to=("<p@x>", "<q@x>")),
            ("<m@x>",),
        ),
        (OriginalMessage(message_id=None, references=("<a@x>",)), ()),
    ],
)
def test_references_follow_rfc5322(
    original: OriginalMessage, expected: tuple[str, ...]
) -> None:
    # rule RSP-8, RFC 5322 3.6.4
    assert reply_references(original) == expected


def test_long_references_keep_the_first_and_the_latest() -> None:
    refs = tuple(f"<r{i}@x>" for i in range(50))
    kept = reply_references(OriginalMessage(message_id="<m@x>", references=refs))
    assert len(kept) == 20
    assert kept[0] == "<r0@x>"
    assert kept[-2:] == ("<r49@x>", "<m@x>")


def test_without_a_message_id_there_is_no_in_reply_to() -> None:
    plan = plan_for("From: bob@other.org", f"To: {ADDRESS}", "Subject: x")
    m = compose_reply(plan, date=T0).message
    assert m["In-Reply-To"] is None
    assert m["References"] is None


def test_a_non_ascii_body_and_address_are_sent_as_utf8() -> None:
    r = responder()
    r.edit_message(
        MessageDraft(name="Holidays", body="Je suis en congé — à bientôt"), at=T0
    )
    plan = plan_for(
        *ORDINARY, f"To: {ADDRESS}", sender="zoë@other.org", config=r.config()
    )
    reply = compose_reply(plan, date=T0)
    assert reply.envelope.rcpt_to == "zoë@other.org"
    back = message_from_bytes(reply.message.as_bytes(), policy=policy.default)
    assert isinstance(back, EmailMessage)
    assert back.get_content().replace("\r\n", "\n") == "Je suis en congé — à bientôt\n"
    assert back["To"] == "zoë@other.org"
