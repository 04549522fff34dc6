"""The delivery decision (RSP-4, RSP-6, RSP-7) and the record of a reply.

A table of real-world messages that must not be answered, each with the rule that
refuses it, and ordinary ones that must be; every row is read in every form of
:data:`tests.unit.autoreply_support.FORMS`. Then the order of the checks, the window and
the cap.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

import attrs
import pytest
from hypothesis import given
from hypothesis import strategies as st

from domain.autoreply import record_reply, window_id_for
from domain.errors import NotPermitted
from domain.replychecks import CHECKS
from domain.replyplan import Check, Decision
from domain.responderpolicy import REPLY_INTERVAL, ResponderPolicy
from tests.unit.autoreply_support import (
    ADDRESS,
    CONFIG,
    FORMS,
    ORDINARY,
    POLICY,
    T0,
    deliver,
    raw,
    responder,
    wall,
)


@dataclass(frozen=True)
class Case:
    id: str
    text: str
    sender: str
    check: Check
    reason: str


# rule RSP-7 (and RSP-2 for exclusions): none of these may be answered.
NOT_ANSWERED = [
    Case(
        "mailing-list-with-list-id",
        raw(
            "Return-Path: <python-dev-bounces+alice=example.org@python.org>",
            "From: Guido <guido@python.org>",
            "To: python-dev@python.org",
            "Subject: [Python-Dev] PEP 999",
            "List-Id: Python core developers <python-dev.python.org>",
            "List-Unsubscribe: <mailto:python-dev-leave@python.org>",
            "Message-ID: <pep999@python.org>",
        ),
        "guido@python.org",
        Check.MAILING_LIST,
        "RSP-7: List-Id header present (mailing list)",
    ),
    Case(
        "bounce-from-mailer-daemon-with-null-sender",
        raw(
            "From: Mail Delivery System <MAILER-DAEMON@mx.other.org>",
            f"To: {ADDRESS}",
            "Subject: Undelivered Mail Returned to Sender",
            "Auto-Submitted: auto-replied",
            "Content-Type: multipart/report; report-type=delivery-status; boundary=x",
        ),
        "<>",
        Check.NULL_SENDER,
        "RSP-7: null envelope sender <>",
    ),
    Case(
        "another-auto-reply",
        raw(
            "From: Carol <carol@other.org>",
            f"To: {ADDRESS}",
            "Subject: Auto: Lunch?",
            "Auto-Submitted: auto-replied",
            "Message-ID: <auto-1@other.org>",
        ),
        "carol@other.org",
        Check.AUTO_SUBMITTED,
        "RSP-7: Auto-Submitted: auto-replied",
    ),
    Case(
        "auto-generated-with-parameters-and-comment",
        raw(
            "From: Monitor <monitor@ops.other.org>",
            f"To: {ADDRESS}",
            "Subject: Disk full",
            "Auto-Submitted: auto-generated (cron) ; owner-email=ops@other.org",
        ),
        "monitor@ops.other.org",
        Check.AUTO_SUBMITTED,
        "RSP-7: Auto-Submitted: auto-generated",
    ),
    Case(
        "precedence-bulk-newsletter",
        raw(
            "From: Shop News <news@shop.example.com>",
            f"To: {ADDRESS}",
            "Subject: Summer sale",
            "Precedence: bulk",
        ),
        "news@shop.example.com",
        Check.PRECEDENCE,
        "RSP-7: Precedence: bulk",
    ),
    Case(
        "newsletter-with-list-unsubscribe",
        raw(
            "From: Shop News <news@shop.example.com>",
            f"To: {ADDRESS}",
            "Subject: Summer sale",
            "List-Unsubscribe: <https://shop.example.com/u/123>",
            "Precedence: bulk",
        ),
        "news@shop.example.com",
        Check.MAILING_LIST,
        "RSP-7: List-Unsubscribe header present (mailing list)",
    ),
    Case(
        "second-precedence-field-says-junk",
        raw(
            *ORDINARY,
            f"To: {ADDRESS}",
            "Precedence: normal",
            "Precedence:\r\n junk",
        ),
        "bob@other.org",
        Check.PRECEDENCE,
        "RSP-7: Precedence: junk",
    ),
    Case(
        "bcc-copy-not-in-to-or-cc",
        raw(*ORDINARY, "To: team@other.org", "Cc: Dan <dan@other.org>"),
        "bob@other.org",
        Check.NOT_A_RECIPIENT,
        "RSP-7: alice@example.org is not an explicit recipient",
    ),
    Case(
        "bcc-field-kept-by-the-sending-client",
        raw(*ORDINARY, "To: team@other.org", "Bcc: alice@example.org"),
        "bob@other.org",
        Check.NOT_A_RECIPIENT,
        "RSP-7: alice@example.org is not an explicit recipient",
    ),
    Case(
        "undisclosed-recipients",
        raw(*ORDINARY, "To: undisclosed-recipients:;"),
        "bob@other.org",
        Check.NOT_A_RECIPIENT,
        "not an explicit recipient",
    ),
    Case(
        "spam-flag",
        raw(
            *ORDINARY,
            f"To: {ADDRESS}",
            "X-Spam-Flag: YES",
            "X-Spam-Status: Yes, score=14.2 required=5.0 tests=BAYES_99",
        ),
        "bob@other.org",
        Check.SPAM,
        "RSP-7: flagged as spam (X-Spam-Flag: YES)",
    ),
    Case(
        "spam-status-only",
        raw(
            *ORDINARY,
            f"To: {ADDRESS}",
            "X-Spam-Status: Yes, score=7.1 required=5.0 tests=URIBL_BLACK,\r\n\tBAYES_80",
        ),
        "bob@other.org",
        Check.SPAM,
        "flagged as spam (X-Spam-Status: Yes)",
    ),
    Case(
        "exchange-suppresses-oof",
        raw(
            "From: Erin <erin@corp.example.net>",
            f"To: {ADDRESS}",
            "Subject: Meeting moved",
            "X-Auto-Response-Suppress: DR, OOF, AutoReply",
            "X-MS-Exchange-Organization-AuthAs: Internal",
        ),
        "erin@corp.example.net",
        Check.RESPONSE_SUPPRESSED,
        "RSP-7: X-Auto-Response-Suppress: DR, OOF, AutoReply",
    ),
    Case(
        "exchange-suppresses-all",
        raw(
            "From: Erin <erin@corp.example.net>",
            f"To: {ADDRESS}",
            "X-Auto-Response-Suppress: All",
        ),
        "erin@corp.example.net",
        Check.RESPONSE_SUPPRESSED,
        "X-Auto-Response-Suppress: All",
    ),
    Case(
        "owner-list-sender",
        raw(
            "From: Owner <owner-dev@lists.other.org>",
            f"To: {ADDRESS}",
            "Subject: Your subscription",
        ),
        "owner-dev@lists.other.org",
        Check.SYSTEM_SENDER,
        "RSP-7: system sender owner-dev@lists.other.org: list owner",
    ),
    Case(
        "request-robot",
        raw("From: dev-request@lists.other.org", f"To: {ADDRESS}", "Subject: Confirm"),
        "dev-request@lists.other.org",
        Check.SYSTEM_SENDER,
        "list robot (*-request)",
    ),
    Case(
        "majordomo",
        raw("From: Majordomo@lists.other.org", f"To: {ADDRESS}", "Subject: Welcome"),
        "Majordomo@lists.other.org",
        Check.SYSTEM_SENDER,
        "majordomo",
    ),
    Case(
        "no-reply-from-header-with-person-envelope",
        raw(
            "From: Shop <no-reply@shop.example.com>",
            f"To: {ADDRESS}",
            "Subject: Your order has shipped",
        ),
        "orders@shop.example.com",
        Check.SYSTEM_SENDER,
        "system sender no-reply@shop.example.com: no-reply address",
    ),
    Case(
        "loop-through-40-received",
        raw(
            *(
                f"Received: from hop{i}.other.org by hop{i + 1}.other.org"
                for i in range(40)
            ),
            "From: Bob <bob@other.org>",
            f"To: {ADDRESS}",
            "Subject: Lunch?",
        ),
        "bob@other.org",
        Check.LOOP,
        "RSP-7: 40 Received headers, more than 30 (mail loop)",
    ),
    Case(
        "from-the-address-itself",
        raw(f"From: Alice <{ADDRESS}>", f"To: {ADDRESS}", "Subject: note to self"),
        "Alice+phone@Example.org",
        Check.OWN_ADDRESS,
        "RSP-7: sender Alice+phone@example.org is one of the address's own addresses",
    ),
    Case(
        "from-an-alias",
        raw("From: a.smith@example.org", f"To: {ADDRESS}"),
        "A.Smith@example.org",
        Check.OWN_ADDRESS,
        "own addresses",
    ),
    Case(
        "excluded-address",
        raw("From: The Boss <boss@company.com>", f"To: {ADDRESS}", "Subject: Call me"),
        "BOSS@Company.com",
        Check.EXCLUDED,
        "RSP-2: sender boss@company.com is excluded by 'boss@company.com'",
    ),
    Case(
        "excluded-domain-via-from-header",
        raw("From: Pat <pat@Partner.CH>", f"To: {ADDRESS}", "Subject: Invoice"),
        "bounces+x1@esp.example.net",
        Check.EXCLUDED,
        "RSP-2: sender pat@partner.ch is excluded by '@partner.ch'",
    ),
    Case(
        "domainless-mailer-daemon-envelope",
        raw("From: MAILER-DAEMON", f"To: {ADDRESS}"),
        "MAILER-DAEMON",
        Check.INVALID_SENDER,
        "RSP-7: envelope sender 'MAILER-DAEMON' is not a usable address",
    ),
]


@pytest.mark.parametrize("form", list(FORMS))
@pytest.mark.parametrize("case", NOT_ANSWERED, ids=lambda c: c.id)
def test_real_world_messages_that_must_not_be_answered(case: Case, form: str) -> None:
    decision = deliver(case.text, sender=case.sender, form=form)
    assert not decision.reply
    assert decision.plan is None
    assert decision.check is case.check
    assert case.reason in decision.reason
    assert decision.reason.startswith(decision.rule + ": ")


@dataclass(frozen=True)
class Answered:
    id: str
    fields: tuple[str, ...]
    sender: str = "bob@other.org"


# rule RSP-7: the address is an explicit recipient, in any of these spellings.
ANSWERED = [
    Answered("plain-to", (f"To: {ADDRESS}",)),
    Answered("display-name-and-case", ('To: "Smith, Alice" <ALICE@Example.ORG>',)),
    Answered(
        "among-several-in-cc", ("To: team@other.org", f"Cc: dan@other.org, <{ADDRESS}>")
    ),
    Answered(
        "folded-to",
        (
            "To: Dan <dan@other.org>,\r\n Carol <carol@other.org>,\r\n\tAlice <Alice@example.org>",
        ),
    ),
    Answered(
        "encoded-display-name", (f"To: =?utf-8?q?Al=C3=ADce_=2C_S?= <{ADDRESS}>",)
    ),
    Answered("resent-to-forward", ("To: team@other.org", f"Resent-To: {ADDRESS}")),
    Answered("resent-cc", ("To: team@other.org", f"Resent-Cc: <{ADDRESS.upper()}>")),
    Answered("in-a-group", (f"To: Friends: dan@other.org, {ADDRESS};",)),
    Answered("to-an-alias", ("To: A. Smith <A.Smith@example.org>",)),
    Answered("to-a-subaddress", ("To: alice+travel@example.org",)),
    Answered("auto-submitted-no", (f"To: {ADDRESS}", "Auto-Submitted: no")),
    Answered(
        "spam-flag-no",
        (f"To: {ADDRESS}", "X-Spam-Flag: NO", "X-Spam-Status: No, score=0.1"),
    ),
    Answered("precedence-first-class", (f"To: {ADDRESS}", "Precedence: first-class")),
    Answered(
        "suppress-other-kinds",
        (f"To: {ADDRESS}", "X-Auto-Response-Suppress: DR, RN, NRN"),
    ),
    Answered(
        "mixed-case-envelope", (f"To: {ADDRESS}",), sender="<Bob.Jones@Other.ORG>"
    ),
    Answered(
        "thirty-received",
        (f"To: {ADDRESS}", *("Received: from x by y" for _ in range(29))),
    ),
    Answered(
        "person-named-like-a-list", (f"To: {ADDRESS}",), sender="requester@other.org"
    ),
]


@pytest.mark.parametrize("form", list(FORMS))
@pytest.mark.parametrize("case", ANSWERED, ids=lambda c: c.id)
def test_ordinary_messages_are_answered(case: Answered, form: str) -> None:
    # rule RSP-7 (the address is explicit), RSP-4 (first reply to this sender)
    decision = deliver(raw(*ORDINARY, *case.fields), sender=case.sender, form=form)
    assert decision.reply, decision.reason
    assert decision.check is Check.REPLY
    assert (
        decision.reason == "RSP-4: reply with 'Holidays' (first reply to this sender)"
    )
    assert decision.plan is not None
    assert decision.plan.to == case.sender.strip("<>").replace("Other.ORG", "other.org")


def test_a_bcc_copy_is_answered_when_so_configured() -> None:
    # rule RSP-7: "unless configured otherwise"
    text = raw(*ORDINARY, "To: team@other.org")
    assert deliver(text).check is Check.NOT_A_RECIPIENT
    assert deliver(text, rules=ResponderPolicy(require_explicit_recipient=False)).reply


# -- the order of the checks -----------------------------------------------------------------

# Each fault spoils one check and no other; the decision must name the earliest.
FAULTS: dict[Check, Callable[[dict[str, object]], None]] = {
    Check.OWN_ADDRESS: lambda m: m.update(sender="alice@example.org"),
    Check.EXCLUDED: lambda m: m.update(from_="Boss <boss@company.com>"),
    Check.SYSTEM_SENDER: lambda m: m.update(reply_from="owner-x@lists.other.org"),
    Check.MAILING_LIST: lambda m: m.update(list_id=True),
    Check.AUTO_SUBMITTED: lambda m: m.update(auto="auto-generated"),
    Check.PRECEDENCE: lambda m: m.update(precedence="list"),
    Check.RESPONSE_SUPPRESSED: lambda m: m.update(suppress="OOF"),
    Check.SPAM: lambda m: m.update(spam=True),
    Check.LOOP: lambda m: m.update(hops=31),
    Check.NOT_A_RECIPIENT: lambda m: m.update(to="team@other.org"),
    Check.REPLIED_RECENTLY: lambda m: m.update(last_sent=T0 - timedelta(days=2)),
    Check.HOURLY_CAP: lambda m: m.update(used=20),
}


def build(spec: dict[str, object]) -> tuple[str, str, datetime | None, int]:
    # From may hold several mailboxes (RFC 5322 3.6.2): one fault each, none overwritten.
    authors = ["Bob <bob@other.org>"]
    authors += [str(spec[k]) for k in ("from_", "reply_from") if k in spec]
    fields = [f"From: {', '.join(authors)}", f"To: {spec.get('to', ADDRESS)}"]
    if spec.get("list_id"):
        fields.append("List-Id: <dev.lists.other.org>")
    if "auto" in spec:
        fields.append(f"Auto-Submitted: {spec['auto']}")
    if "precedence" in spec:
        fields.append(f"Precedence: {spec['precedence']}")
    if "suppress" in spec:
        fields.append(f"X-Auto-Response-Suppress: {spec['suppress']}")
    if spec.get("spam"):
        fields.append("X-Spam-Flag: YES")
    hops = spec.get("hops", 1)
    assert isinstance(hops, int)
    fields += ["Received: from x by y"] * hops
    sender = spec.get("sender", "bob@other.org")
    last = spec.get("last_sent")
    used = spec.get("used", 0)
    assert isinstance(sender, str)
    assert last is None or isinstance(last, datetime)
    assert isinstance(used, int)
    return raw(*fields, "Subject: x"), sender, last, used


def test_each_fault_alone_is_named_by_its_own_check() -> None:
    assert len(FAULTS) == len(CHECKS)  # every check after the sender's has a fault here
    for check, fault in FAULTS.items():
        spec: dict[str, object] = {}
        fault(spec)
        text, sender, last, used = build(spec)
        assert deliver(text, sender=sender, last_sent=last, used=used).check is check


@given(faults=st.sets(st.sampled_from(list(FAULTS)), min_size=1))
def test_the_first_failing_check_in_issue_order_decides(faults: set[Check]) -> None:
    # rules RSP-4, RSP-7: the order of issue 4
    spec: dict[str, object] = {}
    for check in faults:
        FAULTS[check](spec)
    text, sender, last, used = build(spec)
    decision = deliver(text, sender=sender, last_sent=last, used=used)
    assert decision.check is min(faults, key=list(FAULTS).index)


def test_responder_schedule_and_sender_come_before_the_headers() -> None:
    # rules RSP-1, RSP-6, RSP-7
    spam_list = raw("From: owner-x@lists.other.org", "List-Id: <x>", "X-Spam-Flag: YES")
    assert deliver(spam_list, config=None).check is Check.NO_ACTIVE_MESSAGE
    inactive = responder()
    inactive.deactivate(at=T0)
    assert deliver(spam_list, config=inactive.config()).check is Check.NO_ACTIVE_MESSAGE
    ended = responder(end=date(2024, 7, 2)).config()
    assert deliver(spam_list, config=ended, sender="<>").check is Check.SCHEDULE
    assert deliver(spam_list, sender="<>").check is Check.NULL_SENDER
    assert deliver(spam_list, sender="").check is Check.NULL_SENDER
    assert deliver(spam_list, sender=" < > ").check is Check.NULL_SENDER


def test_the_schedule_is_read_in_the_mailbox_zone_across_dst() -> None:
    # rule RSP-6: on 2024-10-27 02:00..03:00 happens twice in Zurich
    config = responder(end=wall(2024, 10, 27, 2, 30)).config()
    text = raw(*ORDINARY, f"To: {ADDRESS}")
    before = datetime(2024, 10, 27, 0, 29, tzinfo=UTC)  # 02:29 CEST
    first = datetime(2024, 10, 27, 0, 45, tzinfo=UTC)  # 02:45 CEST
    second = datetime(2024, 10, 27, 1, 15, tzinfo=UTC)  # 02:15 CET
    assert deliver(text, config=config, at=before).reply
    assert deliver(text, config=config, at=first).check is Check.SCHEDULE
    decision = deliver(text, config=config, at=second)
    assert decision.check is Check.SCHEDULE
    assert "after its end 2024-10-27 02:30 Europe/Zurich" in decision.reason


def test_weekday_recurrence_uses_the_local_day() -> None:
    # rule RSP-6: 23:30 UTC on a Tuesday is already Wednesday in Zurich
    config = responder(weekdays=("wed",)).config()
    text = raw(*ORDINARY, f"To: {ADDRESS}")
    assert deliver(
        text, config=config, at=datetime(2024, 7, 2, 23, 30, tzinfo=UTC)
    ).reply
    late = deliver(text, config=config, at=datetime(2024, 7, 2, 21, 59, tzinfo=UTC))
    assert late.check is Check.SCHEDULE
    assert "Tuesday" in late.reason


# -- the 7-day window and the cap (RSP-4) -------------------------------------------------------


def test_the_window_names_when_the_sender_was_answered() -> None:
    # rule RSP-4: the same sender is answered again only 7 days after the last reply
    text = raw(*ORDINARY, f"To: {ADDRESS}")
    two_days = deliver(text, last_sent=T0 - timedelta(days=2, hours=3))
    assert two_days.check is Check.REPLIED_RECENTLY
    assert two_days.reason.startswith(
        "RSP-4: replied to this sender with 'Holidays' 2 days ago; again from 2024-07-08T07:00"
    )
    assert "3 hours ago" in deliver(text, last_sent=T0 - timedelta(hours=3)).reason
    just_under = deliver(
        text, last_sent=T0 - REPLY_INTERVAL + timedelta(microseconds=1)
    )
    assert just_under.check is Check.REPLIED_RECENTLY
    again = deliver(text, last_sent=T0 - REPLY_INTERVAL)
    assert again.reply
    assert (
        again.reason
        == "RSP-4: reply with 'Holidays' (last reply to this sender 7 days ago)"
    )
    future = deliver(text, last_sent=T0 + timedelta(hours=1))
    assert future.check is Check.REPLIED_RECENTLY
    assert "after this message arrived" in future.reason


def test_the_hourly_cap_stops_a_runaway_loop() -> None:
    text = raw(*ORDINARY, f"To: {ADDRESS}")
    assert deliver(text, used=19).reply
    capped = deliver(text, used=20)
    assert capped.check is Check.HOURLY_CAP
    assert "cap is 20" in capped.reason
    assert (
        deliver(text, used=2, rules=ResponderPolicy(hourly_cap=2)).check
        is Check.HOURLY_CAP
    )


def test_record_reply_opens_the_window_and_budget_and_refuses_a_second_time() -> None:
    # rule RSP-4, RSP-9: what the application saves in one transaction
    decision = deliver(raw(*ORDINARY, f"To: {ADDRESS}"), sender="Bob@Other.org")
    plan = decision.plan
    assert plan is not None
    assert plan.window_id == window_id_for(CONFIG, "<BOB@other.org>")
    window, budget = record_reply(plan, window=None, budget=None, policy=POLICY)
    assert window.id == plan.window_id
    assert budget.id == plan.budget_id
    assert window.last_sent_for(plan.generation) == T0
    assert (budget.used, window.replies) == (1, 1)
    with pytest.raises(NotPermitted):
        record_reply(plan, window=window, budget=budget, policy=POLICY)
    assert (budget.used, window.replies) == (1, 1)


def test_window_id_for_is_none_where_no_window_can_matter() -> None:
    assert window_id_for(None, "bob@other.org") is None
    assert window_id_for(CONFIG, "<>") is None
    assert window_id_for(CONFIG, "MAILER-DAEMON") is None
    assert window_id_for(CONFIG, "bob@other.org") is not None


def test_a_reset_lets_the_same_sender_be_answered_again() -> None:
    # rule RSP-5: after a reset a test from the same sender gets the reply again
    r = responder()
    text = raw(*ORDINARY, f"To: {ADDRESS}")
    first = deliver(text, config=r.config())
    assert first.plan is not None
    window, _ = record_reply(first.plan, window=None, budget=None, policy=POLICY)
    later = T0 + timedelta(minutes=5)
    active = r.config().active
    assert active is not None
    last = window.last_sent_for(active.generation)
    assert deliver(text, config=r.config(), at=later, last_sent=last).check is (
        Check.REPLIED_RECENTLY
    )
    r.reset_memory("Holidays", at=later)
    active = r.config().active
    assert active is not None
    last = window.last_sent_for(active.generation)
    assert last is None
    again = deliver(text, config=r.config(), at=later, last_sent=last)
    assert again.reply
    assert again.plan is not None
    assert again.plan.message_id != first.plan.message_id


# -- the MTA's time and the engine's (RSP-4, issue 7 item 4) ----------------------------------


def test_the_window_and_the_cap_use_the_decision_time_not_the_mta_time() -> None:
    # rule RSP-4: received_at chose the schedule; decided_at measures the 7 days
    text = raw(*ORDINARY, f"To: {ADDRESS}")
    last = T0 - timedelta(days=6)
    old = T0 - timedelta(days=8)

    def at(received: datetime, decided: datetime) -> Decision:
        return deliver(text, at=received, decided=decided, last_sent=last, own=())

    # Dated 8 days back by the MTA, decided now: 6 days after the last reply.
    assert at(old, T0).check is Check.REPLIED_RECENTLY
    answered = at(T0, T0 + timedelta(days=1))
    assert answered.reply
    plan = answered.plan
    assert plan is not None
    assert (plan.received_at, plan.decided_at) == (T0, T0 + timedelta(days=1))
    window, budget = record_reply(plan, window=None, budget=None, policy=POLICY)
    assert window.last_sent == T0 + timedelta(days=1)
    assert budget.hour == T0 + timedelta(days=1)
    assert plan.budget_id == budget.id


def test_the_schedule_is_chosen_by_the_time_the_message_arrived() -> None:
    # rule RSP-6: a message that arrived before the end is answered after it
    config = responder(end=wall(2024, 7, 3, 12, 30)).config()  # 10:30 UTC
    text = raw(*ORDINARY, f"To: {ADDRESS}")
    arrived, later = T0 + timedelta(minutes=20), T0 + timedelta(hours=2)
    assert deliver(text, config=config, at=later).check is Check.SCHEDULE
    decision = deliver(text, config=config, at=arrived, decided=later, own=())
    assert decision.reply, decision


def test_a_plan_recorded_before_decided_at_existed_counts_from_received_at() -> None:
    # rule RSP-4: events already in the log keep their meaning
    decision = deliver(raw(*ORDINARY, f"To: {ADDRESS}"))
    assert decision.plan is not None
    old = attrs.evolve(decision.plan, decided_at=None)
    assert old.window_start == old.received_at
    window, budget = record_reply(old, window=None, budget=None, policy=POLICY)
    assert window.last_sent == old.received_at
    assert budget.id == old.budget_id


# -- addresses compared by identity, never case-folded (issue 7, item 7) -------------------


def test_strasse_and_strasse_with_eszett_get_separate_reply_windows() -> None:
    # rule RSP-4: the window is per sender; straße@ and strasse@ are two senders
    # (case-folding made them one, and one reply then silenced the other for 7 days)
    text = raw(*ORDINARY, f"To: {ADDRESS}")
    eszett = deliver(text, sender="Straße@other.org")
    double_s = deliver(text, sender="strasse@other.org")
    assert eszett.plan is not None
    assert double_s.plan is not None
    assert eszett.plan.sender_key == "straße@other.org"
    assert double_s.plan.sender_key == "strasse@other.org"
    assert eszett.plan.window_id != double_s.plan.window_id
    assert eszett.plan.message_id != double_s.plan.message_id
    assert window_id_for(CONFIG, "straße@other.org") == eszett.plan.window_id
    assert window_id_for(CONFIG, "STRASSE@other.org") == double_s.plan.window_id
    # Recorded one after the other in the same hour: the second is not refused by the
    # first one's window (RSP-4), only counted in the same budget.
    window, budget = record_reply(eszett.plan, window=None, budget=None, policy=POLICY)
    other, budget = record_reply(
        double_s.plan, window=None, budget=budget, policy=POLICY
    )
    assert window.id != other.id
    assert (window.replies, other.replies, budget.used) == (1, 1, 2)
    # The long s (U+017F) is not an s either: it does not make support@.
    long_s = deliver(text, sender="\u017fupport@other.org")
    plain = deliver(text, sender="support@other.org")
    assert long_s.plan is not None
    assert plain.plan is not None
    assert long_s.plan.window_id != plain.plan.window_id


def test_ascii_senders_keep_the_window_ids_of_case_folded_keys() -> None:
    # rule RSP-4: a window recorded before the change still counts for its sender
    from domain.responderpolicy import reply_window_id  # noqa: PLC0415 - only here

    decision = deliver(raw(*ORDINARY, f"To: {ADDRESS}"), sender="Bob.Smith@Other.ORG")
    assert decision.plan is not None
    assert decision.plan.sender_key == "bob.smith@other.org"
    folded = "Bob.Smith@Other.ORG".casefold()
    assert decision.plan.window_id == reply_window_id(ADDRESS, "holidays", folded)


def test_an_exclusion_matches_its_own_spelling_not_its_case_folding() -> None:
    # rule RSP-2: excluding straße@ does not exclude strasse@, and the reverse
    config = responder(
        exclusions=("Straße@other.org", "\u017fupport@other.org")
    ).config()
    text = raw(*ORDINARY, f"To: {ADDRESS}")
    assert deliver(text, sender="STRAßE@other.org", config=config).check is (
        Check.EXCLUDED
    )
    assert deliver(text, sender="strasse@other.org", config=config).reply
    assert deliver(text, sender="support@other.org", config=config).reply
    assert deliver(text, sender="\u017fupport@other.org", config=config).check is (
        Check.EXCLUDED
    )
