"""A moved or renamed event class fails until its old topic has an alias (golden list).

The pinned topics live in tests/unit/test_stored_topics.py; this checks them through
the one function that says what to do (register an alias), and that an alias works.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from eventsourcing.utils import resolve_topic

from domain.account import UserAccount
from infrastructure import upcasting
from tests.unit.test_stored_topics import STORED_AGGREGATE_TOPICS, STORED_EVENT_TOPICS

MOVED = "domain.accounts_before_the_move:UserAccount.LoggedIn"


def test_every_pinned_topic_resolves_or_the_message_says_to_register_an_alias() -> None:
    problem = upcasting.unreadable(STORED_EVENT_TOPICS + STORED_AGGREGATE_TOPICS)
    assert problem is None, problem


def test_a_moved_class_without_an_alias_is_reported_with_what_to_do() -> None:
    problem = upcasting.unreadable((*STORED_EVENT_TOPICS, MOVED))
    assert problem is not None
    assert MOVED in problem
    assert "register an alias" in problem


@pytest.fixture
def aliased() -> Iterator[str]:
    upcasting.alias(MOVED, UserAccount.LoggedIn)
    yield MOVED
    from eventsourcing.utils import _topic_cache  # noqa: PLC0415 - undo the test's alias

    _topic_cache.pop(MOVED, None)


def test_an_alias_makes_the_old_topic_read_as_the_moved_class(aliased: str) -> None:
    assert upcasting.unreadable((aliased,)) is None
    assert resolve_topic(aliased) is UserAccount.LoggedIn
