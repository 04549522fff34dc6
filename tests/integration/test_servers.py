"""Each fixture is a real server: these fail if one is a stub or misconfigured."""

from __future__ import annotations

import secrets
import smtplib
from email.message import EmailMessage
from typing import TYPE_CHECKING

import psycopg
import pytest
import redis
from imapclient import IMAPClient
from imapclient.exceptions import LoginError

if TYPE_CHECKING:
    from tests.servers import RunningDovecot, RunningPostgres, RunningRedis, SmtpSink

MESSAGE = b"From: a@example.test\r\nTo: b@example.test\r\nSubject: hi\r\n\r\nbody\r\n"


def _imap(server: RunningDovecot) -> IMAPClient:
    return IMAPClient(server.host, port=server.port, ssl=False, timeout=10)


def _new_user(server: RunningDovecot) -> tuple[str, str]:
    # The Dovecot server lives for the session, so each test needs its own user.
    name = f"user{secrets.token_hex(4)}@example.test"
    password = secrets.token_urlsafe(12)
    server.add_user(name, password)
    return name, password


def test_redis_ping_set_get(redis_server: RunningRedis) -> None:
    client = redis.Redis.from_url(redis_server.url)
    try:
        assert client.ping()
        client.set("mailhost:test", b"value")
        assert client.get("mailhost:test") == b"value"
    finally:
        client.close()


def test_postgres_env_reaches_an_empty_database(postgres_env: dict[str, str]) -> None:
    assert postgres_env["PERSISTENCE_MODULE"] == "eventsourcing.postgres"
    with psycopg.connect(
        host=postgres_env["POSTGRES_HOST"],
        port=int(postgres_env["POSTGRES_PORT"]),
        dbname=postgres_env["POSTGRES_DBNAME"],
        user=postgres_env["POSTGRES_USER"],
        password=postgres_env["POSTGRES_PASSWORD"],
    ) as conn:
        assert conn.execute("select 1").fetchone() == (1,)
        assert conn.execute("select current_database()").fetchone() == (
            postgres_env["POSTGRES_DBNAME"],
        )
        tables = conn.execute(
            "select count(*) from information_schema.tables"
            " where table_schema = 'public'"
        ).fetchone()
        assert tables == (0,)


def test_postgres_rejects_a_wrong_password(postgres_server: RunningPostgres) -> None:
    with pytest.raises(psycopg.OperationalError):
        psycopg.connect(
            host=postgres_server.host,
            port=postgres_server.port,
            dbname="postgres",
            user=postgres_server.user,
            password="wrong",
        )


def test_smtp_sink_receives_a_message(smtp: SmtpSink) -> None:
    message = EmailMessage()
    message["From"] = "sender@example.test"
    message["To"] = "rcpt@example.test"
    message["Subject"] = "Grüße"
    message.set_content("hello\n")
    with smtplib.SMTP(smtp.host, smtp.port, timeout=10) as client:
        client.send_message(message, to_addrs=["rcpt@example.test", "bcc@example.test"])

    [received] = smtp.wait_for(1)
    assert received in smtp.messages
    assert received.mail_from == "sender@example.test"
    assert received.rcpt_tos == ["rcpt@example.test", "bcc@example.test"]
    assert received.message["Subject"] == "Grüße"
    assert b"hello" in received.data


def test_smtp_fixture_starts_empty(smtp: SmtpSink) -> None:
    assert smtp.messages == []
    with pytest.raises(TimeoutError):
        smtp.wait_for(1, timeout=0.1)


def test_dovecot_append_then_select(dovecot_server: RunningDovecot) -> None:
    name, password = _new_user(dovecot_server)
    with _imap(dovecot_server) as client:
        client.login(name, password)
        client.append("INBOX", MESSAGE)
        assert client.select_folder("INBOX")[b"EXISTS"] == 1


def test_dovecot_master_user_logs_in_as_the_user(
    dovecot_server: RunningDovecot,
) -> None:
    name, password = _new_user(dovecot_server)
    with _imap(dovecot_server) as client:
        client.login(name, password)
        client.append("INBOX", MESSAGE)

    with _imap(dovecot_server) as client:
        client.login(
            f"{name}*{dovecot_server.master_user}", dovecot_server.master_password
        )
        assert client.select_folder("INBOX")[b"EXISTS"] == 1


def test_dovecot_refuses_wrong_passwords(dovecot_server: RunningDovecot) -> None:
    name, _ = _new_user(dovecot_server)
    with _imap(dovecot_server) as client, pytest.raises(LoginError):
        client.login(name, "wrong")
    with _imap(dovecot_server) as client, pytest.raises(LoginError):
        client.login(f"{name}*{dovecot_server.master_user}", "wrong")


def test_dovecot_sees_a_password_change_at_once(
    dovecot_server: RunningDovecot,
) -> None:
    # Same length on purpose: Dovecot notices changes by mtime (seconds) and size.
    name = f"user{secrets.token_hex(4)}@example.test"
    dovecot_server.add_user(name, "first-password")
    with _imap(dovecot_server) as client:
        client.login(name, "first-password")
    dovecot_server.add_user(name, "other-password")
    with _imap(dovecot_server) as client, pytest.raises(LoginError):
        client.login(name, "first-password")
    with _imap(dovecot_server) as client:
        client.login(name, "other-password")


def test_dovecot_verifies_argon2id_hashes(dovecot_server: RunningDovecot) -> None:
    argon2 = pytest.importorskip("argon2")
    name = f"user{secrets.token_hex(4)}@example.test"
    password = secrets.token_urlsafe(12)
    dovecot_server.add_user_hash(
        name, "{ARGON2ID}" + argon2.PasswordHasher().hash(password)
    )
    with _imap(dovecot_server) as client:
        client.login(name, password)
        assert client.select_folder("INBOX")[b"EXISTS"] == 0
