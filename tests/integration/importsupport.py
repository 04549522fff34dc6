"""What the import adapter tests share: a Dovecot with TLS and special-use, sample mail.

The sample holds the cases that break naive copiers: bare LF line ends, 8-bit headers,
no empty line after the header, byte-identical twins, keywords and old internal dates.
"""

from __future__ import annotations

import os
import pwd
import secrets
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final

import pytest
from imapclient import IMAPClient

from domain.importsource import ImportSource, Security
from tests.servers import RunningDovecot, ServiceUnavailable, start_dovecot
from tests.servers.dovecot import DovecotOptions

PASSWORD: Final = "canary-pass-5e1f"
MAX_MAIL_SIZE: Final = 1024 * 1024

# Folder names an import must carry over as they are: non-ASCII, dots, "~", nested,
# a child of INBOX.
TRICKY_FOLDERS = ("Entwürfe", "v1.2", "a~b", "Archive/2023/Q1", "INBOX/Sub")


def sample_messages() -> list[tuple[bytes, tuple[str, ...], datetime]]:
    """(raw, flags, internal date): every case the keys must agree on."""
    twin = b"From: a@example.net\r\nSubject: twin\r\n\r\nsame bytes\r\n"
    old = datetime(2009, 2, 13, 23, 31, 30, tzinfo=UTC)
    return [
        (b"From: a@example.net\r\nSubject: plain\r\n\r\nbody\r\n", ("\\Seen",), old),
        (b"From: b@example.net\nSubject: bare LF\n\nline one\nline two\n", (), old),
        (
            "From: c@example.net\r\nSubject: caf\u00e9 \u00fcber\r\n\r\n8-bit\r\n".encode(),
            ("\\Flagged", "$Forwarded", "Work"),
            datetime(2015, 6, 1, 8, 0, tzinfo=UTC),
        ),
        (
            b"From: d@example.net\r\nSubject: no body separator\r\n",
            ("\\Answered",),
            old,
        ),
        (twin, ("\\Seen", "Work"), old),
        (twin, ("\\Seen", "Work"), old),
        (
            b"Subject: draft\r\n\r\nx\r\n",
            ("\\Draft", "\\Deleted", "$Label1"),
            datetime(2001, 1, 1, tzinfo=UTC),
        ),
    ]


def mail_store_env(server: RunningDovecot) -> dict[str, str]:
    """The engine's settings for ``server`` as the mail store it writes through."""
    return {
        "MAILHOST_IMAP_URL": f"imap://{server.host}:{server.port}",
        "MAILHOST_IMAP_MASTER_USER": server.master_user,
        "MAILHOST_IMAP_MASTER_PASSWORD": server.master_password,
        "MAILHOST_IMAP_PASSWD_FILE": str(server.passwd_file),
    }


def new_user(server: RunningDovecot) -> str:
    name = f"imp-{secrets.token_hex(4)}@example.org"
    server.add_user(name, PASSWORD)
    return name


def imap(server: RunningDovecot, user: str) -> Any:  # noqa: ANN401 - imapclient is untyped
    client = IMAPClient(server.host, port=server.port, ssl=False, timeout=10)
    client.login(user, PASSWORD)
    client.normalise_times = False
    return client


def fill(server: RunningDovecot, user: str, folders: dict[str, list[Any]]) -> None:
    """Create the folders and APPEND (raw, flags, date) into each, in order."""
    client = imap(server, user)
    try:
        for folder, messages in folders.items():
            if folder != "INBOX":
                client.create_folder(folder)
            for raw, flags, date in messages:
                client.append(folder, raw, flags, date)
    finally:
        client.logout()


def plain_source(server: RunningDovecot, user: str) -> ImportSource:
    return ImportSource(
        host=server.host, port=server.port, security=Security.NONE, user=user
    )


def give_to_dovecot(path: Path) -> None:
    """Files written by the tests (root) must be Dovecot's to index them."""
    if os.geteuid() != 0:
        return
    entry = pwd.getpwnam("dovecot")
    for root, dirs, files in os.walk(path):
        os.chown(root, entry.pw_uid, entry.pw_gid)
        for name in dirs + files:
            os.chown(Path(root) / name, entry.pw_uid, entry.pw_gid)


@pytest.fixture(scope="module")
def tls_dovecot(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningDovecot]:
    """TLS with a private CA, special-use folders, 1 MB message limit, %d/%n homes."""
    options = DovecotOptions(
        tls=True, special_use=True, home_template="%d/%n", max_mail_size="1M"
    )
    try:
        server = start_dovecot(tmp_path_factory.mktemp("dovecot-tls"), options)
    except ServiceUnavailable as exc:
        if os.environ.get("MAILHOST_REQUIRE_SERVICES") == "1":
            pytest.fail(f"MAILHOST_REQUIRE_SERVICES=1 but {exc.reason}", pytrace=False)
        pytest.skip(exc.reason)
    with server:
        yield server
