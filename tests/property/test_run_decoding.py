"""The decoding of a whole log gives exactly what the mapper gives, event by event.

A rebuild decodes with ``infrastructure.rundecoding``, which keeps for the pass what
repeats between events and reads some fields without the converter's dispatch (a
bool stored as itself, an id in the form ``str(UUID)`` writes). Here an arbitrary log
of logins, failures, log-outs, password and preference changes is decoded both ways:
every event equal, of the same class, each field of the same type (an id a real
``UUID``), and every envelope the same.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from unittest.mock import patch
from uuid import UUID

from hypothesis import given, settings
from hypothesis import strategies as st

from domain.organisation import Organisation, Role
from domain.security import LoginContext
from infrastructure.mapper import CattrsMapper
from projections.envelope import Envelope
from tests.property.support import act, registered, scratch_engine
from tests.strategies import any_login_contexts, login_contexts

START = datetime(2026, 5, 4, tzinfo=UTC)
contexts = login_contexts(
    devices=("d1", "d2"),
    networks=("192.0.2.0/24", "198.51.100.0/24"),
    places=("", "Lisbon, PT"),
    user_agents=st.sampled_from(["Firefox", "curl", ""]),
)
steps = st.lists(
    st.tuples(
        st.sampled_from(["login", "fail", "logout", "password", "preferences"]),
        st.integers(0, 1),  # which account
        contexts,
        st.integers(1, 90_000),  # seconds since the previous step
        st.one_of(st.just(0), st.integers(1, 999_999)),  # its microseconds
    ),
    max_size=30,
)


def _envelope(envelope: Envelope) -> tuple[Any, ...]:
    return tuple(getattr(envelope, s) for s in Envelope.__slots__ if s != "event")


@settings(max_examples=20, deadline=None)
@given(steps=steps)
def test_a_whole_log_decodes_as_the_mapper_decodes_each_event(
    steps: list[tuple[str, int, LoginContext, int, int]],
) -> None:
    with scratch_engine() as (engine, _):
        log = engine.host.log
        organisation = Organisation.found("Decoding", at=START)
        accounts = registered(
            organisation.id, ["a@example.org", "b@example.org"], at=START
        )
        for i, account in enumerate(accounts):
            organisation.admit(
                account.id, role=Role.ADMIN if i else Role.MEMBER, at=START
            )
        log.save(organisation, *accounts)
        at = START
        for action, which, context, seconds, micros in steps:
            at += timedelta(seconds=seconds)
            act(accounts[which], action, context, at.replace(microsecond=micros))
            log.save(accounts[which])
        mapper = log.mapper
        assert isinstance(mapper, CattrsMapper)
        run = mapper.run_decoding()
        for notification in log.recorder.select_notifications(start=1, limit=10_000):
            # Read by the run decoding itself, not handed back to the mapper.
            with patch.object(mapper, "decoded", side_effect=AssertionError):
                event, envelope = run.both(notification)
            expected, expected_envelope = mapper.decoded(notification)
            assert type(event) is type(expected)
            assert event == expected
            assert vars(event).keys() == vars(expected).keys()
            for name, value in vars(expected).items():
                got = vars(event)[name]
                assert type(got) is type(value), name
                if isinstance(value, UUID):
                    assert (got.int, got.is_safe) == (value.int, value.is_safe)
            assert _envelope(envelope) == _envelope(expected_envelope)


@settings(max_examples=30, deadline=None)
@given(context=any_login_contexts())
def test_any_text_in_an_event_decodes_as_the_mapper_decodes_it(
    context: LoginContext,
) -> None:
    # Text orjson refuses (a lone surrogate) goes to the mapper; either way the same.
    with scratch_engine() as (engine, _):
        log = engine.host.log
        organisation = Organisation.found("Decoding", at=START)
        (account,) = registered(organisation.id, ["a@example.org"], at=START)
        organisation.admit(account.id, role=Role.MEMBER, at=START)
        log.save(organisation, account)
        act(account, "login", context, START)
        act(account, "fail", context, START + timedelta(seconds=1))
        log.save(account)
        mapper = log.mapper
        assert isinstance(mapper, CattrsMapper)
        run = mapper.run_decoding()
        for notification in log.recorder.select_notifications(start=1, limit=100):
            event, envelope = run.both(notification)
            expected, expected_envelope = mapper.decoded(notification)
            assert event == expected
            assert _envelope(envelope) == _envelope(expected_envelope)
