"""Sessions of an account for two-step verification: persistent or not (MFA-6),
enrol-only (MFA-7), re-authentication before a security change; and the organisation's
policy (ORG-2). Events written before these existed still replay."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from uuid import UUID, uuid4

import pytest
from eventsourcing.persistence import StoredEvent
from hypothesis import given
from hypothesis import strategies as st

from domain.account import UserAccount
from domain.address import EmailAddress
from domain.errors import InvalidInput, NotFound
from domain.organisation import Organisation
from domain.security import LoginContext, SecurityPolicy
from tests.strategies import MAPPER, replay, through_mapper

ORG = UUID("00000000-0000-4000-8000-000000000002")
NOW = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
HERE = LoginContext(device="d1", network="192.0.2.0/24")
POLICY = SecurityPolicy()
WINDOW = timedelta(minutes=5)


def account() -> UserAccount:
    return UserAccount.register(
        ORG, EmailAddress.parse("ann@example.org"), credential_id=uuid4(), at=NOW
    )


def test_a_session_is_persistent_and_unrestricted_unless_said() -> None:
    # rule MFA-6, MFA-7
    user = account()
    usual, browser, enrol = uuid4(), uuid4(), uuid4()
    user.log_in(usual, HERE, at=NOW, policy=POLICY)
    user.log_in(browser, HERE, at=NOW, policy=POLICY, persistent=False)
    user.log_in(enrol, HERE, at=NOW, policy=POLICY, restricted=True)
    assert [user.is_persistent(s) for s in (usual, browser, enrol)] == [
        True,
        False,
        True,
    ]
    assert [user.is_restricted(s) for s in (usual, browser, enrol)] == [
        False,
        False,
        True,
    ]
    user.log_out(browser, at=NOW)
    user.change_password(uuid4(), keep_session=usual, at=NOW)
    assert user.transient_sessions == user.restricted_sessions == frozenset()
    rebuilt = replay(through_mapper(user.collect_events()))
    assert rebuilt == user


def test_a_logged_in_event_stored_before_mfa_6_replays_persistent() -> None:
    # Events in the log predate the two fields: the class defaults stand in.
    user = account()
    session = uuid4()
    user.log_in(session, HERE, at=NOW, policy=POLICY)
    registered, logged_in = user.collect_events()
    stored = MAPPER.to_stored_event(logged_in)
    state = json.loads(stored.state)
    del state["persistent"], state["restricted"]
    old = StoredEvent(
        originator_id=stored.originator_id,
        originator_version=stored.originator_version,
        topic=stored.topic,
        state=json.dumps(state).encode(),
    )
    event = MAPPER.to_domain_event(old)
    assert (event.persistent, event.restricted) == (True, False)
    rebuilt = replay([*through_mapper([registered]), event])
    assert isinstance(rebuilt, UserAccount)
    assert rebuilt.is_persistent(session)
    assert not rebuilt.is_restricted(session)
    assert rebuilt.active_sessions == {session}


@given(
    gaps=st.lists(st.integers(0, 600), min_size=1, max_size=20),
    checks=st.lists(st.integers(0, 900), max_size=20),
)
def test_a_reauthentication_counts_within_its_window_in_its_session_only(
    gaps: list[int], checks: list[int]
) -> None:
    user = account()
    session, other = uuid4(), uuid4()
    user.log_in(session, HERE, at=NOW, policy=POLICY)
    user.log_in(other, HERE, at=NOW, policy=POLICY)
    at, last = NOW, None
    assert not user.recently_reauthenticated(session, NOW, WINDOW)
    for gap in gaps:
        at += timedelta(seconds=gap)
        user.reauthenticate(session, at=at)
        last = at
    for offset in checks:
        when = at + timedelta(seconds=offset)
        expected = last is not None and when < last + WINDOW
        assert user.recently_reauthenticated(session, when, WINDOW) is expected
        assert not user.recently_reauthenticated(other, when, WINDOW)
    user.log_out(session, at=at)
    assert not user.recently_reauthenticated(session, at, WINDOW)
    assert user.reauthentications == ()
    assert replay(through_mapper(user.collect_events())) == user


def test_only_an_active_session_reauthenticates() -> None:
    user = account()
    version = user.version
    with pytest.raises(NotFound):
        user.reauthenticate(uuid4(), at=NOW)
    assert user.version == version


def test_an_organisation_enforces_two_step_verification_and_relaxes_it() -> None:
    # rule ORG-2, MFA-7
    org = Organisation.found("Example AG", at=NOW)
    assert not org.enforces_two_step
    admin = uuid4()
    org.enforce_two_step(admin, at=NOW)
    assert org.enforces_two_step
    version = org.version
    with pytest.raises(InvalidInput, match="enforces two-step verification already"):
        org.enforce_two_step(None, at=NOW)
    assert org.version == version
    rebuilt = replay(through_mapper(list(org.pending_events)))
    assert isinstance(rebuilt, Organisation)
    assert rebuilt.enforces_two_step
    org.relax_two_step(None, at=NOW)
    assert not org.enforces_two_step
    with pytest.raises(InvalidInput, match="does not enforce"):
        org.relax_two_step(admin, at=NOW)
    rebuilt = replay(through_mapper(org.collect_events()))
    assert isinstance(rebuilt, Organisation)
    assert not rebuilt.enforces_two_step
    assert rebuilt.two_step_enforced is False
