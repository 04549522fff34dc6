"""AutoResponder, ReplyWindow and ReplyBudget (RSP-1, RSP-3..RSP-5, RSP-9).

Messages saved, activated and reset through the aggregate, the 7-day memory and the
hourly budget, and every event through the real mapper.
"""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from typing import Any
from uuid import UUID

import pytest
from eventsourcing.application import Application
from eventsourcing.domain import Snapshot
from eventsourcing.persistence import IntegrityError
from eventsourcing.utils import get_topic
from hypothesis import given
from hypothesis import strategies as st

from domain.address import EmailAddress
from domain.errors import (
    AlreadyExists,
    DomainError,
    InvalidInput,
    NotFound,
    NotPermitted,
)
from domain.replywindow import ReplyBudget, ReplyWindow
from domain.responder import AutoResponder
from domain.respondermessage import MessageDraft, ResponderMessage
from domain.responderpolicy import (
    REPLY_INTERVAL,
    ResponderPolicy,
    reply_budget_id,
    reply_window_id,
)
from domain.schedule import Schedule, Weekday
from infrastructure.mapper import CattrsMapper
from tests.strategies import (
    MAPPER,
    event_classes_of,
    replay,
    through_mapper,
    utc_datetimes,
)
from tests.unit.eventsupport import events_of
from tests.unit.responder_support import (
    ALICE,
    ALT,
    CODE,
    DST_ZONES,
    POLICY,
    T0,
    provision,
    refused,
    wall,
    with_messages,
)


def test_the_zone_can_change_and_schedules_keep_their_wall_times() -> None:
    # rule RSP-6
    responder = provision("Europe/Zurich")
    responder.save_message(
        MessageDraft(name="Away", body="away", start=wall(2024, 7, 1, 9)), at=T0
    )
    responder.change_time_zone("America/New_York", at=T0)
    assert responder.time_zone == "America/New_York"
    start = responder.message("away").schedule.start_at(responder.zone)
    assert start == datetime(2024, 7, 1, 13, tzinfo=UTC)
    refused(
        responder,
        lambda: responder.change_time_zone("America/New_York", at=T0),
        InvalidInput,
    )


# -- messages (RSP-1, RSP-2) ------------------------------------------------------------------


def test_several_messages_are_saved_and_names_are_unique_ignoring_case() -> None:
    # rule RSP-1: several messages per address; rule RSP-2: a message has a name
    responder = with_messages("Holidays", "Conference")
    assert sorted(responder.messages) == ["conference", "holidays"]
    assert responder.active is None
    refused(
        responder,
        lambda: responder.save_message(
            MessageDraft(name=" HOLIDAYS ", body="again"), at=T0
        ),
        AlreadyExists,
    )
    assert responder.message("holidays").name == "Holidays"


def test_activating_one_message_deactivates_the_other() -> None:
    # rule RSP-1: at most one active; activating one deactivates the other
    responder = with_messages("Holidays", "Conference")
    responder.activate("holidays", at=T0)
    assert responder.active == "holidays"
    responder.activate("Conference", at=T0)
    assert responder.active == "conference"
    events = responder.collect_events()
    last = events[-1]
    assert isinstance(last, AutoResponder.MessageActivated)
    assert last.deactivated == "holidays"
    config = responder.config()
    assert config.active is not None
    assert config.active.name == "Conference"


def test_activate_and_deactivate_refuse_what_is_already_so() -> None:
    # rule RSP-1
    responder = with_messages("Holidays")
    refused(responder, lambda: responder.deactivate(at=T0), InvalidInput)
    refused(responder, lambda: responder.activate("missing", at=T0), NotFound)
    responder.activate("Holidays", at=T0)
    refused(responder, lambda: responder.activate("HOLIDAYS", at=T0), InvalidInput)
    responder.deactivate(at=T0)
    assert responder.active is None
    assert responder.config().active is None


