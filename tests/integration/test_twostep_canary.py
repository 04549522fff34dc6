"""Canary scan: no two-step secret in any stored byte (MFA-5, SEC-6), SQLite and PostgreSQL.

Every method is enrolled with canary secrets and used to sign in (TOTP, push, a
security key, SMS, a backup code, an app password for IMAP); then every stored byte is
searched for every secret, plain, in hex and in base64: the files under the home (the
event log, read models, credential store, WAL files, mail and push outboxes) and, on
PostgreSQL, every row of every table. The SMS outbox is the one place an SMS code must
be (it is the message to the phone), so it is read for the code and left out.

A 6-digit code is matched as a token (not inside a longer run of digits or letters),
and the clock has whole seconds, so a timestamp's digits are never mistaken for one.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import psycopg
import pyotp
import pytest
from psycopg import sql

from application.twostep import Reauth
from infrastructure.bootstrap import Engine
from tests.integration.support import LOGIN, PASSWORD, ManualClock, engine, with_user
from tests.integration.test_twostep import seed_of
from tests.integration.test_twostep_keys import ORIGIN
from tests.integration.test_twostep_sms import START, sms_codes
from tests.servers import RunningPostgres
from tests.webauthnsoft import SoftAuthenticator

MOBILE_CH = "+41791234567"
IP = "192.0.2.10"
Dump = Callable[[], bytes]


def encodings(secret: str) -> list[bytes]:
    raw = secret.encode()
    forms = [raw, raw.hex().encode(), raw.hex().upper().encode()]
    for encode in (base64.b64encode, base64.urlsafe_b64encode):
        forms += [encode(raw), encode(raw).rstrip(b"=")]
    return forms


def found_in(stored: bytes, secret: str) -> bool:
    if secret.isdigit():  # a code: as a token, not inside a longer number
        token = re.escape(secret.encode())
        if re.search(rb"(?<![0-9A-Za-z])" + token + rb"(?![0-9A-Za-z])", stored):
            return True
        return any(form in stored for form in encodings(secret)[1:])
    return any(form in stored for form in encodings(secret))


def files(home: Path) -> bytes:
    return b"".join(
        p.read_bytes()
        for p in sorted(home.rglob("*"))
        if p.is_file() and p.name != "sms.jsonl"
    )


def table_rows(server: RunningPostgres, dbname: str) -> bytes:
    """Every value of every row of every table of ``dbname``: bytea as stored."""
    parts: list[bytes] = []
    with psycopg.connect(server.conninfo(dbname)) as connection:
        tables = connection.execute(
            "SELECT schemaname, tablename FROM pg_tables "
            "WHERE schemaname NOT IN ('pg_catalog', 'information_schema')"
        ).fetchall()
        for schema, table in tables:
            query = sql.SQL("SELECT * FROM {}.{}").format(
                sql.Identifier(schema), sql.Identifier(table)
            )
            for row in connection.execute(query):
                parts += [
                    bytes(v) if isinstance(v, bytes | memoryview) else str(v).encode()
                    for v in row
                ]
    assert tables
    return b"\x00".join(parts)


@pytest.fixture(params=["sqlite", "postgres"])
def store(
    request: pytest.FixtureRequest, tmp_path: Path
) -> tuple[dict[str, str], Dump]:
    """The engine's settings and what reads every byte it stored."""
    if request.param == "sqlite":
        return {}, lambda: files(tmp_path)
    env: dict[str, str] = dict(request.getfixturevalue("postgres_env"))
    server: RunningPostgres = request.getfixturevalue("postgres_server")
    return env, lambda: files(tmp_path) + table_rows(server, env["POSTGRES_DBNAME"])


