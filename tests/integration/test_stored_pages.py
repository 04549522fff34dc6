"""A rebuild's reading of the log (``infrastructure.storedpages``) is the recorder's.

The rebuild reads plain SQLite rows and makes each aggregate's id once per pass; what
it hands the replay must be exactly what ``select_notifications`` gives, page by
page, with and without a topic filter. On PostgreSQL it is the recorder's own select,
so there the test is only that it reads the whole log and stops at its end.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from uuid import uuid4

import pytest
from eventsourcing.utils import get_topic
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from domain.account import UserAccount
from domain.address import EmailAddress
from domain.organisation import Organisation
from domain.security import LoginContext
from infrastructure.bootstrap import Engine, open_engine
from infrastructure.storedpages import StoredPages
from tests.integration.stack import store_env
from tests.property.test_projection_rebuild import START, _apply

TOPICS = [
    get_topic(cls)
    for cls in (
        UserAccount.Registered,
        UserAccount.LoggedIn,
        UserAccount.LoginFailed,
        Organisation.Founded,
    )
]


@contextmanager
def _seeded(store: str, request: pytest.FixtureRequest) -> Iterator[Engine]:
    with tempfile.TemporaryDirectory() as tmp, store_env(store, request) as env:
        opened = open_engine(Path(tmp) / "home", env=env, background=False)
        try:
            _seed(opened)
            yield opened
        finally:
            opened.close()


@pytest.fixture(params=["sqlite", "postgres"])
def engine(request: pytest.FixtureRequest) -> Iterator[Engine]:
    with _seeded(request.param, request) as opened:
        yield opened


@pytest.fixture
def sqlite_engine(request: pytest.FixtureRequest) -> Iterator[Engine]:
    """Only SQLite's pages are read apart from the recorder, so only they can differ."""
    with _seeded("sqlite", request) as opened:
        yield opened


def _seed(engine: Engine) -> None:
    """A few accounts' sign-ins and failures, interleaved: ids repeat across a page."""
    log = engine.host.log
    org = Organisation.found("Example Co", at=START)
    accounts = [
        UserAccount.register(
            org.id,
            EmailAddress.parse(f"u{n}@example.net"),
            credential_id=uuid4(),
            at=START,
        )
        for n in range(3)
    ]
    log.save(org, *accounts)
    at = START
    for step in range(30):
        at += timedelta(minutes=1)
        account = log.load(accounts[step % 3].id, UserAccount, "account")
        context = LoginContext(
            device=f"d{step % 2}",
            network="192.0.2.0/24",
            place="Geneva, CH",
            user_agent="Firefox",
        )
        _apply(account, "fail" if step % 4 else "login", context, at)
        log.save(account)


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    after=st.integers(0, 80),
    limit=st.integers(1, 50),
    topics=st.lists(st.sampled_from(TOPICS), unique=True, max_size=3),
)
def test_a_page_is_the_recorders_page(
    sqlite_engine: Engine, after: int, limit: int, topics: list[str]
) -> None:
    recorder = sqlite_engine.host.log.recorder
    pages = StoredPages.of(recorder, sqlite_engine.settings)
    assert pages.file is not None
    expected = recorder.select_notifications(
        start=after, limit=limit, topics=topics, inclusive_of_start=False
    )
    assert list(pages(after, limit, topics)) == list(expected)
    assert list(pages(after, limit, topics)) == list(expected)  # ids made once, reused


def test_sqlite_reads_its_own_rows_and_postgres_the_recorders(engine: Engine) -> None:
    pages = StoredPages.of(engine.host.log.recorder, engine.settings)
    assert (pages.file is None) is engine.settings.uses_postgres
    everything = pages(0, 1_000, ())
    assert len(everything) == engine.host.log.recorder.max_notification_id()
    assert pages(everything[-1].id, 10, ()) == []
