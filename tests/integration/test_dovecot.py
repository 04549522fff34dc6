"""DovecotMailStore against a real Dovecot: its passwd-file, master logins, IMAP purge.

Every test uses its own addresses, because the Dovecot lives for the session.
Password changes reach Dovecot from the next wall-clock second on (it stats its
passwd-file at most once a second), hence ``wait_until_visible`` before a login.
"""

from __future__ import annotations

import dataclasses
import secrets
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from imapclient import IMAPClient

from infrastructure.dovecot import DovecotAccess, DovecotMailStore
from infrastructure.imap import MailStoreError, imap_login_works
from infrastructure.passwords import Argon2Hasher, ssha512_encoding, verify_ssha512

if TYPE_CHECKING:
    from collections.abc import Iterator

    from tests.servers import RunningDovecot

CANARY = "canary-7d41c2"
# Created as the user would: nested, a selectable parent with a child, a modified
# UTF-7 name, a dot (LAYOUT=fs), a child of INBOX.  "Archive" and "Archive/2023" come
# into being as \Noselect containers of Archive/2023/Q1.
FOLDERS = ("Archive/2023/Q1", "Work", "Work/Clients", "Entwürfe", "v1.2", "INBOX/Sub")
NOSELECT = ("Archive", "Archive/2023")


@pytest.fixture(scope="module")
def hasher() -> Argon2Hasher:
    return Argon2Hasher()


@pytest.fixture
def url(dovecot_server: RunningDovecot) -> str:
    return dovecot_server.access.imap_url


@pytest.fixture
def access(dovecot_server: RunningDovecot) -> DovecotAccess:
    return dovecot_server.access


@pytest.fixture
def store(access: DovecotAccess) -> DovecotMailStore:
    return DovecotMailStore(access, timeout=10)


@pytest.fixture
def address(store: DovecotMailStore) -> Iterator[str]:
    name = f"box-{secrets.token_hex(4)}@example.org"
    yield name
    store.destroy(name)


def _visible(store: DovecotMailStore, address: str, encoded: str) -> None:
    """``address``'s credential set, and read by Dovecot, before the test logs in."""
    store.set_password(address, encoded)
    store.wait_until_visible()


def _message(folder: str, n: int) -> bytes:
    return (
        f"From: sender@example.net\r\nTo: box@example.org\r\n"
        f"Subject: {CANARY} {folder} {n}\r\nMessage-ID: <{CANARY}.{n}.{secrets.token_hex(4)}@x>"
        f"\r\n\r\nbody {CANARY} {n}\r\n"
    ).encode()


def _imap(server: RunningDovecot) -> Any:  # noqa: ANN401 - imapclient is untyped
    return IMAPClient(server.host, port=server.port, ssl=False, timeout=10)


def _fill_mailbox(server: RunningDovecot, address: str, password: str) -> None:
    """Folders, subscriptions, flags and messages, as a mail client leaves them."""
    client = _imap(server)
    client.login(address, password)
    try:
        for folder in FOLDERS:
            client.create_folder(folder)
            client.subscribe_folder(folder)
        client.subscribe_folder("Archive")
        flags: tuple[list[bytes], ...] = ([b"\\Seen"], [b"\\Flagged", b"$Label1"], [])
        for folder in ("INBOX", *FOLDERS):
            for n, flag in enumerate(flags):
                client.append(folder, _message(folder, n), flags=flag)
        listed = {name: set(attrs) for attrs, _delimiter, name in client.list_folders()}
        for container in NOSELECT:
            assert b"\\Noselect" in listed[container], listed
        assert set(FOLDERS) | set(NOSELECT) | {"INBOX"} == set(listed)
        # Reading the headers fills Dovecot's index cache, as any client does.
        client.select_folder("INBOX")
        client.fetch(client.search("ALL"), ["ENVELOPE", "FLAGS", "BODY.PEEK[HEADER]"])
    finally:
        client.logout()


def _master_view(
    server: RunningDovecot, address: str
) -> tuple[set[str], int, set[str]]:
    """Folders, INBOX message count and subscriptions as a fresh master login sees them."""
    client = _imap(server)
    client.login(f"{address}*{server.master_user}", server.master_password)
    try:
        folders = {name for _attrs, _delimiter, name in client.list_folders()}
        subscribed = {name for _attrs, _delimiter, name in client.list_sub_folders()}
        count = int(client.select_folder("INBOX")[b"EXISTS"])
    finally:
        client.logout()
    return folders, count, subscribed


def _message_files(home: Path) -> list[Path]:
    """Maildir message files of every folder (cur/new/tmp), i.e. content on disk."""
    return [
        path
        for path in home.rglob("*")
        if path.is_file() and path.parent.name in {"cur", "new", "tmp"}
    ]


def test_argon2id_hash_set_by_the_engine_is_the_imap_password(
    store: DovecotMailStore, url: str, address: str, hasher: Argon2Hasher
) -> None:
    # rule PWD-1: the address password is the IMAP credential, handed over as a hash.
    _visible(store, address, hasher.hash("first Passw0rd"))

    assert imap_login_works(url, address, "first Passw0rd")
    # Dovecot lower-cases the login (%Lu), the store writes lower case.
    assert imap_login_works(url, address.upper(), "first Passw0rd")
    assert not imap_login_works(url, address, "first passw0rd")