class EveryMethod:
    """Ann enrolling and using each method; ``secrets`` is every secret handled."""

    def __init__(self, e: Engine, clock: ManualClock, home: Path) -> None:
        self.e, self.clock, self.home = e, clock, home
        two = e.host.twostep
        assert two is not None
        self.two = two
        self.accounts = e.host.accounts
        self.secrets: list[str] = [PASSWORD]
        self.totp = pyotp.TOTP(pyotp.random_base32())
        self.key = SoftAuthenticator()
        self.backup: list[str] = []

    def code(self) -> str:
        self.clock.advance(timedelta(seconds=30))
        now = self.totp.at(self.clock.now())
        self.secrets.append(now)
        return now

    def auth(self) -> Reauth:
        return Reauth(password=PASSWORD, code=self.code())

    def last_sms(self) -> str:
        self.e.drain()
        code = sms_codes(self.home)[-1][1]
        self.secrets.append(code)
        return code

    def enrol(self) -> None:
        with_user(self.e)
        two = self.two
        totp = two.enrol(LOGIN, "totp", Reauth(password=PASSWORD))
        assert totp.otpauth_uri is not None
        self.totp = pyotp.TOTP(seed_of(totp.otpauth_uri))
        self.secrets += [self.totp.secret, totp.otpauth_uri]
        self.backup = list(totp.backup_codes)
        self.secrets += self.backup + [c.replace("-", "") for c in self.backup]
        first = self.totp.at(self.clock.now())
        self.secrets.append(first)
        two.confirm(LOGIN, totp.factor_id, code=first)
        app = two.create_app_password(LOGIN, "Thunderbird", self.auth())
        self.secrets += [app.password, app.password.replace("-", "")]
        self.accounts.protocol_login(LOGIN, app.password, "imap")
        sms = two.enrol(LOGIN, "sms", self.auth(), phone=MOBILE_CH)
        two.confirm(
            LOGIN, sms.factor_id, code=self.last_sms(), challenge_id=sms.challenge_id
        )
        push = two.enrol(LOGIN, "push", self.auth())
        account_id = self.accounts.get(LOGIN).id
        challenge_id, number = two.challenges.issue_push(account_id, push.factor_id)
        two.answer_push(LOGIN, challenge_id, approved=True, number=number)
        two.confirm(LOGIN, push.factor_id, push=challenge_id)
        key = two.enrol(LOGIN, "security_key", self.auth())
        assert key.key_options is not None
        two.confirm(
            LOGIN,
            key.factor_id,
            key_response=json.dumps(self.key.create(key.key_options, ORIGIN)),
            challenge_id=key.challenge_id,
        )
        self.clock.advance(timedelta(hours=1))  # past every rate-limit window

    def pending(self) -> str:
        started = self.accounts.login(LOGIN, PASSWORD, ip=IP)
        self.secrets.append(started.pending_token)
        return started.pending_token

    def sign_in_with_each(self) -> None:
        two, accounts = self.two, self.accounts
        done = [
            accounts.login(LOGIN, PASSWORD, ip=IP, code=self.code()),
            accounts.login(LOGIN, PASSWORD, ip=IP, code=self.backup[0]),
        ]
        token = self.pending()
        two.start_sms(token)
        done.append(accounts.complete_login(token, code=self.last_sms()))
        token = self.pending()
        number = two.start_push(token)
        challenge = two.push_challenge(token)
        assert challenge is not None
        two.answer_push(LOGIN, challenge, approved=True, number=number)
        done.append(accounts.complete_login(token, push=challenge))
        token = self.pending()
        response = json.dumps(self.key.get(two.key_options(token), ORIGIN))
        done.append(accounts.complete_login(token, key_response=response))
        assert all(d.session_token for d in done)
        self.secrets += [d.session_token for d in done]
        self.clock.advance(timedelta(minutes=20))
        self.e.drain()  # every notice mailed, every projection caught up


def test_no_secret_in_any_stored_byte(
    tmp_path: Path, store: tuple[dict[str, str], Dump]
) -> None:
    # rule MFA-5, rule SEC-6
    env, dump = store
    clock = ManualClock(START)
    with engine(tmp_path, env, background=False, clock=clock) as e:
        ann = EveryMethod(e, clock, tmp_path)
        ann.enrol()
        ann.sign_in_with_each()
        secrets = ann.secrets
        e.runner.catch_up()
        stored = dump()
    assert len(stored) > 10_000  # the scan read the stores
    assert LOGIN.encode() in stored  # ...the event log's rows among them
    assert list((tmp_path / "outbox").glob("*.eml"))  # the notices are scanned too
    assert [s for s in secrets if found_in(stored, s)] == []
    # The scan would see one: the SMS outbox holds its codes.
    sms_outbox = (tmp_path / "outbox" / "sms.jsonl").read_bytes()
    assert all(found_in(sms_outbox, c) for _, c in sms_codes(tmp_path))
