"""Header fields read robustly and within bounds, and what a reply threads on (RSP-7, RSP-8)."""

from __future__ import annotations

from email import message_from_bytes, message_from_string, policy
from email import policy as email_policy

import pytest
from hypothesis import given
from hypothesis import strategies as st

from domain.incoming import Headers, OriginalMessage, header_block, summarise
from domain.replyplan import Check
from domain.responderpolicy import ResponderPolicy
from tests.unit.autoreply_support import (
    ADDRESS,
    ORDINARY,
    decided_and_composed,
    deliver,
    raw,
)

# -- headers are read robustly -----------------------------------------------------------------


def test_headers_are_unfolded_decoded_and_all_occurrences_kept() -> None:
    h = Headers(
        {
            "subject": ["=?utf-8?q?R=C3=A9union?=\r\n =?utf-8?q?_demain?="],
            "TO": ["a@x.org", "B <b@y.org>"],
            "Received": ["one", "two"],
        }
    )
    assert h.values("Subject") == ["Réunion demain"]
    assert h.addresses("to") == ["a@x.org", "b@y.org"]
    assert h.count("received") == 2
    assert h.names == ["subject", "TO", "Received"]


def test_eight_bit_headers_are_read_as_utf8() -> None:
    text = "From: Zoë <zoe@other.org>\r\nTo: Алиса <alice@example.org>\r\nSubject: Grüße\r\n\r\nx"
    parsed = message_from_bytes(text.encode(), policy=policy.compat32)
    h = Headers(parsed)
    assert h.values("subject") == ["Grüße"]
    assert h.addresses("to") == ["alice@example.org"]


header_names = st.sampled_from(
    [
        "To",
        "Cc",
        "From",
        "Subject",
        "Auto-Submitted",
        "Precedence",
        "List-Id",
        "Received",
        "X-Spam-Status",
        "Message-ID",
        "References",
        "X-Auto-Response-Suppress",
        "Resent-To",
    ]
)


@given(fields=st.dictionaries(header_names, st.lists(st.text(max_size=60), max_size=3)))
def test_any_header_values_give_a_decision_never_an_error(
    fields: dict[str, list[str]],
) -> None:
    decided_and_composed(fields)


def test_summarise_reads_ids_from_folded_fields() -> None:
    original = summarise(
        {
            "Message-ID": ["\r\n <m@x>"],
            "References": ["<a@x>\r\n <b@x> (comment)"],
            "In-Reply-To": ["Bob's message <b@x>"],
            "Subject": ["=?iso-8859-1?q?caf=E9?="],
        }
    )
    assert original == OriginalMessage(
        message_id="<m@x>",
        in_reply_to=("<b@x>",),
        references=("<a@x>", "<b@x>"),
        subject="café",
    )


def test_a_hostile_message_cannot_grow_what_is_stored() -> None:
    # rule RSP-8: only what a reply threads on is kept, bounded
    huge = raw(
        *ORDINARY[:2],
        f"To: {ADDRESS}",
        "Subject: " + "x" * 100_000,
        "References: " + " ".join(f"<r{i}@x.org>" for i in range(5_000)),
        "In-Reply-To: <" + "y" * 5_000 + "@x.org>",
    )
    original = summarise(message_from_string(huge, policy=email_policy.default))
    assert original.subject is not None
    assert len(original.subject) <= 998
    assert len(original.references) == 20
    assert original.references[0] == "<r0@x.org>"
    assert original.references[-1] == "<r4999@x.org>"
    assert original.in_reply_to == ()


# -- the header block as the MTA hands it over (issue 7 items 12 and 14) ---------------------


@pytest.mark.parametrize(
    ("field", "check"),
    [
        ("Auto-Submitted : auto-generated", Check.AUTO_SUBMITTED),
        ("Auto-Submitted\t: auto-replied", Check.AUTO_SUBMITTED),
        ("auto-submitted  :auto-notified", Check.AUTO_SUBMITTED),
        ("Auto-Submitted :\r\n auto-generated", Check.AUTO_SUBMITTED),
        ("List-Id : <dev.lists.other.org>", Check.MAILING_LIST),
        ("List-Post\t:<mailto:dev@lists.other.org>", Check.MAILING_LIST),
        ("Mailing-List : list dev@lists.other.org", Check.MAILING_LIST),
        ("Precedence : bulk", Check.PRECEDENCE),
        ("precedence:list", Check.PRECEDENCE),
        ("X-Auto-Response-Suppress : All", Check.RESPONSE_SUPPRESSED),
        ("X-Auto-Response-Suppress\t:\r\n\tDR, OOF", Check.RESPONSE_SUPPRESSED),
    ],
)
def test_obsolete_field_syntax_is_read_by_deliver(field: str, check: Check) -> None:
    # rule RSP-7: RFC 5322 4.5 (obs-optional) allows blanks before the colon; the
    # stdlib parser took such a line for the start of the body and answered
    text = raw(*ORDINARY, f"To: {ADDRESS}", field)
    assert deliver(text, form="wire").check is check
    assert deliver(raw(*ORDINARY, field, f"To: {ADDRESS}"), form="wire").check is check


def test_a_line_that_is_not_a_field_does_not_end_the_header() -> None:
    # rule RSP-7: a field after a broken line can still suppress the reply
    text = raw(*ORDINARY, f"To: {ADDRESS}", "this is no field", "Precedence: junk")
    assert deliver(text, form="wire").check is Check.PRECEDENCE
    mbox = "From bob@other.org Wed Jul  3 09:59:58 2024\r\n" + raw(
        *ORDINARY, f"To: {ADDRESS}"
    )
    assert deliver(mbox, form="wire").reply


def test_the_header_block_is_read_up_to_its_bound_and_no_further() -> None:
    # rule RSP-7: issue 7 item 12
    fields = (*ORDINARY, f"To: {ADDRESS}")
    head = "\r\n".join(fields).encode()
    exact = header_block(head + b"\r\n\r\n" + b"x" * 10_000_000, limit=len(head))
    assert exact.oversized is None
    assert exact.values("subject") == ["Lunch?"]
    over = header_block(head + b"\r\n\r\nbody", limit=len(head) - 1)
    assert over.oversized == len(head) - 1
    assert over.names == []
    decision = decided_and_composed(
        over, rules=ResponderPolicy(require_explicit_recipient=False)
    )
    assert decision.check is Check.OVERSIZED_HEADER
    assert decision.reason.startswith("RSP-7: the header block is larger than")
    # no body at all: the whole message is its header (RFC 5322 3.5)
    assert header_block(head).values("subject") == ["Lunch?"]
    assert header_block(b"\r\nbody only").names == []
