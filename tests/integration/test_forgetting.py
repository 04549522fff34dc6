"""Forgetting a person (crypto-shredding), end to end on real stores: the canary scan.

A user with a unique display name, place, network, user agent and recovery phone signs
in and fails a sign-in; then they are forgotten. No stored byte of the read models
(SQLite file and WAL; PostgreSQL's dump and table files) holds any canary in any common
encoding, the log's stored bytes never held them in plain, the log still replays and
every projection rebuilds, showing them as forgotten.
"""

from __future__ import annotations

import base64
import json
import sqlite3
import subprocess
import urllib.parse
from contextlib import closing
from datetime import timedelta
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pyotp
import pytest

from application.accounts import LoginRefused, Outcome
from application.authorization import OPERATOR
from application.loginflow import PendingExpired
from application.twostep import Reauth
from domain.account import UserAccount
from domain.errors import NotPermitted
from domain.ids import account_id
from infrastructure.bootstrap import Engine
from infrastructure.cli import main
from infrastructure.personaldata import FORGOTTEN
from tests.integration.support import ORG, PASSWORD, ManualClock, engine
from tests.servers.postgres import RunningPostgres

LOGIN = "zq@example.org"
NAME = "Zebulon Quixotic-Canary"
PLACE = "Canaryville Q7X"
NETWORK = "198.51.100.0/24"
AGENT = "CanaryBrowser/9.87 (QZX-unique)"
PHONE = "+41791234567"
CANARIES = (NAME, PLACE, NETWORK, AGENT, PHONE, "791234567")


def encodings(text: str) -> list[bytes]:
    """The canary as bytes in the forms a store might hold it."""
    raw = text.encode()
    forms = [
        raw,
        text.encode("utf-16-le"),
        text.encode("utf-16-be"),
        raw.hex().encode(),
        json.dumps(text).encode(),
        urllib.parse.quote(text).encode(),
    ]
    # base64 at each of the three alignments, without the edge characters that
    # depend on the neighbouring bytes.
    for shift in range(3):
        coded = base64.b64encode(b"\0" * shift + raw)
        forms.append(coded[4 if shift else 0 : -4])
    return forms


def found(blob: bytes) -> list[str]:
    return [c for c in CANARIES if any(form in blob for form in encodings(c))]


def sign_in_and_out(e: Engine) -> None:
    e.host.organisations.found(ORG, by=OPERATOR)
    e.host.accounts.register(ORG, LOGIN, PASSWORD, display_name=NAME, by=OPERATOR)
    e.host.accounts.login(LOGIN, PASSWORD, ip="198.51.100.77", user_agent=AGENT)
    with pytest.raises(LoginRefused):
        e.host.accounts.login(LOGIN, "wrong-pass", ip="198.51.100.78", user_agent=AGENT)
    e.host.accounts.change_recovery_phone(
        LOGIN, "41", "79 123 45 67", password=PASSWORD
    )
    e.runner.catch_up()


def places(tmp_path: Path) -> dict[str, str]:
    csv = tmp_path / "places.csv"
    csv.write_text(f'198.51.100.0,198.51.100.255,"{PLACE}"\n')
    return {"MAILHOST_GEOIP_CSV": str(csv)}


def sqlite_bytes(path: Path) -> bytes:
    return b"".join(
        p.read_bytes() for p in (path, path.with_name(path.name + "-wal")) if p.exists()
    )


def stored_events(home: Path) -> list[tuple[object, ...]]:
    with closing(sqlite3.connect(home / "events.sqlite")) as connection:
        return connection.execute(
            "SELECT originator_id, originator_version, topic, state"
            " FROM stored_events ORDER BY rowid"
        ).fetchall()


def assert_replays_as_forgotten(e: Engine) -> None:
    account = e.host.log.read(account_id(LOGIN), UserAccount, "account")
    assert account.display_name == FORGOTTEN
    assert FORGOTTEN in account.known_devices
    for projection in e.runner.projections:
        if projection.name != "job_schedule":
            e.runner.rebuild(projection)
    entries = e.host.activity.recent(account_id(LOGIN))
    assert entries
    assert {entry.place for entry in entries if entry.place} == {FORGOTTEN}


def test_a_forgotten_person_leaves_no_canary_in_the_sqlite_read_models(
    tmp_path: Path,
) -> None:
    home = tmp_path / "home"
    with engine(home, places(tmp_path), background=False) as e:
        sign_in_and_out(e)
        views = home / "views.sqlite"
        assert set(found(sqlite_bytes(views))) >= {PLACE, NETWORK, AGENT}
        # The log held ciphertext only, from the first byte written.
        assert found(sqlite_bytes(home / "events.sqlite")) == []
        log_before = stored_events(home)
    assert main(["user", "forget", LOGIN, "--home", str(home), "--yes", "--json"]) == 0
    assert found(sqlite_bytes(home / "views.sqlite")) == []
    assert found(sqlite_bytes(home / "credentials.sqlite")) == []
    assert found(sqlite_bytes(home / "events.sqlite")) == []
    with engine(home, places(tmp_path), background=False) as e:
        assert_replays_as_forgotten(e)
        assert found(sqlite_bytes(home / "views.sqlite")) == []
    # No stored event was rewritten: the log only grew (by the forgetting's record).
    after = stored_events(home)
    assert after[: len(log_before)] == log_before
    assert "application.forgetting:Erasure.Recorded" in {
        row[2] for row in after[len(log_before) :]
    }


