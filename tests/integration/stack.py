"""Which stack the integration suite runs on: ``MAILHOST_TEST_STACK``.

Unset (or ``sqlite``): every engine a test opens without saying otherwise is the
embedded one (SQLite files, in-process workers). ``pg-redis``: the same tests run with
a fresh PostgreSQL database per test in the environment every engine reads
(``Settings.from_env`` merges it), so the log, the read models, the job table and the
credentials are on PostgreSQL; the tests written for Redis and ``dramatiq`` worker
processes (``test_redis_workers``, ``test_exactly_once``, ``test_faults``) run in both.
A test that passes its own settings keeps them. ``.ci/run`` runs the integration suite
on ``pg-redis`` first, then the whole suite on the default (issue 12's two
configurations); a failure of either fails CI.

A test skipped here is about SQLite's own files or rows (it reads or edits them behind
the engine), shares one engine folder across tests (seeded before any test's database
exists), or picks its store by parameter (the SQLite run already runs both cases); the
tables below give each one's reason, and the skip report repeats it.

Each test's database is a copy of a template an engine has opened once, so no test pays
for creating some thirty tables: ``CREATE DATABASE ... TEMPLATE`` copies files, where
eventsourcing's and the read models' DDL would be a hundred catalogue round trips.

The broker is not put in every test's environment: a worker process runs against its
own settings (home, clock, mail), which only a test that starts it can give it.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import AbstractContextManager, nullcontext

import pytest

from infrastructure.bootstrap import open_engine
from tests.integration import lmtpsupport
from tests.servers import RunningPostgres

STACK = os.environ.get("MAILHOST_TEST_STACK", "sqlite")
PG_REDIS = STACK == "pg-redis"
# Tests about the embedded files themselves (their modes, their bytes on disk).
SQLITE_ONLY = (
    "test_files.py",
    "test_log_reads.py",
    "test_cli_demo.py",
    "test_readme.py",
)
# A test parametrised with one of these picks its store itself, so the SQLite run
# already runs it on both; on pg-redis its "sqlite" case would silently be PostgreSQL.
STORE_PARAMETERS = frozenset({"sqlite", "postgres"})
TEMPLATE = "mailhost_stack_template"
_STACK_PREFIXES = ("POSTGRES_", "PERSISTENCE_")  # what ``RunningPostgres.env`` sets
_TEMPLATES: set[int] = set()  # the servers (ports) that hold it


# Single tests that read or edit an SQLite file behind the engine, and what they read.
_CREDENTIALS = "counts or reads the rows of credentials.sqlite itself"
_FILES = "reads the bytes of events.sqlite and views.sqlite"
_EVENTS = "writes, copies or edits events.sqlite itself"
SQLITE_TESTS: dict[str, dict[str, str]] = {
    "test_account_security.py": {
        "test_no_secret_is_stored_in_plaintext": _CREDENTIALS,
    },
    "test_bulk_csv.py": {
        "test_a_good_file_creates_every_row_and_returns_each_password_once": _FILES,
        "test_one_bad_row_creates_nothing_and_the_report_names_it": _CREDENTIALS,
        "test_an_address_taken_between_check_and_save_refuses_the_file": _CREDENTIALS,
        "test_ten_thousand_rows_are_checked_and_created_in_one_transaction": _FILES,
        "test_ten_thousand_rows_with_one_bad_row_create_nothing": _CREDENTIALS,
    },
    "test_audit_cli.py": {
        "test_a_home_with_no_log_is_refused_and_left_as_it_was": (
            "is about a home with no events.sqlite"
        ),
    },
    "test_chain.py": {
        "test_the_demo_log_verifies_and_one_changed_byte_fails_it": _EVENTS,
        "test_a_copy_without_its_key_cannot_vouch_for_its_checkpoints": _EVENTS,
        "test_a_chain_rewritten_after_a_change_fails_at_the_next_checkpoint": _EVENTS,
    },
    "test_forgetting.py": {
        "test_a_forgotten_person_leaves_no_canary_in_the_sqlite_read_models": _FILES,
    },
    "test_schema_evolution.py": {
        "test_this_release_reads_replays_rebuilds_and_verifies_an_old_log": _EVENTS,
    },
    "test_responder.py": {
        "test_a_verified_alternative_sender_and_the_messages_own_subject": _FILES,
        "test_verification_mails_are_limited_per_address": _CREDENTIALS,
        "test_a_refused_verification_leaves_no_code_in_the_credential_store": _CREDENTIALS,
    },
    "test_stored_pages.py": {
        "test_a_page_is_the_recorders_page": "reads the rows of events.sqlite itself",
    },
    "test_store_convergence.py": {
        "test_a_refused_file_leaves_no_secret_and_no_sealed_copy": _CREDENTIALS,
        "test_kill_9_during_import_csv_then_the_same_command_finishes_or_recovers": (
            _CREDENTIALS
        ),
        "test_refused_commands_leave_no_row_in_the_credential_store": _CREDENTIALS,
        "test_concurrent_creates_of_one_address_leave_one_secret": _CREDENTIALS,
        "test_the_sweep_deletes_only_old_rows_no_event_names": _CREDENTIALS,
    },
}

# Fixtures whose engine folders one database per test cannot stand for.
SHARED_HOMES = {
    ("test_responder.py", "pipe_home"): (
        "pipe_home is one module-scoped engine folder, seeded before any test's"
        " database exists"
    ),
    ("test_deliver_client.py", "homes"): (
        "homes are two engine folders seeded alike, which one database per test"
        " would hold together"
    ),
}


def store_env(
    store: str, request: pytest.FixtureRequest
) -> AbstractContextManager[dict[str, str]]:
    """The settings of a test that picks its store by parameter (``STORE_PARAMETERS``):
    none for SQLite (the engine's default), a fresh database of its own on PostgreSQL."""
    if store == "sqlite":
        return nullcontext({})
    server: RunningPostgres = request.getfixturevalue("postgres_server")
    return server.fresh_database()


def _picks_its_store(request: pytest.FixtureRequest) -> bool:
    callspec = getattr(request.node, "callspec", None)
    values = callspec.params.values() if callspec is not None else ()
    return any(isinstance(v, str) and v in STORE_PARAMETERS for v in values)


def _template(server: RunningPostgres, homes: pytest.TempPathFactory) -> str:
    """A database with every table an engine creates and no rows, made once per server."""
    if server.port not in _TEMPLATES:
        server.create_database(TEMPLATE)
        home = homes.mktemp("stack-template")
        open_engine(home, server.env(TEMPLATE), background=True).close()
        server.seal_template(TEMPLATE)
        _TEMPLATES.add(server.port)
    return TEMPLATE


@pytest.fixture(autouse=True)
def stack_environment(
    request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> Iterator[None]:
    if not PG_REDIS:
        yield
        return
    if request.path.name in SQLITE_ONLY:
        pytest.skip("SQLite only: the module is about the embedded store's files")
    named = SQLITE_TESTS.get(request.path.name, {}).get(request.node.originalname)
    if named is not None:
        pytest.skip(f"SQLite only: {named}")
    for (module, fixture), why in SHARED_HOMES.items():
        if request.path.name == module and fixture in request.fixturenames:
            pytest.skip(f"SQLite only: {why}")
    if _picks_its_store(request):
        pytest.skip("picks its store by parameter: the SQLite run covers both")
    server: RunningPostgres = request.getfixturevalue("postgres_server")
    homes: pytest.TempPathFactory = request.getfixturevalue("tmp_path_factory")
    name = server.create_database(template=_template(server, homes))
    for key, value in server.env(name).items():
        monkeypatch.setenv(key, value)
    # A listener's child environment drops a developer's store variables; the stack's
    # are the test's own, so its children (LMTP listeners) keep them: child_env reads
    # this one tuple.
    kept = tuple(p for p in lmtpsupport._CLEARED if p not in _STACK_PREFIXES)
    monkeypatch.setattr(lmtpsupport, "_CLEARED", kept)
    yield
    monkeypatch.undo()
    server.drop_database(name)
