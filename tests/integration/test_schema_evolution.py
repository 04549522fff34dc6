"""Events in the shapes an older release wrote, read by this one (real SQLite store).

The older release, as simulated here: no audit context and no class version in the
state, personal fields in plain, ``LoggedIn`` without its later fields, ``Registered``
with ``name`` where this release has ``display_name`` (its v1, upcast to v2), and
``LoggedIn`` stored under the topic of a module the class has since left (an alias).
This release replays the aggregates, rebuilds every projection, and the chain verifies.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path
from typing import Any

import pytest
from eventsourcing.utils import _topic_cache

from application.accounts import LoginRefused
from application.authorization import OPERATOR
from domain.account import UserAccount
from domain.ids import account_id
from infrastructure import upcasting
from infrastructure.cli import main
from infrastructure.mapper import CattrsMapper
from tests.integration.support import LOGIN, ORG, PASSWORD, engine

REGISTERED = "domain.account:UserAccount.Registered"
LOGGED_IN = "domain.account:UserAccount.LoggedIn"
MOVED_FROM = "domain.accounts_v1:UserAccount.LoggedIn"


def _old_release(topic: str, state: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    state.pop("_meta", None)
    state.pop("_v", None)
    if topic == REGISTERED:
        state["name"] = state.pop("display_name")
    if topic == LOGGED_IN:
        state.pop("persistent")
        state.pop("restricted")
        topic = MOVED_FROM
    return topic, state


@pytest.fixture
def this_release() -> Iterator[None]:
    """Registered is at v2 (v1 said ``name``); LoggedIn moved from domain.accounts_v1."""
    upcasting.VERSIONS[REGISTERED] = 2

    def renamed(old: dict[str, Any]) -> dict[str, Any]:
        old["display_name"] = old.pop("name")
        return old

    upcasting.upcaster(REGISTERED, 1)(renamed)
    upcasting.alias(MOVED_FROM, UserAccount.LoggedIn)
    upcasting.forget_cached_versions()
    yield
    del upcasting.VERSIONS[REGISTERED]
    del upcasting._UPCASTERS[(REGISTERED, 1)]
    _topic_cache.pop(MOVED_FROM, None)
    upcasting.forget_cached_versions()


def _rows(path: Path) -> list[tuple[Any, ...]]:
    with closing(sqlite3.connect(path)) as connection:
        return connection.execute(
            "SELECT originator_id, originator_version, topic, state"
            " FROM stored_events ORDER BY rowid"
        ).fetchall()


def _written_by_the_old_release(tmp_path: Path) -> list[tuple[Any, ...]]:
    with engine(tmp_path / "old", background=False) as e:
        mapper = e.host.log.mapper
        assert isinstance(mapper, CattrsMapper)
        mapper.keys = None  # the old release sealed nothing
        e.host.organisations.found(ORG, by=OPERATOR)
        e.host.accounts.register(ORG, LOGIN, PASSWORD, display_name="Ann", by=OPERATOR)
        e.host.accounts.login(LOGIN, PASSWORD, ip="192.0.2.10", user_agent="Firefox")
        with pytest.raises(LoginRefused):
            e.host.accounts.login(LOGIN, "wrong-pass", ip="192.0.2.11")
    rows = []
    for originator_id, version, topic, state in _rows(
        tmp_path / "old" / "events.sqlite"
    ):
        old_topic, old_state = _old_release(topic, json.loads(state))
        rows.append((originator_id, version, old_topic, json.dumps(old_state).encode()))
    return rows


@pytest.mark.usefixtures("this_release")
def test_this_release_reads_replays_rebuilds_and_verifies_an_old_log(
    tmp_path: Path,
) -> None:
    rows = _written_by_the_old_release(tmp_path)
    assert MOVED_FROM in {row[2] for row in rows}
    home = tmp_path / "new"
    with engine(home, background=False):
        pass  # the tables, empty
    with closing(sqlite3.connect(home / "events.sqlite")) as connection:
        connection.executemany("INSERT INTO stored_events VALUES (?, ?, ?, ?)", rows)
        connection.commit()
    with engine(home, background=False) as e:
        account = e.host.log.read(account_id(LOGIN), UserAccount, "account")
        assert account.display_name == "Ann"
        assert account.known_devices
        for projection in e.runner.projections:
            if projection.name != "job_schedule":
                e.runner.rebuild(projection)
        e.runner.catch_up()
        entries = e.host.activity.recent(account_id(LOGIN))
        assert len(entries) >= 2  # the login and the failed one, rebuilt
    assert main(["audit", "verify", "--home", str(home)]) == 0