def test_deleting_the_active_message_leaves_none_active() -> None:
    # rule RSP-1
    responder = with_messages("Holidays", "Conference")
    responder.activate("Holidays", at=T0)
    responder.delete_message("holidays", at=T0)
    assert responder.active is None
    assert list(responder.messages) == ["conference"]
    refused(responder, lambda: responder.delete_message("holidays", at=T0), NotFound)


# -- the 7-day memory through edits (RSP-5) -------------------------------------------------


def test_editing_keeps_the_memory_unless_asked_and_reset_starts_a_new_generation() -> (
    None
):
    # rule RSP-5: the memory is reset only on request; an edit alone keeps it
    responder = with_messages("Away")
    first = responder.message("away").generation
    edited = responder.edit_message(MessageDraft(name="AWAY", body="new text"), at=T0)
    assert edited.generation == first
    assert edited.body == "new text"
    assert edited.name == "Away"
    again = responder.edit_message(
        MessageDraft(name="away", body="newer"), reset_memory=True, at=T0
    )
    assert again.generation > first
    generation = responder.reset_memory("away", at=T0)
    assert generation > again.generation
    assert responder.message("away").generation == generation
    assert responder.message("away").body == "newer"


def test_an_edit_keeps_the_message_active() -> None:
    # rule RSP-1
    responder = with_messages("Away")
    responder.activate("Away", at=T0)
    responder.edit_message(MessageDraft(name="Away", body="changed"), at=T0)
    assert responder.active == "away"
    active = responder.active_message
    assert active is not None
    assert active.body == "changed"


def test_a_message_saved_again_after_deletion_does_not_inherit_the_old_memory() -> None:
    # rule RSP-4: old replies were for another message that happened to share a name
    responder = with_messages("Away")
    old = responder.message("Away").generation
    responder.delete_message("Away", at=T0)
    assert (
        responder.save_message(MessageDraft(name="away", body="x"), at=T0).generation
        > old
    )


def test_every_generation_is_new_across_messages() -> None:
    responder = with_messages("A", "B", "C")
    responder.reset_memory("B", at=T0)
    responder.edit_message(MessageDraft(name="A", body="x"), reset_memory=True, at=T0)
    generations = [m.generation for m in responder.messages.values()]
    assert len(set(generations)) == len(generations)


@pytest.mark.parametrize("name", ["Away\r\n", "Away\x00", "Away\x1b[31m", "Away\t"])
def test_a_name_with_control_characters_is_refused_by_every_look_up(name: str) -> None:
    # rule RSP-1: no saved name holds one, so the look-up says so instead of folding
    # it away (activate "Away\r\n" used to activate "Away")
    responder = with_messages("Away")
    for command in (
        lambda: responder.activate(name, at=T0),
        lambda: responder.reset_memory(name, at=T0),
        lambda: responder.delete_message(name, at=T0),
        lambda: responder.edit_message(MessageDraft(name=name, body="x"), at=T0),
    ):
        with pytest.raises(InvalidInput, match="message name"):
            command()
    assert responder.message("Away").body == "Away body"


# -- ReplyWindow (RSP-4, RSP-5, RSP-9) -------------------------------------------------------


def window(at: datetime = T0) -> ReplyWindow:
    return ReplyWindow.open("Alice@example.org", "Away", "Bob@Other.org", at=at)


def test_a_window_stores_casefolded_keys() -> None:
    w = window()
    assert (w.address, w.message_key, w.sender) == (
        "alice@example.org",
        "away",
        "bob@other.org",
    )
    assert w.id == reply_window_id("alice@example.org", "away", "bob@other.org")
    with pytest.raises(InvalidInput):
        ReplyWindow.open("alice@example.org", "Away", "", at=T0)


