"""Which stack the integration suite runs on: ``MAILHOST_TEST_STACK``.

Unset (or ``sqlite``): every engine a test opens without saying otherwise is the
embedded one (SQLite files, in-process workers). ``pg-redis``: the same tests run with
a fresh PostgreSQL database per test in the environment every engine reads
(``Settings.from_env`` merges it), so the log, the read models, the job table and the
credentials are on PostgreSQL; the tests written for Redis and ``dramatiq`` worker
processes (``test_redis_workers``, ``test_exactly_once``, ``test_faults``) run in both.
A test that passes its own settings keeps them.

The broker is not put in every test's environment: a worker process runs against its
own settings (home, clock, mail), which only a test that starts it can give it.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from tests.servers import RunningPostgres

STACK = os.environ.get("MAILHOST_TEST_STACK", "sqlite")
# Tests about the embedded files themselves (their modes, their bytes on disk).
SQLITE_ONLY = (
    "test_files.py",
    "test_log_reads.py",
    "test_cli_demo.py",
    "test_readme.py",
)


@pytest.fixture(autouse=True)
def stack_environment(
    request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> Iterator[None]:
    if STACK != "pg-redis" or request.path.name in SQLITE_ONLY:
        yield
        return
    server: RunningPostgres = request.getfixturevalue("postgres_server")
    name = server.create_database()
    for key, value in server.env(name).items():
        monkeypatch.setenv(key, value)
    yield
    monkeypatch.undo()
    server.drop_database(name)
