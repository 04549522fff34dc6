"""A page of events given at once (``process_many``) writes the rows one at a time would.

The runner and the rebuild hand projections pages of their events; the batch forms
fold login failures (SEC-3) and audit counts in memory before writing. Here every
event of an arbitrary log goes through ``process`` one transaction each on one side
and through one ``process_many`` on the other, on real SQLite files, and every table
of the projection must come out the same.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from application.context import Actor, acting
from domain.organisation import Organisation, Role
from domain.security import LoginContext
from infrastructure.sql import SqliteDatabase
from projections.activity import RecentActivity
from projections.audit import AuditTrail
from projections.runner import BatchProjection
from tests.property.support import act, one_by_one_and_paged, registered, scratch_engine
from tests.strategies import login_contexts

START = datetime(2026, 3, 29, tzinfo=UTC)
contexts = login_contexts(
    devices=("d1", "d2"),
    networks=("192.0.2.0/24", "198.51.100.0/24"),
    places=("", "Lisbon, PT"),
    user_agents=st.sampled_from(["Firefox", "curl"]),
)
steps = st.lists(
    st.tuples(
        st.sampled_from(["login", "fail", "fail", "fail", "logout"]),
        st.integers(0, 2),  # which account
        st.booleans(),  # acting as the admin account (or the operator)
        contexts,
        st.integers(1, 90_000),  # seconds since the previous step: days change
    ),
    max_size=40,
)


def _rows(database: SqliteDatabase, tables: tuple[str, ...]) -> list[object]:
    found: list[object] = []
    with database.transaction() as cursor:
        for table in tables:
            cursor.execute(f"SELECT * FROM {table} ORDER BY 1, 2")  # noqa: S608 - our names
            found.append(cursor.fetchall())
    return found


@settings(max_examples=20, deadline=None)
@given(steps=steps)
def test_a_page_at_once_writes_the_rows_of_one_event_at_a_time(
    steps: list[tuple[str, int, bool, LoginContext, int]],
) -> None:
    with scratch_engine() as (engine, tmp):
        log = engine.host.log
        organisation = Organisation.found("Batches", at=START)
        logins = [f"user{i}@example.org" for i in range(3)]
        accounts = registered(organisation.id, logins, at=START)
        for i, account in enumerate(accounts):
            role = Role.ADMIN if i == 0 else Role.MEMBER
            organisation.admit(account.id, role=role, at=START)
        log.save(organisation, *accounts)
        at = START
        for action, which, as_admin, context, seconds in steps:
            at += timedelta(seconds=seconds)
            actor = Actor.account(accounts[0].id) if as_admin else Actor.operator()
            with acting(actor):
                act(accounts[which], action, context, at)
                log.save(accounts[which])
        notifications = log.recorder.select_notifications(start=1, limit=10_000)
        items = [(log.mapper.to_domain_event(n), n.id) for n in notifications]
        projections: list[type[BatchProjection]] = [RecentActivity, AuditTrail]
        for kind in projections:
            one, page = one_by_one_and_paged(kind, items, tmp)
            assert _rows(page, kind.tables) == _rows(one, kind.tables)
            one.close()
            page.close()
