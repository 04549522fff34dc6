"""The mapper's audit additions: the context beside every event, class versions and
upcasters, and personal fields sealed per person (readable, then forgotten)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any
from uuid import UUID, uuid4

import pytest
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from eventsourcing.persistence import (
    JSONTranscoder,
    MapperDeserialisationError,
    StoredEvent,
)
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from application.context import Actor, acting, recorded
from domain.account import UserAccount
from domain.phone import PhoneNumber
from infrastructure import upcasting
from infrastructure.mapper import CattrsMapper
from infrastructure.personaldata import FORGOTTEN, PERSONAL
from infrastructure.personkeys import PersonKey
from tests.unit.eventsupport import events_of
from tests.unit.test_mapper import EVENT_STRATEGIES

FEW = settings(max_examples=25)


class MemoryKeys:
    """A key ring in memory (the SQL one is tested against real stores)."""

    def __init__(self) -> None:
        self.keys: dict[UUID, PersonKey] = {}

    def sealing_key(self, subject: UUID) -> PersonKey:
        if subject not in self.keys:
            self.keys[subject] = PersonKey(
                uuid4().hex[:8], AESGCM(AESGCM.generate_key(256))
            )
        return self.keys[subject]

    def opening_key(self, subject: UUID) -> PersonKey | None:
        return self.keys.get(subject)


def mapper(keys: MemoryKeys | None = None) -> CattrsMapper:
    made = CattrsMapper(transcoder=JSONTranscoder())
    made.keys = keys
    return made


logins = EVENT_STRATEGIES[UserAccount.LoggedIn]
phones = EVENT_STRATEGIES[UserAccount.RecoveryPhoneChanged]


@FEW
@given(event=logins)
def test_the_context_of_the_save_comes_back_and_leaves_equality_alone(
    event: UserAccount.LoggedIn,
) -> None:
    actor = Actor.account(uuid4())
    with acting(actor, causation=7) as context:
        stored = mapper().to_stored_event(event)
    assert json.loads(stored.state)["_meta"] == context.as_stored()
    back = mapper().to_domain_event(stored)
    assert recorded(back) == context
    assert back == event
    assert recorded(event) is None


@FEW
@given(event=logins)
def test_an_event_stored_before_contexts_has_none(event: UserAccount.LoggedIn) -> None:
    stored = mapper().to_stored_event(event)
    state = json.loads(stored.state)
    del state["_meta"], state["_v"]
    back = mapper().to_domain_event(_restored(stored, state))
    assert recorded(back) is None
    assert back == event


def _restored(stored: StoredEvent, state: dict[str, Any]) -> StoredEvent:
    return StoredEvent(
        originator_id=stored.originator_id,
        originator_version=stored.originator_version,
        topic=stored.topic,
        state=json.dumps(state).encode(),
    )


@FEW
@given(event=logins)
def test_personal_fields_are_ciphertext_readable_until_the_key_goes(
    event: UserAccount.LoggedIn,
) -> None:
    keys = MemoryKeys()
    stored = mapper(keys).to_stored_event(event)
    context = json.loads(stored.state)["context"]
    assert set(context) == {"$sealed"}
    assert mapper(keys).to_domain_event(stored) == event
    # Without the key store, or once the key is gone: the field reads as forgotten.
    for reader in (mapper(), mapper(MemoryKeys())):
        back = reader.to_domain_event(stored)
        assert back.context.place == back.context.user_agent == FORGOTTEN
        assert back.session_id == event.session_id


@FEW
@given(event=phones)
def test_a_forgotten_phone_is_still_a_phone_number(
    event: UserAccount.RecoveryPhoneChanged,
) -> None:
    stored = mapper(MemoryKeys()).to_stored_event(event)
    assert event.phone.e164.encode() not in stored.state
    back = mapper(MemoryKeys()).to_domain_event(stored)
    assert back.phone == PhoneNumber(FORGOTTEN)


@FEW
@given(event=logins)
def test_plain_personal_fields_of_older_events_still_read(
    event: UserAccount.LoggedIn,
) -> None:
    plain = mapper().to_stored_event(event)
    assert mapper(MemoryKeys()).to_domain_event(plain) == event


@FEW
@given(event=logins)
def test_a_sealed_field_moved_to_another_event_does_not_open(
    event: UserAccount.LoggedIn,
) -> None:
    keys = MemoryKeys()
    stored = mapper(keys).to_stored_event(event)
    moved = StoredEvent(
        originator_id=stored.originator_id,
        originator_version=stored.originator_version + 1,
        topic=stored.topic,
        state=stored.state,
    )
    with pytest.raises(MapperDeserialisationError, match="altered"):
        mapper(keys).to_domain_event(moved)


def test_every_personal_field_is_a_field_of_its_event() -> None:
    for cls, fields in PERSONAL.items():
        assert set(fields) <= set(cls.__dataclass_fields__), cls.__qualname__


@pytest.fixture
def renamed_field() -> Iterator[str]:
    """As if Registered had been v1 with ``name``, renamed ``display_name`` in v2."""
    topic = "domain.account:UserAccount.Registered"
    upcasting.VERSIONS[topic] = 2

    def rename(old: dict[str, Any]) -> dict[str, Any]:
        old["display_name"] = old.pop("name")
        return old

    upcasting.upcaster(topic, 1)(rename)
    upcasting.forget_cached_versions()
    yield topic
    del upcasting.VERSIONS[topic]
    del upcasting._UPCASTERS[(topic, 1)]
    upcasting.forget_cached_versions()


registrations = events_of(
    UserAccount.Registered,
    originator_topic=st.just("domain.account:UserAccount"),
    organisation_id=st.uuids(),
    login=st.just("ann@example.org"),
    display_name=st.text(),
    credential_id=st.uuids(),
)


@settings(max_examples=25, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(event=registrations)
def test_an_old_shape_is_upcast_before_it_is_structured(
    renamed_field: str, event: UserAccount.Registered
) -> None:
    stored = mapper().to_stored_event(event)
    state = json.loads(stored.state)
    assert state["_v"] == 2
    state["name"] = state.pop("display_name")
    del state["_v"]  # a v1 event names no version
    assert mapper().to_domain_event(_restored(stored, state)) == event
    state["_v"] = 3
    with pytest.raises(MapperDeserialisationError, match="newer release"):
        mapper().to_domain_event(_restored(stored, state))
    assert renamed_field
