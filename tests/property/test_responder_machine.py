"""The auto-responder against a tiny model, over any sequence of commands and deliveries.

The machine drives the real aggregates and the real decision the way the application
will: load the window and the hour's budget, decide, record the reply. The model is a
few dicts: which messages exist, which is active, when each (message, sender) last got a
reply. It knows the Zurich offset from the published transition instants, not from
zoneinfo. Times advance by minutes to days, and jump to exactly 7 days after a reply
(and one microsecond either side), so the RSP-4 boundary is hit, across two DST changes.
"""

from __future__ import annotations

import copy
from collections import Counter, defaultdict
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

import pytest
from eventsourcing.domain import Aggregate, Snapshot
from hypothesis import event, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
)

from domain.address import EmailAddress, identity
from domain.autoreply import decide, record_reply, window_id_for
from domain.errors import AlreadyExists, DomainError, InvalidInput
from domain.replywindow import ReplyBudget, ReplyWindow
from domain.responder import AutoResponder
from domain.respondermessage import MessageDraft
from domain.responderpolicy import (
    REPLY_INTERVAL,
    ResponderPolicy,
    hour_bucket,
    name_key,
    reply_budget_id,
)
from domain.schedule import Weekday
from tests.strategies import MAPPER, replay, through_mapper

ADDRESS = EmailAddress.parse("alice@example.org")
START = datetime(2024, 3, 25, 8, tzinfo=UTC)  # six days before Zurich's spring change
END = datetime(2025, 12, 1, tzinfo=UTC)
POLICY = ResponderPolicy(hourly_cap=2)  # small, so that the cap is reached too

# A small pool in mixed case: five senders, several spellings each. straße@ and
# strasse@ are two senders (case-folding would make them one, issue 7 item 7).
SENDERS = (
    "bob@example.com",
    "Bob@Example.com",
    "<BOB@EXAMPLE.COM>",
    "carol@example.net",
    "Carol@Example.NET",
    "dave@other.org",
    "straße@example.de",
    "STRAßE@Example.de",
    "strasse@example.de",
    "STRASSE@example.de",
)


def key_of(sender: str) -> str:
    """The model's sender key: the address's identity (NFC, lower-cased, not folded)."""
    return identity(sender.strip("<>"))


TO_SPELLINGS = (
    "alice@example.org",
    "Alice <ALICE@example.org>",
    '"Smith, Alice" <Alice@Example.Org>, team@example.org',
)
NAMES = ("Holidays", "HOLIDAYS ", "Conference", "Sick  leave")
WEEKDAY_SETS: tuple[tuple[str, ...], ...] = (
    (),
    (),
    ("mon", "tue", "wed", "thu", "fri"),
    ("sat", "sun"),
    ("wed",),
)
KINDS = ("ordinary", "ordinary", "ordinary", "list", "bcc", "auto-reply", "null")

# Europe/Zurich: UTC+2 between these instants (EU rule: last Sunday of March and of
# October, 01:00 UTC), UTC+1 otherwise.
SUMMER = (
    (datetime(2024, 3, 31, 1, tzinfo=UTC), datetime(2024, 10, 27, 1, tzinfo=UTC)),
    (datetime(2025, 3, 30, 1, tzinfo=UTC), datetime(2025, 10, 26, 1, tzinfo=UTC)),
)


def zurich_weekday(at: datetime) -> int:
    summer = any(begin <= at < end for begin, end in SUMMER)
    return (at + timedelta(hours=2 if summer else 1)).weekday()


def headers(kind: str, sender: str, to: str, n: int) -> dict[str, list[str]]:
    fields = {
        "From": [sender.strip("<>")],
        "To": [to if kind != "bcc" else "team@example.org"],
        "Subject": [f"Message {n}"],
        "Message-ID": [f"<m{n}@example.com>"],
    }
    if kind == "list":
        fields["List-Id"] = ["<dev.lists.example.com>"]
    if kind == "auto-reply":
        fields["Auto-Submitted"] = ["auto-replied"]
    return fields


class ResponderMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.now = START
        self.responder = AutoResponder.provision(
            ADDRESS, time_zone="Europe/Zurich", at=START
        )
        self.windows: dict[UUID, ReplyWindow] = {}
        self.budgets: dict[UUID, ReplyBudget] = {}
        self.log: dict[UUID, list[Any]] = defaultdict(list)
        self.live: dict[UUID, Aggregate] = {}
        self.changed: set[UUID] = set()
        self.keep(self.responder)
        self.deliveries = 0
        # The model.
        self.messages: dict[str, frozenset[int]] = {}
        self.active: str | None = None
        self.epoch: dict[str, int] = {}
        self.epochs = 0
        self.last: dict[tuple[str, str], datetime] = {}
        self.per_hour: Counter[datetime] = Counter()
        self.sent: list[tuple[str, int, str, datetime]] = []

    # -- helpers -----------------------------------------------------------------------

    def keep(self, aggregate: Aggregate) -> None:
        self.log[aggregate.id].extend(aggregate.collect_events())
        self.live[aggregate.id] = aggregate
        self.changed.add(aggregate.id)

    def forget(self, key: str) -> None:
        """The model's memory of ``key`` goes, and later replies count in a new epoch."""
        self.epochs += 1
        self.epoch[key] = self.epochs
        for pair in [p for p in self.last if p[0] == key]:
            del self.last[pair]

    def refused(self, command: Any, error: type[DomainError]) -> None:  # noqa: ANN401 - a command
        before = copy.deepcopy(self.responder)
        with pytest.raises(error):
            command()
        assert self.responder == before

    def pick(self, data: st.DataObject) -> str:
        return data.draw(st.sampled_from(sorted(self.messages)))

    # -- commands ----------------------------------------------------------------------

    @initialize(name=st.sampled_from(NAMES))
    def start_with_an_active_message(self, name: str) -> None:
        """Every day, so that most runs answer; later saves and edits add schedules."""
        self.save(name, (), then_activate=True)

    @rule(
        name=st.sampled_from(NAMES),
        days=st.sampled_from(WEEKDAY_SETS),
        then_activate=st.booleans(),
    )
    def save(self, name: str, days: tuple[str, ...], then_activate: bool) -> None:
        """Add a message, and often activate it at once, as the editing screen invites."""
        # rule RSP-1, RSP-2: several messages, names unique ignoring case and spaces
        key = name_key(name)
        if key in self.messages:
            self.refused(
                lambda: self.responder.save_message(
                    MessageDraft(name=name, body="x"), at=self.now
                ),
                AlreadyExists,
            )
            return
        self.responder.save_message(
            MessageDraft(name=name, body=f"{name} body", weekdays=days), at=self.now
        )
        self.keep(self.responder)
        self.messages[key] = frozenset(Weekday(d).number for d in days)
        self.forget(key)
        if then_activate:
            self.activate_key(key)

    @precondition(lambda self: self.messages)
    @rule(data=st.data(), reset=st.booleans(), days=st.sampled_from(WEEKDAY_SETS))
    def edit(self, data: st.DataObject, reset: bool, days: tuple[str, ...]) -> None:
        # rule RSP-5: an edit keeps the 7-day memory unless the reset is asked for
        key = self.pick(data)
        self.responder.edit_message(
            MessageDraft(name=key.upper(), body="edited", weekdays=days),
            reset_memory=reset,
            at=self.now,
        )
        self.keep(self.responder)
        self.messages[key] = frozenset(Weekday(d).number for d in days)
        if reset:
            self.forget(key)

    @precondition(lambda self: self.messages)
    @rule(data=st.data())
    def activate(self, data: st.DataObject) -> None:
        # rule RSP-1: activating one deactivates the other
        self.activate_key(self.pick(data))

    def activate_key(self, key: str) -> None:
        if key == self.active:
            self.refused(
                lambda: self.responder.activate(key, at=self.now), InvalidInput
            )
            return
        self.responder.activate(key, at=self.now)
        self.keep(self.responder)
        self.active = key

    @rule()
    def deactivate(self) -> None:
        if self.active is None:
            self.refused(lambda: self.responder.deactivate(at=self.now), InvalidInput)
            return
        self.responder.deactivate(at=self.now)
        self.keep(self.responder)
        self.active = None

    @precondition(lambda self: self.messages)
    @rule(data=st.data())
    def reset(self, data: st.DataObject) -> None:
        # rule RSP-5
        key = self.pick(data)
        self.responder.reset_memory(key, at=self.now)
        self.keep(self.responder)
        self.forget(key)

    @precondition(lambda self: self.messages)
    @rule(data=st.data())
    def delete(self, data: st.DataObject) -> None:
        key = self.pick(data)
        self.responder.delete_message(key, at=self.now)
        self.keep(self.responder)
        del self.messages[key]
        self.forget(key)
        if self.active == key:
            self.active = None

    @precondition(lambda self: self.now < END)
    @rule(
        wait=st.one_of(
            st.integers(0, 180).map(lambda m: timedelta(minutes=m)),
            st.integers(1, 8 * 24).map(lambda h: timedelta(hours=h)),
            st.sampled_from([timedelta(days=1), timedelta(days=7)]),
        ),
        burst=st.lists(
            st.tuples(
                st.sampled_from(SENDERS),
                st.sampled_from(KINDS),
                st.sampled_from(TO_SPELLINGS),
                st.integers(0, 20).map(lambda m: timedelta(minutes=m)),
            ),
            min_size=1,
            max_size=4,
        ),
    )
    def mail_arrives(
        self, wait: timedelta, burst: list[tuple[str, str, str, timedelta]]
    ) -> None:
        """Time passes, then a few messages arrive minutes apart (0: the same instant)."""
        self.now += wait
        for sender, kind, to, gap in burst:
            self.now += gap
            self.deliver_one(sender, kind, to)

    @precondition(lambda self: self.last)
    @rule(
        data=st.data(),
        nudge=st.sampled_from(
            [timedelta(microseconds=-1), timedelta(0), timedelta(microseconds=1)]
        ),
    )
    def write_again_when_the_window_ends(
        self, data: st.DataObject, nudge: timedelta
    ) -> None:
        """The same sender, in any spelling, writes exactly 7 days after its last reply
        (or a microsecond either side)."""
        # rule RSP-4: answered again at 7 days, not a microsecond before
        pair = data.draw(st.sampled_from(sorted(self.last)))
        target = self.last[pair] + REPLY_INTERVAL + nudge
        self.now = max(self.now, target)
        spellings = [s for s in SENDERS if key_of(s) == pair[1]]
        self.deliver_one(
            data.draw(st.sampled_from(spellings)), "ordinary", TO_SPELLINGS[0]
        )

    @rule(data=st.data())
    def everyone_writes_at_once(self, data: st.DataObject) -> None:
        """Each of the three senders writes at the same instant: with a cap of two,
        the third reply of the hour is refused (runaway-loop guard)."""
        for key in ("bob@example.com", "carol@example.net", "dave@other.org"):
            spellings = [s for s in SENDERS if key_of(s) == key]
            self.deliver_one(
                data.draw(st.sampled_from(spellings)), "ordinary", TO_SPELLINGS[0]
            )

    def deliver_one(self, sender: str, kind: str, to: str) -> None:
        self.deliveries += 1
        envelope = "<>" if kind == "null" else sender
        config = self.responder.config()
        window_id = window_id_for(config, envelope)
        window = None if window_id is None else self.windows.get(window_id)
        last = (
            window.last_sent_for(config.active.generation)
            if window is not None and config.active is not None
            else None
        )
        budget = self.budgets.get(reply_budget_id(ADDRESS, self.now))
        decision = decide(
            config,
            recipient=str(ADDRESS),
            envelope_sender=envelope,
            headers=headers(kind, sender, to, self.deliveries),
            received_at=self.now,
            window_last_sent=last,
            budget_used=0 if budget is None else budget.used,
            policy=POLICY,
        )
        sender_key = key_of(sender)
        expected = self.expect(sender_key, kind)
        assert decision.reply is expected, (decision.reason, self.now)
        event(f"deliver: {decision.check.value}")
        if decision.plan is None:
            return
        previous = self.last.get((decision.plan.message_key, sender_key))
        if previous is not None:
            event("answered again after 7 days")
            assert self.now - previous >= REPLY_INTERVAL
        window, budget = record_reply(
            decision.plan, window=window, budget=budget, policy=POLICY
        )
        self.windows[window.id] = window
        self.budgets[budget.id] = budget
        self.keep(window)
        self.keep(budget)
        key = decision.plan.message_key
        self.last[key, sender_key] = self.now
        self.per_hour[hour_bucket(self.now)] += 1
        self.sent.append((key, self.epoch[key], sender_key, self.now))

    def expect(self, sender_key: str, kind: str) -> bool:
        """The model's answer: RSP-1, RSP-6, RSP-7, RSP-4, then the cap."""
        if self.active is None or kind != "ordinary":
            return False
        days = self.messages[self.active]
        if days and zurich_weekday(self.now) not in days:
            return False
        last = self.last.get((self.active, sender_key))
        if last is not None and self.now - last < REPLY_INTERVAL:
            return False
        return self.per_hour[hour_bucket(self.now)] < POLICY.hourly_cap

    # -- invariants --------------------------------------------------------------------

    @invariant()
    def at_most_one_message_is_active(self) -> None:
        # rule RSP-1
        assert self.responder.active == self.active
        assert set(self.responder.messages) == set(self.messages)
        active = [
            key for key in self.responder.messages if key == self.responder.active
        ]
        assert len(active) <= 1
        config = self.responder.config()
        assert (config.active.key if config.active else None) == self.active

    @invariant()
    def a_sender_never_gets_a_message_twice_within_seven_days(self) -> None:
        # rule RSP-4 (an epoch ends at a reset, RSP-5)
        latest: dict[tuple[str, int, str], datetime] = {}
        for key, epoch, sender, at in self.sent:
            before = latest.get((key, epoch, sender))
            assert before is None or at - before >= REPLY_INTERVAL
            latest[key, epoch, sender] = at

    @invariant()
    def replay_through_the_mapper_equals_live_state(self) -> None:
        """Each aggregate the step changed, replayed from its whole log, and the
        responder restored from a snapshot, equal the live ones."""
        for aggregate_id in self.changed:
            aggregate = self.live[aggregate_id]
            events = self.log[aggregate_id]
            assert [e.originator_version for e in events] == list(
                range(1, len(events) + 1)
            )
            assert replay(through_mapper(events)) == aggregate
            snapshot = MAPPER.to_stored_event(Snapshot.take(aggregate))
            assert MAPPER.to_domain_event(snapshot).mutate(None) == aggregate
        self.changed.clear()

    def teardown(self) -> None:
        event(f"replies sent: {min(len(self.sent), 5)}+")
        capped = any(n >= POLICY.hourly_cap for n in self.per_hour.values())
        event(f"hourly cap reached: {capped}")


ResponderMachine.TestCase.settings = settings(
    max_examples=200, stateful_step_count=50, deadline=None
)
TestResponderMachine = ResponderMachine.TestCase
