"""The reply as a mail: null path, subject, threading, UTF-8 (RSP-8)."""

from __future__ import annotations

import base64
import quopri
import re
from datetime import UTC, datetime
from email import message_from_bytes, policy
from email.message import EmailMessage
from email.parser import BytesParser
from uuid import uuid4

import attrs
import pytest
from hypothesis import given
from hypothesis import strategies as st

from domain.address import EmailAddress
from domain.incoming import OriginalMessage
from domain.replymail import (
    MAX_SUBJECT_CHARACTERS,
    compose_reply,
    reply_references,
    reply_subject,
)
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
    raw,
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


# -- issue 13: identification headers, the sender's name, the subject ---------------------

EXCHANGE_ID = (
    "<AM0PR02MB5652C1B7F0E6A1D5A3F2B5C8D9E0A1B2C3D4E5F6A7B8C9D0E1F2"
    "@AM0PR02MB5652.eurprd02.prod.outlook.com>"
)


def _seen(plan_fields: tuple[str, ...], *, sender: str) -> tuple[bytes, EmailMessage]:
    plan = plan_for(*plan_fields, sender=sender)
    data = compose_reply(plan, date=T0).message.as_bytes()
    back = BytesParser(policy=policy.default).parsebytes(data)
    assert isinstance(back, EmailMessage)
    return data, back


def test_a_long_message_id_is_written_plain_never_encoded() -> None:
    # rule RSP-8; RFC 5322 3.6.4 (msg-id), RFC 2047 5 (no encoded-word in a msg-id)
    refs = tuple(f"<{i}.{'x' * 90}@mail.example.com>" for i in range(30))
    data, back = _seen(
        (
            "From: Bob <bob@other.org>",
            f"To: {ADDRESS}",
            "Subject: Status",
            f"Message-ID: {EXCHANGE_ID}",
            "References: " + "\r\n ".join(refs),
        ),
        sender="bob@other.org",
    )
    assert b"=?" not in data
    assert f"\r\nIn-Reply-To: {EXCHANGE_ID}\r\n".encode() in data
    assert back["In-Reply-To"] == EXCHANGE_ID
    kept = back["References"].split()
    # Too long a chain: the first id and the latest ones, the middle dropped (3.6.4).
    assert kept[0] == refs[0]
    assert kept[-2:] == [refs[-1], EXCHANGE_ID]
    assert len(kept) == 20
    # Folded between ids (one id per line at worst), every line within 998 octets.
    lines = data.split(b"\r\n\r\n", 1)[0].split(b"\r\n")
    assert max(map(len, lines)) <= 998
    assert all(len(line) <= 78 or line.count(b"<") == 1 for line in lines)


def test_an_id_that_is_not_a_printable_msg_id_is_not_written_back() -> None:
    # RFC 5322 3.6.4: a msg-id is printable ASCII; the stored form keeps no other
    original = OriginalMessage(
        message_id="<m@x>", references=("<caf\u00e9@x>", "<ok@x>", "<a\x01b@x>")
    )
    assert reply_references(original) == ("<ok@x>", "<m@x>")
    assert reply_references(OriginalMessage(message_id="<\u00e9@x>")) == ()


def test_a_subject_encoded_twice_cannot_inject_a_field() -> None:
    # rule RSP-8: the stdlib decodes a value it is given; an encoded-word inside the
    # decoded subject would be decoded again and its CR LF written raw
    inner = "=?utf-8?q?Hi=0D=0ABcc:_x@y.org?="
    outer = "=?utf-8?b?" + base64.b64encode(inner.encode()).decode() + "?="
    data, back = _seen(
        (*ORDINARY[:2], f"To: {ADDRESS}", f"Subject: {outer}"), sender="bob@other.org"
    )
    assert back["Bcc"] is None
    assert b"\r\nBcc:" not in data
    assert back["Subject"] == "Auto: Hi Bcc: x@y.org"


