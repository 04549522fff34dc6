"""Rebuilding a read model from the log gives the view the live runner built.

The incremental side catches up at arbitrary points of an arbitrary command sequence
(so batches split anywhere); the rebuilt side replays the whole log at once into an
empty database. Both run the real projections on real SQLite files.
"""

from __future__ import annotations

import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path
from uuid import uuid4

from hypothesis import given, settings
from hypothesis import strategies as st

from domain.account import UserAccount
from domain.address import EmailAddress
from domain.errors import DomainError
from domain.security import LoginContext, NotificationPreferences, SecurityPolicy
from infrastructure.bootstrap import open_engine
from infrastructure.sql import SqliteDatabase
from projections.activity import RecentActivity
from projections.jobs import JobSchedule
from projections.runner import ProjectionRunner

POLICY = SecurityPolicy(failed_login_window=timedelta(minutes=5), throttle_limit=4)
START = datetime(2026, 3, 29, tzinfo=UTC)

contexts = st.builds(
    LoginContext,
    device=st.sampled_from(["d1", "d2", "d3"]),
    network=st.sampled_from(["192.0.2.0/24", "198.51.100.0/24"]),
    place=st.sampled_from(["", "Geneva, CH", "Lisbon, PT"]),
    user_agent=st.sampled_from(["Firefox", "curl"]),
)
steps = st.lists(
    st.tuples(
        st.sampled_from(["login", "fail", "fail", "password", "prefs", "sent", "sync"]),
        st.integers(0, 1),  # which account
        contexts,
        st.integers(1, 600),  # seconds since the previous step
    ),
    max_size=40,
)


def _rows(database: SqliteDatabase, sql: str) -> list[tuple[object, ...]]:
    with database.transaction() as cursor:
        cursor.execute(sql)
        return cursor.fetchall()


ACTIVITY = "SELECT * FROM mh_activity ORDER BY position"
JOBS = "SELECT job_id, actor, args, due_at, position FROM mh_jobs ORDER BY job_id"


@settings(max_examples=25, deadline=None)
@given(steps=steps)
def test_rebuilt_views_equal_incremental_views(
    steps: list[tuple[str, int, LoginContext, int]],
) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        engine = open_engine(Path(tmp) / "home", background=False)
        try:
            log, runner = engine.host.log, engine.runner
            accounts = [
                UserAccount.register(
                    uuid4(),
                    EmailAddress.parse(f"user{i}@example.org"),
                    credential_id=uuid4(),
                    at=START,
                )
                for i in range(2)
            ]
            log.save(*accounts)
            at = START
            for action, which, context, seconds in steps:
                at += timedelta(seconds=seconds)
                account = log.load(accounts[which].id, UserAccount, "account")
                try:
                    _apply(account, action, context, at)
                except DomainError:
                    continue
                if action == "sync":
                    runner.catch_up()
                else:
                    log.save(account)
            runner.catch_up()
            fresh = SqliteDatabase(Path(tmp) / "rebuilt.sqlite")
            ProjectionRunner(log, fresh, [RecentActivity(), JobSchedule()]).catch_up()
            live = engine.databases[0]
            assert isinstance(live, SqliteDatabase)
            assert _rows(fresh, ACTIVITY) == _rows(live, ACTIVITY)
            assert _rows(fresh, JOBS) == _rows(live, JOBS)
            fresh.close()
        finally:
            engine.close()


def _apply(
    account: UserAccount, action: str, context: LoginContext, at: datetime
) -> None:
    if action == "login":
        if account.is_throttled(at, POLICY):
            account.record_throttled(context, at=at, policy=POLICY)
        else:
            account.log_in(uuid4(), context, at=at, policy=POLICY)
    elif action == "fail":
        if account.is_throttled(at, POLICY):
            account.record_throttled(context, at=at, policy=POLICY)
        else:
            account.fail_login(context, at=at, policy=POLICY)
    elif action == "password":
        account.change_password(uuid4(), keep_session=None, at=at)
    elif action == "prefs":
        account.choose_notifications(
            NotificationPreferences(new_location=not account.preferences.new_location),
            at=at,
        )
    elif action == "sent" and account.pending_alerts:
        account.record_alert_sent(min(account.pending_alerts), at=at)
