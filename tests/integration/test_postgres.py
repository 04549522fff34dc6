"""The same engine on PostgreSQL: log, read models and credentials in one database."""

from __future__ import annotations

import threading
from pathlib import Path

import psycopg
import pytest

from application.accounts import LoginRefused
from domain.account import UserAccount
from infrastructure.bootstrap import open_engine
from infrastructure.settings import ConfigurationError
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
from tests.servers import RunningPostgres


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


STARTERS = 8


def test_concurrent_start_ups_on_a_fresh_database_all_succeed(
    tmp_path: Path, postgres_server: RunningPostgres
) -> None:
    # Issue 7 item 6: `tuple concurrently updated` (CREATE OR REPLACE FUNCTION) and a
    # unique violation on pg_type (CREATE TABLE IF NOT EXISTS) failed start-ups.
    errors: list[str] = []
    for round_ in range(3):
        name = postgres_server.create_database()
        try:
            errors += _start_together(tmp_path / str(round_), postgres_server.env(name))
        finally:
            postgres_server.drop_database(name)
    assert errors == []


def test_create_table_no_is_honoured_for_every_table(
    tmp_path: Path, postgres_env: dict[str, str], postgres_server: RunningPostgres
) -> None:
    # Issue 7 item 6: an operator's CREATE_TABLE=n (a migration tool makes the tables)
    # was overridden: the engine ran its DDL anyway.
    dbname = postgres_env["POSTGRES_DBNAME"]
    with pytest.raises(ConfigurationError, match="CREATE_TABLE"):
        open_engine(tmp_path, {**postgres_env, "CREATE_TABLE": "n"}, background=False)
    assert _tables(postgres_server, dbname) == set()
    with engine(tmp_path, postgres_env, background=False):
        pass  # the "migration": one start with the default
    made = _tables(postgres_server, dbname)
    assert {"mailhost_events", "mh_tracking", "mh_secrets"} <= made
    with engine(tmp_path, {**postgres_env, "CREATE_TABLE": "no"}) as e:
        with_user(e)
        assert e.host.accounts.login(LOGIN, PASSWORD, ip="192.0.2.10").alerted
    assert _tables(postgres_server, dbname) == made


def _start_together(root: Path, env: dict[str, str]) -> list[str]:
    """STARTERS engines opened at once, each in its own home; what went wrong."""
    errors: list[str] = []
    barrier = threading.Barrier(STARTERS)

    def start(n: int) -> None:
        barrier.wait()
        try:
            with engine(root / str(n), env, background=False):
                pass
        except Exception as exc:  # noqa: BLE001 - reported by the caller
            errors.append(f"{type(exc).__name__}: {exc}")

    threads = [threading.Thread(target=start, args=(n,)) for n in range(STARTERS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return errors


def _tables(server: RunningPostgres, dbname: str) -> set[str]:
    with psycopg.connect(server.conninfo(dbname)) as connection:
        rows = connection.execute(
            "SELECT tablename FROM pg_tables WHERE schemaname = 'public'"
        ).fetchall()
    return {row[0] for row in rows}


def _rows(runner: ProjectionRunner) -> list[tuple[object, ...]]:
    with runner.database.transaction() as cursor:
        cursor.execute("SELECT * FROM mh_activity ORDER BY position")
        return cursor.fetchall()
