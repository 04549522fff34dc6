"""The same engine on PostgreSQL: log, read models and credentials in one database."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from application.accounts import LoginRefused
from domain.account import UserAccount
from projections.activity import RecentActivity
from projections.runner import ProjectionRunner
from tests.integration.support import (
    LOGIN,
    PASSWORD,
    engine,
    event_count,
    stored_bytes,
    with_user,
)


def test_security_slice_on_postgres(
    tmp_path: Path, postgres_env: dict[str, str]
) -> None:
    # rule SEC-1, rule SEC-2, rule SEC-3
    with engine(tmp_path, {**postgres_env, "MAILHOST_FAILED_LOGIN_WINDOW": "60"}) as e:
        assert e.settings.uses_postgres
        with_user(e)
        first = e.host.accounts.login(
            LOGIN, PASSWORD, ip="192.0.2.10", user_agent="Firefox"
        )
        assert first.alerted
        for _ in range(3):
            with pytest.raises(LoginRefused):
                e.host.accounts.login(LOGIN, "wrong-pass", ip="203.0.113.9")
        e.host.settle()
        entries = e.host.activity.recent(first.account_id)
        lines = {(x.outcome, x.count) for x in entries}
        assert {
            ("wrong password", 3),
            ("security mail sent", 1),
            ("signed in", 1),
        } <= lines
        assert len(list((tmp_path / "outbox").glob("*.eml"))) == 1
        assert not (tmp_path / "events.sqlite").exists()
        assert event_count(e, ".LoginFailed") == 3
    assert PASSWORD.encode() not in stored_bytes(tmp_path)


def test_rebuilt_view_equals_incremental_view_on_postgres(
    tmp_path: Path, postgres_env: dict[str, str]
) -> None:
    with engine(tmp_path, postgres_env) as e:
        with_user(e)
        for ip in ("192.0.2.10", "198.51.100.7", "192.0.2.10"):
            e.host.accounts.login(LOGIN, PASSWORD, ip=ip)
        e.host.settle()
        before = _rows(e.runner)
        projection = next(
            p for p in e.runner.projections if isinstance(p, RecentActivity)
        )
        e.runner.rebuild(projection)
        assert _rows(e.runner) == before
        assert len(before) >= 4


def test_concurrent_commands_on_one_account_all_land(
    tmp_path: Path, postgres_env: dict[str, str]
) -> None:
    with engine(tmp_path, postgres_env, background=False) as e:
        with_user(e)
        errors: list[BaseException] = []

        def log_in() -> None:
            try:
                for _ in range(4):
                    e.host.accounts.login(LOGIN, PASSWORD, ip="192.0.2.10")
            except BaseException as exc:  # noqa: BLE001 - reported below
                errors.append(exc)

        threads = [threading.Thread(target=log_in) for _ in range(3)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert errors == []
        account = e.host.log.load(e.host.accounts.get(LOGIN).id, UserAccount, "account")
        assert len(account.active_sessions) == 12


def _rows(runner: ProjectionRunner) -> list[tuple[object, ...]]:
    with runner.database.transaction() as cursor:
        cursor.execute("SELECT * FROM mh_activity ORDER BY position")
        return cursor.fetchall()