def test_a_sender_gets_the_message_again_only_after_seven_days() -> None:
    # rule RSP-4: again only when at least 7 days have passed since the last reply
    w = window()
    assert w.allows(1, T0)
    w.record_reply(generation=1, reply_message_id="<r1@example.org>", at=T0)
    assert w.last_sent_for(1) == T0
    again = T0 + REPLY_INTERVAL
    assert timedelta(days=7) == REPLY_INTERVAL
    assert not w.allows(1, again - timedelta(microseconds=1))
    refused(
        w,
        lambda: w.record_reply(
            generation=1,
            reply_message_id="<r2@example.org>",
            at=again - timedelta(seconds=1),
        ),
        NotPermitted,
    )
    assert w.allows(1, again)
    w.record_reply(generation=1, reply_message_id="<r2@example.org>", at=again)
    assert (w.last_sent, w.replies, w.last_message_id) == (again, 2, "<r2@example.org>")


def test_a_reset_clears_the_window_and_an_older_generation_cannot_write() -> None:
    # rule RSP-5: after a reset the same sender gets the reply again
    w = window()
    w.record_reply(generation=1, reply_message_id="<r1@example.org>", at=T0)
    assert w.last_sent_for(2) is None
    assert w.allows(2, T0 + timedelta(minutes=1))
    w.record_reply(
        generation=2, reply_message_id="<r2@example.org>", at=T0 + timedelta(minutes=1)
    )
    later = T0 + timedelta(days=30)
    # A decision made on the pre-reset generation must not write over the new one.
    assert w.last_sent_for(1) is not None
    refused(
        w,
        lambda: w.record_reply(
            generation=1, reply_message_id="<r3@example.org>", at=later
        ),
        NotPermitted,
    )


def test_a_reply_needs_a_generation_and_an_id() -> None:
    w = window()
    refused(
        w,
        lambda: w.record_reply(generation=0, reply_message_id="<r>", at=T0),
        InvalidInput,
    )
    refused(
        w,
        lambda: w.record_reply(generation=1, reply_message_id="", at=T0),
        InvalidInput,
    )


def _application() -> Application[UUID]:
    return Application(env={"MAPPER_TOPIC": get_topic(CattrsMapper)})


def test_two_workers_answering_one_new_sender_conflict_on_the_window() -> None:
    # rule RSP-9: both open the same window (a derived id): the second save conflicts
    app = _application()
    first, second = window(), window(T0 + timedelta(seconds=1))
    first.record_reply(generation=1, reply_message_id="<a@example.org>", at=T0)
    second.record_reply(
        generation=1, reply_message_id="<b@example.org>", at=T0 + timedelta(seconds=1)
    )
    app.save(first)
    with pytest.raises(IntegrityError):
        app.save(second)
    # The retry reloads the window and is refused by RSP-4.
    reloaded: object = app.repository.get(first.id)
    assert isinstance(reloaded, ReplyWindow)
    assert not reloaded.allows(1, T0 + timedelta(seconds=1))


def test_two_workers_answering_a_known_sender_conflict_on_the_next_version() -> None:
    # rule RSP-9
    app = _application()
    w = window()
    w.record_reply(generation=1, reply_message_id="<a@example.org>", at=T0)
    app.save(w)
    later = T0 + timedelta(days=8)
    one: object = app.repository.get(w.id)
    two: object = app.repository.get(w.id)
    assert isinstance(one, ReplyWindow)
    assert isinstance(two, ReplyWindow)
    one.record_reply(generation=1, reply_message_id="<b@example.org>", at=later)
    two.record_reply(generation=1, reply_message_id="<c@example.org>", at=later)
    app.save(one)
    with pytest.raises(IntegrityError):
        app.save(two)


# -- ReplyBudget ---------------------------------------------------------------------


def test_the_hourly_budget_refuses_past_its_cap() -> None:
    policy = ResponderPolicy(hourly_cap=2)
    budget = ReplyBudget.open("Alice@example.org", at=T0 + timedelta(minutes=30))
    assert budget.hour == T0
    assert budget.id == reply_budget_id(ALICE, T0)
    budget.count_reply("<1@x>", at=T0 + timedelta(minutes=31), policy=policy)
    budget.count_reply("<2@x>", at=T0 + timedelta(minutes=59), policy=policy)
    assert budget.remaining(policy) == 0
    refused(
        budget,
        lambda: budget.count_reply(
            "<3@x>", at=T0 + timedelta(minutes=59), policy=policy
        ),
        NotPermitted,
    )
    refused(
        budget,
        lambda: budget.count_reply("<3@x>", at=T0 + timedelta(hours=1), policy=POLICY),
        InvalidInput,
    )


