"""Real servers as pytest fixtures.

Servers are session-scoped because starting them costs seconds while a test
costs milliseconds; isolation comes from a fresh database per test, a cleared
SMTP sink and per-test mailbox users.

A machine without a server skips the tests that need it, so that a developer
can run the rest; CI sets MAILHOST_REQUIRE_SERVICES=1 so that a missing server
fails the run instead of silently skipping the integration suite.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, TypeVar

import pytest

from tests.integration.importsupport import tls_dovecot  # noqa: F401 - a TLS Dovecot's fixture
from tests.integration.stack import stack_environment  # noqa: F401 - MAILHOST_TEST_STACK's fixture
from tests.servers import (
    RunningDovecot,
    RunningPostgres,
    RunningRedis,
    ServiceUnavailable,
    SmtpSink,
    start_dovecot,
    start_postgres,
    start_redis,
    start_smtp_sink,
)

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator
    from contextlib import AbstractContextManager

_T = TypeVar("_T")


def _start(starter: Callable[[], _T]) -> _T:
    try:
        return starter()
    except ServiceUnavailable as exc:
        reason = exc.reason
    # Outside the except block, so the report is not a chained traceback.
    if os.environ.get("MAILHOST_REQUIRE_SERVICES") == "1":
        pytest.fail(f"MAILHOST_REQUIRE_SERVICES=1 but {reason}", pytrace=False)
    pytest.skip(reason)


def _served(starter: Callable[[], AbstractContextManager[_T]]) -> Iterator[_T]:
    """The server ``starter`` starts, for as long as the session runs."""
    with _start(starter) as server:
        yield server


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningRedis]:
    yield from _served(lambda: start_redis(tmp_path_factory.mktemp("redis")))


@pytest.fixture(scope="session")
def postgres_server(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[RunningPostgres]:
    yield from _served(lambda: start_postgres(tmp_path_factory.mktemp("postgres")))


@pytest.fixture(scope="session")
def smtp_sink() -> Iterator[SmtpSink]:
    yield from _served(start_smtp_sink)


@pytest.fixture(scope="session")
def dovecot_server(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[RunningDovecot]:
    yield from _served(lambda: start_dovecot(tmp_path_factory.mktemp("dovecot")))


@pytest.fixture
def postgres_env(postgres_server: RunningPostgres) -> Iterator[dict[str, str]]:
    """A fresh, empty database per test, dropped afterwards so disk use stays flat."""
    with postgres_server.fresh_database() as env:
        yield env


@pytest.fixture
def smtp(smtp_sink: SmtpSink) -> SmtpSink:
    """The session's sink, emptied so a test sees only the mail it caused."""
    smtp_sink.clear()
    return smtp_sink