def test_a_password_change_refuses_the_old_password(
    store: DovecotMailStore, url: str, address: str, hasher: Argon2Hasher
) -> None:
    # rule PWD-1, rule ADR-7: after a change only the new password opens the mailbox.
    _visible(store, address, hasher.hash("old Passw0rd"))
    assert imap_login_works(url, address, "old Passw0rd")

    _visible(store, address, hasher.hash("new Passw0rd"))

    assert not imap_login_works(url, address, "old Passw0rd")
    assert imap_login_works(url, address, "new Passw0rd")


def test_ssha512_for_generated_passwords_is_verified_by_dovecot(
    store: DovecotMailStore, url: str, address: str
) -> None:
    generated = secrets.token_urlsafe(18)
    encoded = ssha512_encoding(generated)
    assert verify_ssha512(encoded, generated)
    assert not verify_ssha512(encoded, generated + "x")

    _visible(store, address, encoded)

    assert imap_login_works(url, address, generated)
    assert not imap_login_works(url, address, generated.upper() + "x")


def test_bulk_set_writes_once_and_every_address_logs_in(
    store: DovecotMailStore, url: str
) -> None:
    passwords = {
        f"bulk{n}-{secrets.token_hex(3)}@example.org": secrets.token_urlsafe(18)
        for n in range(50)
    }
    try:
        store.set_passwords({a: ssha512_encoding(p) for a, p in passwords.items()})
        store.wait_until_visible()
        for address, password in list(passwords.items())[::10]:
            assert imap_login_works(url, address, password)
    finally:
        for address in passwords:
            store.destroy(address)


def test_passwd_file_keeps_dovecots_owner_and_stays_private(
    store: DovecotMailStore, dovecot_server: RunningDovecot, address: str
) -> None:
    before = dovecot_server.passwd_file.stat()
    store.set_password(address, ssha512_encoding("x" * 24))
    after = dovecot_server.passwd_file.stat()
    assert (after.st_uid, after.st_gid) == (before.st_uid, before.st_gid)
    assert after.st_mode & 0o777 == 0o600


def test_destroy_leaves_no_folder_no_message_and_no_login(
    store: DovecotMailStore,
    dovecot_server: RunningDovecot,
    url: str,
    address: str,
    hasher: Argon2Hasher,
) -> None:
    # rule ADR-11: deleting an address destroys its content.
    _visible(store, address, hasher.hash("mailbox Passw0rd"))
    _fill_mailbox(dovecot_server, address, "mailbox Passw0rd")
    assert _message_files(dovecot_server.home(address))

    store.destroy(address)

    assert not store.passwd.contains(address)
    store.wait_until_visible()
    assert not imap_login_works(url, address, "mailbox Passw0rd")
    store.destroy(address)  # twice is fine
    assert not _message_files(dovecot_server.home(address))

    # A fresh master login needs a credential again; the content must still be gone.
    _visible(store, address, ssha512_encoding(secrets.token_urlsafe(18)))
    folders, count, subscribed = _master_view(dovecot_server, address)
    assert folders == {"INBOX"}
    assert count == 0
    assert subscribed <= {"INBOX"}


def test_destroy_with_home_of_also_removes_dovecots_index_cache(
    dovecot_server: RunningDovecot,
    access: DovecotAccess,
    address: str,
    hasher: Argon2Hasher,
) -> None:
    # Dovecot keeps Subject/From/Message-ID of expunged INBOX mail in INBOX's
    # dovecot.index.cache; only removing the home (shared file system) clears it.
    store = DovecotMailStore(access, timeout=10, home_of=dovecot_server.home)
    _visible(store, address, hasher.hash("mailbox Passw0rd"))
    _fill_mailbox(dovecot_server, address, "mailbox Passw0rd")
    home = dovecot_server.home(address)
    assert any(
        CANARY.encode() in p.read_bytes() for p in home.rglob("*") if p.is_file()
    )

    store.destroy(address)

    assert not home.exists()
    assert not store.passwd.contains(address)
    store.destroy(address)


def test_destroy_of_an_address_dovecot_never_knew_succeeds(
    store: DovecotMailStore,
) -> None:
    store.destroy(f"never-{secrets.token_hex(4)}@example.org")


def test_destroy_with_a_wrong_master_password_fails_without_echoing_it(
    access: DovecotAccess, address: str, store: DovecotMailStore
) -> None:
    store.set_password(address, ssha512_encoding("y" * 24))
    wrong = "wrong-master-" + secrets.token_hex(8)
    broken = DovecotMailStore(
        dataclasses.replace(access, master_password=wrong), timeout=10
    )

    with pytest.raises(MailStoreError) as raised:
        broken.destroy(address)

    assert address in str(raised.value)
    assert "master login" in str(raised.value)
    assert wrong not in str(raised.value)
    assert wrong not in repr(broken)
    assert store.passwd.contains(address)  # nothing removed on failure


def test_an_address_with_the_master_separator_is_refused(
    store: DovecotMailStore,
) -> None:
    with pytest.raises(ValueError, match="master user separator"):
        store.set_password("a*b@example.org", ssha512_encoding("z" * 24))
