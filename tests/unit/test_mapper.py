"""CattrsMapper: every event class of the domain is stored and read back unchanged.

The set of event classes is found by walking the ``domain`` package, so an event added
later fails here until it has a strategy below: the test grows with the domain.
"""

from __future__ import annotations

import dataclasses
import json
import sys
import types
import typing
from datetime import datetime
from enum import Enum
from typing import Any, cast
from uuid import UUID

import attrs
import pytest
from eventsourcing.cipher import AESCipher
from eventsourcing.compressor import ZlibCompressor
from eventsourcing.domain import CanMutateAggregate
from eventsourcing.persistence import (
    JSONTranscoder,
    MapperDeserialisationError,
    StoredEvent,
)
from eventsourcing.utils import Environment, get_topic
from hypothesis import given, settings
from hypothesis import strategies as st

from domain.account import UserAccount
from domain.autoreply import AutoReply
from domain.importfacts import FolderResult, SourceRef
from domain.importjob import ImportJob
from domain.importlane import ImportLane
from domain.importsource import Security
from domain.invitation import Invitation
from domain.mailbox import Mailbox
from domain.mailservice import MailService
from domain.organisation import Organisation, Role
from domain.phone import PhoneNumber
from domain.replywindow import ReplyBudget, ReplyWindow
from domain.responder import AutoResponder
from domain.schedule import Schedule, Weekday
from domain.security import AlertKind, LoginContext, NotificationPreferences
from domain.twostep import TwoStep
from infrastructure.mapper import CattrsMapper
from tests.strategies import (
    any_login_contexts,
    domain_aggregates,
    domain_event_classes,
    domains,
    failure_reasons,
    folder_counts,
    folder_names,
    folder_results,
    folder_totals,
    job_sources,
    login_texts,
    naive_datetimes,
    notification_preferences,
    phone_numbers,
    utc_datetimes,
)
from tests.unit.eventsupport import events_of

MAPPER = CattrsMapper(transcoder=JSONTranscoder())


