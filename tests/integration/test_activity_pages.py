"""Failures fold into the login line an earlier page stored (SEC-3), on both stores.

A page of recent activity reads the latest stored login line of an account that may
fold in one statement of its own (``projections.activitylines``). Here one page stores
the lines and the next folds into them, on SQLite and on PostgreSQL, and the rows are
those of one event at a time.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from uuid import uuid4

import pytest

from domain.account import UserAccount
from domain.address import EmailAddress
from domain.security import LoginContext, SecurityPolicy
from infrastructure.sql import PostgresDatabase, SqliteDatabase
from projections.activity import RecentActivity
from projections.storage import Database
from tests.integration.stack import store_env

START = datetime(2026, 4, 2, 9, 0, tzinfo=UTC)
POLICY = SecurityPolicy(throttle_limit=50)
HOME = LoginContext(device="d1", network="192.0.2.0/24", place="", user_agent="Firefox")
AWAY = LoginContext(device="d2", network="198.51.100.0/24", place="", user_agent="curl")


@contextmanager
def _store(
    store: str, request: pytest.FixtureRequest, tmp_path: Path, label: str
) -> Iterator[Database]:
    with store_env(store, request) as env:
        database: SqliteDatabase | PostgresDatabase = (
            PostgresDatabase(env)
            if env
            else SqliteDatabase(tmp_path / f"{label}.sqlite")
        )
        try:
            yield database
        finally:
            database.close()


def _pages() -> list[list[tuple[object, int]]]:
    """Two pages: a login and failures stored, then more failures of each account."""
    accounts = [
        UserAccount.register(
            uuid4(),
            EmailAddress.parse(f"user{i}@example.org"),
            credential_id=uuid4(),
            at=START,
        )
        for i in range(3)
    ]
    clock = iter(START + timedelta(seconds=7 * i, microseconds=i) for i in range(1, 99))
    first, second = accounts[0], accounts[1]
    first.log_in(uuid4(), HOME, at=next(clock), policy=POLICY)
    first.fail_login(HOME, at=next(clock), policy=POLICY)
    second.fail_login(AWAY, at=next(clock), policy=POLICY)
    pages = [[e for a in accounts for e in a.collect_events()]]
    for account in accounts:
        for _ in range(2):
            account.fail_login(HOME, at=next(clock), policy=POLICY)
    pages.append([e for a in accounts for e in a.collect_events()])
    positions = iter(range(1, 99))
    return [[(e, next(positions)) for e in page] for page in pages]


def _rows(database: Database) -> list[tuple[Any, ...]]:
    with database.transaction() as cursor:
        cursor.execute(
            "SELECT position, account_id, at, kind, outcome, network, repeats"
            " FROM mh_activity ORDER BY position"
        )
        return cursor.fetchall()


@pytest.mark.parametrize("store", ["sqlite", "postgres"])
def test_failures_fold_into_the_login_line_an_earlier_page_stored(
    store: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    # rule SEC-3: repeated failures from one network and client are one line
    pages = _pages()
    with (
        _store(store, request, tmp_path, "paged") as paged,
        _store(store, request, tmp_path, "single") as single,
    ):
        for database in (paged, single):
            database.ensure_schema(RecentActivity.schema)
        projection = RecentActivity()
        for page in pages:
            with paged.transaction() as cursor:
                projection.process_many(page, cursor)
        for event, position in (item for page in pages for item in page):
            with single.transaction() as cursor:
                projection.process(event, position, cursor)
        rows = _rows(paged)
        assert rows == _rows(single)
    logins = [r for r in rows if r[3] == "login"]
    # The first account's failures went on its stored failure line; the second's
    # came from another network than its stored one; the third had none stored.
    assert [(r[4], r[5], r[6]) for r in logins] == [
        ("signed in", HOME.network, 1),
        ("wrong password", HOME.network, 3),
        ("wrong password", AWAY.network, 1),
        ("wrong password", HOME.network, 2),
        ("wrong password", HOME.network, 2),
    ]
    first = pages[0][0][0].originator_id  # type: ignore[attr-defined]
    latest = pages[1][1][0]
    assert latest.originator_id == first  # type: ignore[attr-defined]
    assert logins[1][2] == latest.timestamp.isoformat()  # type: ignore[attr-defined]