# -- events through the real mapper ------------------------------------------------------------

_WALLS = st.datetimes(min_value=wall(2020, 1, 1), max_value=wall(2030, 1, 1))


def schedules() -> st.SearchStrategy[Schedule]:
    return st.builds(
        lambda days, start, end, is_date: Schedule(
            weekdays=days,
            start=start,
            end=None
            if end is None
            else (
                end.replace(hour=0, minute=0, second=0, microsecond=0)
                if is_date
                else end
            ),
            end_is_date=is_date and end is not None,
        ),
        st.lists(st.sampled_from(list(Weekday)), max_size=7).map(tuple),
        st.none() | _WALLS,
        st.none() | _WALLS,
        st.booleans(),
    )


def messages() -> st.SearchStrategy[ResponderMessage]:
    return st.builds(
        ResponderMessage,
        name=st.text(min_size=1),
        body=st.text(),
        subject=st.none() | st.text(),
        schedule=schedules(),
        sender=st.none() | st.text(),
        exclusions=st.lists(st.text(), max_size=3).map(tuple),
        generation=st.integers(1, 2**31),
    )


# Hand-written strategies (naive wall times in schedules, any text elsewhere); the
# domain-wide walk in tests/unit/test_mapper.py derives its own from the type hints.
EVENT_STRATEGIES: dict[type[Any], st.SearchStrategy[Any]] = {
    AutoResponder.Provisioned: events_of(
        AutoResponder.Provisioned,
        originator_topic=st.just(get_topic(AutoResponder)),
        address=st.text(),
        time_zone=st.sampled_from(DST_ZONES),
    ),
    AutoResponder.TimeZoneChanged: events_of(
        AutoResponder.TimeZoneChanged, time_zone=st.sampled_from(DST_ZONES)
    ),
    AutoResponder.MessageSaved: events_of(
        AutoResponder.MessageSaved, message=messages()
    ),
    AutoResponder.MessageEdited: events_of(
        AutoResponder.MessageEdited, message=messages(), memory_reset=st.booleans()
    ),
    AutoResponder.MessageDeleted: events_of(
        AutoResponder.MessageDeleted, name_key=st.text()
    ),
    AutoResponder.MessageActivated: events_of(
        AutoResponder.MessageActivated,
        name_key=st.text(),
        deactivated=st.none() | st.text(),
    ),
    AutoResponder.MessageDeactivated: events_of(
        AutoResponder.MessageDeactivated, name_key=st.text()
    ),
    AutoResponder.MemoryReset: events_of(
        AutoResponder.MemoryReset, name_key=st.text(), generation=st.integers(1, 2**31)
    ),
    AutoResponder.Retired: events_of(AutoResponder.Retired),
    AutoResponder.SenderVerificationRequested: events_of(
        AutoResponder.SenderVerificationRequested,
        sender=st.text(),
        code_id=st.uuids(),
        expires_at=utc_datetimes(),
        attempts=st.integers(1, 100),
    ),
    AutoResponder.SenderVerificationFailed: events_of(
        AutoResponder.SenderVerificationFailed,
        sender=st.text(),
        attempts_left=st.integers(0, 100),
    ),
    AutoResponder.SenderConfirmed: events_of(
        AutoResponder.SenderConfirmed, sender=st.text()
    ),
    ReplyWindow.Opened: events_of(
        ReplyWindow.Opened,
        originator_topic=st.just(get_topic(ReplyWindow)),
        address=st.text(),
        message_key=st.text(),
        sender=st.text(),
    ),
    ReplyWindow.ReplySent: events_of(
        ReplyWindow.ReplySent,
        generation=st.integers(1, 2**31),
        reply_message_id=st.text(),
    ),
    ReplyBudget.Opened: events_of(
        ReplyBudget.Opened,
        originator_topic=st.just(get_topic(ReplyBudget)),
        address=st.text(),
        hour=utc_datetimes(),
    ),
    ReplyBudget.ReplyCounted: events_of(
        ReplyBudget.ReplyCounted, reply_message_id=st.text()
    ),
}
RESPONDER_EVENTS = [
    cls
    for agg in (AutoResponder, ReplyWindow, ReplyBudget)
    for cls in event_classes_of(agg)
]