def optional(strategy: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.none() | strategy


# Value objects whose validators or meaning need a hand-made strategy.
VALUE_STRATEGIES: dict[Any, st.SearchStrategy[Any]] = {
    LoginContext: any_login_contexts(),
    PhoneNumber: phone_numbers(),
    NotificationPreferences: notification_preferences(),
    # Wall-clock bounds of the mailbox zone: naive by design (RSP-6).
    Schedule: st.builds(
        Schedule,
        weekdays=st.lists(st.sampled_from(Weekday), unique=True).map(tuple),
        start=optional(naive_datetimes()),
        end=optional(naive_datetimes()),
        end_is_date=st.booleans(),
    ),
}


def derive(hint: Any) -> st.SearchStrategy[Any]:  # noqa: ANN401, PLR0911 - any annotation; a return per kind of type
    """A strategy for a field type, from its annotation (for plain event fields)."""
    if hint in VALUE_STRATEGIES:
        return VALUE_STRATEGIES[hint]
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in {typing.Union, types.UnionType}:
        return st.one_of([derive(arg) for arg in args])
    if origin is tuple:
        if len(args) == 2 and args[1] is Ellipsis:
            return st.lists(derive(args[0]), max_size=4).map(tuple)
        return st.tuples(*map(derive, args))
    simple: dict[Any, st.SearchStrategy[Any]] = {
        type(None): st.none(),
        bool: st.booleans(),
        int: st.integers(),
        str: st.text(),
        UUID: st.uuids(),
        # Every instant an event holds is aware UTC (domain.time.utc).
        datetime: utc_datetimes(),
    }
    if hint in simple:
        return simple[hint]
    if isinstance(hint, type) and issubclass(hint, Enum):
        return st.sampled_from(hint)
    if isinstance(hint, type) and attrs.has(hint):
        hints = typing.get_type_hints(hint)
        return st.builds(
            hint,
            **{a.name: derive(hints[a.name]) for a in attrs.fields(hint) if a.init},
        )
    raise TypeError(
        f"no strategy for a field of type {hint!r}; add one to VALUE_STRATEGIES"
    )


def derived(cls: type[Any]) -> st.SearchStrategy[Any]:
    """Events of ``cls`` with every field drawn from its annotation."""
    hints = typing.get_type_hints(cls)
    owner = getattr(sys.modules[cls.__module__], cls.__qualname__.split(".")[0])
    fields: dict[str, st.SearchStrategy[Any]] = {}
    for f in dataclasses.fields(cls):
        if f.name in {"originator_id", "originator_version", "timestamp"}:
            continue
        if f.name == "originator_topic":
            fields[f.name] = st.just(get_topic(owner))
        else:
            fields[f.name] = derive(hints[f.name])
    return events_of(cls, **fields)


EVENT_STRATEGIES: dict[type[Any], st.SearchStrategy[Any]] = {
    UserAccount.Registered: events_of(
        UserAccount.Registered,
        originator_topic=st.just(get_topic(UserAccount)),
        organisation_id=st.uuids(),
        login=login_texts(),
        display_name=st.text(),
        credential_id=st.uuids(),
    ),
    UserAccount.LoggedIn: events_of(
        UserAccount.LoggedIn,
        session_id=st.uuids(),
        context=any_login_contexts(),
        new_device=st.booleans(),
        new_location=st.booleans(),
        alert=st.booleans(),
        persistent=st.booleans(),
        restricted=st.booleans(),
    ),
    UserAccount.LoginFailed: events_of(
        UserAccount.LoginFailed,
        context=any_login_contexts(),
        alert_key=optional(st.text()),
        alert_due=optional(utc_datetimes()),
    ),
    UserAccount.LoginThrottled: events_of(
        UserAccount.LoginThrottled, context=any_login_contexts(), until=utc_datetimes()
    ),
    UserAccount.LoggedOut: events_of(UserAccount.LoggedOut, session_id=st.uuids()),
    UserAccount.PasswordChanged: events_of(
        UserAccount.PasswordChanged,
        credential_id=st.uuids(),
        ended_sessions=st.lists(st.uuids(), max_size=5).map(tuple),
        alert=st.booleans(),
    ),
    UserAccount.RecoveryPhoneChanged: events_of(
        UserAccount.RecoveryPhoneChanged, phone=phone_numbers(), alert=st.booleans()
    ),
    UserAccount.NotificationPreferencesChanged: events_of(
        UserAccount.NotificationPreferencesChanged,
        preferences=notification_preferences(),
    ),
    UserAccount.SecurityAlertSent: events_of(
        UserAccount.SecurityAlertSent,
        key=st.text(),
        kind=st.sampled_from(AlertKind),
        count=st.integers(1, 10**6),
    ),
    Organisation.Founded: events_of(
        Organisation.Founded,
        originator_topic=st.just(get_topic(Organisation)),
        name=st.text(min_size=1),
    ),
    Organisation.MemberJoined: events_of(
        Organisation.MemberJoined, account_id=st.uuids(), role=st.sampled_from(Role)
    ),
    # The mailbox import (IMP-1..IMP-9): sources of every security and hosted ones,
    # non-ASCII folder names, every failure reason, no batch or no requester.
    ImportJob.Requested: events_of(
        ImportJob.Requested,
        originator_topic=st.just(get_topic(ImportJob)),
        destination=login_texts(),
        mailbox_id=st.uuids(),
        domain=domains(),
        requested_by=optional(st.uuids()),
        sources=job_sources(),
        batch_id=optional(st.uuids()),
    ),
    ImportJob.Started: events_of(ImportJob.Started),
    ImportJob.Cancelled: events_of(ImportJob.Cancelled, by=optional(st.uuids())),
    ImportJob.Surveyed: events_of(
        ImportJob.Surveyed,
        source_index=st.integers(0, 1),
        folders=st.lists(folder_totals(), max_size=5, unique_by=lambda f: f.name).map(
            tuple
        ),
    ),
    ImportJob.Progressed: events_of(
        ImportJob.Progressed,
        source_index=st.integers(0, 1),
        folder=folder_names(),
        counts=folder_counts(),
    ),
    ImportJob.FolderFinished: events_of(
        ImportJob.FolderFinished,
        source_index=st.integers(0, 1),
        folder=folder_names(),
        result=folder_results(),
        source_state=st.none() | st.text(max_size=80),
        destination_state=st.none() | st.text(max_size=80),
    ),
    ImportJob.SourceFailed: events_of(
        ImportJob.SourceFailed,
        source_index=st.integers(0, 1),
        reason=failure_reasons(),
    ),
    ImportJob.Completed: events_of(ImportJob.Completed),
    ImportJob.Failed: events_of(ImportJob.Failed, reason=failure_reasons()),
    ImportJob.ConfirmationSent: events_of(ImportJob.ConfirmationSent),
    ImportJob.CredentialsForgotten: events_of(ImportJob.CredentialsForgotten),
    ImportLane.Opened: events_of(
        ImportLane.Opened,
        originator_topic=st.just(get_topic(ImportLane)),
        destination=login_texts(),
    ),
    ImportLane.Enqueued: events_of(
        ImportLane.Enqueued, job_id=st.uuids(), became_head=st.booleans()
    ),
    ImportLane.Released: events_of(
        ImportLane.Released, job_id=st.uuids(), next_head=optional(st.uuids())
    ),
    # Two-step verification (MFA-1..MFA-7, ORG-2), each field drawn from its annotation.
    **{
        cls: derived(cls)
        for cls in (
            UserAccount.Reauthenticated,
            Organisation.TwoStepEnforced,
            Organisation.TwoStepRelaxed,
            TwoStep.Opened,
            TwoStep.EnrolmentStarted,
            TwoStep.FactorConfirmed,
            TwoStep.FactorRemoved,
            TwoStep.Disabled,
            TwoStep.TotpAccepted,
            TwoStep.BackupCodesIssued,
            TwoStep.BackupCodeUsed,
            TwoStep.SecondFactorFailed,
            TwoStep.AppPasswordCreated,
            TwoStep.AppPasswordUsed,
            TwoStep.AppPasswordRevoked,
            TwoStep.AppPasswordsRevoked,
            TwoStep.PushIssued,
            TwoStep.PushApproved,
            TwoStep.PushDenied,
            TwoStep.SmsCodeIssued,
            TwoStep.SmsCodeUsed,
            TwoStep.KeyChallengeIssued,
            TwoStep.KeyChallengeUsed,
            TwoStep.CloneSuspected,
        )
    },
    # The other aggregates' events, each field drawn from its annotation. A new event
    # class fails test_every_event_class_of_the_domain_has_a_strategy until listed here.
    **{
        cls: derived(cls)
        for cls in (
            Invitation.Sent,
            Invitation.Accepted,
            Invitation.Mailed,
            Mailbox.Created,
            Mailbox.UserAssigned,
            Mailbox.UserUnassigned,
            Mailbox.PermissionChanged,
            Mailbox.PasswordChanged,
            Mailbox.AliasAdded,
            Mailbox.AliasesRemoved,
            Mailbox.SignatureChanged,
            Mailbox.Deleted,
            Mailbox.AllowListChanged,
            Mailbox.ClientAccessRecorded,
            Mailbox.UsageRecorded,
            Mailbox.MessageSent,
            MailService.Created,
            MailService.QuotaIncreased,
            MailService.AddressesClaimed,
            MailService.AddressesReleased,
            MailService.CatchAllChanged,
            MailService.DefaultPermissionsChanged,
            MailService.SignatureTemplateSaved,
            MailService.DmarcRecorded,
            MailService.ResponderTemplateSaved,
            AutoReply.Decided,
            AutoReply.Sent,
            AutoResponder.MemoryReset,
            AutoResponder.MessageActivated,
            AutoResponder.MessageDeactivated,
            AutoResponder.MessageDeleted,
            AutoResponder.MessageEdited,
            AutoResponder.MessageSaved,
            AutoResponder.Provisioned,
            AutoResponder.Retired,
            AutoResponder.SenderConfirmed,
            AutoResponder.SenderVerificationFailed,
            AutoResponder.SenderVerificationRequested,
            AutoResponder.TimeZoneChanged,
            ReplyBudget.Opened,
            ReplyBudget.ReplyCounted,
            ReplyWindow.Opened,
            ReplyWindow.ReplySent,
        )
    },
}

DOMAIN_EVENTS = domain_event_classes()


def _name(cls: type[Any]) -> str:
    return cls.__qualname__


def test_the_domain_walk_finds_the_aggregates_and_their_events() -> None:
    assert {UserAccount, Organisation, Mailbox, MailService} <= set(domain_aggregates())
    assert DOMAIN_EVENTS
    assert {UserAccount.Registered, UserAccount.LoggedIn, Organisation.Founded} <= set(
        DOMAIN_EVENTS
    )
    # The library's own base classes are not events anyone stores.
    assert UserAccount.Event not in DOMAIN_EVENTS
    assert UserAccount.Created not in DOMAIN_EVENTS


def test_every_event_class_of_the_domain_has_a_strategy() -> None:
    unknown = sorted(map(_name, set(DOMAIN_EVENTS) - set(EVENT_STRATEGIES)))
    assert not unknown, f"new event classes need a strategy in {__name__}: {unknown}"
    stale = sorted(map(_name, set(EVENT_STRATEGIES) - set(DOMAIN_EVENTS)))
    assert not stale, f"strategies for event classes the domain no longer has: {stale}"


Event = CanMutateAggregate[UUID]


def _fields(event: Event) -> dict[str, Any]:
    return {
        f.name: getattr(event, f.name) for f in dataclasses.fields(cast("Any", event))
    }


def shape(value: object) -> object:
    """The types of a value and of everything in it (attrs fields, tuples, dicts)."""
    kind = type(value)
    if attrs.has(kind):
        return kind, tuple(shape(getattr(value, a.name)) for a in attrs.fields(kind))
    if isinstance(value, tuple | list | frozenset | set):
        return kind, tuple(shape(v) for v in value)
    if isinstance(value, dict):
        return kind, tuple((shape(k), shape(v)) for k, v in value.items())
    return kind


def test_the_type_check_sees_a_str_for_a_nested_enum_and_a_list_for_a_tuple() -> None:
    ref = SourceRef("imap.x.example", 993, Security.TLS, "jörg", UUID(int=1))
    as_str = attrs.evolve(ref, security=cast("Security", "tls"))
    assert as_str == ref  # what == alone would let through
    assert shape((as_str,)) != shape((ref,))
    assert shape([ref]) != shape((ref,))
    result = FolderResult("Entwürfe", 1, 0, (("too_large", 1),), 10)
    listed = attrs.evolve(result, failures=cast("Any", (["too_large", 1],)))
    assert shape(listed) != shape(result)


def assert_same_event(back: Event, event: Event) -> None:
    assert type(back) is type(event)
    assert back == event
    original = _fields(event)
    restored = _fields(back)
    assert restored == original
    for name, value in original.items():
        # == lets a list pass for a tuple and a str for a StrEnum; the types may not,
        # at any depth (a SourceRef's Security inside an event's tuple of sources).
        assert shape(restored[name]) == shape(value), name
    assert back.timestamp.utcoffset() == event.timestamp.utcoffset()


def draw_event(data: st.DataObject, cls: type[Any]) -> Event:
    """An instance of ``cls`` from its strategy; a class without one fails the test."""
    if cls not in EVENT_STRATEGIES:
        pytest.fail(f"no strategy for {_name(cls)}")
    return data.draw(EVENT_STRATEGIES[cls])


def stored_draw(
    mapper: CattrsMapper, data: st.DataObject, cls: type[Any]
) -> tuple[Event, StoredEvent]:
    """An event of ``cls`` and what ``mapper`` stores of it."""
    event = draw_event(data, cls)
    return event, mapper.to_stored_event(event)


@pytest.mark.parametrize("cls", DOMAIN_EVENTS, ids=_name)
@given(data=st.data())
def test_every_event_round_trips_through_the_mapper(
    cls: type[Any], data: st.DataObject
) -> None:
    event, stored = stored_draw(MAPPER, data, cls)
    assert stored.topic == get_topic(cls)
    assert stored.originator_id == event.originator_id
    assert stored.originator_version == event.originator_version
    state = json.loads(stored.state)
    assert "originator_id" not in state
    assert "originator_version" not in state
    back = MAPPER.to_domain_event(stored)
    assert_same_event(back, event)
    # Stable: storing what was read gives the same bytes.
    assert MAPPER.to_stored_event(back).state == stored.state


def _ciphered_mapper() -> CattrsMapper:
    key = AESCipher.create_key(num_bytes=32)
    cipher = AESCipher(Environment(env={AESCipher.CIPHER_KEY: key}))
    return CattrsMapper(
        transcoder=JSONTranscoder(), compressor=ZlibCompressor(), cipher=cipher
    )


CIPHERED = _ciphered_mapper()


# The cipher and compressor wrap the same bytes: a few examples per class suffice.
FEW = settings(max_examples=max(5, settings().max_examples // 10))


@pytest.mark.parametrize("cls", DOMAIN_EVENTS, ids=_name)
@FEW
@given(data=st.data())
def test_events_round_trip_compressed_and_encrypted(
    cls: type[Any], data: st.DataObject
) -> None:
    event, stored = stored_draw(CIPHERED, data, cls)
    assert stored.state != MAPPER.to_stored_event(event).state
    assert_same_event(CIPHERED.to_domain_event(stored), event)


@FEW
@given(event=EVENT_STRATEGIES[UserAccount.Registered])
def test_an_encrypted_state_does_not_show_its_values(
    event: UserAccount.Registered,
) -> None:
    plain = MAPPER.to_stored_event(event).state
    ciphered = CIPHERED.to_stored_event(event).state
    assert event.login.encode() in plain
    assert event.login.encode() not in ciphered


def _stored(event: Event, state: bytes) -> StoredEvent:
    stored = MAPPER.to_stored_event(event)
    return StoredEvent(
        originator_id=stored.originator_id,
        originator_version=stored.originator_version,
        topic=stored.topic,
        state=state,
    )


@pytest.mark.parametrize(
    "state",
    [
        pytest.param(b"not json", id="not-json"),
        pytest.param(b"{}", id="missing-fields"),
        pytest.param(b'{"timestamp":"yesterday","session_id":"x"}', id="bad-values"),
    ],
)
@FEW
@given(event=EVENT_STRATEGIES[UserAccount.LoggedOut])
def test_an_unreadable_stored_event_names_its_topic_and_version(
    state: bytes, event: UserAccount.LoggedOut
) -> None:
    with pytest.raises(MapperDeserialisationError) as refused:
        MAPPER.to_domain_event(_stored(event, state))
    message = str(refused.value)
    assert "UserAccount.LoggedOut" in message
    assert f"v{event.originator_version}" in message