def test_forget_needs_yes_and_refuses_another_user(tmp_path: Path) -> None:
    home = tmp_path / "home"
    with engine(home, background=False) as e:
        sign_in_and_out(e)
        e.host.accounts.register(ORG, "bob@example.org", PASSWORD, by=OPERATOR)
        bob = account_id("bob@example.org")
        assert e.host.forgetting is not None
        with pytest.raises(NotPermitted, match="only the person"):
            e.host.forgetting.forget(LOGIN, by=bob)
        with pytest.raises(TypeError, match="by="):
            e.host.forgetting.forget(LOGIN)  # type: ignore[call-arg]
    assert main(["user", "forget", LOGIN, "--home", str(home)]) == 2
    with engine(home, background=False) as e:
        account = e.host.log.read(account_id(LOGIN), UserAccount, "account")
        assert account.display_name == NAME
        assert e.host.forgetting is not None
        done = e.host.forgetting.forget(LOGIN, by=OPERATOR)
        assert done.keys_deleted == 1  # the account's; no two-step settings yet


def _pg_table_files(server: RunningPostgres, dbname: str) -> bytes:
    import psycopg  # noqa: PLC0415 - only this test reads the server's catalogue

    with psycopg.connect(server.conninfo(dbname)) as connection:
        paths = [
            str(row[0])
            for row in connection.execute(
                "SELECT pg_relation_filepath(c.oid) FROM pg_class c"
                " JOIN pg_namespace n ON n.oid = c.relnamespace"
                " WHERE n.nspname = 'public' AND c.relkind IN ('r', 't', 'i')"
                " AND c.relname NOT LIKE 'mailhost_%'"
            )
            if row[0]
        ]
        connection.execute("CHECKPOINT")
    return b"".join(
        segment.read_bytes()
        for relative in paths
        for segment in sorted(server.data_dir.glob(relative + "*"))
    )


def _pg_dump(server: RunningPostgres, dbname: str) -> bytes:
    bindir = next(Path("/usr/lib/postgresql").glob("*/bin"))
    return subprocess.run(
        [str(bindir / "pg_dump"), "--dbname", server.conninfo(dbname)],
        capture_output=True,
        check=True,
    ).stdout


def test_a_forgotten_person_leaves_no_canary_in_the_postgres_read_models(
    tmp_path: Path, postgres_env: dict[str, str], postgres_server: RunningPostgres
) -> None:
    dbname = postgres_env["POSTGRES_DBNAME"]
    env = {**postgres_env, **places(tmp_path)}
    with engine(tmp_path / "home", env, background=False) as e:
        sign_in_and_out(e)
        assert {PLACE, AGENT} <= set(found(_pg_dump(postgres_server, dbname)))
        assert e.host.forgetting is not None
        e.host.forgetting.forget(LOGIN, by=OPERATOR)
        dumped = _pg_dump(postgres_server, dbname)
        # Only the log's own tables may hold the person's (sealed) fields.
        assert found(dumped) == []
        assert found(_pg_table_files(postgres_server, dbname)) == []
        assert_replays_as_forgotten(e)


@pytest.fixture(params=["sqlite", "postgres"])
def store_env(request: pytest.FixtureRequest, tmp_path: Path) -> dict[str, str]:
    if request.param == "sqlite":
        return places(tmp_path)
    return {**request.getfixturevalue("postgres_env"), **places(tmp_path)}


def _credential_bytes(
    home: Path, env: dict[str, str], request: pytest.FixtureRequest
) -> bytes:
    if "POSTGRES_DBNAME" not in env:
        return sqlite_bytes(home / "credentials.sqlite")
    server: RunningPostgres = request.getfixturevalue("postgres_server")
    dbname = env["POSTGRES_DBNAME"]
    return _pg_dump(server, dbname) + _pg_table_files(server, dbname)


def test_an_unfinished_two_step_sign_in_is_cancelled_and_its_bytes_scrubbed(
    tmp_path: Path, store_env: dict[str, str], request: pytest.FixtureRequest
) -> None:
    """The pending half of a two-step sign-in sits beside the log in plain (where it
    came from); forgetting deletes it and compacts the credential store. The account's
    password hash stays: the person can still sign in."""
    clock = ManualClock()
    home = tmp_path / "home"
    with engine(home, store_env, background=False, clock=clock) as e:
        sign_in_and_out(e)
        assert e.host.twostep is not None
        enrolment = e.host.twostep.enrol(LOGIN, "totp", Reauth(password=PASSWORD))
        assert enrolment.otpauth_uri is not None
        seed = parse_qs(urlsplit(enrolment.otpauth_uri).query)["secret"][0]
        code = pyotp.TOTP(seed).at(clock.now())
        e.host.twostep.confirm(LOGIN, enrolment.factor_id, code=code)
        clock.advance(timedelta(seconds=30))
        pending = e.host.accounts.login(
            LOGIN, PASSWORD, ip="198.51.100.79", user_agent=AGENT
        )
        assert pending.outcome is Outcome.SECOND_FACTOR_REQUIRED
        assert AGENT in found(_credential_bytes(home, store_env, request))
        assert e.host.forgetting is not None
        done = e.host.forgetting.forget(LOGIN, by=OPERATOR)
        assert done.sign_ins_cancelled == 1
        assert found(_credential_bytes(home, store_env, request)) == []
        with pytest.raises(PendingExpired):
            e.host.accounts.complete_login(
                pending.pending_token, code=pyotp.TOTP(seed).at(clock.now())
            )
        again = e.host.accounts.login(LOGIN, PASSWORD, ip="198.51.100.79")
        assert again.outcome is Outcome.SECOND_FACTOR_REQUIRED