def test_every_responder_event_has_a_strategy() -> None:
    assert set(RESPONDER_EVENTS) == set(EVENT_STRATEGIES)


@pytest.mark.parametrize("cls", RESPONDER_EVENTS, ids=lambda c: c.__qualname__)
@given(data=st.data())
def test_every_responder_event_round_trips_through_the_mapper(
    cls: type[Any], data: st.DataObject
) -> None:
    event = data.draw(EVENT_STRATEGIES[cls])
    stored = MAPPER.to_stored_event(event)
    back = MAPPER.to_domain_event(stored)
    assert back == event
    for name, value in vars(event).items():
        assert type(getattr(back, name)) is type(value), name
    assert MAPPER.to_stored_event(back).state == stored.state
    json.loads(stored.state)


def _busy_responder() -> AutoResponder:
    responder = provision()
    responder.request_sender_verification(ALT, CODE, at=T0, policy=POLICY)
    responder.confirm_sender(ALT, code_matches=True, at=T0)
    responder.request_sender_verification(
        EmailAddress.parse("other@example.org"), CODE, at=T0, policy=POLICY
    )
    responder.confirm_sender(
        EmailAddress.parse("other@example.org"), code_matches=False, at=T0
    )
    responder.save_message(
        MessageDraft(
            name="Holidays",
            body="Away until August.",
            subject="Away",
            weekdays=["mon", "tue"],
            start=wall(2024, 7, 1, 8),
            end=date(2024, 8, 15),
            sender=ALT,
            exclusions=["boss@company.com", "@partner.ch"],
        ),
        at=T0,
    )
    responder.save_message(
        MessageDraft(name="Conference", body="At a conference."), at=T0
    )
    responder.activate("Holidays", at=T0)
    responder.reset_memory("Conference", at=T0)
    responder.edit_message(
        MessageDraft(name="Conference", body="Still there."), reset_memory=True, at=T0
    )
    responder.change_time_zone("Pacific/Chatham", at=T0)
    return responder


def test_replay_and_snapshots_give_the_live_aggregates() -> None:
    responder = _busy_responder()
    w = window()
    w.record_reply(generation=1, reply_message_id="<r1@example.org>", at=T0)
    budget = ReplyBudget.open("alice@example.org", at=T0)
    budget.count_reply("<r1@example.org>", at=T0, policy=POLICY)
    for aggregate in (responder, w, budget):
        events = aggregate.collect_events()
        assert replay(through_mapper(events)) == aggregate
        snapshot = MAPPER.to_domain_event(
            MAPPER.to_stored_event(Snapshot.take(aggregate))
        )
        restored = snapshot.mutate(None)
        assert restored == aggregate
        for name, value in vars(aggregate).items():
            assert type(vars(restored)[name]) is type(value), name


def test_a_refused_command_stores_nothing() -> None:
    responder = _busy_responder()
    responder.collect_events()
    for command in (
        lambda: responder.save_message(MessageDraft(name="holidays", body="x"), at=T0),
        lambda: responder.edit_message(MessageDraft(name="missing", body="x"), at=T0),
        lambda: responder.activate("holidays", at=T0),
        lambda: responder.reset_memory("missing", at=T0),
        lambda: responder.save_message(
            MessageDraft(name="New", body="x", sender="nobody@example.org"), at=T0
        ),
        lambda: responder.save_message(
            MessageDraft(name="New", body="x"), at=wall(2024, 1, 1)
        ),  # naive: refused
    ):
        with pytest.raises(DomainError):
            command()
    assert responder.collect_events() == []
