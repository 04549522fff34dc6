"""Two runners following the same log into the same read models apply each event once."""

from __future__ import annotations

import threading
from pathlib import Path

from application.authorization import OPERATOR
from infrastructure.bootstrap import Engine
from infrastructure.sql import Database, PostgresDatabase, SqliteDatabase
from projections.activity import RecentActivity
from projections.advisories import Advisories
from projections.directory import AddressDirectory
from projections.jobs import JobSchedule
from projections.runner import ProjectionRunner
from tests.integration.support import ORG, engine, with_user

QUOTA_STEPS = 60


def _race(e: Engine, second: Database) -> None:
    e.host.services.create(ORG, "example.org", quota=1, by=OPERATOR)
    for _ in range(QUOTA_STEPS):  # QuotaIncreased adds: applied twice, it shows
        e.host.services.increase_quota("example.org", 1, by=OPERATOR)
    runners = [
        e.runner,
        ProjectionRunner(
            e.host.log,
            second,
            [RecentActivity(), JobSchedule(), AddressDirectory(), Advisories()],
        ),
    ]
    barrier = threading.Barrier(2)
    errors: list[BaseException] = []

    def run(runner: ProjectionRunner) -> None:
        barrier.wait()
        try:
            for _ in range(5):
                runner.catch_up()
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(r,)) for r in runners]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    directory = e.host.directory.directory("example.org")
    assert directory is not None
    assert directory.quota == 1 + QUOTA_STEPS
    assert e.runner.is_current()


def test_two_runners_on_sqlite_apply_each_event_once(tmp_path: Path) -> None:
    with engine(tmp_path, background=False) as e:
        with_user(e)
        second = SqliteDatabase(tmp_path / "views.sqlite")
        try:
            _race(e, second)
        finally:
            second.close()


def test_two_runners_on_postgres_apply_each_event_once(
    tmp_path: Path, postgres_env: dict[str, str]
) -> None:
    with engine(tmp_path, postgres_env, background=False) as e:
        with_user(e)
        second = PostgresDatabase(postgres_env)
        try:
            _race(e, second)
        finally:
            second.close()