@given(st.text(min_size=0, max_size=600))
def test_any_subject_reads_back_as_derived_bounded_and_encoded(original: str) -> None:
    # rule RSP-8: whatever the original subject, the reply's reads back as
    # reply_subject says, at most 256 characters, ASCII on the wire, and every
    # encoded-word holds whole UTF-8 characters (RFC 2047 5)
    plan = attrs.evolve(
        plan_for(*ORDINARY[:2], f"To: {ADDRESS}", "Subject: x", sender="bob@other.org"),
        original=OriginalMessage(message_id="<m@x>", subject=original),
    )
    data = compose_reply(plan, date=T0).message.as_bytes()
    assert data.isascii()
    back = BytesParser(policy=policy.default).parsebytes(data)
    expected = reply_subject(original)
    assert back["Subject"] == expected
    assert 0 < len(expected) <= MAX_SUBJECT_CHARACTERS
    for charset, encoding, text in ENCODED_WORD.findall(data.decode()):
        assert charset.lower() == "utf-8"
        raw = (
            base64.b64decode(text)
            if encoding.lower() == "b"
            else quopri.decodestring(text.replace("_", " ").encode(), header=True)
        )
        raw.decode("utf-8")  # strict: no word ends inside a character


ENCODED_WORD = re.compile(r"=\?([^?]+)\?([bBqQ])\?([^?]*)\?=")


def test_the_cut_keeps_a_combining_mark_with_its_letter() -> None:
    # rule RSP-8: cut on a character boundary, the ellipsis last (256 in all)
    plain = reply_subject("a" * 300)
    assert plain == "Auto: " + "a" * 249 + "\u2026"
    assert len(plain) == MAX_SUBJECT_CHARACTERS
    # Character 256 is the accent of an "e": the cut moves before the "e" too.
    accented = reply_subject("a" * 248 + "e\u0301" * 5)
    assert accented == "Auto: " + "a" * 248 + "\u2026"


@pytest.mark.parametrize(
    ("from_field", "to"),
    [
        ('"Zo\u00eb Dupont" <bob@other.org>', "Zo\u00eb Dupont <bob@other.org>"),
        ("=?utf-8?q?Zo=C3=ABe?= <bob@other.org>", "Zo\u00ebe <bob@other.org>"),
        ('"Evil, Inc." <bob@other.org>', '"Evil, Inc." <bob@other.org>'),
        # A name that is a link is bait, not a name: dropped (ADV-5).
        ('"www.win.example" <bob@other.org>', "bob@other.org"),
        ('"Bob\u202e" <bob@other.org>', "Bob <bob@other.org>"),
        ("Someone Else <carol@other.org>", "bob@other.org"),
    ],
)
def test_the_to_keeps_the_senders_name_neutralised_and_encoded(
    from_field: str, to: str
) -> None:
    # rule RSP-8 (Pigeonhole: the From whose address is the envelope sender)
    data, back = _seen(
        (ORDINARY[0], f"From: {from_field}", f"To: {ADDRESS}", "Subject: Hi"),
        sender="bob@other.org",
    )
    assert data.isascii()
    assert str(back["To"]) == to


def test_the_reply_comes_from_the_alias_the_message_was_sent_to() -> None:
    # rule RSP-8: the mailbox's own address in To (Pigeonhole's :addresses)
    decision = deliver(
        raw(*ORDINARY, "To: A. Smith <A.Smith@example.org>"),
        own=("A.Smith@example.org",),
    )
    assert decision.plan is not None
    assert decision.plan.from_address == "A.Smith@example.org"
    assert (
        compose_reply(decision.plan, date=T0).message["From"] == "A.Smith@example.org"
    )
    # Named as the primary (the address delivered to): from the primary.
    both = deliver(
        raw(*ORDINARY, f"To: a.smith@example.org, {ADDRESS}"),
        own=("a.smith@example.org",),
    )
    assert both.plan is not None
    assert both.plan.from_address == ADDRESS


def test_a_plan_recorded_before_to_name_existed_still_composes() -> None:
    # Stored AutoReply.Decided events without to_name replay with None.
    plan = plan_for(*ORDINARY, f"To: {ADDRESS}", sender="bob@other.org")
    assert plan.to_name == "Bob"
    old = attrs.evolve(plan, to_name=None)
    assert compose_reply(old, date=T0).message["To"] == "bob@other.org"
